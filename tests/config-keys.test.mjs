// Every config.json key of the released checkpoints is honoured or refused by name (docs/FORMAT.md
// "config.json names"): final_bias, rope_scaling / rope_parameters, the keys ignored as harmless,
// and unknown keys that would change the math. The math ones are checked against the float64
// reference (tests/helpers/reference.mjs) on synthetic models, through the WebAssembly module and
// the native CLI (both pass config.json to the same C through their own JSON readers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { PLDR } from '../js/generation/engine.js';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { referenceForward } from './helpers/reference.mjs';
import { readF32 } from './helpers/files.mjs';
import { NATIVE, ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const SMALL = { L: 2, D: 64, H: 2, dff: 96, Adff: 24, nres: 2, ndense: 2, V: 300, ctx: 64 };
const IDS = [7, 42, 3, 199, 5, 77, 12, 250, 9, 31, 64, 128];
// float32 runtime vs float64 reference: a few float32 ulps of the largest values (runtime.test.mjs)
const REL_TOL = 2e-5;
const rt = await createRuntime();
const tmp = mkdtempSync(join(tmpdir(), 'pldr-config-keys-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const nativeSkip = skipUnlessCI(existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)');

/** Synthetic weights for `shape` with config `extra` merged in; final_layer.bias dropped when the config says so. */
function weightsFor(shape, extra = {}) {
  const config = { ...configFor(shape), ...extra };
  const tensors = synthesize(shape).filter((t) => config.final_bias !== false || t.name !== 'final_layer.bias');
  return { config, tensors, W: new Map(tensors.map((t) => [t.name, t])) };
}

/** Full-pass logits of the WebAssembly engine for config + tensors. */
function wasmLogits(config, tensors, ids = IDS) {
  const model = Model.create(rt, config, { gcache: 'prompt' });
  try {
    uploadTensors(model, tensors);
    model.finalize();
    return model.newSession().prefill(ids, { allLogits: true });
  } finally {
    model.free();
  }
}

/** The C message a config is refused with (Model.create), or null when accepted. */
function refusal(config) {
  try {
    Model.create(rt, config).free();
    return null;
  } catch (err) {
    assert.equal(err.code, 'E_CONFIG', err.message);
    return err.message;
  }
}

function assertMatchesReference(config, tensors, W, what) {
  const logits = wasmLogits(config, tensors);
  const ref = referenceForward(config, W, IDS).logits;
  const d = maxDiff(logits, ref);
  assert.ok(d <= REL_TOL * maxAbs(ref), `${what}: logits differ from the float64 reference by ${d.toExponential(2)}`);
  return logits;
}

/** A model folder: config.json and one F32 model.safetensors. */
function writeFolder(name, config, tensors) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const header = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([length, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
  return dir;
}

/** pldr-native eval of a folder: {logits} or {error: stderr}. */
function nativeEval(dir, ids = IDS) {
  const out = join(dir, 'logits.f32');
  const r = spawnSync(NATIVE, ['eval', '--model', dir, '--ids', ids.join(','), '--gcache', 'prompt', '--logits', out], { encoding: 'utf8' });
  return r.status === 0 ? { logits: readF32(out) } : { error: r.stderr };
}

// --- final_bias ----------------------------------------------------------------------------------

test('final_bias false: a head without final_layer.bias loads and matches the float64 reference', () => {
  const { config, tensors, W } = weightsFor(SMALL, { final_bias: false });
  assert.ok(!tensors.some((t) => t.name === 'final_layer.bias'));
  const logits = assertMatchesReference(config, tensors, W, 'final_bias false');
  // the bias of the same weights would have moved the logits: the test sees whether it is left out
  const withBias = weightsFor(SMALL);
  assert.ok(maxDiff(logits, wasmLogits(withBias.config, withBias.tensors)) > 1e-3);
});

test('final_bias: a missing bias says final_bias, a bias beside final_bias false is refused', () => {
  const { config, tensors } = weightsFor(SMALL);
  const model = Model.create(rt, config);
  uploadTensors(model, tensors.filter((t) => t.name !== 'final_layer.bias'));
  assert.throws(() => model.finalize(), (err) => err.code === 'E_TENSOR_MISSING' && /final_layer\.bias.*final_bias: false/.test(err.message));
  model.free();
  const noBias = Model.create(rt, { ...config, final_bias: false });
  const bias = tensors.find((t) => t.name === 'final_layer.bias');
  assert.throws(() => uploadTensors(noBias, [bias]), (err) => err.code === 'E_TENSOR_UNKNOWN' && /final_bias is false/.test(err.message));
  noBias.free();
  assert.match(refusal({ ...config, final_bias: 'no' }), /final_bias = "no": must be a number/);
});

// --- rope_scaling / rope_parameters -------------------------------------------------------------

const V52 = { ...SMALL, ropeInterleaved: false };

test('rope_scaling linear (rotate-half RoPE, as the port scales it): θ divided by the factor, against the float64 reference', () => {
  const plain = weightsFor(V52);
  const unscaled = wasmLogits(plain.config, plain.tensors);
  for (const rope_scaling of [{ rope_type: 'linear', factor: 2 }, { type: 'linear', factor: 2.5 }, { rope_type: 'linear', factor: 4, original_max_position_embeddings: 64 }]) {
    const { config, tensors, W } = weightsFor(V52, { rope_scaling });
    const logits = assertMatchesReference(config, tensors, W, JSON.stringify(rope_scaling));
    assert.ok(maxDiff(logits, unscaled) > 1e-3, `${JSON.stringify(rope_scaling)} changes the logits`);
  }
  // no scaling in three spellings: the plain model's logits, bit for bit
  for (const rope_scaling of [null, { rope_type: 'default' }, { rope_type: 'default', factor: 8 }]) {
    const { config, tensors } = weightsFor(V52, { rope_scaling });
    assert.deepEqual(wasmLogits(config, tensors), unscaled, JSON.stringify(rope_scaling));
  }
});

test('rope_parameters (newer Transformers): rope_theta read from it when the top-level key is absent, scaling as rope_scaling', () => {
  const { rope_theta, ...noTheta } = configFor(V52);
  const tensors = synthesize(V52), W = new Map(tensors.map((t) => [t.name, t]));
  const base10k = wasmLogits(configFor(V52), tensors);
  const theta = { ...noTheta, rope_parameters: { rope_type: 'default', rope_theta: 500 } };
  const logits = assertMatchesReference(theta, tensors, W, 'rope_parameters.rope_theta 500');
  assert.ok(maxDiff(logits, base10k) > 1e-3, 'rope_theta 500 is not the default 10000');
  const linear = { ...noTheta, rope_parameters: { rope_type: 'linear', factor: 3, rope_theta: 10000 } };
  assertMatchesReference(linear, tensors, W, 'rope_parameters linear');
  // both present and equal: fine; different: refused, naming both
  assert.equal(refusal({ ...configFor(V52), rope_parameters: { rope_theta: 10000 } }), null);
  assert.match(refusal({ ...configFor(V52), rope_parameters: { rope_theta: 500 } }), /rope_theta 10000 disagrees with rope_parameters\.rope_theta 500/);
});

test('rope_scaling: other types, and linear on the reference RoPE, are refused naming the key and value', () => {
  const v52 = configFor(V52);
  for (const type of ['dynamic', 'yarn', 'longrope', 'llama3', 'ntk-by-parts']) {
    assert.match(refusal({ ...v52, rope_scaling: { rope_type: type, factor: 2 } }), new RegExp(`rope_scaling\\.rope_type = "${type}": this rope type is not implemented`));
    assert.match(refusal({ ...v52, rope_parameters: { rope_type: type, rope_theta: 10000 } }), new RegExp(`rope_parameters\\.rope_type = "${type}"`));
  }
  assert.match(refusal({ ...configFor(SMALL), rope_scaling: { rope_type: 'linear', factor: 2 } }), /reference_rope true: the Hugging Face port scales only its rotate-half RoPE/);
  assert.match(refusal({ ...v52, rope_scaling: { rope_type: 'linear' } }), /"linear" needs a factor/);
  assert.match(refusal({ ...v52, rope_scaling: { rope_type: 'linear', factor: -1 } }), /rope_scaling\.factor = -1: must be a positive number/);
  assert.match(refusal({ ...v52, rope_scaling: { rope_type: 'linear', type: 'yarn', factor: 2 } }), /rope_scaling\.type = "yarn"/);
  assert.match(refusal({ ...v52, rope_scaling: { rope_type: 'linear', type: 'default', factor: 2 } }), /rope_scaling\.type = "default" disagrees/);
  assert.match(refusal({ ...v52, rope_scaling: { rope_type: 'linear', factor: 2, magic: 1 } }), /unknown key "rope_scaling\.magic"/);
  assert.match(refusal({ ...v52, rope_scaling: 2 }), /rope_scaling: expected an object/);
  assert.match(refusal({ ...v52, rope_scaling: {} }), /rope_scaling: expected an object naming a rope_type/);
});

// --- pad_token_id ---------------------------------------------------------------------------------

test('pad_token_id: a prefill masks the keys holding the pad id, as the author\'s reference does; a cached decode step masks none', () => {
  const { config, tensors, W } = weightsFor(SMALL);
  const ids = [7, 0, 42, 0, 0, 199, 5];
  const V = SMALL.V, dk = SMALL.D / SMALL.H;
  /** A model of pad id `pad` whose G is fixed (the same in a prefill and in decode steps), and that G per layer and head. */
  const build = (pad) => {
    const model = Model.create(rt, { ...config, pad_token_id: pad }, { gcache: 'first' });
    uploadTensors(model, tensors);
    model.finalize();
    const g = model.computeG([3]).g;
    model.setGcache(g);
    const G = Array.from({ length: SMALL.L }, (_, l) => Array.from({ length: SMALL.H }, (_, h) => Float64Array.from(g.subarray((l * SMALL.H + h) * dk * dk, (l * SMALL.H + h + 1) * dk * dk))));
    return { model, G };
  };
  const { model, G } = build(0);
  const prefill = model.newSession().prefill(ids, { allLogits: true });
  const masked = referenceForward(config, W, ids, { G }).logits; // pads (id 0) masked
  assert.ok(maxDiff(prefill, masked) <= REL_TOL * maxAbs(masked), `prefill vs the reference with pad keys masked: ${maxDiff(prefill, masked)}`);
  const unmasked = referenceForward({ ...config, pad_token_id: 299 }, W, ids, { G }).logits; // 299 is not in ids: nothing masked
  assert.ok(maxDiff(masked, unmasked) > 1e-3, 'masking the pads changes the logits');
  // the same ids as a prefill of the first and decode steps after it: the steps mask nothing
  const s = model.newSession();
  s.prefill(ids.slice(0, 1));
  let last;
  for (const id of ids.slice(1)) last = s.decode(id);
  const lastUnmasked = unmasked.subarray((ids.length - 1) * V);
  assert.ok(maxDiff(last, lastUnmasked) <= REL_TOL * maxAbs(lastUnmasked), `decode steps vs the reference with nothing masked: ${maxDiff(last, lastUnmasked)}`);
  model.free();
  // another pad id moves the mask: with pad_token_id 299 the prefill masks nothing here
  const other = build(299);
  const p2 = other.model.newSession().prefill(ids, { allLogits: true });
  assert.ok(maxDiff(p2, unmasked) <= REL_TOL * maxAbs(unmasked));
  other.model.free();
  assert.match(refusal({ ...config, pad_token_id: 300 }), /outside the vocabulary/);
});

// --- unknown and harmless keys ------------------------------------------------------------------

test('unknown keys that would change the math are refused by name, never ignored', () => {
  const base = configFor(SMALL);
  for (const [key, value] of [['final_logit_softcapping', 30], ['attn_logit_softcapping', 50], ['partial_rotary_factor', 0.5],
    ['num_key_value_heads', 1], ['sliding_window', 16], ['rms_norm_eps', 1e-5], ['quantization_config', { quant_method: 'gptq', bits: 4 }],
    ['mystery', 'on'], ['pruned_heads', { 0: [1] }]]) {
    const message = refusal({ ...base, [key]: value });
    assert.ok(message, `${key} was accepted`);
    assert.match(message, new RegExp(`unknown key "${key}[."]`), message);
  }
  // tie_word_embeddings true is read, and refused: final_layer is not the embedding
  assert.match(refusal({ ...base, tie_word_embeddings: true }), /tie_word_embeddings = true is not a PLDR-LLM/);
  assert.match(refusal({ ...base, hidden_act: 'gelu' }), /hidden_act = "gelu": only "silu"/);
  assert.match(refusal({ ...base, model_type: 'llama' }), /model_type = "llama"/);
  assert.match(refusal({ ...base, hidden_act: 1 }), /hidden_act = 1: must be a string/);
  assert.match(refusal({ ...base, hidden_size: '64' }), /hidden_size = "64": must be a number/);
  assert.match(refusal({ ...base, eos_token_id: [3, 1] }), /eos_token_id = "\[array\]": must be a number/);
});

test('the keys ignored as harmless (what a Hugging Face save_pretrained writes) change nothing', () => {
  const { config, tensors } = weightsFor(SMALL);
  const plain = wasmLogits(config, tensors);
  const hf = {
    ...config, architectures: ['PldrllmForCausalLM'], auto_map: { AutoConfig: 'configuration_pldrllm.PldrllmConfig' },
    transformers_version: '4.56.1', torch_dtype: 'float32', dtype: 'float32', bos_token_id: 2, use_cache: true,
    cache_first_G: false, output_pldr_attentions: false, initializer_range: 0.02, attention_dropout: 0.0,
    id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
    temperature: 0.7, top_p: 0.6, head_dim: null, pad_token_id: null, rope_scaling: null, final_bias: true,
  };
  assert.deepEqual(wasmLogits(hf, tensors), plain);
});

test('docs/FORMAT.md lists exactly the keys C ignores as harmless', () => {
  const names = [];
  for (let i = 0; rt.x.pldr_hparam_ignored_name(i); i++) names.push(rt.readCString(rt.x.pldr_hparam_ignored_name(i)));
  assert.ok(names.length > 20);
  const doc = readFileSync(join(ROOT, 'docs/FORMAT.md'), 'utf8');
  const block = /<!-- ignored-keys:start -->([\s\S]*?)<!-- ignored-keys:end -->/.exec(doc)?.[1] ?? '';
  assert.deepEqual([...block.matchAll(/`([^`]+)`/g)].map((m) => m[1]), names);
  // none of them is also read: a name has one meaning
  const read = new Set();
  for (let i = 0; rt.x.pldr_hparam_name(i, 0); i++) for (const a of [0, 1]) { const p = rt.x.pldr_hparam_name(i, a); if (p) read.add(rt.readCString(p)); }
  assert.deepEqual(names.filter((n) => read.has(n)), []);
});

test('PLDR.load: an unknown key in config.json fails the load (E_SINK: the engine refused the folder, cause E_CONFIG)', async () => {
  const { config, tensors } = weightsFor(SMALL);
  const dir = writeFolder('softcap', { ...config, final_logit_softcapping: 30 }, tensors);
  await assert.rejects(PLDR.load(dir), (err) => err.code === 'E_SINK' && err.cause?.code === 'E_CONFIG' && /final_logit_softcapping/.test(err.message));
});

test('[native] the CLI reads config.json the same way: linear scaling, final_bias false, harmless keys; unknown keys refused', { skip: nativeSkip }, () => {
  const linear = weightsFor(V52, { rope_scaling: { rope_type: 'linear', factor: 2 }, final_bias: false,
    architectures: ['PldrllmForCausalLM'], id2label: { 0: 'LABEL_0' }, transformers_version: '4.56.1' });
  const r = nativeEval(writeFolder('native-linear', linear.config, linear.tensors));
  assert.ok(r.logits, r.error);
  const ref = referenceForward(linear.config, linear.W, IDS).logits;
  assert.ok(maxDiff(r.logits, ref) <= REL_TOL * maxAbs(ref), `native logits differ from the reference by ${maxDiff(r.logits, ref)}`);
  const { config, tensors } = weightsFor(SMALL);
  for (const [key, value, pattern] of [['final_logit_softcapping', 30, /unknown key "final_logit_softcapping"/],
    ['rope_scaling', { rope_type: 'yarn', factor: 2 }, /rope_scaling\.rope_type = "yarn"/], ['quantization_config', { bits: 4 }, /unknown key "quantization_config\.bits"/]]) {
    const bad = nativeEval(writeFolder(`native-${key}`, { ...config, [key]: value }, tensors));
    assert.ok(bad.error, `${key} accepted by the native CLI`);
    assert.match(bad.error, pattern);
  }
});

const python = spawnSync('python3', ['--version']).status === 0;
test('tools/convert carries final_bias false and rope_parameters into a folder that loads to the same logits', { skip: skipUnlessCI(python ? false : 'python3 not installed') }, async () => {
  const { rope_theta, ...noTheta } = configFor(V52);
  const src = weightsFor(V52, { final_bias: false });
  const config = { ...noTheta, final_bias: false, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 2000 } };
  const dir = writeFolder('convert-src', config, src.tensors), dst = join(tmp, 'convert-dst');
  const r = spawnSync('python3', [join(ROOT, 'tools/convert'), dir, dst, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const written = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  assert.equal(written.final_bias, false);
  assert.deepEqual(written.rope_parameters, config.rope_parameters);
  assert.equal(written.rope_theta, 2000, 'rope_theta taken from rope_parameters');
  const engine = await PLDR.load(dst, { gcache: 'prompt' });
  const logits = engine.session.prefill(IDS, { allLogits: true });
  engine.free();
  const ref = referenceForward(config, src.W, IDS).logits;
  assert.ok(maxDiff(logits, ref) <= REL_TOL * maxAbs(ref), `converted model's logits differ from the reference by ${maxDiff(logits, ref)}`);
});
