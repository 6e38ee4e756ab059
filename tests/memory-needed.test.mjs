// Sizes that hold on 32-bit WebAssembly (issue 16 items 1 and 2), in dist/pldr.wasm itself: every
// hyperparameter is bounded before the tensor table is built, weights that no 32-bit size holds
// are refused with their size, pldr_model_memory_needed says what a model and a session will take
// (exactly for the weights, an upper bound for a session), and PLDR.load refuses a model that
// cannot fit — 4 GiB, or what the engine grants — right after config.json, before any shard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { WASM_MEMORY_MAX, canGrantMemory, checkModelMemory } from '../js/runtime/memory.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { RELEASE } from '../tools/testkit/synthetic.mjs';

const SMALL = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 2, V: 50, ctx: 80 };
const SHAPES = {
  small: SMALL,
  'two layers, tails': { L: 2, D: 48, H: 4, dff: 70, Adff: 10, nres: 2, ndense: 1, V: 37, ctx: 80 },
  'predefined G': { ...SMALL, customG: 'identity', nres: 0 },
};
const rt = await createRuntime();
const GIB = 2 ** 30;

function throwsWith(fn, code, pattern) {
  assert.throws(fn, (err) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('a config.json alone cannot make the tensor table overflow: num_reslayerA × num_denseA is bounded by name', () => {
  // 65536 × 65536 wrapped to 0 as an int: calloc(1) and the A-net table was written past it
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), num_reslayerA: 65536, num_denseA: 65536 }), 'E_CONFIG',
    /num_reslayerA 65536 is larger than this runtime's limit of 1024/);
  // each within its bound, together 5 × 1000 × 1000 GLUs: the table would take gigabytes and seconds
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), num_hidden_layers: 5, num_reslayerA: 1000, num_denseA: 1000 }), 'E_CONFIG',
    /describes 30010130 tensors .* more than this runtime's limit of 65536/);
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), A_dff: 1 << 20 }), 'E_CONFIG', /A_dff 1048576 is larger than this runtime's limit of 65536/);
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), num_hidden_layers: 100000 }), 'E_CONFIG', /num_hidden_layers 100000 .* limit of 1024/);
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), vocab_size: 1 << 25 }), 'E_CONFIG', /vocab_size 33554432 .* limit of 16777216/);
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), hidden_size: 65536, num_attention_heads: 1024, head_dim: 64, vocab_size: 40000 }), 'E_CONFIG',
    /\[vocab_size\]\[hidden_size\] would hold 2621440000 values, more than this runtime's limit of 2147483647/);
  throwsWith(() => Model.create(rt, { ...configFor(SMALL), hidden_size: 4096, num_attention_heads: 2, head_dim: 2048 }), 'E_CONFIG', /head_dim 2048 .* limit of 1024/);
});

test('weights that no 32-bit size holds are refused by pldr_model_alloc with their size, before anything large is allocated', () => {
  // hidden_size 32768: D × D × 4 = 2^32 bytes was 0 in a 32-bit size_t (a 1-byte tensor, a 0-byte window)
  const config = { ...configFor(SMALL), hidden_size: 32768, num_attention_heads: 1024, head_dim: 32 };
  const need = Model.memoryNeeded(rt, config, {}, 16);
  assert.ok(need.weights > 4 * 32768 ** 2 * 4, 'the count is said past 32 bits');
  throwsWith(() => Model.create(rt, config), 'E_OUT_OF_MEMORY', new RegExp(`this model needs 16\\.06 GiB \\(${need.weights} bytes\\) ` +
    'for its weights as f32, more than the 4 GiB a 32-bit address space'));
  assert.equal(rt.x.memory.buffer.byteLength <= 64 << 20, true, 'nothing large was allocated');
});

for (const [name, shape] of Object.entries(SHAPES)) {
  for (const [quant, kvCache] of [['f32', 'f32'], ['q8', 'f32'], ['q4', 'f32'], ['f32', 'f16'], ['q4', 'f16']]) {
    test(`memoryNeeded, ${name}, ${quant}, KV-cache ${kvCache}: the weights exactly; a session at most (and within 25 %) after its longest runs`, () => {
      for (const gcache of shape.customG ? ['fixed'] : ['first', 'prompt', 'off']) {
        const config = configFor(shape);
        const before = Model.memoryNeeded(rt, config, { quant, gcache }, 72);
        const model = Model.create(rt, config, { quant, gcache });
        assert.deepEqual(model.memoryNeeded(72), before, 'the same before and after allocation');
        if (kvCache === 'f16') {
          Object.assign(before, model.memoryNeeded(72, 'f16'));
          const kvF32 = 2 * shape.L * 72 * shape.D * 4;
          assert.equal(model.memoryNeeded(72).session - before.session, kvF32 / 2, 'binary16 keys and values: half the KV bytes');
        }
        uploadTensors(model, synthesize(shape));
        if (shape.customG) uploadPastG(model, shape);
        model.finalize();
        assert.equal(model.weightBytes, before.weights, `${gcache}: the weights`);
        const s = model.newSession({ contextLength: 72, kvCache });
        s.prefill(Array.from({ length: 71 }, (_, i) => 4 + (i % (shape.V - 4))), { allLogits: true });
        s.decode(5);
        const mem = s.memory(), held = mem.kvCache + mem.scratch;
        assert.ok(held <= before.session, `${gcache}: a session holds ${held}, the query said ${before.session}`);
        assert.ok(held >= 0.75 * before.session, `${gcache}: ${held} of ${before.session}: the bound is loose`);
        model.free();
      }
    });
  }
}

test('memoryNeeded at the released 110M shape: the weights of the benchmark table, a session of 1024 positions', () => {
  const f32 = Model.memoryNeeded(rt, configFor(RELEASE), { quant: 'f32' });
  const q8 = Model.memoryNeeded(rt, configFor(RELEASE), { quant: 'q8' });
  const q4 = Model.memoryNeeded(rt, configFor(RELEASE), { quant: 'q4' });
  // bench/results.md: weights 421 / 125 / 75 MiB (pldr_model_weight_bytes of the loaded model)
  assert.deepEqual([f32, q8, q4].map((m) => Math.round(m.weights / 2 ** 20)), [421, 125, 75]);
  assert.equal(f32.session, q4.session, 'a session does not depend on the weight format');
  const kv = 2 * RELEASE.L * RELEASE.ctx * RELEASE.D * 4;
  assert.ok(f32.session > kv && f32.session < kv + 32 * 2 ** 20, `session ${f32.session}: the KV-cache (${kv}) and some scratch`);
  assert.throws(() => Model.memoryNeeded(rt, configFor(RELEASE), {}, 1025), /context_length 1025 outside 1\.\.1024/);
  configured(configFor(RELEASE), (m) => {
    assert.equal(f32.session - m.memoryNeeded(undefined, 'f16').session, kv / 2, 'an f16 KV-cache: half the KV bytes');
    throwsWith(() => m.memoryNeeded(undefined, 'bf16'), 'E_OPTION', /invalid KV-cache format "bf16": expected f32 or f16/);
    // the C query itself refuses a kv_format that is not a pldr_kv_format, and writes nothing
    const out = rt.malloc(16);
    new Float64Array(rt.x.memory.buffer, out, 2).fill(-1);
    const rc = rt.withParams('session', { context_length: 0, kv_format: 7 }, (p) => rt.x.pldr_model_memory_needed(m.handle, p, out, out + 8));
    assert.deepEqual([...new Float64Array(rt.x.memory.buffer, out, 2)], [-1, -1]);
    rt.free(out);
    assert.equal(rt.statusName(rc), 'PLDR_ERR_INVALID_ARGUMENT');
    assert.match(m.error(), /kv_format 7 is not one of f32 \(0\), f16 \(1\)/);
  });
});

test('the memory probe grows a memory it drops: 1 GiB is granted without being kept, past 4 GiB is refused', () => {
  const held = rt.x.memory.buffer.byteLength, rss = process.memoryUsage().rss;
  assert.equal(canGrantMemory(GIB), true);
  assert.equal(canGrantMemory(2 * GIB), true);
  assert.equal(rt.x.memory.buffer.byteLength, held, "the module's memory is not touched");
  assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'the probed pages were never resident');
  assert.equal(canGrantMemory(WASM_MEMORY_MAX + 65536), false);
  assert.equal(canGrantMemory(Infinity), false);
});

/** decoder.past_G_values [L][3][1][H][dk][dk] (F32) and its status (BOOL [L]): a predefined G's optional tensors. */
function uploadPastG(model, s) {
  const dk = s.D / s.H, g = new Float32Array(s.L * 3 * s.H * dk * dk).fill(0.01);
  uploadTensors(model, [{ name: 'decoder.past_G_values', shape: [s.L, 3, 1, s.H, dk, dk], data: g }]);
  const w = model.beginTensor({ name: 'decoder.past_G_values_status', dtype: 'BOOL', shape: [s.L] });
  w.write(new Uint8Array(s.L).fill(1));
  w.end();
}

/** Runs fn on a model configured from `config`, not allocated: what PLDR.load's check sees. */
function configured(config, fn) {
  const stop = new Error('not allocated');
  try {
    Model.create(rt, config, { beforeAlloc: (m) => { fn(m); throw stop; } });
  } catch (err) {
    if (err !== stop) throw err;
  }
}

const BIG = { ...configFor(SMALL), num_hidden_layers: 24, hidden_size: 2048, num_attention_heads: 32, head_dim: 64,
  intermediate_size: 8192, vocab_size: 32000, max_position_embeddings: 2048 };

test('checkModelMemory: more than 4 GiB is E_OUT_OF_MEMORY with the sizes and those of the other weight formats', () => {
  configured(BIG, (m) => {
    throwsWith(() => checkModelMemory(m, { quant: 'f32', others: () => ({ f32: 7 * GIB, q8: 1.9 * GIB, q4: 1.1 * GIB }) }), 'E_OUT_OF_MEMORY',
      /^this model needs 7\.\d\d GiB of WebAssembly memory \(weights 6\.\d\d GiB as f32, a session of context 2048 \(KV-cache f32\) 0\.8\d GiB, the module 0\.\d\d GiB\), more than the 4 GiB a WebAssembly module can address; it would need 2\.\d\d GiB as q8, 1\.\d\d GiB as q4 \(quant option\)$/);
    let asked = 0;
    throwsWith(() => checkModelMemory(m, { contextLength: 16, probe: (bytes) => { asked = bytes; return false; } }), 'E_OUT_OF_MEMORY',
      /needs 6\.65 GiB .* a session of context 16 .* more than the 4 GiB/);
    assert.equal(asked, 0, 'past 4 GiB there is nothing to probe');
  });
});

test('checkModelMemory counts the KV-cache in its format; when the session is most of it, a shorter context or kvCache f16 is named', () => {
  configured({ ...BIG, max_position_embeddings: 16384 }, (m) => {
    throwsWith(() => checkModelMemory(m), 'E_OUT_OF_MEMORY',
      /a session of context 16384 \(KV-cache f32\) 6\.\d\d GiB.*; a shorter contextLength or kvCache 'f16' needs less$/);
    const f32 = m.memoryNeeded(undefined, 'f32').session, f16 = m.memoryNeeded(undefined, 'f16').session;
    assert.equal(f32 - f16, 24 * 16384 * 2048 * 2 * 2, 'binary16: 2 of the 4 bytes of each key and value element');
    throwsWith(() => checkModelMemory(m, { kvCache: 'f16' }), 'E_OUT_OF_MEMORY',
      /a session of context 16384 \(KV-cache f16\) 3\.\d\d GiB.*; a shorter contextLength needs less$/);
  });
});

test('checkModelMemory: what the engine will not grant is refused too, naming the test allocation', () => {
  configured(configFor(SMALL), (m) => {
    let asked = 0;
    const fits = checkModelMemory(m, { probe: (bytes) => { asked = bytes; return true; } });
    assert.equal(asked, fits.total);
    assert.ok(fits.total > fits.weights + fits.session, 'the module counts');
    throwsWith(() => checkModelMemory(m, { probe: () => false }), 'E_OUT_OF_MEMORY',
      /needs 0\.\d\d GiB of WebAssembly memory .*, but this browser would not grant that much \(a test allocation of 0\.\d\d GiB failed\)/);
  });
});

test('PLDR.load refuses a model that cannot fit right after config.json: no shard is read, the other weight formats are named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-too-large-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(BIG));
    // the shards the index names do not exist: reading one would be E_NOT_FOUND
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { 'decoder.embedding.weight': 'model-00001-of-00002.safetensors' } }));
    await assert.rejects(PLDR.load(dir), (err) => {
      assert.equal(err.code, 'E_OUT_OF_MEMORY', err.message);
      assert.match(err.message, /needs 7\.43 GiB .* \(weights 6\.57 GiB as f32, .*\), more than the 4 GiB .*; it would need 2\.66 GiB as q8, 1\.85 GiB as q4/);
      assert.equal(err.memory.weights, Model.memoryNeeded(rt, BIG, {}).weights);
      return true;
    });
    // the KV-cache format is counted: binary16 keys and values take half the bytes
    await assert.rejects(PLDR.load(dir, { kvCache: 'f16' }), (err) => {
      assert.equal(err.code, 'E_OUT_OF_MEMORY', err.message);
      assert.match(err.message, /a session of context 2048 \(KV-cache f16\) 0\.4\d GiB/);
      assert.equal(err.memory.session, Model.memoryNeeded(rt, BIG, {}).session - 24 * 2048 * 2048 * 2 * 2);
      return true;
    });
    // as q4 it fits: the load goes on to the shards (and finds none)
    await assert.rejects(PLDR.load(dir, { quant: 'q4' }), (err) => err.code === 'E_NOT_FOUND' || assert.fail(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Runtime.malloc refuses a size past 32 bits instead of wrapping it to a small allocation', () => {
  throwsWith(() => rt.malloc(2 ** 32 + 8), 'E_OUT_OF_MEMORY', /cannot allocate 4294967304 bytes: more than the 4 GiB/);
  throwsWith(() => rt.malloc(-1), 'E_OPTION', /cannot allocate -1 bytes/);
  throwsWith(() => rt.malloc(1.5), 'E_OPTION', /cannot allocate 1\.5 bytes/);
});

test('a session whose KV-cache no 32-bit size holds is refused with its size', () => {
  const deep = { ...SMALL, L: 40, ctx: 1 << 20 };
  const model = Model.create(rt, configFor(deep));
  uploadTensors(model, synthesize(deep));
  model.finalize();
  throwsWith(() => model.newSession(), 'E_OUT_OF_MEMORY', /a session of context 1048576 needs 10\.\d\d GiB \(\d+ bytes\), more than the 4 GiB .*\(its KV-cache in f32\)$/);
  throwsWith(() => model.newSession({ kvCache: 'f16' }), 'E_OUT_OF_MEMORY', /a session of context 1048576 needs 5\.\d\d GiB \(\d+ bytes\), more than the 4 GiB .*\(its KV-cache in f16\)$/);
  assert.ok(model.memoryNeeded().session > 2 ** 32, 'the query says so first');
  model.free();
});
