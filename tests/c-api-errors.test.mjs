// Every kind of bad input to the engine gives its error code and a message naming the problem,
// and leaves the model or session usable where that makes sense.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../js/runtime/wasm.js';
import { DTYPES, Model, TENSOR_STATUS } from '../js/runtime/model.js';
import { STATUS_CODES } from '../js/errors.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';

const SMALL = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 2, V: 50, ctx: 16 };
const rt = await createRuntime();

function ready(shape = SMALL, options = {}) {
  const model = Model.create(rt, configFor(shape), options);
  uploadTensors(model, synthesize(shape));
  model.finalize();
  return model;
}

/** asserts fn throws an EngineError of the C status `code` (its `statusName`) whose message matches `pattern` */
function throwsCode(fn, code, pattern) {
  assert.throws(fn, (err) => {
    assert.equal(err.statusName, code, `C status of: ${err.message}`);
    assert.equal(err.code, STATUS_CODES[code]);
    assert.match(err.message, pattern);
    return true;
  });
}

test('config: a missing hyperparameter is named', () => {
  const { hidden_size, ...config } = configFor(SMALL);
  throwsCode(() => Model.create(rt, config), 'PLDR_ERR_BAD_CONFIG', /hidden_size/);
});

test('config: native names (num_layers, d_model, ...) are accepted', () => {
  const c = configFor(SMALL);
  const native = { num_layers: c.num_hidden_layers, d_model: c.hidden_size, num_heads: c.num_attention_heads,
    dff: c.intermediate_size, input_vocab_size: c.vocab_size, max_seq_len: c.max_position_embeddings,
    A_dff: c.A_dff, num_reslayerA: c.num_reslayerA, num_denseA: c.num_denseA, rope: 'interleaved' };
  const model = Model.create(rt, native);
  assert.equal(model.vocabSize, SMALL.V);
  assert.equal(model.hparam('hidden_size'), SMALL.D);
  model.free();
});

test('config: inconsistent or impossible values', () => {
  const c = configFor(SMALL);
  throwsCode(() => Model.create(rt, { ...c, num_attention_heads: 3 }), 'PLDR_ERR_BAD_CONFIG', /not a multiple/);
  throwsCode(() => Model.create(rt, { ...c, head_dim: 8 }), 'PLDR_ERR_BAD_CONFIG', /head_dim 8/);
  throwsCode(() => Model.create(rt, { ...c, num_hidden_layers: 2.5 }), 'PLDR_ERR_BAD_CONFIG', /num_hidden_layers = 2.5/);
  throwsCode(() => Model.create(rt, { ...c, vocab_size: -4 }), 'PLDR_ERR_BAD_CONFIG', /vocab_size/);
  throwsCode(() => Model.create(rt, { ...c, layer_norm_eps: NaN }), 'PLDR_ERR_BAD_CONFIG', /layer_norm_eps/);
  throwsCode(() => Model.create(rt, { ...c, tie_word_embeddings: true }), 'PLDR_ERR_BAD_CONFIG', /tie_word_embeddings/);
  throwsCode(() => Model.create(rt, { ...c, custom_G_type: 'magic' }), 'PLDR_ERR_BAD_CONFIG', /custom_G_type = "magic"/);
  throwsCode(() => Model.create(rt, { ...c, model_type: 'llama' }), 'PLDR_ERR_BAD_CONFIG', /llama/);
  throwsCode(() => Model.create(rt, { ...c, hidden_act: 'gelu' }), 'PLDR_ERR_BAD_CONFIG', /gelu/);
  throwsCode(() => Model.create(rt, { ...c, eos_token_id: 999 }), 'PLDR_ERR_BAD_CONFIG', /outside the vocabulary/);
  throwsCode(() => Model.create(rt, [1, 2]), 'PLDR_ERR_BAD_CONFIG', /JSON object/);
});

test('invalid options are rejected with the allowed values', () => {
  throwsCode(() => Model.create(rt, configFor(SMALL), { gcache: 'sometimes' }), 'PLDR_ERR_INVALID_ARGUMENT', /first, prompt, off, fixed/);
  throwsCode(() => Model.create(rt, configFor(SMALL), { quant: 'q3' }), 'PLDR_ERR_INVALID_ARGUMENT', /f32, q8, q4/);
  // the C API validates its params struct too
  const h = rt.withParams('model', { gcache_mode: 7 }, (p) => rt.x.pldr_model_new(p));
  const model = new Model(rt, h);
  for (const [k, v] of Object.entries(configFor(SMALL))) {
    if (typeof v === 'number') rt.withStrings([k], (p) => rt.x.pldr_model_set_hparam(h, p, v));
  }
  assert.equal(rt.x.pldr_model_alloc(h), -1);
  assert.match(model.error(), /gcache_mode 7/);
  model.free();
});

test('tensors: unknown name, wrong shape, unsupported dtype, duplicates', () => {
  const model = Model.create(rt, configFor(SMALL));
  throwsCode(() => model.beginTensor({ name: 'decoder.bogus.weight', dtype: 'F32', shape: [3] }), 'PLDR_ERR_UNKNOWN_TENSOR', /decoder\.bogus\.weight/);
  throwsCode(() => model.beginTensor({ name: 'decoder.dec_layers.0.mha1.wq.weight', dtype: 'F32', shape: [32, 31] }),
    'PLDR_ERR_SHAPE', /decoder\.dec_layers\.0\.mha1\.wq\.weight: shape \[32, 31\] but the config needs \[32, 32\]/);
  throwsCode(() => model.beginTensor({ name: 'decoder.dec_layers.1.mha1.wq.weight', dtype: 'F32', shape: [32, 32] }), 'PLDR_ERR_UNKNOWN_TENSOR', /dec_layers\.1/);
  throwsCode(() => model.beginTensor({ name: 'final_layer.bias', dtype: 'I64', shape: [50] }), 'PLDR_ERR_DTYPE', /final_layer\.bias: dtype unknown/);
  throwsCode(() => model.beginTensor({ name: 'final_layer.bias', dtype: 'U8', shape: [50] }), 'PLDR_ERR_DTYPE', /final_layer\.bias: dtype U8/);
  throwsCode(() => model.beginTensor({ name: 'decoder.layernorm1.weight', dtype: 'U8', shape: [], quant: { format: 'q8_0', shape: [32] } }),
    'PLDR_ERR_DTYPE', /dtype q8_0 is not supported/);
  const w = model.beginTensor({ name: 'decoder.layernorm1.bias', dtype: 'F32', shape: [32] });
  w.write(new Uint8Array(128));
  w.end();
  throwsCode(() => model.beginTensor({ name: 'model.decoder.layernorm1.bias', dtype: 'F32', shape: [32] }), 'PLDR_ERR_STATE', /uploaded twice/);
  model.free();
});

test('tensors: too many or too few bytes', () => {
  const model = Model.create(rt, configFor(SMALL));
  const w = model.beginTensor({ name: 'decoder.layernorm1.bias', dtype: 'F32', shape: [32] });
  throwsCode(() => w.write(new Uint8Array(129)), 'PLDR_ERR_SHAPE', /more bytes/);
  const w2 = model.beginTensor({ name: 'decoder.layernorm1.weight', dtype: 'BF16', shape: [32] });
  w2.write(new Uint8Array(63));
  throwsCode(() => w2.end(), 'PLDR_ERR_SHAPE', /decoder\.layernorm1\.weight: received 63 of 64 bytes/);
  model.free();
});

test('tensors: a write that fails discards the tensor: still missing, uploadable again, and the writer is closed', () => {
  const model = Model.create(rt, configFor(SMALL));
  const tensors = synthesize(SMALL);
  const name = 'decoder.layernorm1.bias';
  const index = Array.from({ length: rt.x.pldr_model_tensor_count(model.handle) }, (_, i) => i)
    .find((i) => rt.readCString(rt.x.pldr_model_tensor_name(model.handle, i)) === name);
  const w = model.beginTensor({ name, dtype: 'F32', shape: [32] });
  throwsCode(() => w.write(new Uint8Array(129)), 'PLDR_ERR_SHAPE', /more bytes/);
  assert.equal(rt.x.pldr_model_tensor_status(model.handle, index) & TENSOR_STATUS.UPLOADED, 0, 'not marked uploaded');
  assert.ok(model.missingTensors().includes(name));
  throwsCode(() => w.end(), 'PLDR_ERR_STATE', /decoder\.layernorm1\.bias: its upload failed and was discarded/);
  throwsCode(() => w.write(new Uint8Array(4)), 'PLDR_ERR_STATE', /discarded/);
  // the window memory was freed once: allocations go on working, the tensor uploads again
  const again = model.beginTensor({ name, dtype: 'F32', shape: [32] });
  again.write(new Uint8Array(128));
  again.end();
  assert.equal(rt.x.pldr_model_tensor_status(model.handle, index) & TENSOR_STATUS.UPLOADED, TENSOR_STATUS.UPLOADED);
  uploadTensors(model, tensors.filter((t) => t.name !== name));
  model.finalize();
  assert.equal(model.newSession().prefill([1, 2]).length, SMALL.V);
  // abort() on purpose, and the C call without an upload open
  const m2 = Model.create(rt, configFor(SMALL));
  const w3 = m2.beginTensor({ name, dtype: 'F32', shape: [32] });
  w3.write(new Uint8Array(64));
  w3.abort();
  throwsCode(() => w3.end(), 'PLDR_ERR_STATE', /aborted/);
  assert.equal(rt.x.pldr_model_upload_abort(m2.handle), -8);
  assert.match(m2.error(), /upload_abort: no upload in progress/);
  m2.beginTensor({ name, dtype: 'F32', shape: [32] }).write(new Uint8Array(128));
  model.free();
  m2.free();
});

test('tensors: dtype names that are not dtypes (inherited object keys included) are PLDR_DTYPE_INVALID', () => {
  const model = Model.create(rt, configFor(SMALL));
  for (const dtype of ['I64', 'toString', 'constructor', '__proto__', 'INVALID']) {
    throwsCode(() => model.beginTensor({ name: 'final_layer.bias', dtype, shape: [50] }), 'PLDR_ERR_DTYPE', /final_layer\.bias: dtype unknown/);
  }
  throwsCode(() => model.beginTensor({ name: 'decoder.embedding.weight', dtype: 'U8', shape: [], quant: { format: 'hasOwnProperty', shape: [50, 32] } }),
    'PLDR_ERR_DTYPE', /dtype unknown/);
  assert.equal(DTYPES.INVALID, -1);
  model.free();
});

test('finalize names a missing tensor; sessions need a finalized model', () => {
  const model = Model.create(rt, configFor(SMALL));
  const tensors = synthesize(SMALL).filter((t) => t.name !== 'decoder.dec_layers.0.ffn.gluw2.bias');
  throwsCode(() => model.newSession(), 'PLDR_ERR_STATE', /finalized/);
  uploadTensors(model, tensors);
  throwsCode(() => model.finalize(), 'PLDR_ERR_MISSING_TENSOR', /decoder\.dec_layers\.0\.ffn\.gluw2\.bias is missing \(1 missing in all\)/);
  model.free();
});

test('uploads after finalize are refused', () => {
  const model = ready();
  throwsCode(() => model.beginTensor({ name: 'final_layer.bias', dtype: 'F32', shape: [50] }), 'PLDR_ERR_STATE', /between pldr_model_alloc and pldr_model_finalize/);
  model.free();
});

test('F16 and BF16 uploads are widened to float32 exactly', () => {
  const model = Model.create(rt, configFor(SMALL));
  const tensors = synthesize(SMALL);
  for (const t of tensors) {
    if (t.name !== 'final_layer.bias') {
      uploadTensors(model, [t]);
      continue;
    }
    // 1.5 (f16 0x3e00, bf16 0x3fc0) and -2 (f16 0xc000, bf16 0xc000)
    const half = new Uint16Array(50).map((_, i) => (i % 2 ? 0xc000 : 0x3e00));
    const w = model.beginTensor({ name: t.name, dtype: 'F16', shape: [50] });
    w.write(new Uint8Array(half.buffer, 0, 37)); // split mid-element on purpose
    w.write(new Uint8Array(half.buffer, 37));
    w.end();
  }
  model.finalize();
  const s = model.newSession();
  const a = s.prefill([1, 2]);
  model.free();
  const model2 = Model.create(rt, configFor(SMALL));
  for (const t of tensors) {
    if (t.name === 'final_layer.bias') t.data.set(new Float32Array(50).map((_, i) => (i % 2 ? -2 : 1.5)));
    uploadTensors(model2, [t]);
  }
  model2.finalize();
  assert.deepEqual(model2.newSession().prefill([1, 2]), a);
  model2.free();
});

test('sessions: context length, overflow, token range; errors leave the session usable', () => {
  const model = ready();
  throwsCode(() => model.newSession({ contextLength: 17 }), 'PLDR_ERR_INVALID_ARGUMENT', /context_length 17 outside 1\.\.16/);
  throwsCode(() => model.newSession({ contextLength: -1 }), 'PLDR_ERR_INVALID_ARGUMENT', /context length/);
  const s = model.newSession({ contextLength: 4 });
  throwsCode(() => s.prefill([1, 2, 3, 4, 5]), 'PLDR_ERR_CONTEXT_OVERFLOW', /5 tokens at position 0 exceed the context length 4/);
  throwsCode(() => s.prefill([1, 50]), 'PLDR_ERR_TOKEN', /token id 50 at index 1 is outside the vocabulary \[0, 50\)/);
  throwsCode(() => s.decode(-1), 'PLDR_ERR_TOKEN', /-1/);
  assert.equal(s.position, 0);
  s.prefill([1, 2, 3]);
  s.decode(4);
  throwsCode(() => s.decode(5), 'PLDR_ERR_CONTEXT_OVERFLOW', /at position 4/);
  throwsCode(() => s.rewind(5), 'PLDR_ERR_INVALID_ARGUMENT', /cannot rewind 5 positions: the session holds 4/);
  s.rewind(1);
  assert.equal(s.decode(5).length, SMALL.V);
  model.free();
});

test('G-cache: wrong size, non-finite values, fixed mode without G', () => {
  const model = ready(SMALL, { gcache: 'fixed' });
  throwsCode(() => model.newSession(), 'PLDR_ERR_GCACHE', /mode fixed but no G installed/);
  throwsCode(() => model.setGcache(new Float32Array(10)), 'PLDR_ERR_GCACHE', /G-cache of 10 floats, but this model needs \[1\]\[2\]\[16\]\[16\] = 512/);
  const g = new Float32Array(512);
  g[7] = NaN;
  throwsCode(() => model.setGcache(g), 'PLDR_ERR_GCACHE', /value 7 is not finite/);
  g[7] = 0;
  model.setGcache(g);
  assert.equal(model.newSession().prefill([1]).length, SMALL.V);
  model.free();
});

test('predefined-G models: no A-net, so only mode fixed; G must come from past_G_values or set_gcache', () => {
  const shape = { ...SMALL, customG: 'external' };
  throwsCode(() => Model.create(rt, configFor(shape), { gcache: 'prompt' }), 'PLDR_ERR_GCACHE', /needs the A-net/);
  throwsCode(() => Model.create(rt, configFor(shape), { gcache: 'off' }), 'PLDR_ERR_GCACHE', /needs the A-net/);
  const model = ready(shape);
  throwsCode(() => model.newSession(), 'PLDR_ERR_GCACHE', /past_G_values was not loaded/);
  throwsCode(() => model.computeGcache([3]), 'PLDR_ERR_GCACHE', /no A-net/);
  throwsCode(() => model.beginTensor({ name: 'decoder.dec_layers.0.mha1.plgatt_layer.Wlst', dtype: 'F32', shape: [2, 16, 16] }),
    'PLDR_ERR_STATE', /between/);
  model.free();
  const loading = Model.create(rt, configFor(shape));
  throwsCode(() => loading.beginTensor({ name: 'decoder.dec_layers.0.mha1.plgatt_layer.Wlst', dtype: 'F32', shape: [2, 16, 16] }),
    'PLDR_ERR_UNKNOWN_TENSOR', /custom_G_type is set/);
  loading.free();
});

test('predefined-G models take G_LM from decoder.past_G_values[:, 2]', () => {
  const shape = { ...SMALL, customG: 'external' };
  const model = Model.create(rt, configFor(shape));
  uploadTensors(model, synthesize(shape));
  const per = 2 * 16 * 16;
  const past = new Float32Array(SMALL.L * 3 * per);
  for (let i = 0; i < per; i++) past[2 * per + i] = (i % 17) / 17;
  const w = model.beginTensor({ name: 'decoder.past_G_values', dtype: 'F32', shape: [SMALL.L, 3, 1, 2, 16, 16] });
  w.write(new Uint8Array(past.buffer));
  w.end();
  const status = model.beginTensor({ name: 'decoder.past_G_values_status', dtype: 'BOOL', shape: [SMALL.L] });
  status.write(new Uint8Array([1]));
  status.end();
  model.finalize();
  assert.deepEqual(model.gcache(), past.subarray(2 * per, 3 * per));
  assert.equal(model.newSession().prefill([1, 2]).length, SMALL.V);
  model.free();
});

test('out of memory is an error, not a crash', async () => {
  const big = await createRuntime(); // its own instance: its 4 GiB of address space go with it
  const huge = { ...SMALL, V: 450000, D: 1024, H: 16, dff: 4096 }; // 3.4 GiB of weights: allocated up front, each fits
  const vocabShape = [450000, 1024]; // 1.84 GB of float32 each
  const models = [huge, huge, { ...huge, V: 300000 }].map((shape) => Model.create(big, configFor(shape)));
  models[0].beginTensor({ name: 'decoder.embedding.weight', dtype: 'F32', shape: vocabShape });
  models[1].beginTensor({ name: 'final_layer.weight', dtype: 'F32', shape: vocabShape });
  throwsCode(() => models[2].beginTensor({ name: 'decoder.embedding.weight', dtype: 'F32', shape: [300000, 1024] }),
    'PLDR_ERR_OUT_OF_MEMORY', /out of memory for tensor decoder\.embedding\.weight \(1228800000 bytes\)/);
  models[0].free();
  models[2].beginTensor({ name: 'decoder.embedding.weight', dtype: 'F32', shape: [300000, 1024] }); // memory came back
  models.forEach((m) => m.free());
  // weights that no 32-bit size holds are refused by name and size before anything is allocated
  throwsCode(() => Model.create(big, configFor({ ...huge, V: 600000 })), 'PLDR_ERR_OUT_OF_MEMORY',
    /needs 4\.\d\d GiB \(\d+ bytes\) for its weights as f32, more than the 4 GiB a 32-bit address space/);
  // a KV-cache whose byte size would overflow a 32-bit size_t is out of memory, not a wrap-around
  const longCtx = { ...SMALL, L: 40, ctx: 1 << 20 };
  const deep = Model.create(big, configFor(longCtx));
  uploadTensors(deep, synthesize(longCtx));
  deep.finalize();
  throwsCode(() => deep.newSession(), 'PLDR_ERR_OUT_OF_MEMORY', /a session of context 1048576 needs 10\.\d\d GiB/);
  assert.equal(deep.newSession({ contextLength: 64 }).prefill([1, 2]).length, SMALL.V);
  deep.free();
  const small = ready();
  assert.equal(small.newSession().prefill([1, 2]).length, SMALL.V, 'the runtime still works afterwards');
  small.free();
});
