// Turns logits into the next token id: repetition penalty, temperature, top-p, top-k, min-p, then
// a draw from a seeded generator (same seed and options → same ids in Node and in browsers).
// The order temperature → top-p → top-k → categorical and the top-p rule are the reference's
// (spec §4); min-p and the repetition penalty are additions that default to off.
import { PldrError } from './errors.js';

/**
 * @typedef {{temperature?: number, topK?: number, topP?: number, minP?: number,
 *            repetitionPenalty?: number, seed?: number}} SamplingOptions
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
  for (const name of ['temperature', 'topK', 'topP', 'minP', 'repetitionPenalty', 'seed']) if (num(name)) bad(name, 'must be a finite number');
  if (o.temperature !== undefined && o.temperature < 0) bad('temperature', 'must be ≥ 0 (0 = greedy)');
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) bad('topK', 'must be an integer ≥ 0 (0 = off)');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', 'must be in (0, 1] (1 = off)');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP < 1)) bad('minP', 'must be in [0, 1) (0 = off)');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) bad('repetitionPenalty', 'must be > 0 (1 = off)');
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

/** The smallest logit kept by top-p (keep tokens whose cumulative probability ≤ p; at least one). */
function topPThreshold(logits, order, p) {
  const max = logits[order[0]];
  let z = 0;
  for (let i = 0; i < order.length; i++) z += Math.exp(logits[order[i]] - max);
  let cumulative = 0, count = 0;
  for (let i = 0; i < order.length; i++) {
    cumulative += Math.exp(logits[order[i]] - max) / z;
    if (cumulative <= p) count++;
    else break;
  }
  return logits[order[Math.max(count - 1, 0)]];
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
    const seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
    this.random = new Random(seed);
  }

  get greedy() { return this.temperature === 0 || this.topK === 1; }

  /**
   * @param {Float32Array} logits (not modified)
   * @param {ArrayLike<number>} [context] ids in the context, for the repetition penalty
   * @returns {number} the next id
   */
  sample(logits, context = []) {
    const x = Float64Array.from(logits);
    if (this.penalty !== 1) penalize(x, context, this.penalty);
    if (this.greedy) return argmax(x);
    if (this.temperature !== 1) for (let i = 0; i < x.length; i++) x[i] /= this.temperature;
    let threshold = -Infinity;
    if (this.topP < 1 || this.topK > 0 || this.minP > 0) {
      const order = Array.from(x.keys()).sort((a, b) => x[b] - x[a]);
      if (this.topP < 1) threshold = topPThreshold(x, order, this.topP);
      if (this.topK > 0) threshold = Math.max(threshold, x[order[Math.min(this.topK, order.length) - 1]]);
      if (this.minP > 0) threshold = Math.max(threshold, x[order[0]] + Math.log(this.minP)); // p ≥ minP · p_max
    }
    return this.#draw(x, threshold);
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
