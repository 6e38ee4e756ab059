// js/runtime and the C API agree: the module's ABI number is checked when it is instantiated (a
// stale pldr.wasm is a clear E_WASM error naming both versions), and the numbers js/runtime
// writes (enums, status bits, params fields) are those of include/pldr.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ABI_VERSION, PARAMS_FIELDS, createRuntime } from '../js/runtime/wasm.js';
import { DTYPES, GCACHE_MODES, TENSOR_STATUS, WEIGHT_FORMATS } from '../js/runtime/model.js';
import { GCACHE_TENSORS } from '../js/runtime/session.js';
import { ROOT } from './helpers/engines.mjs';

const HEADER = readFileSync(join(ROOT, 'include/pldr.h'), 'utf8');

/** NAME = value pairs of `typedef enum <tag> { ... }` in pldr.h, the common prefix removed */
function cEnum(tag, prefix) {
  const body = HEADER.match(new RegExp(`typedef enum ${tag} \\{([^}]*)\\}`))?.[1];
  assert.ok(body, `enum ${tag} in pldr.h`);
  return Object.fromEntries([...body.matchAll(new RegExp(`${prefix}(\\w+) = (-?\\d+)`, 'g'))].map(([, k, v]) => [k, Number(v)]));
}

/** int32 field names of `typedef struct <tag> { ... }` in pldr.h, in order */
function cFields(tag) {
  const body = HEADER.match(new RegExp(`typedef struct ${tag} \\{([^}]*)\\}`))?.[1];
  assert.ok(body, `struct ${tag} in pldr.h`);
  return [...body.matchAll(/int32_t (\w+);/g)].map((m) => m[1]);
}

test("the numbers js/runtime uses are pldr.h's", async () => {
  assert.equal(ABI_VERSION, Number(HEADER.match(/#define PLDR_ABI_VERSION (\d+)/)[1]));
  assert.deepEqual({ ...DTYPES }, cEnum('pldr_dtype', 'PLDR_DTYPE_'));
  assert.deepEqual({ ...TENSOR_STATUS }, cEnum('pldr_tensor_status', 'PLDR_TENSOR_'));
  assert.deepEqual({ ...GCACHE_TENSORS }, cEnum('pldr_gcache_tensor', 'PLDR_GCACHE_'));
  const byIndex = (e) => Object.entries(e).sort((a, b) => a[1] - b[1]).map(([k]) => k.toLowerCase());
  assert.deepEqual([...GCACHE_MODES], byIndex(cEnum('pldr_gcache_mode', 'PLDR_GCACHE_')));
  assert.deepEqual([...WEIGHT_FORMATS], byIndex(cEnum('pldr_weight_format', 'PLDR_WEIGHTS_')));
  assert.deepEqual(PARAMS_FIELDS.model, cFields('pldr_model_params'));
  assert.deepEqual(PARAMS_FIELDS.session, cFields('pldr_session_params'));
  const rt = await createRuntime();
  assert.equal(rt.x.pldr_abi_version(), ABI_VERSION);
  assert.equal(rt.readCString(rt.x.pldr_version()), HEADER.match(/#define PLDR_VERSION "([^"]+)"/)[1]);
  assert.equal(rt.x.pldr_model_params_size(), 4 * PARAMS_FIELDS.model.length);
  assert.equal(rt.x.pldr_session_params_size(), 4 * PARAMS_FIELDS.session.length);
});

// ---- a module of another ABI: hand-assembled, exporting just what the check reads -------------

const uleb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
const sleb = (n) => { const out = []; for (;;) { const b = n & 0x7f; n >>= 7; if ((n === 0 && !(b & 0x40)) || (n === -1 && (b & 0x40))) { out.push(b); return out; } out.push(b | 0x80); } };
const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
const vec = (items) => [...uleb(items.length), ...items.flat()];
const name = (s) => vec([...Buffer.from(s)]);

/** A wasm module whose exported functions () -> i32 return the given constants, and a string. */
function fakeModule(functions, versionText = '9.9.9') {
  const names = Object.keys(functions);
  const bodies = names.map((n) => { const code = [0x00, 0x41, ...sleb(functions[n]), 0x0b]; return [...uleb(code.length), ...code]; });
  const exports = [[...name('memory'), 0x02, 0x00], ...names.map((n, i) => [...name(n), 0x00, ...uleb(i)])];
  const text = [...Buffer.from(versionText), 0];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0x00, 0x01, 0x7f]])),            // type () -> i32
    ...section(3, vec(names.map(() => [0x00]))),
    ...section(5, vec([[0x00, 0x01]])),                         // one page of memory
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
    ...section(11, vec([[0x00, 0x41, 0x10, 0x0b, ...vec(text)]])), // the version string at 16
  ]);
}

async function instantiateFake(functions) {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-abi-'));
  const file = join(dir, 'pldr.wasm');
  writeFileSync(file, fakeModule(functions));
  try {
    return await createRuntime({ wasmUrl: pathToFileURL(file) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const E_WASM = (pattern) => (err) => {
  assert.equal(err.code, 'E_WASM');
  assert.match(err.message, pattern);
  return true;
};

test('a module of another ABI is refused at instantiation, naming both versions', async () => {
  const other = ABI_VERSION + 1;
  await assert.rejects(instantiateFake({ pldr_abi_version: other, pldr_version: 16, pldr_model_params_size: 8, pldr_session_params_size: 4 }),
    E_WASM(new RegExp(`pldr\\.wasm is pldr runtime 9\\.9\\.9 with C API ABI ${other}, but these JavaScript modules need ABI ${ABI_VERSION}`)));
});

test('a module from before ABI numbers is refused too', async () => {
  await assert.rejects(instantiateFake({ pldr_version: 16 }), E_WASM(/ABI unknown \(no pldr_abi_version\).*need ABI \d+/));
});

test('a module whose params structs are smaller than the fields js/runtime writes is refused', async () => {
  await assert.rejects(instantiateFake({ pldr_abi_version: ABI_VERSION, pldr_version: 16, pldr_model_params_size: 4, pldr_session_params_size: 4 }),
    E_WASM(/pldr_model_params is 4 bytes, too small for its 2 int32 fields/));
});
