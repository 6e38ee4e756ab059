#!/usr/bin/env node
// A GGUF file (llama.cpp's format, version 3) of a llama-architecture model with random weights,
// for `make bench-peers`: the same per-token work as a PLDR-LLM of the given shape (layers, width,
// heads, FFN, vocabulary), in F32, Q8_0 or Q4_0 — whose blocks are the runtime's own q8_0/q4_0
// (docs/FORMAT.md). Quantized matrices need rows that are whole blocks of 32, so the FFN width is
// rounded up to a multiple of 32 (2389 → 2400). A plain SentencePiece-style vocabulary ([UNK],
// <s>, </s>, the 256 byte pieces, then "▁t0", "▁t1", …) so llama.cpp can tokenize.
//
//   node tools/gguf-write.mjs OUT.gguf [--type f32|q8_0|q4_0] [--layers 5] [--dim 896] [--heads 14]
//        [--ffn 2389] [--vocab 32000] [--ctx 1024] [--seed 1]
import { closeSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { prng } from './testkit/synthetic.mjs';

const GGML = { f32: 0, q4_0: 2, q8_0: 8 };
const ALIGN = 32;
const VT = { u32: 4, i32: 5, f32: 6, str: 8, arr: 9 };

/** IEEE binary16 of a float, round to nearest even (finite inputs in range). @param {number} x */
export function f16Bits(x) {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, a = u & 0x7fffffff;
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a < 0x38800000) { // subnormal half
    const v = Math.fround(new Float32Array(new Uint32Array([a]).buffer)[0] * 16777216);
    let m = Math.floor(v);
    const rem = v - m;
    if (rem > 0.5 || (rem === 0.5 && (m & 1))) m++;
    return sign | m;
  }
  let h = (((a >>> 23) - 112) << 10) | ((a >>> 13) & 0x3ff);
  const rest = a & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}
const f16Value = (h) => {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
};

/** Bytes of a row of n values in a ggml type. */
export const rowBytes = (type, n) => (type === 'f32' ? 4 * n : (n / 32) * (type === 'q8_0' ? 34 : 18));

/** One row of floats in a ggml type (q8_0: d = max|x|/127; q4_0: d = m/-8, m the largest magnitude with its sign). */
export function encodeRow(type, x) {
  const out = new Uint8Array(rowBytes(type, x.length)), dv = new DataView(out.buffer);
  if (type === 'f32') { new Float32Array(out.buffer).set(x); return out; }
  const bs = type === 'q8_0' ? 34 : 18;
  for (let b = 0; b < x.length / 32; b++) {
    const xb = x.subarray(32 * b, 32 * b + 32);
    let amax = 0, m = 0;
    for (const v of xb) if (Math.abs(v) > amax) { amax = Math.abs(v); m = v; }
    const h = f16Bits(type === 'q8_0' ? amax / 127 : m / -8), d = f16Value(h), id = d ? 1 / d : 0;
    dv.setUint16(b * bs, h, true);
    if (type === 'q8_0') {
      for (let i = 0; i < 32; i++) dv.setInt8(b * bs + 2 + i, Math.max(-127, Math.min(127, Math.round(xb[i] * id))));
    } else {
      const q = Array.from(xb, (v) => Math.max(0, Math.min(15, Math.round(v * id) + 8)));
      for (let j = 0; j < 16; j++) out[b * bs + 2 + j] = q[j] | (q[j + 16] << 4);
    }
  }
  return out;
}

/** The llama tensors of a shape: [name, ne (ggml order: columns first), role]. */
export function llamaTensors(s) {
  const t = [['token_embd.weight', [s.D, s.V], 'embed']];
  for (let i = 0; i < s.L; i++) {
    const p = `blk.${i}.`;
    t.push([`${p}attn_norm.weight`, [s.D], 'norm']);
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output']) t.push([`${p}${n}.weight`, [s.D, s.D], 'linear']);
    t.push([`${p}ffn_norm.weight`, [s.D], 'norm']);
    t.push([`${p}ffn_gate.weight`, [s.D, s.F], 'linear'], [`${p}ffn_up.weight`, [s.D, s.F], 'linear'], [`${p}ffn_down.weight`, [s.F, s.D], 'linear']);
  }
  t.push(['output_norm.weight', [s.D], 'norm'], ['output.weight', [s.D, s.V], 'linear']);
  return t;
}

/** The vocabulary: pieces, scores, types (1 normal, 2 unknown, 3 control, 6 byte). */
export function vocabulary(V) {
  const tokens = ['<unk>', '<s>', '</s>'], types = [2, 3, 3];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  for (let i = 0; tokens.length < V; i++) { tokens.push(`▁t${i}`); types.push(1); }
  return { tokens, scores: tokens.map((_, i) => -i), types };
}

class Bytes {
  parts = [];
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(b); }
  get buffer() { return Buffer.concat(this.parts); }
}

/**
 * Writes the file. @param {string} path
 * @param {{type?: 'f32'|'q8_0'|'q4_0', L?: number, D?: number, H?: number, F?: number, V?: number, ctx?: number, seed?: number}} o
 * @returns {{bytes: number, ffn: number}}
 */
export function writeGguf(path, o = {}) {
  const type = o.type ?? 'f32';
  if (!(type in GGML)) throw new Error(`unknown type ${type}`);
  const s = { L: o.L ?? 5, D: o.D ?? 896, H: o.H ?? 14, V: o.V ?? 32000, ctx: o.ctx ?? 1024 };
  s.F = Math.ceil((o.F ?? 2389) / 32) * 32;
  const vocab = vocabulary(s.V);
  const kv = [
    ['general.architecture', 'str', 'llama'], ['general.name', 'str', `random llama L${s.L} D${s.D} ${type}`],
    ['general.alignment', 'u32', ALIGN],
    ['llama.context_length', 'u32', s.ctx], ['llama.embedding_length', 'u32', s.D], ['llama.block_count', 'u32', s.L],
    ['llama.feed_forward_length', 'u32', s.F], ['llama.attention.head_count', 'u32', s.H],
    ['llama.attention.head_count_kv', 'u32', s.H], ['llama.rope.dimension_count', 'u32', s.D / s.H],
    ['llama.rope.freq_base', 'f32', 10000], ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-6],
    ['llama.vocab_size', 'u32', s.V],
    ['tokenizer.ggml.model', 'str', 'llama'], ['tokenizer.ggml.tokens', 'arr:str', vocab.tokens],
    ['tokenizer.ggml.scores', 'arr:f32', vocab.scores], ['tokenizer.ggml.token_type', 'arr:i32', vocab.types],
    ['tokenizer.ggml.unknown_token_id', 'u32', 0], ['tokenizer.ggml.bos_token_id', 'u32', 1],
    ['tokenizer.ggml.eos_token_id', 'u32', 2],
  ];
  const tensors = llamaTensors(s).map(([name, ne, role]) => ({ name, ne, role, type: ne.length === 1 ? 'f32' : type }));
  const h = new Bytes();
  h.parts.push(Buffer.from('GGUF'));
  h.u32(3);
  h.u64(tensors.length);
  h.u64(kv.length);
  for (const [key, t, v] of kv) {
    h.str(key);
    if (t.startsWith('arr:')) {
      const et = t.slice(4);
      h.u32(VT.arr); h.u32(VT[et]); h.u64(v.length);
      for (const x of v) h[et](x);
    } else { h.u32(VT[t]); h[t](v); }
  }
  let offset = 0;
  for (const t of tensors) {
    t.bytes = rowBytes(t.type, t.ne[0]) * (t.ne[1] ?? 1);
    t.offset = offset;
    offset += Math.ceil(t.bytes / ALIGN) * ALIGN;
    h.str(t.name); h.u32(t.ne.length);
    for (const d of t.ne) h.u64(d);
    h.u32(GGML[t.type]); h.u64(t.offset);
  }
  let head = h.buffer;
  head = Buffer.concat([head, Buffer.alloc((ALIGN - (head.length % ALIGN)) % ALIGN)]);
  const fd = openSync(path, 'w');
  let written = 0;
  const put = (b) => { writeSync(fd, b); written += b.length; };
  try {
    put(head);
    const rand = prng(o.seed ?? 1);
    for (const t of tensors) {
      const cols = t.ne[0], rows = t.ne[1] ?? 1;
      const scale = t.role === 'embed' ? 1 : Math.sqrt(6 / (cols + rows));
      const row = new Float32Array(cols);
      const chunk = [];
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < cols; i++) row[i] = t.role === 'norm' ? 1 + (rand() - 0.5) * 0.2 : (rand() * 2 - 1) * scale;
        chunk.push(encodeRow(t.type, row));
        if (chunk.length === 256 || r === rows - 1) { put(Buffer.concat(chunk)); chunk.length = 0; }
      }
      put(Buffer.alloc(Math.ceil(t.bytes / ALIGN) * ALIGN - t.bytes));
    }
  } finally {
    closeSync(fd);
  }
  return { bytes: written, ffn: s.F };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, ...rest] = process.argv.slice(2);
  if (!out) throw new Error('usage: node tools/gguf-write.mjs OUT.gguf [--type f32|q8_0|q4_0] [--layers N] …');
  const o = {};
  const keys = { '--type': 'type', '--layers': 'L', '--dim': 'D', '--heads': 'H', '--ffn': 'F', '--vocab': 'V', '--ctx': 'ctx', '--seed': 'seed' };
  for (let i = 0; i < rest.length; i += 2) {
    if (!keys[rest[i]]) throw new Error(`unknown option ${rest[i]}`);
    o[keys[rest[i]]] = rest[i] === '--type' ? rest[i + 1] : Number(rest[i + 1]);
  }
  const r = writeGguf(out, o);
  console.log(`${out}: ${r.bytes} bytes (FFN ${r.ffn})`);
}
