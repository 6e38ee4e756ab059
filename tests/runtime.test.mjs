// The WebAssembly engine against an independent float64 reference (tests/helpers/reference.mjs)
// on synthetic models: interleaved (v51) and rotate-half (v52) RoPE, predefined identity G
// (= SDPA), KV-cache decode vs full recompute, rewind, G-cache modes and memory reporting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { referenceForward, flattenG } from './helpers/reference.mjs';

const SMALL = { L: 2, D: 64, H: 2, dff: 96, Adff: 24, nres: 2, ndense: 2, V: 300, ctx: 64 };
const IDS = [7, 42, 3, 199, 5, 77, 12, 250, 9];

async function buildModel(shape, options = {}, seed = 1) {
  const rt = await createRuntime();
  const config = configFor(shape);
  const tensors = synthesize(shape, seed);
  const model = Model.create(rt, config, options);
  uploadTensors(model, tensors);
  model.finalize();
  const W = new Map(tensors.map((t) => [t.name, t]));
  return { rt, model, config, W, tensors };
}

// float32 runtime vs float64 reference: errors are a few float32 ulps of the largest values
const REL_TOL = 2e-5;

for (const interleaved of [true, false]) {
  test(`full pass matches the float64 reference (${interleaved ? 'v51 interleaved' : 'v52 rotate-half'} RoPE)`, async () => {
    const shape = { ...SMALL, ropeInterleaved: interleaved };
    const { model, config, W } = await buildModel(shape, { gcache: 'prompt' });
    const session = model.newSession();
    const logits = session.prefill(IDS, { allLogits: true });
    const ref = referenceForward(config, W, IDS);
    assert.ok(maxDiff(logits, ref.logits) <= REL_TOL * maxAbs(ref.logits), `logits differ by ${maxDiff(logits, ref.logits)}`);
    const G = session.gcache('G_LM'), refG = flattenG(ref.G);
    assert.ok(maxDiff(G, refG) <= REL_TOL * maxAbs(refG), `G differs by ${maxDiff(G, refG)}`);
    const A = session.gcache('A_LM'), refA = flattenG(ref.A_LM);
    assert.ok(maxDiff(A, refA) <= REL_TOL * maxAbs(refA), `A_LM differs by ${maxDiff(A, refA)}`);
    model.free();
  });
}

test('RoPE pairing matters: v51 and v52 give different logits for the same weights', async () => {
  const a = await buildModel({ ...SMALL, ropeInterleaved: true });
  const b = await buildModel({ ...SMALL, ropeInterleaved: false });
  const la = a.model.newSession().prefill(IDS), lb = b.model.newSession().prefill(IDS);
  assert.ok(maxDiff(la, lb) > 1e-3);
});

test('predefined identity G (custom_G_type "identity", no A-net) is exactly SDPA attention', async () => {
  const shape = { ...SMALL, customG: 'identity' };
  const { model, config, W } = await buildModel(shape);
  assert.equal(model.gcacheMode, 'fixed');
  const dk = shape.D / shape.H;
  const eye = new Float64Array(dk * dk);
  for (let i = 0; i < dk; i++) eye[i * dk + i] = 1;
  const G = Array.from({ length: shape.L }, () => Array.from({ length: shape.H }, () => eye));
  const ref = referenceForward(config, W, IDS, { G });
  const logits = model.newSession().prefill(IDS, { allLogits: true });
  assert.ok(maxDiff(logits, ref.logits) <= REL_TOL * maxAbs(ref.logits));
  assert.equal(model.anetRuns, 0, 'the A-net never runs for a predefined G');
});

test('decode with the KV-cache equals a full recompute with the same G', async () => {
  const { model, rt, tensors } = await buildModel(SMALL, { gcache: 'prompt' });
  const session = model.newSession();
  const steps = [session.prefill(IDS.slice(0, 4))];
  for (const id of IDS.slice(4)) steps.push(session.decode(id));
  const G = session.gcache();
  // same weights, G fixed to the one the cached run used, one full pass over everything
  const fixed = Model.create(rt, configFor(SMALL));
  uploadTensors(fixed, tensors);
  fixed.finalize();
  fixed.setGcache(G);
  const full = fixed.newSession().prefill(IDS, { allLogits: true });
  const V = SMALL.V;
  steps.forEach((logits, i) => {
    const row = full.subarray((3 + i) * V, (4 + i) * V);
    assert.ok(maxDiff(logits, row) <= REL_TOL * maxAbs(row), `step ${i} differs by ${maxDiff(logits, row)}`);
  });
});

test('G-cache mode "first": the A-net runs once, for the first prefill of the model', async () => {
  const { model } = await buildModel(SMALL);
  const s1 = model.newSession();
  s1.prefill([5, 6, 7]);
  const G1 = model.gcache();
  s1.decode(8);
  const s2 = model.newSession();
  s2.prefill([100, 200]);
  assert.equal(model.anetRuns, 1);
  assert.deepEqual(s2.gcache(), G1);
});

test('G-cache mode "prompt": each session computes its own G once; "off" recomputes every step', async () => {
  const { model } = await buildModel(SMALL, { gcache: 'prompt' });
  const s1 = model.newSession(), s2 = model.newSession();
  s1.prefill([5, 6, 7]); s1.decode(8); s1.decode(9);
  s2.prefill([100, 200]);
  assert.equal(model.anetRuns, 2);
  assert.ok(maxDiff(s1.gcache(), s2.gcache()) > 0, 'different prompts give different G');
  const off = (await buildModel(SMALL, { gcache: 'off' })).model;
  const s = off.newSession();
  s.prefill([5, 6, 7]); s.decode(8); s.decode(9);
  assert.equal(off.anetRuns, 3);
});

test('mode "off" logits equal a full pass over the grown sequence', async () => {
  const { model, config, W } = await buildModel(SMALL, { gcache: 'off' });
  const s = model.newSession();
  s.prefill(IDS.slice(0, 5));
  const logits = s.decode(IDS[5]);
  const ref = referenceForward(config, W, IDS.slice(0, 6));
  const last = ref.logits.subarray(5 * SMALL.V);
  assert.ok(maxDiff(logits, last) <= REL_TOL * maxAbs(last));
});

test('rewind drops positions: decoding again reproduces the same logits', async () => {
  const { model } = await buildModel(SMALL, { gcache: 'prompt' });
  const s = model.newSession({ contextLength: 32 });
  s.prefill([5, 6, 7, 8]);
  const a = s.decode(9), b = s.decode(10);
  s.rewind(2);
  assert.equal(s.position, 4);
  assert.throws(() => s.logitsView(), /no logits/);
  assert.deepEqual(s.decode(9), a);
  assert.deepEqual(s.decode(10), b);
  s.rewind(6);
  assert.equal(s.position, 0);
  s.prefill([11, 12]);
  assert.equal(model.anetRuns, 2, 'rewinding to 0 in mode "prompt" recomputes G at the next prefill');
});

test('installed G round-trips through export and is what attention uses', async () => {
  const { model, config, W } = await buildModel(SMALL);
  const n = model.gcacheCount;
  const G = new Float32Array(n);
  for (let i = 0; i < n; i++) G[i] = Math.sin(i * 0.37) * 0.5;
  model.setGcache(G);
  assert.equal(model.gcacheMode, 'fixed');
  assert.deepEqual(model.gcache(), G);
  const dk = SMALL.D / SMALL.H, per = dk * dk;
  const Gs = Array.from({ length: SMALL.L }, (_, l) => Array.from({ length: SMALL.H }, (_, h) => Float64Array.from(G.subarray((l * SMALL.H + h) * per, (l * SMALL.H + h + 1) * per))));
  const ref = referenceForward(config, W, IDS, { G: Gs });
  const logits = model.newSession().prefill(IDS, { allLogits: true });
  assert.ok(maxDiff(logits, ref.logits) <= REL_TOL * maxAbs(ref.logits));
  assert.equal(model.anetRuns, 0);
});

test('memory is reported for weights, KV-cache and scratch', async () => {
  const { model } = await buildModel(SMALL);
  const s = model.newSession({ contextLength: 40 });
  s.prefill([1, 2, 3]);
  const mem = s.memory();
  assert.equal(mem.kvCache, SMALL.L * 40 * SMALL.D * 4 * 2);
  assert.ok(mem.scratch > 0);
  assert.ok(model.weightBytes > 4 * (SMALL.V * SMALL.D * 2));
});

test('context shift drops a span and re-rotates later keys: equals a fresh prefill (one layer, fixed G)', async () => {
  const shape = { ...SMALL, L: 1 }; // one layer: cached K/V depend only on tokens and positions
  const { model, rt, tensors } = await buildModel(shape, { gcache: 'prompt' });
  const s = model.newSession({ contextLength: 16 });
  s.prefill(IDS);
  const G = s.gcache();
  const fixed = Model.create(rt, configFor(shape));
  uploadTensors(fixed, tensors);
  fixed.finalize();
  fixed.setGcache(G);
  const shifted = fixed.newSession({ contextLength: 16 });
  shifted.prefill(IDS);
  shifted.shift(2, 3); // keep IDS[0..2), drop IDS[2..5)
  assert.equal(shifted.position, IDS.length - 3);
  const a = shifted.decode(17);
  const fresh = fixed.newSession({ contextLength: 16 });
  fresh.prefill([...IDS.slice(0, 2), ...IDS.slice(5)]);
  const b = fresh.decode(17);
  assert.ok(maxDiff(a, b) <= REL_TOL * maxAbs(b), `shifted vs fresh differ by ${maxDiff(a, b)}`);
  assert.throws(() => shifted.shift(4, 100), /cannot drop 100 positions after the first 4/);
  assert.throws(() => shifted.shift(1, 2 ** 31 - 1), /cannot drop 2147483647 positions/, 'keep + n_drop does not wrap around');
  assert.equal(model.anetRuns, 1);
});

test('the one-off A-net time is reported', async () => {
  const { model } = await buildModel(SMALL);
  assert.equal(model.anetMs, 0);
  model.newSession().prefill([1, 2, 3]);
  assert.ok(model.anetMs > 0);
});
