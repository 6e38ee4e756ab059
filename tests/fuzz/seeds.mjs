// Seeds (and dictionaries) of the C fuzzers (tests/fuzz/fuzz_*.c), from the real fixtures:
// config.json of models/pldr-tiny and pldr-micro, the safetensors corpus
// (tests/fixtures/safetensors-headers/cases.json), the headers of pldr-micro and a pldr-tiny
// shard, and small model folders made from the runtime's own tensor table (every layout the
// loader reads: one file, shards with an index, F16/BF16, q8_0/q4_0 pldr.quant, predefined G).
// Deterministic: the same files every run.   node tests/fuzz/seeds.mjs OUT_DIR
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime } from '../../js/runtime/wasm.js';
import { Model } from '../../js/runtime/model.js';
import { ROOT } from '../helpers/engines.mjs';
import { configFor, prng, synthesize } from '../helpers/synthetic.mjs';
import { RELEASE } from '../../tools/testkit/synthetic.mjs';
import { caseBytes } from '../helpers/safetensors-cases.mjs';

const out = process.argv[2] ?? join(ROOT, 'build/fuzz/seeds');
rmSync(out, { recursive: true, force: true });
const rt = await createRuntime();

function put(target, name, bytes) {
  mkdirSync(join(out, target), { recursive: true });
  writeFileSync(join(out, target, name), bytes);
}

// --- safetensors files -------------------------------------------------------------------------

/** float32 → binary16, rounded to nearest even (finite inputs of moderate size). */
function f16(x) {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, exp = ((u >>> 23) & 0xff) - 127 + 15, man = u & 0x7fffff;
  if (exp <= 0) return sign; // tiny: zero
  let h = sign | (exp << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}

/** The bytes of one tensor in a dtype: F32, F16, BF16, or q8_0 / q4_0 (by the runtime). */
function encode(t, dtype) {
  const n = t.data.length;
  if (dtype === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (dtype === 'F16' || dtype === 'BF16') {
    const b = Buffer.alloc(2 * n), u = new Uint32Array(t.data.buffer, t.data.byteOffset, n);
    for (let i = 0; i < n; i++) b.writeUInt16LE(dtype === 'F16' ? f16(t.data[i]) : u[i] >>> 16, 2 * i);
    return b;
  }
  const [rows, cols] = t.shape, code = dtype === 'q8_0' ? 3 : 4;
  const bytes = rows * Math.ceil(cols / 32) * (code === 3 ? 34 : 18);
  const x = rt.copyIn(t.data), q = rt.malloc(bytes);
  try {
    if (rt.x.pldr_quantize(code, x, rows, cols, q) !== 0) throw new Error(`quantize ${t.name}`);
    return Buffer.from(rt.u8.slice(q, q + bytes));
  } finally {
    rt.free(x);
    rt.free(q);
  }
}

/** A safetensors file of tensors [{name, shape, data}], each in dtypeOf(t) (a pldr.quant format: U8 + metadata). */
function safetensors(tensors, dtypeOf = () => 'F32') {
  const header = { __metadata__: { format: 'pt' } }, quant = {}, parts = [];
  let at = 0;
  for (const t of tensors) {
    const dtype = dtypeOf(t), bytes = encode(t, dtype), q = dtype === 'q8_0' || dtype === 'q4_0';
    header[t.name] = { dtype: q ? 'U8' : dtype, shape: q ? [t.shape[0], bytes.length / t.shape[0]] : t.shape, data_offsets: [at, at + bytes.length] };
    if (q) quant[t.name] = { format: dtype, shape: t.shape };
    parts.push(bytes);
    at += bytes.length;
  }
  if (Object.keys(quant).length) header.__metadata__['pldr.quant'] = JSON.stringify(quant);
  const json = Buffer.from(JSON.stringify(header)), length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...parts]);
}

/** The first bytes of a real safetensors file: its whole header and a little data (refused as truncated, after every header check). */
function headerOf(path) {
  const b = readFileSync(path), n = Number(b.readBigUInt64LE(0));
  return b.subarray(0, 8 + n + 64);
}

// --- model folders, as the fuzz_folder container ------------------------------------------------

const TINY = { L: 1, D: 8, H: 2, dff: 12, Adff: 4, nres: 1, ndense: 1, V: 16, ctx: 8 };

function container(files, params = '') {
  const parts = params ? [Buffer.from(`#PARAMS# ${params}\n`)] : [];
  Object.entries(files).forEach(([name, bytes], i) => parts.push(Buffer.from(`${i ? '\n' : ''}#FILE# ${name}\n`), Buffer.from(bytes)));
  return Buffer.concat(parts);
}

function folder(shape, { dtypeOf, shards = 1, params = '', extra = [] } = {}) {
  const config = JSON.stringify(configFor(shape));
  const tensors = [...synthesize(shape, 3), ...extra];
  if (shards === 1) return container({ 'config.json': config, 'model.safetensors': safetensors(tensors, dtypeOf) }, params);
  const files = { 'config.json': config }, map = {};
  for (let s = 0; s < shards; s++) {
    const name = `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const part = tensors.filter((_, i) => i % shards === s);
    part.forEach((t) => { map[t.name] = name; });
    files[name] = safetensors(part, dtypeOf);
  }
  files['model.safetensors.index.json'] = JSON.stringify({ metadata: { total_size: 0 }, weight_map: map });
  return container(files, params);
}

const quantizable = (t) => t.shape.length === 2 && !t.name.includes('mha1.reslayerAs') && !t.name.includes('plgatt');
const customShape = { ...TINY, customG: 'identity', nres: 0, Adff: 4 };
const pastG = { name: 'decoder.past_G_values', shape: [1, 3, 1, 2, 4, 4], data: new Float32Array(96).map((_, i) => (i % 5) / 10) };
const folders = {
  'one-file': folder(TINY),
  'two-shards': folder(TINY, { shards: 2 }),
  'f16-bf16': folder(TINY, { dtypeOf: (t) => (t.name.endsWith('bias') ? 'BF16' : 'F16'), params: 'prompt' }),
  'q8_0': folder(TINY, { dtypeOf: (t) => (quantizable(t) ? 'q8_0' : 'F32') }),
  'q4_0-shards': folder(TINY, { dtypeOf: (t) => (quantizable(t) ? 'q4_0' : 'F32'), shards: 3, params: 'q8 off' }),
  'quantize-at-load': folder(TINY, { params: 'q4 first' }),
  'predefined-g': folder(customShape, { extra: [pastG] }),
};
for (const [name, bytes] of Object.entries(folders)) put('folder', name, bytes);

// --- each target --------------------------------------------------------------------------------

const { cases } = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/safetensors-headers/cases.json'), 'utf8'));
cases.forEach((c, i) => put('safetensors', `case-${String(i).padStart(3, '0')}`, caseBytes(c)));
put('safetensors', 'pldr-micro-header', headerOf(join(ROOT, 'tests/fixtures/pldr-micro/model.safetensors')));
put('safetensors', 'pldr-micro-bf16-header', headerOf(join(ROOT, 'tests/fixtures/pldr-micro/model.bf16.safetensors')));
put('safetensors', 'pldr-tiny-shard-header', headerOf(join(ROOT, 'models/pldr-tiny/model-00004-of-00004.safetensors')));
put('safetensors', 'tiny-q8_0', safetensors(synthesize(TINY, 3), (t) => (quantizable(t) ? 'q8_0' : 'F32')));
put('safetensors', 'tiny-f16', safetensors(synthesize(TINY, 3), () => 'F16'));

put('config', 'pldr-tiny', readFileSync(join(ROOT, 'models/pldr-tiny/config.json')));
put('config', 'pldr-micro', readFileSync(join(ROOT, 'tests/fixtures/pldr-micro/config.json')));
put('config', 'release-110m', JSON.stringify(configFor(RELEASE), null, 1));
put('config', 'predefined-g', JSON.stringify(configFor({ ...RELEASE, customG: 'identity' })));

// the decision streams of fuzz_hparams / _upload / _session: each real shape in each mode and
// weight format, then bytes from a fixed PRNG (libFuzzer grows them)
const rand = prng(16016);
const bytes = (n) => Array.from({ length: n }, () => Math.floor(rand() * 256));
for (let shape = 0; shape < 8; shape++) {
  for (const head of [0x00, 0x05, 0x0a, 0x03]) put('hparams', `shape${shape}-mode${head & 3}-format${(head >> 2) % 3}`, Buffer.from([head, shape, ...bytes(24)]));
}
for (let shape = 0; shape < 4; shape++) {
  for (const head of [0x00, 0x05, 0x0a]) {
    put('upload', `shape${shape}-${head}-all`, Buffer.from([head, shape, 10, 0, 5, 8, ...bytes(48)]));
    put('upload', `shape${shape}-${head}-ops`, Buffer.from([head, shape, ...bytes(200)]));
    put('session', `shape${shape}-${head}`, Buffer.from([(shape << 4) | head, ...bytes(160)]));
  }
}

// dictionaries: the names the readers look for
const names = [];
for (let i = 0; rt.x.pldr_hparam_name(i, 0); i++) {
  for (const alias of [0, 1]) {
    const p = rt.x.pldr_hparam_name(i, alias);
    if (p) names.push(rt.readCString(p));
  }
}
const dict = (words) => `${words.map((w) => JSON.stringify(w)).join('\n')}\n`;
writeFileSync(join(out, 'config.dict'), dict([...names.map((n) => `"${n}"`), 'true', 'false', 'null', '"identity"', '"rotate_half"', '65536', '4294967296', '1e9', '-1', '0.5']));
const stWords = ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"pldr.quant"', '"format"', '"F32"', '"F16"', '"BF16"',
  '"U8"', '"BOOL"', '"I64"', '"q8_0"', '"q4_0"', '2147483647', '2147483648', '9007199254740991', '9007199254740993', '1e20', '\\u0000'];
writeFileSync(join(out, 'safetensors.dict'), dict(stWords));
writeFileSync(join(out, 'folder.dict'), dict([...stWords, ...names.map((n) => `"${n}"`), '#FILE# ', 'model.safetensors.index.json',
  '"weight_map"', '../', 'config.json', '#PARAMS# q8 prompt']));

// the model that the seeds' tensor tables come from must be the runtime's: a sanity check
const check = Model.create(rt, configFor(TINY));
if (check.tensorTable().length !== synthesize(TINY, 3).length) throw new Error('the tensor table and synthesize() disagree');
check.free();
console.log(`fuzz seeds in ${out}`);
