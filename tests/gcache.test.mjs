// The predefined G-cache of a released model (PLDR-LLM-v51-110M-1, [5 layers][14 heads][64][64])
// installed into a model of that attention shape with no A-net, and identity G = SDPA there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { referenceForward } from './helpers/reference.mjs';
import { ROOT } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';

// release attention shape (L 5, D 896, H 14, dk 64); FFN and vocabulary kept small for speed
const RELEASE = { L: 5, D: 896, H: 14, dff: 256, Adff: 170, nres: 8, ndense: 2, V: 512, ctx: 64 };
const G_FILE = join(ROOT, 'tests/fixtures/gcache/pldrv51-110m-1.G_LM.f32');

async function predefinedModel(customG) {
  const rt = await createRuntime();
  const shape = { ...RELEASE, customG };
  const tensors = synthesize(shape, 7);
  const model = Model.create(rt, configFor(shape));
  uploadTensors(model, tensors);
  return { model, tensors, config: configFor(shape) };
}

test('the released 110M G-cache installs into a model of its shape and exports unchanged', async () => {
  const { model } = await predefinedModel('external');
  const G = readF32(G_FILE);
  assert.equal(G.length, 5 * 14 * 64 * 64);
  model.setGcache(G);
  model.finalize();
  assert.deepEqual(model.gcache(), G);
  const s = model.newSession();
  const logits = s.prefill([5, 17, 300, 42]);
  assert.ok(logits.every(Number.isFinite));
  assert.deepEqual(s.gcache(), G, 'the session attends with exactly the installed G');
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
  let diff = 0, max = 0;
  for (let i = 0; i < logits.length; i++) {
    diff = Math.max(diff, Math.abs(logits[i] - ref.logits[i]));
    max = Math.max(max, Math.abs(ref.logits[i]));
  }
  assert.ok(diff <= 2e-5 * max, `identity-G logits differ from SDPA by ${diff} (max |logit| ${max})`);
  model.free();
});
