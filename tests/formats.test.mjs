// One truth across C, JavaScript and Python: the runtime's tables (include/pldr.h, read here
// through the WebAssembly module) are the truth; the JavaScript loader's dtype table, the
// converter's tables (tools/pldr_convert, printed by tests/helpers/converter_tables.py) and
// docs/FORMAT.md must equal them, and the converter's quantizer must write the bytes the
// load-time quantizer makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { inspectModel } from '../js/loading/inspect.js';
import { SentencePieceTokenizer } from '../js/tokenizer/tokenizer.js';
import { DTYPE_BYTES, QUANT_BLOCK_BYTES, QUANT_BLOCK_VALUES, parseHeader } from '../js/loading/safetensors.js';
import { RELEASE, configFor } from '../tools/testkit/synthetic.mjs';
import { ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const python = spawnSync('python3', ['--version']).status === 0;
const skip = skipUnlessCI(python ? false : 'python3 not installed');
const TINY = join(ROOT, 'models/pldr-tiny');
const MICRO = join(ROOT, 'tests/fixtures/pldr-micro');
const FORMAT_MD = readFileSync(join(ROOT, 'docs/FORMAT.md'), 'utf8');
const rt = await createRuntime();
const tmp = mkdtempSync(join(tmpdir(), 'pldr-formats-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The converter's tables for these configs (and quantizations), from Python. */
function converter(request = {}) {
  const r = spawnSync('python3', [join(ROOT, 'tests/helpers/converter_tables.py')], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The C dtype table: [{name, code, values, bytes}] in pldr_dtype order. */
function cDtypes() {
  const out = [];
  for (let code = 0; rt.x.pldr_dtype_name(code); code++) {
    out.push({ name: rt.readCString(rt.x.pldr_dtype_name(code)), code, values: rt.x.pldr_dtype_block_size(code), bytes: rt.x.pldr_dtype_block_bytes(code) });
  }
  return out;
}

const fromName = (name) => rt.withStrings([name], (p) => rt.x.pldr_dtype_from_name(p));

/** The C config-name table: [[hf, native|null], ...]. */
function cHparamNames() {
  const out = [];
  for (let i = 0; rt.x.pldr_hparam_name(i, 0); i++) {
    const native = rt.x.pldr_hparam_name(i, 1);
    out.push([rt.readCString(rt.x.pldr_hparam_name(i, 0)), native ? rt.readCString(native) : null]);
  }
  return out;
}

/** The rows of the markdown table that follows `heading` in docs/FORMAT.md, as arrays of cells. */
function docTable(heading) {
  const at = FORMAT_MD.indexOf(heading);
  assert.ok(at >= 0, `docs/FORMAT.md has no "${heading}"`);
  const lines = FORMAT_MD.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i].split('|').slice(1, -1).map((c) => c.trim()));
  return { rows, after: lines.slice(start + 2 + rows.length, start + 12 + rows.length).join('\n') };
}

const firstCode = (cell) => /`([^`]+)`/.exec(cell)?.[1] ?? null;

test('dtype table: C names and block sizes; from_name is its inverse and refuses the rest', () => {
  const c = cDtypes();
  assert.deepEqual(c.map((d) => d.name), ['F32', 'F16', 'BF16', 'q8_0', 'q4_0', 'U8', 'BOOL']);
  for (const d of c) assert.equal(fromName(d.name), d.code, d.name);
  for (const bad of ['F64', 'f32', 'Q8_0', 'I64', '', 'F32 ']) assert.equal(fromName(bad), -1, bad);
  assert.equal(rt.x.pldr_dtype_from_name(0), -1, 'NULL');
  assert.equal(rt.x.pldr_dtype_name(-1), 0);
  assert.equal(rt.x.pldr_dtype_block_bytes(-1), 0);
});

test('dtype table: the JavaScript loader equals C', () => {
  const c = cDtypes();
  assert.deepEqual(DTYPE_BYTES, Object.fromEntries(c.filter((d) => d.values === 1).map((d) => [d.name, d.bytes])));
  assert.deepEqual(QUANT_BLOCK_BYTES, Object.fromEntries(c.filter((d) => d.values > 1).map((d) => [d.name, d.bytes])));
  for (const d of c.filter((x) => x.values > 1)) assert.equal(QUANT_BLOCK_VALUES, d.values, d.name);
});

test('dtype table: the converter equals C (and reads F64 besides)', { skip }, () => {
  const c = cDtypes();
  const py = converter();
  assert.deepEqual(py.dtypes.runtime_itemsize, Object.fromEntries(c.filter((d) => d.values === 1).map((d) => [d.name, d.bytes])));
  assert.deepEqual(Object.keys(py.dtypes.itemsize).filter((k) => !(k in py.dtypes.runtime_itemsize)), ['F64']);
  assert.deepEqual(py.quant.block_bytes, Object.fromEntries(c.filter((d) => d.values > 1).map((d) => [d.name, d.bytes])));
  for (const d of c.filter((x) => x.values > 1)) assert.equal(py.quant.block_values, d.values, d.name);
});

test('dtype table: docs/FORMAT.md equals C', () => {
  const { rows } = docTable('### Element types and blocks');
  const doc = rows.map(([name, , values, bytes]) => ({ name: firstCode(name), values: Number(values), bytes: Number(bytes) }));
  assert.deepEqual(doc, cDtypes().map(({ name, values, bytes }) => ({ name, values, bytes })));
});

test('config names: the converter equals C, in order', { skip }, () => {
  assert.deepEqual(converter().hparam_names, cHparamNames());
});

test('config names: docs/FORMAT.md names exactly those of C, with the same pairs', () => {
  const { rows, after } = docTable('### config.json names');
  const pairs = rows.map(([, hf, native]) => [firstCode(hf), firstCode(native)]);
  const documented = new Set(pairs.flat().filter(Boolean));
  for (const m of after.split('Other keys')[0].matchAll(/`([A-Za-z_]+)`/g)) documented.add(m[1]); // the bias / tie rules
  const c = cHparamNames();
  assert.deepEqual([...documented].sort(), [...new Set(c.flat().filter(Boolean))].sort());
  for (const [hf, native] of c.filter(([, n]) => n)) {
    assert.ok(pairs.some(([a, b]) => a === hf && b === native), `docs/FORMAT.md pairs ${hf} with ${native}`);
  }
});

test('inspect reads config.json through the runtime\'s names: native names give the same report, the tokenizer is checked against them', async () => {
  const dir = join(tmp, 'micro-native-names');
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(MICRO, f), join(dir, f));
  copyFileSync(join(ROOT, 'tests/fixtures/tokenizers/pldr-tiny/tokenizer.model'), join(dir, 'tokenizer.model'));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.ok(config.num_layers && !('num_hidden_layers' in config), 'pldr-micro uses native names');
  const report = await inspectModel(dir, { tokenizer: (bytes) => SentencePieceTokenizer.fromBytes(bytes) });
  assert.equal(report.hparams.num_hidden_layers, config.num_layers);
  assert.equal(report.hparams.vocab_size, config.input_vocab_size);
  assert.equal(report.hparams.max_position_embeddings, config.max_seq_len);
  assert.deepEqual(report.problems, [`tokenizer.model has 8000 pieces but the config's vocabulary is ${config.input_vocab_size}`]);
});

// --- tensor table -------------------------------------------------------------------------------

const CONFIGS = {
  'pldr-tiny': JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')),
  'pldr-micro (native names)': JSON.parse(readFileSync(join(MICRO, 'config.json'), 'utf8')),
  '110M release shape': configFor(RELEASE),
  'custom_G_type identity, v52 RoPE': { ...configFor({ ...RELEASE, L: 2, V: 500 }), custom_G_type: 'identity', reference_rope: false },
  'final_bias false, v52 RoPE with linear rope_parameters': { ...configFor({ ...RELEASE, L: 2, V: 500 }), final_bias: false,
    reference_rope: false, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 10000 } },
  'custom_G_type external, no A-net sizes': (() => {
    const { A_dff, num_reslayerA, num_denseA, ...rest } = configFor({ L: 3, D: 96, H: 3, dff: 200, Adff: 1, nres: 1, ndense: 1, V: 300, ctx: 64 });
    return { ...rest, custom_G_type: 'external' };
  })(),
};

test('tensor table: the converter lists the runtime\'s tensors (names, order, shapes, quantizable) for several configs', { skip }, () => {
  const py = converter({ configs: Object.values(CONFIGS) });
  Object.keys(CONFIGS).forEach((label, i) => {
    const model = Model.create(rt, CONFIGS[label]);
    try {
      const table = model.tensorTable();
      const conv = py.tables[i];
      assert.ok(conv.tensors, `${label}: converter: ${conv.error}`);
      assert.deepEqual(conv.tensors, table.filter((t) => !t.optional).map((t) => [t.name, t.shape, t.quantizable]), label);
      const optional = table.filter((t) => t.optional);
      if (CONFIGS[label].custom_G_type) {
        // G-only: G comes from decoder.past_G_values (the converter writes it; the runtime takes
        // it or, for "identity", does without) and the reference's status flags are accepted
        assert.deepEqual(optional.map((t) => [t.name, t.shape]), [conv.g_tensor, ['decoder.past_G_values_status', [CONFIGS[label].num_hidden_layers]]], label);
      } else {
        assert.deepEqual(optional, [], label);
      }
    } finally {
      model.free();
    }
  });
});

// --- quantizer ----------------------------------------------------------------------------------

/** name -> {dtype, shape, bytes, quant} of every tensor of a model folder. */
function readFolder(dir) {
  const index = join(dir, 'model.safetensors.index.json');
  const files = existsSync(index) ? [...new Set(Object.values(JSON.parse(readFileSync(index, 'utf8')).weight_map))] : ['model.safetensors'];
  const out = new Map();
  for (const file of files) {
    const buf = readFileSync(join(dir, file));
    const n = Number(buf.readBigUInt64LE(0));
    const header = parseHeader(buf.subarray(8, 8 + n), { file, fileSize: buf.length });
    let at = header.dataStart;
    for (const t of header.tensors) {
      out.set(t.name, { ...t, bytes: buf.subarray(at, at + t.byteLength) });
      at += t.byteLength;
    }
  }
  return out;
}

/** pldr_quantize of a float32 matrix: the load-time quantizer's bytes. */
function cQuantize(format, f32, rows, cols) {
  const dtype = fromName(format);
  const blocks = rows * Math.ceil(cols / 32) * rt.x.pldr_dtype_block_bytes(dtype);
  const src = rt.copyIn(f32), dst = rt.malloc(blocks);
  try {
    const rc = rt.x.pldr_quantize(dtype, src, rows, cols, dst);
    return rc === 0 ? rt.u8.slice(dst, dst + blocks) : rc;
  } finally {
    rt.free(src);
    rt.free(dst);
  }
}

/** Index of the first differing block, or -1. */
function firstDiff(a, b, blockBytes) {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return Math.floor(i / blockBytes);
  return -1;
}

for (const [flag, format] of [['q4', 'q4_0'], ['q8', 'q8_0']]) {
  test(`${format}: tools/convert writes the runtime's bytes for every quantized matrix of pldr-tiny`, { skip }, () => {
    const dst = join(tmp, `tiny-${flag}`);
    const r = spawnSync('python3', [join(ROOT, 'tools/convert'), TINY, dst, '--quiet', '--dtype', flag], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const source = readFolder(TINY), converted = readFolder(dst);
    let checked = 0;
    for (const [name, t] of converted) {
      if (!t.quant) continue;
      assert.equal(t.quant.format, format, name);
      const [rows, cols] = t.quant.shape;
      const src = source.get(name);
      const f32 = new Float32Array(src.bytes.buffer.slice(src.bytes.byteOffset, src.bytes.byteOffset + src.bytes.length));
      const ours = cQuantize(format, f32, rows, cols);
      assert.ok(ours instanceof Uint8Array, `${name}: pldr_quantize failed (${ours})`);
      const bad = firstDiff(ours, t.bytes, QUANT_BLOCK_BYTES[format]);
      assert.equal(bad, -1, `${name}: block ${bad} differs between tools/convert and the runtime`);
      checked++;
    }
    assert.equal(checked, 37, 'every quantizable matrix of pldr-tiny (5 layers × 7 + embedding + head)');
  });
}

/** Rows of 32-value blocks that test the decisions' edges. */
function edgeRows() {
  const rows = [];
  const row = (f) => rows.push(Float32Array.from({ length: 64 }, (_, i) => f(i)));
  row(() => 0);                                               // all zeros
  row((i) => (i % 2 ? -0 : 0));                                // signed zeros
  row((i) => (i === 3 ? -0.5 : i === 9 ? 0.5 : 0.01 * i));     // +|m| and -|m|: the positive wins
  row((i) => (i - 32) / 4);                                    // exact halves: ties to even
  row((i) => (i % 7) * 1e-7 - 3e-7);                           // subnormal binary16 scales
  row((i) => (i % 5) * 1e-9);                                  // scales that round to 0
  row((i) => (i % 3 ? 60000 : -45000));                         // near the binary16 maximum (q4 divides by 8)
  row((i) => Math.sin(i * 12.9898) * 43758.5453 % 1);          // plain noise
  row((i) => (i === 17 ? 3 : 1e-3 * ((i * 37) % 11 - 5)));    // one outlier
  row((i) => -(2 ** -14) * (1 + (i % 9) / 8));                 // the smallest normal scales
  return rows;
}

test('q4_0 and q8_0: the converter and the runtime agree on edge blocks, and both refuse Inf, NaN and scales past binary16', { skip }, () => {
  const rows = edgeRows(), cols = 64;
  const cases = [
    ...rows.map((x, i) => ({ x, label: `edge row ${i}`, ok: true })),
    { x: Float32Array.from({ length: 64 }, (_, i) => (i === 5 ? NaN : 1)), label: 'NaN', ok: false },
    { x: Float32Array.from({ length: 64 }, (_, i) => (i === 40 ? -Infinity : 1)), label: '-Inf', ok: false },
    { x: Float32Array.from({ length: 64 }, () => 3e38), label: 'scale past binary16', ok: false },
  ];
  const jobs = [];
  for (const [ci, c] of cases.entries()) {
    const src = join(tmp, `edge-${ci}.f32`);
    writeFileSync(src, c.x);
    for (const format of ['q4_0', 'q8_0']) jobs.push({ format, rows: 1, cols, src, dst: `${src}.${format}`, c });
  }
  const py = converter({ quantize: jobs.map(({ c, ...j }) => j) });
  jobs.forEach((j, i) => {
    const ours = cQuantize(j.format, j.c.x, 1, cols);
    if (!j.c.ok) {
      assert.equal(ours, -6, `${j.c.label} ${j.format}: the runtime refuses it (PLDR_ERR_DTYPE)`);
      assert.ok(py.quantized[i], `${j.c.label} ${j.format}: the converter refuses it`);
      return;
    }
    assert.equal(py.quantized[i], null, `${j.c.label} ${j.format}: ${py.quantized[i]}`);
    assert.deepEqual([...ours], [...readFileSync(j.dst)], `${j.c.label} ${j.format}`);
  });
  // a zero-scale block stores codes 8 (q4) / 0 (q8) and the sign of its scale as the rule gives it
  assert.deepEqual([...cQuantize('q4_0', rows[0], 1, 32)], [0x00, 0x80, ...new Array(16).fill(0x88)]);
});
