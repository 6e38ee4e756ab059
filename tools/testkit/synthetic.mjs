// Deterministic synthetic weights of the released 110M PLDR-LLM shape, generated tensor by tensor
// (never all at once) and streamed into an engine Model. The tensors and their order are the
// runtime's own table; src/cli/bench.c walks the same table with the same PRNG and recipe, so
// WebAssembly and native run identical models;
// writeSyntheticFolder writes them as a Hugging Face folder (Node only):
//   linear weights   xavier-uniform ±sqrt(6 / (fan_in + fan_out))
//   biases           uniform ±0.02
//   embedding        uniform ±1 (scaled by sqrt(D) and normalised right after the lookup)
//   LayerNorm        weight 1, bias 0
//   PLGA W, a        uniform ±sqrt(3 / dk);  power P in [0.2, 0.8) so A_LM^P stays finite

import { closeSync, copyFileSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../js/runtime/model.js';
import { createRuntime } from '../../js/runtime/wasm.js';

/** The released shape (config of the 110M models). */
export const RELEASE = { L: 5, D: 896, H: 14, dff: 2389, Adff: 170, nres: 8, ndense: 2, V: 32000, ctx: 1024 };

/** mulberry32, bit for bit as prng_next in src/cli/bench.c. @param {number} seed */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @typedef {{L: number, D: number, H: number, dff: number, Adff: number, nres: number, ndense: number,
 *   V: number, ctx: number, ropeInterleaved?: boolean, customG?: string|null}} Shape
 */

/** config.json (Hugging Face names) of a shape. @param {Shape} s */
export function configFor(s) {
  return {
    model_type: 'pldrllm', num_hidden_layers: s.L, hidden_size: s.D, num_attention_heads: s.H,
    head_dim: s.D / s.H, intermediate_size: s.dff, A_dff: s.Adff, num_reslayerA: s.nres,
    num_denseA: s.ndense, vocab_size: s.V, max_position_embeddings: s.ctx, rope_theta: 10000,
    reference_rope: s.ropeInterleaved ?? true, layer_norm_eps: 1e-6, attention_bias: true,
    glu_bias: true, custom_G_type: s.customG ?? null, tie_word_embeddings: false,
    pad_token_id: 0, eos_token_id: 3,
  };
}

/**
 * The role of a tensor, from its name: how a generator fills it. Roles: embed, linear, bias,
 * normWeight, normBias, plgaW, plgaBias, power, plgaA (src/cli/bench.c: tensor_kind).
 * @param {string} name
 */
export function roleOf(name) {
  if (name === 'decoder.embedding.weight') return 'embed';
  const plga = /\.plgatt_layer\.(\w+)$/.exec(name)?.[1];
  if (plga) return { Wlst: 'plgaW', blst: 'plgaBias', pwlst: 'power', alst: 'plgaA', balst: 'plgaBias' }[plga] ?? 'unknown';
  if (/\.layernorm\w*\.weight$/.test(name)) return 'normWeight';
  if (/\.layernorm\w*\.bias$/.test(name)) return 'normBias';
  if (name.endsWith('.weight')) return 'linear';
  if (name.endsWith('.bias')) return 'bias';
  return 'unknown';
}

const tableRuntime = await createRuntime();

/**
 * [name, shape, role] of every tensor a model of shape s needs, in the runtime's order: the C
 * tensor table itself (pldr_model_tensor_name / _shape), so no list here can drift from it.
 * Optional tensors (a predefined G's decoder.past_G_values) are left out.
 * @param {Shape} s
 */
export function tensorList(s) {
  const model = Model.create(tableRuntime, configFor(s));
  try {
    return model.tensorTable().filter((t) => !t.optional).map((t) => /** @type {[string, number[], string]} */ ([t.name, t.shape, roleOf(t.name)]));
  } finally {
    model.free();
  }
}

/** Values of one tensor, as src/cli/bench.c makes them. @param {string} role @param {number[]} shape @param {() => number} rand */
export function fillTensor(role, shape, rand) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const fanIn = shape.length > 1 ? shape[shape.length - 1] : 1;
  const uniform = (scale) => { for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * scale; };
  switch (role) {
    case 'normWeight': data.fill(1); break;
    case 'normBias': break; // zeros
    case 'power': for (let i = 0; i < n; i++) data[i] = 0.2 + 0.6 * rand(); break;
    case 'embed': uniform(1); break;
    case 'linear': uniform(Math.sqrt(6 / (fanIn + shape[0]))); break;
    case 'bias': case 'plgaBias': uniform(0.02); break;
    case 'plgaW': case 'plgaA': uniform(Math.sqrt(3 / fanIn)); break;
    default: throw new Error(`unknown role ${role}`);
  }
  return data;
}

/** Streams tensors ({name, shape, data} F32) into an engine Model (js/runtime/model.js). */
export function uploadTensors(model, tensors) {
  for (const t of tensors) {
    const w = model.beginTensor({ name: t.name, dtype: 'F32', shape: t.shape });
    w.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    w.end();
  }
}

/** Streams the synthetic tensors of shape s into an engine Model and finalizes it. */
export function uploadSynthetic(model, s, seed = 1) {
  const rand = prng(seed);
  for (const [name, shape, role] of tensorList(s)) uploadTensors(model, [{ name, shape, data: fillTensor(role, shape, rand) }]);
  model.finalize();
}

/** Token ids 4..V-1 from a fixed seed, as bench_ids in src/cli/bench.c. */
export function benchIds(n, vocab, seed = 7) {
  const rand = prng(seed);
  return Array.from({ length: n }, () => 4 + Math.floor(rand() * (vocab - 4)));
}

/**
 * Writes shape s as a Hugging Face folder — config.json, one F32 model.safetensors (as the
 * released 110M checkpoints ship) and the given tokenizer.model — one tensor at a time.
 * @param {string} dir @param {Shape} s @param {string} tokenizerPath @param {number} [seed]
 */
export function writeSyntheticFolder(dir, s, tokenizerPath, seed = 1) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(configFor(s), null, 1)}\n`);
  copyFileSync(tokenizerPath, join(dir, 'tokenizer.model'));
  const list = tensorList(s);
  /** @type {Record<string, any>} */
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of list) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    writeSync(fd, length);
    writeSync(fd, json);
    const rand = prng(seed);
    for (const [, shape, kind] of list) {
      const data = fillTensor(kind, shape, rand);
      writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    closeSync(fd);
  }
  return { bytes: 8 + json.length + offset, tensors: list.length };
}
