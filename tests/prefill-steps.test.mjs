// The stepped prefill (pldr_session_prefill_begin / _step / _cancel through js/runtime's
// Session.beginPrefill): bitwise the one-shot prefill whatever the step budget, in every weight
// format and G-cache mode; a cancelled prefill, and every failed call, leave the session exactly
// as before; a G change during a stepped prefill ends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { benchIds } from '../tools/testkit/synthetic.mjs';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { flattenG, referenceForward } from './helpers/reference.mjs';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';

// 2 layers, D 64; 150 prompt tokens = 3 chunks of rows per layer (64, 64, 22)
const SHAPE = { L: 2, D: 64, H: 2, dff: 96, Adff: 24, nres: 2, ndense: 2, V: 300, ctx: 200 };
const rt = await createRuntime();
const TENSORS = synthesize(SHAPE, 5);
const PROMPT = benchIds(150, SHAPE.V, 11);
const HISTORY = benchIds(20, SHAPE.V, 12);

function newModel(options) {
  const model = Model.create(rt, configFor(SHAPE), options);
  uploadTensors(model, TENSORS);
  model.finalize();
  return model;
}

/** Everything a caller can observe of a session, copied. */
function snapshot(s) {
  let logits = null;
  try { logits = s.logits(); } catch { /* none */ }
  return { position: s.position, logits, G: s.gcache('G_LM'), A: s.gcache('A_LM') };
}

/** Steps run to its end with a fixed budget; returns how many step() calls it took. */
function stepThrough(run, budget) {
  let calls = 0;
  for (let left = Infinity; left > 0; calls++) left = run.step(budget);
  return calls;
}

/** bitwise equality of float arrays (NaN-safe, -0 vs 0 told apart) */
function sameBits(a, b, what) {
  assert.ok(a && b, `${what}: missing`);
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

/** A session with some history (decoded tokens included), then the long prompt; what it shows. */
function runPrompt(model, prefill) {
  const s = model.newSession();
  s.prefill(HISTORY.slice(0, 18));
  s.decode(HISTORY[18]);
  s.decode(HISTORY[19]);
  const all = prefill(s);
  const after = snapshot(s);
  const next = s.decode(7);
  s.free();
  return { all, after, next };
}

for (const quant of ['f32', 'q8', 'q4']) {
  for (const gcache of ['first', 'prompt', 'off']) {
    test(`stepped prefill is bitwise the one-shot prefill, whatever the budget (${quant}, mode ${gcache})`, () => {
      const oneShotModel = newModel({ quant, gcache });
      const want = runPrompt(oneShotModel, (s) => s.prefill(PROMPT, { allLogits: true }));
      const runs = oneShotModel.anetRuns;
      oneShotModel.free();
      for (const budget of [1, 2, 3, 7, 1000]) {
        const model = newModel({ quant, gcache });
        let calls = 0;
        const got = runPrompt(model, (s) => {
          const run = s.beginPrefill(PROMPT, { allLogits: true });
          calls = stepThrough(run, budget);
          return run.logits();
        });
        const what = `budget ${budget}`;
        sameBits(got.all, want.all, `${what}: logits of every position`);
        sameBits(got.after.logits, want.after.logits, `${what}: last logits`);
        sameBits(got.after.G, want.after.G, `${what}: G_LM`);
        sameBits(got.after.A, want.after.A, `${what}: A_LM`);
        sameBits(got.next, want.next, `${what}: the decode after it`);
        assert.equal(got.after.position, want.after.position);
        assert.equal(model.anetRuns, runs, `${what}: A-net runs`);
        if (budget === 1) assert.ok(calls > 2 * SHAPE.L * 3, `${what}: ${calls} steps for 2 layers × 3 chunks`);
        model.free();
      }
    });
  }
}

test('a prefill of several chunks matches the float64 reference: G from the queries of every chunk', () => {
  const model = newModel({ gcache: 'prompt' });
  const s = model.newSession();
  const run = s.beginPrefill(PROMPT, { allLogits: true });
  stepThrough(run, 1);
  const ref = referenceForward(configFor(SHAPE), new Map(TENSORS.map((t) => [t.name, t])), PROMPT);
  const logits = run.logits(), G = s.gcache(), refG = flattenG(ref.G);
  assert.ok(maxDiff(logits, ref.logits) <= 2e-5 * maxAbs(ref.logits), `logits differ by ${maxDiff(logits, ref.logits)}`);
  assert.ok(maxDiff(G, refG) <= 2e-5 * maxAbs(refG), `G differs by ${maxDiff(G, refG)}`);
  model.free();
});

test('mode off: a stepped one-token prefill is the decode (both recompute everything)', () => {
  const model = newModel({ gcache: 'off' });
  const a = model.newSession(), b = model.newSession();
  a.prefill(HISTORY);
  b.prefill(HISTORY);
  const run = b.beginPrefill([9]);
  stepThrough(run, 1);
  sameBits(run.logits(), a.decode(9), 'logits');
  sameBits(b.gcache(), a.gcache(), 'G');
  model.free();
});

for (const gcache of ['first', 'prompt', 'off']) {
  test(`a cancelled prefill leaves the session exactly as before (mode ${gcache})`, () => {
    const model = newModel({ gcache });
    const twin = model.newSession(), s = model.newSession();
    for (const session of [s, twin]) {
      session.prefill(HISTORY.slice(0, 10));
      session.decode(HISTORY[10]);
    }
    const before = snapshot(s), runsBefore = model.anetRuns, modelG = model.gcache();
    const run = s.beginPrefill(PROMPT.slice(0, 120), { allLogits: true });
    for (let i = 0; i < 6; i++) assert.ok(run.step() > 0);
    run.cancel();
    assert.equal(run.open, false);
    assert.deepEqual(snapshot(s), before, 'position, logits, G and A_LM as before');
    assert.equal(model.anetRuns, runsBefore, 'a cancelled A-net run is not counted');
    assert.deepEqual(model.gcache(), modelG, "the model's G-cache as before");
    // the KV-cache of the held positions is intact: the next steps equal the twin's
    sameBits(s.decode(HISTORY[11]), twin.decode(HISTORY[11]), 'decode after the cancel');
    sameBits(s.prefill(PROMPT.slice(0, 70)), twin.prefill(PROMPT.slice(0, 70)), 'prefill after the cancel');
    model.free();
  });
}

test('mode first: a first prefill cancelled before it completes publishes no G', () => {
  const model = newModel({ gcache: 'first' });
  const s = model.newSession();
  const run = s.beginPrefill(PROMPT);
  while (run.step() > 3);
  run.cancel();
  assert.equal(model.gcache(), null);
  assert.equal(s.gcache(), null);
  assert.equal(model.anetRuns, 0);
  const fresh = newModel({ gcache: 'first' });
  sameBits(s.prefill(HISTORY), fresh.newSession().prefill(HISTORY), 'the G computed next is the one a fresh model computes');
  sameBits(model.gcache(), fresh.gcache(), 'G');
  model.free();
  fresh.free();
});

test('failed calls leave the session unchanged, with their error code in session.status', () => {
  const model = newModel({ gcache: 'prompt' });
  const s = model.newSession(), twin = model.newSession();
  for (const session of [s, twin]) session.prefill(HISTORY);
  const before = snapshot(s);
  const fails = (fn, code) => {
    assert.throws(fn, (err) => err.statusName === code);
    assert.equal(s.status, code);
    assert.deepEqual(snapshot(s), before, `unchanged after ${code}`);
  };
  fails(() => s.prefill([1, 2, SHAPE.V]), 'PLDR_ERR_TOKEN');
  fails(() => s.beginPrefill([-1]), 'PLDR_ERR_TOKEN');
  fails(() => s.prefill(new Array(SHAPE.ctx).fill(5)), 'PLDR_ERR_CONTEXT_OVERFLOW');
  fails(() => s.decode(SHAPE.V + 3), 'PLDR_ERR_TOKEN');
  fails(() => s.rewind(HISTORY.length + 1), 'PLDR_ERR_INVALID_ARGUMENT');
  fails(() => s.shift(5, HISTORY.length), 'PLDR_ERR_INVALID_ARGUMENT');
  const run = s.beginPrefill(PROMPT.slice(0, 90));
  run.step();
  fails(() => s.prefill([4]), 'PLDR_ERR_STATE');
  fails(() => s.beginPrefill([4]), 'PLDR_ERR_STATE');
  fails(() => s.decode(4), 'PLDR_ERR_STATE');
  fails(() => s.rewind(1), 'PLDR_ERR_STATE');
  fails(() => s.shift(1, 1), 'PLDR_ERR_STATE');
  fails(() => run.step(0), 'PLDR_ERR_INVALID_ARGUMENT');
  run.cancel();
  assert.throws(() => run.step(), /the prefill is closed/);
  assert.equal(rt.x.pldr_session_prefill_step(s.handle, 1), -8, 'C: no prefill open is PLDR_ERR_STATE');
  sameBits(s.decode(8), twin.decode(8), 'the session works on as if nothing had failed');
  model.free();
});

test("replacing the model's G during a stepped prefill ends it with PLDR_ERR_GCACHE and resets the session", () => {
  const model = newModel({ gcache: 'first' });
  const s = model.newSession();
  s.prefill(HISTORY);
  const G = model.gcache();
  const run = s.beginPrefill(PROMPT.slice(0, 100));
  run.step();
  model.setGcache(G.map((v) => v * 0.5));
  assert.throws(() => run.step(), (err) => err.statusName === 'PLDR_ERR_GCACHE' && /replaced during this prefill/.test(err.message));
  assert.equal(run.open, false);
  assert.equal(s.position, 0);
  assert.throws(() => s.logitsView(), /no logits/);
  assert.equal(s.prefill([5, 6]).length, SHAPE.V, 'the session runs again');
  model.free();
});
