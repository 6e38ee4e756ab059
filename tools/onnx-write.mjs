#!/usr/bin/env node
// An ONNX model (the format onnxruntime-web, and so transformers.js, runs) of a llama-architecture
// decoder with random weights and past key/value inputs and outputs, for `make bench-peers`: the
// same per-token work as a PLDR-LLM of the given shape. Written with a small protobuf encoder (no
// Python, no onnx package). Weight formats as transformers.js ships them:
//   f32   MatMul on float32 weights
//   q8    DynamicQuantizeLinear + MatMulInteger (uint8 weights, a scale per output column), as the
//         "quantized" models of transformers.js (onnxruntime's dynamic quantization)
//   q4    com.microsoft MatMulNBits, 4 bits in blocks of 32 with a float scale (the "q4" models)
// The embedding is 8-bit per row in q8/q4 (a Gather, then the row's scale). Only the last
// position's logits are computed (the head is the largest matrix; the runtime does the same).
// Inputs: input_ids, position_ids [1,S] int64; attention_bias [1,1,S,P+S] float (0 or -1e9, made by
// the caller); past_key_i / past_value_i [1,H,P,dk]. Outputs: logits [1,1,V]; present_key_i /
// present_value_i [1,H,P+S,dk].
//
//   node tools/onnx-write.mjs OUT.onnx [--type f32|q8|q4] [--layers 5] [--dim 896] [--heads 14]
//        [--ffn 2389] [--vocab 32000] [--ctx 1024] [--seed 1]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { prng } from './testkit/synthetic.mjs';

// ---- protobuf wire format ------------------------------------------------------------------------
const varint = (n) => {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64: two's complement, 10 bytes
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
};
const key = (field, wire) => varint((field << 3) | wire);
/** A message: a list of encoded fields. */
const msg = (...fields) => Buffer.concat(fields.flat(Infinity).filter(Boolean));
const fInt = (field, v) => [key(field, 0), varint(v)];
const fBytes = (field, b) => [key(field, 2), varint(b.length), b];
const fStr = (field, s) => fBytes(field, Buffer.from(s, 'utf8'));
const fMsg = (field, m) => fBytes(field, m);

// MatMulNBits accuracy_level: 0 (float compute) ran prefill 2.6x faster here than 4 (int8 activations)
const ACCURACY = Number(process.env.ONNX_Q4_ACCURACY ?? 0);
const DT = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7 };
const tensor = (name, dtype, dims, raw) => msg(dims.map((d) => fInt(1, d)), fInt(2, DT[dtype]), fStr(8, name), fBytes(9, Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)));
const attrInt = (name, v) => msg(fStr(1, name), fInt(3, v), fInt(20, 2));
const attrInts = (name, vs) => msg(fStr(1, name), vs.map((v) => fInt(8, v)), fInt(20, 7));
const valueInfo = (name, dtype, dims) => msg(fStr(1, name), fMsg(2, msg(fMsg(1, msg(fInt(1, DT[dtype]),
  fMsg(2, msg(dims.map((d) => fMsg(1, typeof d === 'string' ? msg(fStr(2, d)) : msg(fInt(1, d)))))))))));

// ---- the graph -----------------------------------------------------------------------------------
class Graph {
  nodes = [];
  inits = [];
  n = 0;
  /** A node; returns its output names. */
  op(type, inputs, attrs = [], outputs = 1, domain = '') {
    const outs = Array.from({ length: outputs }, () => `t${this.n++}`);
    this.nodes.push(msg(inputs.map((i) => fStr(1, i)), outs.map((o) => fStr(2, o)), fStr(3, `n${this.nodes.length}`),
      fStr(4, type), attrs.map((a) => fMsg(5, a)), domain ? fStr(7, domain) : null));
    return outputs === 1 ? outs[0] : outs;
  }
  init(name, dtype, dims, data) { this.inits.push(tensor(name, dtype, dims, data)); return name; }
  constI64(name, values) { return this.init(name, 'int64', [values.length], new BigInt64Array(values.map(BigInt))); }
  constF(name, values, dims = [values.length]) { return this.init(name, 'float', dims, new Float32Array(values)); }
}

/** Linear without bias: x [..., in] · W (W random [in][out]) in the chosen format. */
function linear(g, x, name, rows, cols, type, rand) {
  const scale = Math.sqrt(6 / (rows + cols)); // rows = in, cols = out
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * scale;
  if (type === 'f32') return g.op('MatMul', [x, g.init(`${name}.w`, 'float', [rows, cols], w)]);
  if (type === 'q8') { // uint8 with zero point 128, a scale per output column
    const q = new Uint8Array(rows * cols), s = new Float32Array(cols);
    for (let c = 0; c < cols; c++) {
      let amax = 0;
      for (let r = 0; r < rows; r++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
      s[c] = amax / 127 || 1;
      for (let r = 0; r < rows; r++) q[r * cols + c] = 128 + Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s[c])));
    }
    const [xq, xs, xz] = g.op('DynamicQuantizeLinear', [x], [], 3);
    const wq = g.init(`${name}.wq`, 'uint8', [rows, cols], q);
    const wz = g.init(`${name}.wz`, 'uint8', [cols], new Uint8Array(cols).fill(128));
    const acc = g.op('Cast', [g.op('MatMulInteger', [xq, wq, xz, wz])], [attrInt('to', DT.float)]);
    return g.op('Mul', [acc, g.op('Mul', [xs, g.init(`${name}.ws`, 'float', [cols], s)])]);
  }
  // q4: MatMulNBits, B [N][K/32][16] (element 2k low nibble, 2k+1 high), scales [N][K/32], zero point 8
  const nb = rows / 32, B = new Uint8Array(cols * nb * 16), S = new Float32Array(cols * nb);
  for (let c = 0; c < cols; c++) {
    for (let b = 0; b < nb; b++) {
      let m = 0;
      for (let i = 0; i < 32; i++) { const v = w[(32 * b + i) * cols + c]; if (Math.abs(v) > Math.abs(m)) m = v; }
      const d = m / -8 || 1;
      S[c * nb + b] = d;
      for (let i = 0; i < 32; i += 2) {
        const q0 = Math.max(0, Math.min(15, Math.round(w[(32 * b + i) * cols + c] / d) + 8));
        const q1 = Math.max(0, Math.min(15, Math.round(w[(32 * b + i + 1) * cols + c] / d) + 8));
        B[(c * nb + b) * 16 + i / 2] = q0 | (q1 << 4);
      }
    }
  }
  return g.op('MatMulNBits', [x, g.init(`${name}.b`, 'uint8', [cols, nb, 16], B), g.init(`${name}.s`, 'float', [cols * nb], S)],
    [attrInt('K', rows), attrInt('N', cols), attrInt('bits', 4), attrInt('block_size', 32), attrInt('accuracy_level', ACCURACY)], 1, 'com.microsoft');
}

function rmsnorm(g, x, name, D, eps) {
  const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], [attrInts('axes', [-1]), attrInt('keepdims', 1)]);
  const r = g.op('Sqrt', [g.op('Add', [ms, `${name}.eps`])]);
  g.constF(`${name}.eps`, [eps], []);
  const w = new Float32Array(D).fill(1);
  return g.op('Mul', [g.op('Div', [x, r]), g.init(`${name}.w`, 'float', [D], w)]);
}

/**
 * Writes the model. @param {string} path
 * @param {{type?: 'f32'|'q8'|'q4', L?: number, D?: number, H?: number, F?: number, V?: number, ctx?: number, seed?: number}} o
 * @returns {{bytes: number, ffn: number}}
 */
export function writeOnnx(path, o = {}) {
  const type = o.type ?? 'f32';
  if (!['f32', 'q8', 'q4'].includes(type)) throw new Error(`unknown type ${type}`);
  const L = o.L ?? 5, D = o.D ?? 896, H = o.H ?? 14, V = o.V ?? 32000, ctx = o.ctx ?? 1024, dk = D / H;
  const F = Math.ceil((o.F ?? 2389) / 32) * 32;
  const rand = prng(o.seed ?? 1), g = new Graph(), eps = 1e-6;
  // embedding: float32, or 8-bit rows with a scale each
  let x;
  const emb = new Float32Array(V * D);
  for (let i = 0; i < emb.length; i++) emb[i] = rand() * 2 - 1;
  if (type === 'f32') x = g.op('Gather', [g.init('embed', 'float', [V, D], emb), 'input_ids']);
  else {
    const q = new Uint8Array(V * D), s = new Float32Array(V);
    for (let r = 0; r < V; r++) {
      let amax = 0;
      for (let i = 0; i < D; i++) amax = Math.max(amax, Math.abs(emb[r * D + i]));
      s[r] = amax / 127 || 1;
      for (let i = 0; i < D; i++) q[r * D + i] = 128 + Math.round(emb[r * D + i] / s[r]);
    }
    const rows = g.op('Sub', [g.op('Cast', [g.op('Gather', [g.init('embed.q', 'uint8', [V, D], q), 'input_ids'])], [attrInt('to', DT.float)]), g.constF('c128', [128], [])]);
    const sc = g.op('Unsqueeze', [g.op('Gather', [g.init('embed.s', 'float', [V], s), 'input_ids']), g.constI64('ax_last', [-1])]);
    x = g.op('Mul', [rows, sc]);
  }
  // RoPE tables (rotate-half), gathered by position: [1,1,S,dk]
  const cos = new Float32Array(ctx * dk), sin = new Float32Array(ctx * dk);
  for (let p = 0; p < ctx; p++) for (let i = 0; i < dk / 2; i++) {
    const a = p * 10000 ** (-2 * i / dk);
    cos[p * dk + i] = cos[p * dk + i + dk / 2] = Math.cos(a);
    sin[p * dk + i] = sin[p * dk + i + dk / 2] = Math.sin(a);
  }
  const ax1 = g.constI64('ax1', [1]);
  const cosP = g.op('Unsqueeze', [g.op('Gather', [g.init('rope.cos', 'float', [ctx, dk], cos), 'position_ids']), ax1]);
  const sinP = g.op('Unsqueeze', [g.op('Gather', [g.init('rope.sin', 'float', [ctx, dk], sin), 'position_ids']), ax1]);
  const heads = g.constI64('shape_heads', [1, -1, H, dk]), flat = g.constI64('shape_flat', [1, -1, D]);
  const half0 = g.constI64('h0', [0]), half1 = g.constI64('h1', [dk / 2]), halfEnd = g.constI64('h2', [dk]), axLast = g.constI64('axm1', [-1]);
  const scale = g.constF('att_scale', [1 / Math.sqrt(dk)], []);
  const rope = (t) => {
    const x1 = g.op('Slice', [t, half0, half1, axLast]), x2 = g.op('Slice', [t, half1, halfEnd, axLast]);
    const rot = g.op('Concat', [g.op('Neg', [x2]), x1], [attrInt('axis', -1)]);
    return g.op('Add', [g.op('Mul', [t, cosP]), g.op('Mul', [rot, sinP])]);
  };
  const toHeads = (t) => g.op('Transpose', [g.op('Reshape', [t, heads])], [attrInts('perm', [0, 2, 1, 3])]);
  const inputs = [valueInfo('input_ids', 'int64', [1, 'S']), valueInfo('position_ids', 'int64', [1, 'S']),
    valueInfo('attention_bias', 'float', [1, 1, 'S', 'T'])];
  const outputs = [valueInfo('logits', 'float', [1, 1, V])];
  for (let l = 0; l < L; l++) {
    const p = `l${l}`;
    inputs.push(valueInfo(`past_key_${l}`, 'float', [1, H, 'P', dk]), valueInfo(`past_value_${l}`, 'float', [1, H, 'P', dk]));
    const h = rmsnorm(g, x, `${p}.ln1`, D, eps);
    const q = rope(toHeads(linear(g, h, `${p}.q`, D, D, type, rand)));
    const k = rope(toHeads(linear(g, h, `${p}.k`, D, D, type, rand)));
    const v = toHeads(linear(g, h, `${p}.v`, D, D, type, rand));
    const K = g.op('Concat', [`past_key_${l}`, k], [attrInt('axis', 2)]), Vv = g.op('Concat', [`past_value_${l}`, v], [attrInt('axis', 2)]);
    g.nodes.push(msg(fStr(1, K), fStr(2, `present_key_${l}`), fStr(3, `id_k${l}`), fStr(4, 'Identity')));
    g.nodes.push(msg(fStr(1, Vv), fStr(2, `present_value_${l}`), fStr(3, `id_v${l}`), fStr(4, 'Identity')));
    outputs.push(valueInfo(`present_key_${l}`, 'float', [1, H, 'T', dk]), valueInfo(`present_value_${l}`, 'float', [1, H, 'T', dk]));
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [K], [attrInts('perm', [0, 1, 3, 2])])]), scale]), 'attention_bias']);
    const att = g.op('MatMul', [g.op('Softmax', [scores], [attrInt('axis', -1)]), Vv]);
    const merged = g.op('Reshape', [g.op('Transpose', [att], [attrInts('perm', [0, 2, 1, 3])]), flat]);
    x = g.op('Add', [x, linear(g, merged, `${p}.o`, D, D, type, rand)]);
    const h2 = rmsnorm(g, x, `${p}.ln2`, D, eps);
    const gate = linear(g, h2, `${p}.gate`, D, F, type, rand), up = linear(g, h2, `${p}.up`, D, F, type, rand);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, linear(g, act, `${p}.down`, F, D, type, rand)]);
  }
  const last = g.op('Slice', [x, g.constI64('last0', [-1]), g.constI64('last1', [2 ** 31 - 1]), ax1]);
  const logits = linear(g, rmsnorm(g, last, 'lnf', D, eps), 'head', D, V, type, rand);
  g.nodes.push(msg(fStr(1, logits), fStr(2, 'logits'), fStr(3, 'id_logits'), fStr(4, 'Identity')));
  const graph = msg(g.nodes.map((n) => fMsg(1, n)), fStr(2, `llama_L${L}_D${D}_${type}`), g.inits.map((t) => fMsg(5, t)),
    inputs.map((i) => fMsg(11, i)), outputs.map((out) => fMsg(12, out)));
  const model = msg(fInt(1, 8), fStr(2, 'pldr-web tools/onnx-write.mjs'), fMsg(7, graph),
    fMsg(8, msg(fStr(1, ''), fInt(2, 17))), fMsg(8, msg(fStr(1, 'com.microsoft'), fInt(2, 1))));
  writeFileSync(path, model);
  return { bytes: model.length, ffn: F };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, ...rest] = process.argv.slice(2);
  if (!out) throw new Error('usage: node tools/onnx-write.mjs OUT.onnx [--type f32|q8|q4] [--layers N] …');
  const o = {};
  const keys = { '--type': 'type', '--layers': 'L', '--dim': 'D', '--heads': 'H', '--ffn': 'F', '--vocab': 'V', '--ctx': 'ctx', '--seed': 'seed' };
  for (let i = 0; i < rest.length; i += 2) {
    if (!keys[rest[i]]) throw new Error(`unknown option ${rest[i]}`);
    o[keys[rest[i]]] = rest[i] === '--type' ? rest[i + 1] : Number(rest[i + 1]);
  }
  const r = writeOnnx(out, o);
  console.log(`${out}: ${r.bytes} bytes (FFN ${r.ffn})`);
}
