// One error-code namespace: every code written anywhere in js/ and web/ is in ERROR_CODES
// (js/errors.js), docs/ERRORS.md lists the same codes and meanings, every C status of
// include/pldr.h has its code, and the same mistake gets the same code whether JavaScript or the
// C library notices it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CODES, EngineError, STATUS_CODES } from '../js/errors.js';
import { PLDR } from '../js/pldr.js';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { ROOT } from './helpers/engines.mjs';

/** Every .js/.mjs file under `dir`, as [path relative to ROOT, text]. */
function sources(dir) {
  const out = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.m?js$/.test(entry.name)) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    out.push([relative(ROOT, path), readFileSync(path, 'utf8')]);
  }
  return out;
}

const FILES = [...sources('js'), ...sources('web')];

/** Every string literal 'E_…' / "E_…" / `E_…` and PLDR_ERR_… in the sources, with where. */
function literals(pattern) {
  const found = new Map();
  for (const [file, text] of FILES) {
    for (const m of text.matchAll(pattern)) {
      const line = text.slice(0, m.index).split('\n').length;
      if (!found.has(m[1])) found.set(m[1], `${file}:${line}`);
    }
  }
  return found;
}

/** Rows `| \`A\` | B |` of the markdown table under `heading` (or the first table). */
function tableRows(markdown, heading) {
  const start = heading ? markdown.indexOf(heading) : 0;
  assert.ok(start >= 0, `docs/ERRORS.md has a section "${heading}"`);
  const rows = [];
  let inTable = false;
  for (const line of markdown.slice(start).split('\n')) {
    if (/^\| `/.test(line)) { inTable = true; rows.push(line.split('|').slice(1, -1).map((c) => c.trim().replace(/^`|`$/g, ''))); }
    else if (inTable) break;
  }
  return rows;
}

test('every error code written anywhere in js/ and web/ is in ERROR_CODES', () => {
  const used = literals(/['"`](E_[A-Z0-9_]+)['"`]/g);
  assert.ok(used.size >= 30, `found the codes (${used.size})`);
  const unknown = [...used].filter(([code]) => !Object.hasOwn(ERROR_CODES, code)).map(([code, where]) => `${code} (${where})`);
  assert.deepEqual(unknown, [], 'codes not in js/errors.js ERROR_CODES (add them there and in docs/ERRORS.md)');
});

test('every listed code is used outside the list, and every C status name in js/ maps to a code', () => {
  const uses = new Map(Object.keys(ERROR_CODES).map((code) => [code, 0]));
  for (const [file, text] of FILES) {
    const body = file === join('js', 'errors.js') ? text.slice(text.indexOf('export const STATUS_CODES')) : text;
    for (const m of body.matchAll(/\b(E_[A-Z0-9_]+)\b/g)) if (uses.has(m[1])) uses.set(m[1], uses.get(m[1]) + 1);
  }
  assert.deepEqual([...uses].filter(([, n]) => n === 0).map(([code]) => code), [], 'listed codes nothing throws');
  const statuses = literals(/['"`](PLDR_ERR_[A-Z0-9_]+)['"`]/g);
  const unmapped = [...statuses].filter(([name]) => !Object.hasOwn(STATUS_CODES, name)).map(([name, where]) => `${name} (${where})`);
  assert.deepEqual(unmapped, [], 'C status names without a code in STATUS_CODES');
  for (const code of Object.values(STATUS_CODES)) assert.ok(Object.hasOwn(ERROR_CODES, code), `${code} is listed`);
});

test('STATUS_CODES has every error status of include/pldr.h, and nothing else', () => {
  const header = readFileSync(join(ROOT, 'include/pldr.h'), 'utf8');
  const enumBody = header.slice(header.indexOf('typedef enum pldr_status'), header.indexOf('} pldr_status;'));
  const names = [...enumBody.matchAll(/\b(PLDR_ERR_[A-Z0-9_]+)\s*=/g)].map((m) => m[1]);
  assert.ok(names.length >= 10, `read the enum (${names.length} error statuses)`);
  assert.deepEqual(Object.keys(STATUS_CODES).sort(), names.sort());
  assert.equal(new EngineError('PLDR_ERR_FROM_THE_FUTURE', 'x').code, 'E_ENGINE', 'a status this JavaScript does not know');
});

test('docs/ERRORS.md lists exactly ERROR_CODES and STATUS_CODES, with the same meanings', () => {
  const doc = readFileSync(join(ROOT, 'docs/ERRORS.md'), 'utf8');
  const expected = Object.entries(ERROR_CODES).map(([code, meaning]) => [code, meaning.replace(/`/g, '')]);
  const rows = tableRows(doc, '| code | meaning |').map(([code, meaning]) => [code, meaning.replace(/`/g, '')]);
  assert.deepEqual(rows, expected, 'the code table of docs/ERRORS.md (one row per ERROR_CODES entry, in its order)');
  assert.deepEqual(tableRows(doc, '## C status names'), Object.entries(STATUS_CODES));
});

test('the same mistake has the same code whether JavaScript or the C library notices it', async () => {
  const rt = await createRuntime();
  const shape = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 2, V: 50, ctx: 16 };
  const TINY = join(ROOT, 'models/pldr-tiny');
  const codeOf = async (fn) => { try { await fn(); } catch (err) { return err.code; } return 'no error'; };

  // an invalid G-cache mode or weight format
  assert.equal(await codeOf(() => Model.create(rt, configFor(shape), { gcache: 'sometimes' })), 'E_OPTION');
  assert.equal(await codeOf(() => PLDR.load(TINY, { gcache: 'sometimes' })), 'E_OPTION');
  assert.equal(await codeOf(() => Model.create(rt, configFor(shape), { quant: 'q3' })), 'E_OPTION');
  assert.equal(await codeOf(() => PLDR.load(TINY, { quant: 'q3' })), 'E_OPTION');

  // a token id outside the vocabulary
  const model = Model.create(rt, configFor(shape));
  uploadTensors(model, synthesize(shape));
  model.finalize();
  const session = model.newSession();
  assert.equal(await codeOf(() => session.decode(50)), 'E_TOKEN');
  const engine = await PLDR.load(TINY);
  assert.equal(await codeOf(() => engine.generate({ ids: [8000] })), 'E_TOKEN');

  // an invalid context length
  assert.equal(await codeOf(() => model.newSession({ contextLength: 17 })), 'E_OPTION');
  assert.equal(await codeOf(() => PLDR.load(TINY, { contextLength: 5000 })), 'E_OPTION');

  // bad hyperparameters in config.json
  assert.equal(await codeOf(() => Model.create(rt, { ...configFor(shape), hidden_size: -1 })), 'E_CONFIG');
  engine.free();
  model.free();
});
