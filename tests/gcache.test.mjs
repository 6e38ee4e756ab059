// The G-cache: the predefined G-cache of a released model (PLDR-LLM-v51-110M-1, [5 layers][14
// heads][64][64]) installed into a model of that attention shape with no A-net, identity G = SDPA
// there, and what installing or computing a G does to live sessions (C API and Engine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { PLDR } from '../js/pldr.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { referenceForward } from './helpers/reference.mjs';
import { ROOT } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';

// release attention shape (L 5, D 896, H 14, dk 64); FFN and vocabulary kept small for speed
const RELEASE = { L: 5, D: 896, H: 14, dff: 256, Adff: 170, nres: 8, ndense: 2, V: 512, ctx: 64 };
const G_FILE = join(ROOT, 'tests/fixtures/gcache/pldrv51-110m-1.G_LM.f32');
const TINY = join(ROOT, 'models/pldr-tiny');

async function predefinedModel(customG) {
  const rt = await createRuntime();
  const shape = { ...RELEASE, customG };
  const tensors = synthesize(shape, 7);
  const model = Model.create(rt, configFor(shape));
  uploadTensors(model, tensors);
  return { model, tensors, config: configFor(shape) };
}

/** G [L][H][dk][dk] flat as the reference's per-layer, per-head float64 matrices */
function perHead(G, L, H, dk) {
  const per = dk * dk;
  return Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => Float64Array.from(G.subarray((l * H + h) * per, (l * H + h + 1) * per))));
}

/** bitwise equality of float arrays */
function sameBits(a, b, what) {
  assert.ok(a && b, `${what}: missing`);
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

test('the released 110M G-cache installs into a model of its shape, exports unchanged, and is what attention uses', async () => {
  const { model, tensors, config } = await predefinedModel('external');
  const G = readF32(G_FILE);
  assert.equal(G.length, 5 * 14 * 64 * 64);
  model.setGcache(G);
  model.finalize();
  assert.deepEqual(model.gcache(), G);
  const ids = [5, 17, 300, 42];
  const logits = model.newSession().prefill(ids, { allLogits: true });
  const ref = referenceForward(config, new Map(tensors.map((t) => [t.name, t])), ids, { G: perHead(G, 5, 14, 64) });
  const diff = maxDiff(logits, ref.logits), max = maxAbs(ref.logits);
  assert.ok(diff <= 2e-5 * max, `logits with the installed G differ from the float64 reference by ${diff} (max |logit| ${max})`);
  assert.equal(model.anetRuns, 0);
  model.free();
});

test('identity G at the release shape gives exactly scaled-dot-product attention', async () => {
  const { model, tensors, config } = await predefinedModel('identity');
  model.finalize();
  const ids = [5, 17, 300];
  const logits = model.newSession().prefill(ids, { allLogits: true });
  const eye = new Float64Array(64 * 64);
  for (let i = 0; i < 64; i++) eye[i * 65] = 1;
  const G = Array.from({ length: 5 }, () => Array.from({ length: 14 }, () => eye));
  const ref = referenceForward(config, new Map(tensors.map((t) => [t.name, t])), ids, { G });
  const diff = maxDiff(logits, ref.logits), max = maxAbs(ref.logits);
  assert.ok(diff <= 2e-5 * max, `identity-G logits differ from SDPA by ${diff} (max |logit| ${max})`);
  model.free();
});

// ---- a G change and the sessions that live through it ------------------------------------------

const SMALL = { L: 2, D: 64, H: 2, dff: 96, Adff: 24, nres: 2, ndense: 2, V: 300, ctx: 64 };
const IDS = [7, 42, 3, 199, 5, 77, 12, 250, 9];
const rt = await createRuntime();
const SMALL_TENSORS = synthesize(SMALL, 1);

function smallModel(options = {}) {
  const model = Model.create(rt, configFor(SMALL), options);
  uploadTensors(model, SMALL_TENSORS);
  model.finalize();
  return model;
}

/** the logits of IDS in a fresh session of a fresh model given G by `install` */
function freshLogits(install) {
  const model = smallModel();
  install(model);
  const logits = model.newSession().prefill(IDS, { allLogits: true });
  model.free();
  return logits;
}

test('installing a G resets every live session of the model: its next run equals a fresh session with that G', () => {
  const model = smallModel({ gcache: 'first' });
  const a = model.newSession(), b = model.newSession({ contextLength: 32 });
  a.prefill(IDS);
  a.decode(5);
  b.prefill(IDS.slice(0, 4));
  const G2 = model.gcache().map((v, i) => v * 0.5 + Math.sin(i) * 0.1);
  model.setGcache(G2);
  for (const s of [a, b]) {
    assert.equal(s.position, 0, 'the KV-cache was computed with the old G');
    assert.throws(() => s.logitsView(), /no logits/);
    assert.deepEqual(s.gcache(), G2);
  }
  const want = freshLogits((m) => m.setGcache(G2));
  sameBits(a.prefill(IDS, { allLogits: true }), want, 'session a after set_gcache');
  sameBits(b.prefill(IDS, { allLogits: true }), want, 'session b after set_gcache');
  model.free();
});

test('computing a G resets every live session too, in mode "prompt" as well (the session then attends with the model\'s G)', () => {
  const model = smallModel({ gcache: 'prompt' });
  const s = model.newSession();
  s.prefill([100, 200, 30]);
  const own = s.gcache();
  model.computeGcache([3]);
  assert.equal(model.gcacheMode, 'fixed');
  assert.equal(s.position, 0);
  assert.notDeepEqual(s.gcache(), own);
  assert.deepEqual(s.gcache(), model.gcache());
  sameBits(s.prefill(IDS, { allLogits: true }), freshLogits((m) => m.computeGcache([3])), 'after compute_gcache');
  const runs = model.anetRuns;
  s.decode(4);
  assert.equal(model.anetRuns, runs, 'mode fixed now: no A-net run');
  model.free();
});

test('a failed set_gcache changes neither the G nor the sessions', () => {
  const model = smallModel({ gcache: 'first' });
  const s = model.newSession();
  const logits = s.prefill(IDS);
  const G = model.gcache();
  for (const bad of [new Float32Array(3), G.map((v, i) => (i === 5 ? Infinity : v)), G.map((v, i) => (i === 9 ? -Infinity : v))]) {
    assert.throws(() => model.setGcache(bad), (err) => err.statusName === 'PLDR_ERR_GCACHE' && err.code === 'E_GCACHE');
  }
  assert.deepEqual(model.gcache(), G);
  assert.equal(model.gcacheMode, 'first');
  assert.equal(s.position, IDS.length);
  assert.deepEqual(s.logits(), logits);
  model.free();
});

/** text and first-step logits of a generation started by start(onLogits) */
async function greedy(start) {
  let text = '', first = null;
  const onLogits = (step, logits) => { if (step === 0) first = logits.slice(); };
  for await (const piece of start(onLogits)) text += piece.text;
  return { text, first };
}

test('Engine: after gcache.import the next generate and respond equal a fresh engine with the same G', async () => {
  const engine = await PLDR.load(TINY), fresh = await PLDR.load(TINY);
  const options = { temperature: 0, maxTokens: 12 };
  const prompt = 'The Python language is';
  const messages = [{ role: 'user', content: 'Tell me about rivers.' }];
  const scaled = (k) => engine.gcache.export().map((v) => v * k);
  const cases = [
    ['generate', (e, onLogits) => e.generate(prompt, { ...options, onLogits })],
    ['respond', (e, onLogits) => e.respond(messages, { ...options, onLogits })],
  ];
  for (const [what, start] of cases) {
    await greedy((onLogits) => start(engine, onLogits)); // cached: the prompt's KV under the old G
    const G = scaled(0.5);
    engine.gcache.import(G);
    fresh.reset();
    fresh.gcache.import(G);
    const a = await greedy((onLogits) => start(engine, onLogits));
    const b = await greedy((onLogits) => start(fresh, onLogits));
    sameBits(a.first, b.first, `first logits of ${what}`);
    assert.equal(a.text, b.text, what);
  }
  engine.free();
  fresh.free();
});
