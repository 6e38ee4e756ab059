// The binary16 KV-cache (kvCache: 'f16', pldr_kv_format PLDR_KV_F16) against float32 keys and
// values: half the bytes; pldr-tiny's held-out perplexity within 0.1 % of the f32 cache's and the
// golden prompts' greedy continuations unchanged; a context shift, which re-rotates the cached keys
// in binary16, lands as close to the f32 cache's shift as the two caches are before it; a NaN in the
// cache shows as NaN (the fast kernels take finite halves only); option errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, argmax, loadWasmModel } from './helpers/engines.mjs';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { TINY, agreement, greedyIds, meanNll } from '../tools/testkit/quality.mjs';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { PLDR } from '../js/pldr.js';

const golden = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/golden/pldr-tiny/golden.json'), 'utf8'));

test('f16 KV-cache: half the bytes, the format reported', async () => {
  const model = await loadWasmModel(TINY);
  const a = model.newSession({ contextLength: 100 }), b = model.newSession({ contextLength: 100, kvCache: 'f16' });
  assert.equal(a.kvCache, 'f32');
  assert.equal(b.kvCache, 'f16');
  assert.equal(a.memory().kvCache, 2 * 5 * 256 * 100 * 4); // [L][H][ctx][dk] keys and values
  assert.equal(b.memory().kvCache, a.memory().kvCache / 2);
  model.free();
});

test('f16 KV-cache: pldr-tiny perplexity within 0.1 % of the f32 cache, greedy continuations unchanged', async () => {
  const f32 = await meanNll('f32', TINY, 'f32'), f16 = await meanNll('f32', TINY, 'f16');
  const ratio = Math.exp(f16 - f32) - 1;
  assert.ok(Math.abs(ratio) <= 1e-3, `perplexity ${(100 * ratio).toFixed(4)} % from the f32 cache's`);
  assert.ok(Math.abs(f16 - golden.perplexity.mean_nll_full_pass) <= 1e-3, `mean NLL ${f16} vs the reference's ${golden.perplexity.mean_nll_full_pass}`);
  const g = agreement(await greedyIds('f32', TINY, 'f16'), golden.cases.map((c) => ({ ids: c.greedy_kv_g })));
  assert.deepEqual(g, { tokens: 1, prompts: 1 });
});

test('f16 KV-cache through PLDR.load: greedy text equals the f32 cache\'s; kvCache reported; bad values are E_OPTION', async () => {
  const texts = [];
  for (const kvCache of ['f32', 'f16']) {
    const e = await PLDR.load(TINY, { kvCache });
    texts.push((await e.generate('The Python language is', { maxTokens: 24, temperature: 0 }).result).text);
    assert.equal(e.stats().kvCacheFormat, kvCache);
    e.free();
  }
  assert.equal(texts[1], texts[0]);
  await assert.rejects(PLDR.load(TINY, { kvCache: 'q8' }), { code: 'E_OPTION', message: /invalid kvCache "q8": expected f32 or f16/ });
});

test('f16 KV-cache: the runtime refuses unknown formats (JS and C)', async () => {
  const model = await loadWasmModel(TINY);
  assert.throws(() => model.newSession({ kvCache: 'bf16' }), { code: 'E_OPTION', message: /invalid KV-cache format "bf16"/ });
  const { rt } = model;
  const handle = rt.withParams('session', { kv_format: 7 }, (p) => rt.x.pldr_session_new(model.handle, p));
  assert.equal(handle, 0);
  assert.match(model.error(), /kv_format 7 is not one of f32 \(0\), f16 \(1\)/);
  model.free();
});

/** Greedy continuation of `ids` for n steps from a session; returns every step's logits. */
function continueGreedy(s, logits, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(logits);
    logits = s.decode(argmax(logits));
  }
  return out;
}

test('f16 KV-cache: a context shift re-rotates binary16 keys (as close to the f32 shift as the caches are before it)', async () => {
  const model = await loadWasmModel(TINY, { gcache: 'first' });
  const prompt = golden.cases.find((c) => c.name === 'longdoc').ids.slice(0, 120);
  const run = (kvCache, shift) => {
    const s = model.newSession({ contextLength: 160, kvCache });
    let logits = s.prefill(prompt);
    if (shift) {
      s.shift(8, 40);   // drop positions 8..47: the 72 later keys are rotated back by 40
      logits = s.decode(prompt.at(-1));
    }
    const steps = continueGreedy(s, logits, 8);
    s.free();
    return steps;
  };
  const before = [run('f32', false), run('f16', false)], after = [run('f32', true), run('f16', true)];
  const scale = maxAbs(after[0][0]);
  let dBefore = 0, dAfter = 0;
  for (let i = 0; i < 8; i++) {
    dBefore = Math.max(dBefore, maxDiff(before[1][i], before[0][i]));
    dAfter = Math.max(dAfter, maxDiff(after[1][i], after[0][i]));
  }
  // the stated tolerance: the shift's one more rounding per key element may at most triple the
  // f16 cache's distance from the f32 cache (keys left unrotated are off by ~the logits' scale)
  assert.ok(dAfter <= 3 * dBefore + 1e-4 * scale, `after the shift ${dAfter.toExponential(2)}, before ${dBefore.toExponential(2)} (logits up to ${scale.toFixed(1)})`);
  assert.ok(dBefore > 0, 'the f16 cache differs from the f32 cache at all (it is binary16)');
  model.free();
});

test('f16 KV-cache: a NaN value in the cache gives NaN logits, as in float32 (not a finite stand-in)', async () => {
  const shape = { L: 2, D: 64, H: 1, dff: 96, Adff: 32, nres: 2, ndense: 2, V: 64, ctx: 32 };
  const tensors = synthesize(shape, 3);
  const bv = tensors.find((t) => t.name === 'decoder.dec_layers.1.mha1.wv.bias');
  bv.data[5] = Number.NaN; // the last layer's values: NaN reaches the logits only through the cache
  const rt = await createRuntime();
  const model = Model.create(rt, configFor(shape), { gcache: 'first' });
  uploadTensors(model, tensors);
  model.finalize();
  for (const kvCache of ['f32', 'f16']) {
    const s = model.newSession({ kvCache });
    const logits = s.prefill([5, 6, 7]);
    assert.ok(logits.some(Number.isNaN), `${kvCache}: NaN logits`);
    s.free();
  }
  model.free();
});

test('f16 KV-cache: what PLDR.load tells onConfig a session will take (the worker makes room with it) counts 2 bytes per key and value', async () => {
  const needed = {};
  for (const kvCache of ['f32', 'f16']) {
    const e = await PLDR.load(TINY, { kvCache, onConfig: (config, need) => { needed[kvCache] = need; } });
    e.free();
  }
  const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  const kv = 2 * config.num_hidden_layers * config.max_position_embeddings * config.hidden_size; // K and V elements
  assert.equal(needed.f32.session - needed.f16.session, 2 * kv);
  assert.equal(needed.f16.weights, needed.f32.weights);
});

test('f16 KV-cache on the command line: --kv-cache reaches PLDR.load, and its errors name the flag', async () => {
  const { loadOptions, withFlags } = await import('../js/cli/options.mjs');
  assert.equal(loadOptions({ 'kv-cache': 'f16' }).kvCache, 'f16');
  assert.equal(withFlags('invalid kvCache "q8": expected f32 or f16'), 'invalid --kv-cache "q8": expected f32 or f16');
});
