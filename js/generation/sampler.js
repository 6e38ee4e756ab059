// Turns logits into the next token id: repetition, frequency and presence penalties, temperature,
// top-p, top-k, min-p, then a draw from a seeded generator (same seed and options → same ids in
// Node and in browsers). The order temperature → top-p → top-k → categorical and the top-p rule
// are the reference's (spec §4); min-p and the penalties are additions that default to off.
import { PldrError } from '../errors.js';

/**
 * @typedef {{temperature?: number, topK?: number, topP?: number, minP?: number, repetitionPenalty?: number,
 *            frequencyPenalty?: number, presencePenalty?: number, seed?: number}} SamplingOptions
 */

/** xoshiro128**: small, fast, good statistics, easy to reproduce anywhere. */
export class Random {
  /** @param {number} seed any integer; the state is spread with splitmix32 */
  constructor(seed) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = Uint32Array.of(next(), next(), next(), next());
  }

  /** @returns {number} uniform in [0, 1) with 32 random bits */
  next() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result / 4294967296;
  }
}

const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** @param {SamplingOptions} o */
export function validateSampling(o) {
  const bad = (name, why) => { throw new PldrError('E_OPTION', `invalid ${name} ${JSON.stringify(o[name])}: ${why}`); };
  const num = (name) => o[name] !== undefined && (typeof o[name] !== 'number' || !Number.isFinite(o[name]));
  for (const name of ['temperature', 'topK', 'topP', 'minP', 'repetitionPenalty', 'frequencyPenalty', 'presencePenalty', 'seed']) {
    if (num(name)) bad(name, 'must be a finite number');
  }
  if (o.temperature !== undefined && o.temperature < 0) bad('temperature', 'must be ≥ 0 (0 = greedy)');
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) bad('topK', 'must be an integer ≥ 0 (0 = off)');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', 'must be in (0, 1] (1 = off)');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP < 1)) bad('minP', 'must be in [0, 1) (0 = off)');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) bad('repetitionPenalty', 'must be > 0 (1 = off)');
  for (const name of ['frequencyPenalty', 'presencePenalty']) {
    if (o[name] !== undefined && !(o[name] >= -2 && o[name] <= 2)) bad(name, 'must be in [-2, 2] (0 = off)');
  }
  if (o.seed !== undefined && !Number.isInteger(o.seed)) bad('seed', 'must be an integer');
}

function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** CTRL-style penalty on tokens already in the context. */
function penalize(logits, recent, penalty) {
  for (const id of new Set(recent)) logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
}

/**
 * OpenAI's frequency and presence penalties: logit − count · frequency − (count > 0) · presence,
 * over how often each token was generated so far. @param {Map<number, number>} counts
 */
function penalizeCounts(logits, counts, frequency, presence) {
  for (const [id, count] of counts) logits[id] -= count * frequency + presence;
}

/**
 * The smallest logit kept by top-p (keep tokens whose cumulative probability ≤ p; at least one).
 * @param {Float64Array} x @param {number[]} order candidates, most likely first: a prefix of the
 *   full order that holds the nucleus @param {number} p @param {number} z Σ exp(x - max) over all
 */
function topPThreshold(x, order, p, z) {
  const max = x[order[0]];
  let cumulative = 0, count = 0;
  for (let i = 0; i < order.length; i++) {
    cumulative += Math.exp(x[order[i]] - max) / z;
    if (cumulative <= p) count++;
    else break;
  }
  return x[order[Math.max(count - 1, 0)]];
}

/** The k-th largest value of x (a min-heap of the k largest: one pass, no sort of x). */
function kthLargest(x, k) {
  if (k >= x.length) return -Infinity;
  const heap = new Float64Array(k);
  let n = 0;
  const down = (i) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && heap[l] < heap[m]) m = l;
      if (r < n && heap[r] < heap[m]) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (n < k) {
      let j = n++;
      heap[j] = v;
      while (j > 0 && heap[(j - 1) >> 1] > heap[j]) {
        const up = (j - 1) >> 1;
        [heap[j], heap[up]] = [heap[up], heap[j]];
        j = up;
      }
    } else if (v > heap[0]) {
      heap[0] = v;
      down(0);
    }
  }
  return heap[0];
}

export class Sampler {
  /** @param {SamplingOptions} [options] */
  constructor(options = {}) {
    validateSampling(options);
    this.temperature = options.temperature ?? 1;
    this.topK = options.topK ?? 0;
    this.topP = options.topP ?? 1;
    this.minP = options.minP ?? 0;
    this.penalty = options.repetitionPenalty ?? 1;
    this.frequencyPenalty = options.frequencyPenalty ?? 0;
    this.presencePenalty = options.presencePenalty ?? 0;
    /** @type {Map<number, number>} how often this sampler drew each id: the generated tokens */
    this.drawn = new Map();
    const seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
    this.random = new Random(seed);
  }

  get greedy() { return this.temperature === 0 || this.topK === 1; }

  /**
   * @param {Float32Array} logits (not modified)
   * @param {ArrayLike<number>} [context] ids in the context, for the repetition penalty
   * @returns {number} the next id (counted as generated, for the frequency and presence penalties)
   */
  sample(logits, context = []) {
    const x = Float64Array.from(logits);
    if (this.penalty !== 1) penalize(x, context, this.penalty);
    if (this.frequencyPenalty !== 0 || this.presencePenalty !== 0) penalizeCounts(x, this.drawn, this.frequencyPenalty, this.presencePenalty);
    const id = this.#choose(x);
    this.drawn.set(id, (this.drawn.get(id) ?? 0) + 1);
    return id;
  }

  /** @param {Float64Array} x penalized logits */
  #choose(x) {
    if (this.greedy) return argmax(x);
    if (this.temperature !== 1) scaleByTemperature(x, this.temperature);
    return this.#draw(x, this.#threshold(x));
  }

  /**
   * The smallest logit kept by top-p, top-k and min-p together. Only the candidates that can be
   * kept are sorted, never the whole vocabulary: a token with probability below (1 - p) / V is
   * never in the nucleus (all such tokens together hold less than 1 - p), and top-k never keeps a
   * token below the k-th largest logit.
   * @param {Float64Array} x
   */
  #threshold(x) {
    if (!(this.topP < 1 || this.topK > 0 || this.minP > 0)) return -Infinity;
    let max = -Infinity;
    for (const v of x) if (v > max) max = v;
    let bound = -Infinity, z = 0;
    if (this.minP > 0) bound = max + Math.log(this.minP); // p ≥ minP · p_max
    if (this.topP < 1) {
      for (const v of x) z += Math.exp(v - max);
      bound = Math.max(bound, max + Math.log((z * (1 - this.topP)) / x.length));
    }
    if (this.topK > 0) bound = Math.max(bound, kthLargest(x, this.topK)); // the final threshold is at least this
    const order = [];
    for (let i = 0; i < x.length; i++) if (x[i] >= bound) order.push(i);
    order.sort((a, b) => x[b] - x[a]);
    let threshold = bound;
    if (this.topP < 1) threshold = Math.max(threshold, topPThreshold(x, order, this.topP, z));
    if (this.topK > 0 && order.length >= this.topK) threshold = Math.max(threshold, x[order[this.topK - 1]]);
    return threshold;
  }

  /** categorical draw over the logits ≥ threshold */
  #draw(x, threshold) {
    let max = -Infinity;
    for (const v of x) if (v > max) max = v;
    let z = 0;
    for (let i = 0; i < x.length; i++) {
      x[i] = x[i] >= threshold ? Math.exp(x[i] - max) : 0;
      z += x[i];
    }
    let u = this.random.next() * z;
    for (let i = 0; i < x.length; i++) {
      u -= x[i];
      if (u < 0 && x[i] > 0) return i;
    }
    return argmax(x);
  }
}

/**
 * x = (x - max) / T in place: the same distribution as x / T, but a tiny T cannot overflow the
 * maxima to Infinity (Infinity - Infinity would be NaN): they stay 0 and the rest go to -Infinity,
 * the argmax limit of softmax(x / T) as T → 0.
 * @param {Float64Array} x @param {number} temperature
 */
function scaleByTemperature(x, temperature) {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  if (max === -Infinity) return;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - max) / temperature;
}
