// js/generation/sampler.js against a deliberately simple reference written from its documentation
// and docs/SPEC.md §4.3: penalty → greedy (temperature 0 or top-k 1: argmax, lowest id on ties) →
// temperature → top-p / top-k / min-p on the full distribution (ties at a cut kept) → one uniform
// draw over the candidates laid out in id order. The reference sorts the whole vocabulary and
// never prunes; the sampler sorts only what can be kept. Thousands of random cases (vocabularies
// of 1 to 32000, ties, -Infinity, every option at its edges, penalties over repeated history,
// seeds) must give: the same greedy id, the same draw for the same seed, and the same candidates
// with the same probabilities — read through the sampler's public draw by choosing the uniform.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random, Sampler } from '../js/generation/sampler.js';
import { PldrError } from '../js/errors.js';

// ---- an independent xoshiro128** (seeded by splitmix32), in BigInt arithmetic -------------------

const MASK = 0xffffffffn;
const u32 = (v) => v & MASK;
const rotl = (v, k) => u32((v << BigInt(k)) | (v >> BigInt(32 - k)));

class ReferenceRandom {
  constructor(seed) {
    let x = BigInt.asUintN(32, BigInt(seed)); // seed mod 2^32
    const mix = () => {
      x = u32(x + 0x9e3779b9n);
      let z = x;
      z = u32((z ^ (z >> 16n)) * 0x85ebca6bn);
      z = u32((z ^ (z >> 13n)) * 0xc2b2ae35n);
      return z ^ (z >> 16n);
    };
    this.s = [mix(), mix(), mix(), mix()];
  }

  next() {
    const s = this.s;
    const result = u32(rotl(u32(s[1] * 5n), 7) * 9n);
    const t = u32(s[1] << 9n);
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return Number(result) / 2 ** 32;
  }
}

// ---- the reference sampler ------------------------------------------------------------------

const DEFAULTS = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 };

// Tolerances. Both sides compute the same float64 weights exp(y_i - y_max) bit for bit (the same
// penalty, division and subtraction); they may differ in how they sum and normalise them. A
// float64 sum of V non-negative terms is off by at most V·2^-53 of the total, so a cumulative
// probability moves by at most V·2^-52 (the sum and the normalisation), 7e-12 for V = 32000.
// - DRAW_TOL = 1e-9, over 100× that: how close to a boundary between two candidates a uniform may
//   fall before the two samplers may disagree, and the resolution at which candidate
//   probabilities are compared.
// - A cut is ambiguous in float64 when the top-p cumulative lands within V·2^-52 of p, or a
//   min-p log-ratio within a few ulps of ln(minP) (at the scale of y_max, where the sampler adds
//   them): either answer is right there; such cases are counted and must stay rare.
const DRAW_TOL = 1e-9;
const cumulativeTol = (V) => V * Number.EPSILON;
const ratioTol = (yMax, minP) => 4 * Number.EPSILON * (Math.abs(yMax) + Math.abs(Math.log(minP)) + 1);

/** argmax, the lowest id among equal maxima */
function argmaxLowest(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * @returns {{greedy: number} | {ids: number[], probs: number[], ambiguous: string|null}}
 *   ids: the candidates in id order, probs: their renormalised probabilities
 */
function referenceSample(logits, options, context) {
  const o = { ...DEFAULTS, ...options };
  const V = logits.length;
  const x = Array.from(logits);
  if (o.repetitionPenalty !== 1) {
    for (const id of new Set(context)) x[id] = x[id] > 0 ? x[id] / o.repetitionPenalty : x[id] * o.repetitionPenalty;
  }
  if (o.temperature === 0 || o.topK === 1) return { greedy: argmaxLowest(x) };
  const y = x.map((v) => v / o.temperature);
  const yMax = Math.max(...y);
  const w = y.map((v) => Math.exp(v - yMax)); // p_i / p_max
  const total = w.reduce((a, b) => a + b, 0);
  const p = w.map((v) => v / total);
  // the whole vocabulary, most probable first, equal logits by id
  const order = [...Array(V).keys()].sort((a, b) => (y[b] - y[a]) || (a - b));
  let cut = -Infinity, ambiguous = null;
  if (o.topP < 1) {
    let cumulative = 0, n = 0;
    for (; n < V; n++) {
      const next = cumulative + p[order[n]];
      // token n is in or out by rounding, and no tie with token n-1 decides it (nor "at least one")
      const tiedWithKept = n > 0 && y[order[n]] === y[order[n - 1]];
      if (Math.abs(next - o.topP) <= cumulativeTol(V) && n > 0 && !tiedWithKept) ambiguous = `top-p cumulative ${next} next to p = ${o.topP}`;
      if (next > o.topP) break;
      cumulative = next;
    }
    cut = Math.max(cut, y[order[Math.max(n, 1) - 1]]);
  }
  if (o.topK > 0 && o.topK < V) cut = Math.max(cut, y[order[o.topK - 1]]);
  const keep = (i) => y[i] >= cut && (o.minP === 0 || w[i] >= o.minP);
  if (o.minP > 0) {
    const tol = ratioTol(yMax, o.minP);
    for (let i = 0; i < V; i++) {
      const s = y[i] - yMax;
      if (Math.abs(s - Math.log(o.minP)) <= tol) ambiguous = `min-p ratio ${w[i]} next to ${o.minP}`;
    }
  }
  const ids = [];
  for (let i = 0; i < V; i++) if (keep(i)) ids.push(i);
  const z = ids.reduce((a, i) => a + w[i], 0);
  return { ids, probs: ids.map((i) => w[i] / z), ambiguous };
}

/** the candidate whose interval [C_{j-1}, C_j) holds r, and the distance of r to its edges */
function referenceDraw(ref, r) {
  let c = 0;
  for (let j = 0; j < ref.ids.length; j++) {
    const next = c + ref.probs[j];
    if (r < next) return { id: ref.ids[j], margin: Math.min(r - c, next - r) };
    c = next;
  }
  return { id: ref.ids.at(-1), margin: 0 };
}

/** the sampler's draw for a chosen uniform r (its generator is the public field `random`) */
function drawAt(sampler, logits, context, r) {
  assert.equal(typeof sampler.random?.next, 'function', 'Sampler keeps its generator in `random` (this test chooses the uniform through it)');
  const saved = sampler.random;
  sampler.random = { next: () => r };
  try {
    return sampler.sample(logits, context);
  } finally {
    sampler.random = saved;
  }
}

// ---- random cases -------------------------------------------------------------------------------

/** the cases' own generator (mulberry32): the same cases on every run */
function caseRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rand, list) => list[Math.floor(rand() * list.length)];
const gauss = (rand) => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

function randomLogits(rand, V) {
  const kind = pick(rand, ['normal', 'normal', 'ties', 'flat', 'spiky', 'neg-inf', 'zipf']);
  const scale = pick(rand, [0.01, 1, 3, 10]);
  const x = new Float32Array(V);
  for (let i = 0; i < V; i++) {
    if (kind === 'normal') x[i] = gauss(rand) * scale;
    else if (kind === 'ties') x[i] = Math.round(gauss(rand) * 2) * scale; // a handful of levels
    else if (kind === 'flat') x[i] = 1.5;
    else if (kind === 'spiky') x[i] = rand() < 0.01 ? 20 + gauss(rand) : -20 + gauss(rand);
    else if (kind === 'neg-inf') x[i] = rand() < 0.3 ? -Infinity : gauss(rand) * scale;
    else x[i] = -Math.log(1 + Math.floor(rand() * V)) * scale + 0.1 * gauss(rand); // model-like
  }
  if (x.every((v) => v === -Infinity)) x[Math.floor(rand() * V)] = 0;
  return { x, kind };
}

function randomOptions(rand, V) {
  const o = {
    temperature: pick(rand, [0, 1e-6, 1e-3, 0.3, 0.8, 1, 1, 1.5, 3, 100, 0.05 + 2 * rand()]),
    topK: pick(rand, [0, 0, 0, 1, 2, 5, 40, V - 1, V, V + 3, 1 + Math.floor(rand() * V)]),
    topP: pick(rand, [1, 1, 0.95, 0.9, 0.5, 0.1, 1e-9, 1 - 1e-9, rand() || 0.5]),
    minP: pick(rand, [0, 0, 0, 0.05, 0.1, 0.5, 0.999, 1e-9, 0.9 * rand()]),
    repetitionPenalty: pick(rand, [1, 1, 1.1, 1.5, 3, 0.7]),
    seed: pick(rand, [Math.floor(rand() * 2 ** 32), -Math.floor(rand() * 2 ** 31), 0, 2 ** 32 + 7, 2 ** 40 + 3]),
  };
  if (o.topK < 0) o.topK = 0;
  for (const key of ['temperature', 'topK', 'topP', 'minP', 'repetitionPenalty']) if (rand() < 0.15) delete o[key]; // defaults
  return o;
}

function randomContext(rand, V) {
  const pool = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * V));
  return Array.from({ length: Math.floor(rand() * 40) }, () => (rand() < 0.7 ? pick(rand, pool) : Math.floor(rand() * V)));
}

const VOCABS = [1, 2, 3, 5, 8, 17, 64, 257, 1000, 8000, 32000];
const VOCAB_WEIGHTS = [3, 6, 6, 6, 6, 6, 6, 5, 4, 1.2, 0.6]; // most cases small; a few at 8000 and 32000

function randomVocab(rand) {
  let u = rand() * VOCAB_WEIGHTS.reduce((a, b) => a + b, 0);
  for (let i = 0; i < VOCABS.length; i++) if ((u -= VOCAB_WEIGHTS[i]) < 0) return VOCABS[i];
  return VOCABS[0];
}

/** what a failure prints: enough to rebuild the case */
function describe(c) {
  const logits = c.x.length <= 17 ? `[${Array.from(c.x).join(', ')}]` : `${c.kind} logits of V = ${c.x.length}`;
  return `case ${c.index}: ${logits}, options ${JSON.stringify(c.options)}, context [${c.context.slice(0, 20).join(',')}${c.context.length > 20 ? ',…' : ''}]`;
}

/** The candidates to probe: all of a small set, else the edges, the least probable and a sample. */
function probeTargets(ref, rand) {
  const n = ref.ids.length;
  if (n <= 12) return [...Array(n).keys()];
  const byProbability = [...Array(n).keys()].sort((a, b) => ref.probs[a] - ref.probs[b]);
  const chosen = new Set([0, n - 1, ...byProbability.filter((j) => ref.probs[j] > 4 * DRAW_TOL).slice(0, 4)]);
  while (chosen.size < 12) chosen.add(Math.floor(rand() * n));
  return [...chosen];
}

// ---- tests ----------------------------------------------------------------------------------

test('the generator is xoshiro128** seeded with splitmix32, seed taken mod 2^32', () => {
  for (const seed of [0, 1, 42, 0x7fffffff, 2 ** 32 - 1, -1, -123456, 2 ** 32 + 5, 2 ** 53 - 1, 1e20]) {
    const a = new Random(seed), b = new ReferenceRandom(seed);
    for (let i = 0; i < 64; i++) assert.equal(a.next(), b.next(), `seed ${seed}, output ${i}`);
  }
  const c = new Random(5), d = new Random(2 ** 32 + 5);
  for (let i = 0; i < 8; i++) assert.equal(c.next(), d.next());
  const u = new Random(9);
  for (let i = 0; i < 10000; i++) {
    const v = u.next();
    assert.ok(v >= 0 && v < 1 && Number.isInteger(v * 2 ** 32), `uniform ${v} is not k / 2^32 in [0, 1)`);
  }
});

const CASES = 3000;

test(`${CASES} random cases: greedy ids, seeded draws, candidate sets and probabilities equal the reference's`, (t) => {
  const rand = caseRandom(20251201);
  const counts = { greedy: 0, sampled: 0, probes: 0, ambiguous: 0, nearBoundary: 0, draws: 0 };
  for (let index = 0; index < CASES; index++) {
    const V = randomVocab(rand);
    const { x, kind } = randomLogits(rand, V);
    const c = { index, x, kind, options: randomOptions(rand, V), context: randomContext(rand, V) };
    const copy = Float32Array.from(x);
    const ref = referenceSample(x, c.options, c.context);
    const sampler = new Sampler(c.options);
    if ('greedy' in ref) {
      counts.greedy++;
      let drawn = 0;
      sampler.random = { next: () => { drawn++; return 0.5; } };
      assert.equal(sampler.sample(x, c.context), ref.greedy, `greedy id, ${describe(c)}`);
      assert.equal(drawn, 0, `a greedy step drew a random number, ${describe(c)}`);
      assert.deepEqual(x, copy, 'sample() modified its logits');
      continue;
    }
    counts.sampled++;
    if (ref.ambiguous) { // the cut itself is within float64 rounding: either answer is right
      counts.ambiguous++;
      continue;
    }
    // the same seed draws the same ids (the reference runs its own generator)
    const rng = new ReferenceRandom(c.options.seed);
    for (let step = 0; step < 3; step++) {
      const r = rng.next();
      const want = referenceDraw(ref, r), got = sampler.sample(x, c.context);
      counts.draws++;
      if (got === want.id) continue;
      assert.ok(want.margin < DRAW_TOL, `seeded draw ${step} (u = ${r}): sampler ${got}, reference ${want.id}, ${describe(c)}`);
      counts.nearBoundary++;
    }
    // candidates and probabilities: a uniform just inside each end of a candidate's interval
    // draws that candidate (probabilities to ±DRAW_TOL; a token the sampler keeps and the
    // reference does not, or the reverse, moves the intervals and is caught here)
    let start = 0;
    const starts = ref.probs.map((p) => { const s = start; start += p; return s; });
    for (const j of probeTargets(ref, rand)) {
      if (ref.probs[j] <= 4 * DRAW_TOL) continue; // narrower than the tolerance: no reading possible
      for (const r of [starts[j] + DRAW_TOL, starts[j] + ref.probs[j] - DRAW_TOL]) {
        counts.probes++;
        const got = drawAt(sampler, x, c.context, r);
        assert.equal(got, ref.ids[j], `u = ${r}: sampler draws ${got}, reference candidate ${ref.ids[j]} ` +
          `(p = ${ref.probs[j]}; ${ref.ids.length} candidates${ref.ids.includes(got) ? '' : `; ${got} is not one`}), ${describe(c)}`);
      }
    }
    assert.deepEqual(x, copy, 'sample() modified its logits');
  }
  t.diagnostic(JSON.stringify(counts));
  assert.ok(counts.greedy > 200 && counts.sampled > 2000, `too few of each kind: ${JSON.stringify(counts)}`);
  assert.ok(counts.ambiguous <= CASES / 100, `${counts.ambiguous} cases ambiguous at a cut: the tolerance hides disagreements`);
  assert.ok(counts.nearBoundary <= 2, `${counts.nearBoundary} seeded draws disagreed at a boundary`);
});

test('edges: top-k 1 and V, top-p 1, min-p 0, temperature 1 and the defaults', () => {
  const x = Float32Array.of(0.5, 2, -1, 2, 0.25, -Infinity, 1);
  const greedyId = 1; // two maxima (ids 1 and 3): the lowest id
  assert.equal(new Sampler({ topK: 1, temperature: 5, seed: 1 }).sample(x), greedyId);
  assert.equal(new Sampler({ temperature: 0, topP: 0.01, minP: 0.5 }).sample(x), greedyId);
  for (let seed = 0; seed < 200; seed++) {
    const plain = new Sampler({ seed }).sample(x);
    assert.equal(new Sampler({ seed, topK: x.length, topP: 1, minP: 0, temperature: 1, repetitionPenalty: 1 }).sample(x), plain);
    assert.equal(new Sampler({ seed, topK: 0 }).sample(x), plain);
    assert.notEqual(plain, 5, '-Infinity is never drawn');
  }
  // ties at a cut are all kept: top-k 1 of the non-greedy path cannot happen, but top-p and min-p can
  const drawn = new Set();
  for (let seed = 0; seed < 200; seed++) drawn.add(new Sampler({ seed, topP: 1e-9 }).sample(x));
  assert.deepEqual([...drawn].sort(), [1, 3], 'the tiniest nucleus still holds both maxima');
  drawn.clear();
  for (let seed = 0; seed < 200; seed++) drawn.add(new Sampler({ seed, topK: 2, temperature: 1e-300 }).sample(x));
  assert.deepEqual([...drawn].sort(), [1, 3], 'temperature 1e-300: only the maxima are left');
  assert.equal(new Sampler({ seed: 3 }).sample(Float32Array.of(7)), 0, 'a vocabulary of one');
});

test('repetition penalty: once per distinct id in the context, divides positive and multiplies other logits', () => {
  const x = Float32Array.of(2, 1.9, -1, -1.05, 0);
  const penalised = (context, penalty) => new Sampler({ temperature: 0, repetitionPenalty: penalty }).sample(x, context);
  assert.equal(penalised([], 2), 0);
  assert.equal(penalised([0], 1.1), 1, '2 / 1.1 < 1.9');
  assert.equal(penalised([0, 0, 0, 0], 1.02), 0, 'repeats do not compound: 2 / 1.02 > 1.9 (2 / 1.02^4 would not be)');
  const y = Float32Array.of(-1, -1.05, -3);
  assert.equal(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).sample(y, [0]), 1, '-1 · 1.1 < -1.05');
  assert.equal(new Sampler({ temperature: 0, repetitionPenalty: 0.5 }).sample(Float32Array.of(1, 1.5), [0, 0]), 0, 'a penalty below 1 boosts: 1 / 0.5 = 2 > 1.5');
});

test('seeded determinism: the same seed repeats its ids, other seeds do not, no seed still samples', () => {
  const rand = caseRandom(7);
  const steps = Array.from({ length: 40 }, () => randomLogits(rand, 1000).x);
  const run = (options) => { const s = new Sampler(options); return steps.map((x) => s.sample(x)); };
  const options = { temperature: 1.2, topK: 500, topP: 0.99, minP: 0.001 };
  assert.deepEqual(run({ ...options, seed: 1234 }), run({ ...options, seed: 1234 }));
  assert.deepEqual(run({ ...options, seed: 1234 }), run({ ...options, seed: 1234 + 2 ** 32 }), 'the seed is taken mod 2^32');
  assert.notDeepEqual(run({ ...options, seed: 1234 }), run({ ...options, seed: 1235 }));
  const flat = new Float32Array(1000);
  const unseeded = new Set(Array.from({ length: 20 }, () => new Sampler().sample(flat)));
  assert.ok(unseeded.size > 1, 'samplers without a seed draw from fresh seeds');
});

test('invalid options are rejected with E_OPTION, naming the option', () => {
  const invalid = {
    temperature: [-1, -1e-9, NaN, Infinity, '1', null],
    topK: [-1, 1.5, NaN, Infinity, '5', null],
    topP: [0, -0.1, 1.0000001, 2, NaN, Infinity, null],
    minP: [-0.1, 1, 1.5, NaN, Infinity, null],
    repetitionPenalty: [0, -1, NaN, Infinity, -Infinity, '1.1'],
    seed: [1.5, NaN, Infinity, '7', null],
  };
  for (const [name, values] of Object.entries(invalid)) {
    for (const value of values) {
      assert.throws(() => new Sampler({ [name]: value }), (err) => {
        assert.ok(err instanceof PldrError, `${name} = ${value}: ${err}`);
        assert.equal(err.code, 'E_OPTION', `${name} = ${value}`);
        assert.ok(err.message.includes(name), `the message names ${name}: ${err.message}`);
        return true;
      }, `${name} = ${String(value)} accepted`);
    }
  }
  for (const valid of [{ temperature: 0 }, { topK: 0 }, { topP: 1 }, { topP: 1e-300 }, { minP: 0 }, { minP: 0.999 },
    { repetitionPenalty: 1e-6 }, { seed: -5 }, { seed: 0 }, { temperature: 1e6 }, {}]) {
    assert.doesNotThrow(() => new Sampler(valid), JSON.stringify(valid));
  }
});

test('temperature so small that logits / T overflows still draws from the maxima', () => {
  // minimal case: the limit T → 0 of softmax(x / T) is the argmax (id 1); dividing the raw logits
  // overflowed them to ±Infinity, Infinity - Infinity was NaN and the draw fell back to id 0
  assert.equal(new Sampler({ temperature: 1e-310, seed: 1 }).sample(Float32Array.of(1, 3, 2, -1)), 1);
  assert.equal(new Sampler({ temperature: 1e-310, seed: 1 }).sample(Float32Array.of(-5, -3, -4)), 1);
});
