// The three safetensors readers — the JavaScript loader (js/loading/safetensors.js), the native
// CLI's (src/cli/load.c, through `pldr-native safetensors`) and the converter's
// (tools/pldr_convert/safetensors.py, in tests/safetensors_headers_test.py) — judge one corpus of
// good and bad headers alike: the same accept/refuse decision, the same tensor list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsReader } from '../js/loading/safetensors.js';
import { NATIVE, ROOT } from './helpers/engines.mjs';
import { caseBytes } from './helpers/safetensors-cases.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const { cases } = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/safetensors-headers/cases.json'), 'utf8'));

const byOffsets = (a, b) => a[3] - b[3] || a[4] - b[4] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** Checks one reader's verdict {tensors} | {error} on a case. */
function judge(reader, c, verdict) {
  const label = `${reader}: ${c.name}`;
  if (c.tensors) {
    assert.ok(verdict.tensors, `${label}: refused (${verdict.error})`);
    assert.deepEqual([...verdict.tensors].sort(byOffsets), [...c.tensors].sort(byOffsets), label);
  } else {
    assert.ok(verdict.error, `${label}: accepted, but it must be refused (${c.error})`);
    assert.match(verdict.error, new RegExp(c.error, 'i'), label);
    assert.ok(!verdict.error.includes('\n'), `${label}: one line`);
  }
}

const forReader = (reader) => cases.filter((c) => !c.readers || c.readers.includes(reader));

/** The JavaScript loader's reader, fed the whole file as the loader feeds it (size known). */
function jsVerdict(bytes) {
  let header = null;
  try {
    const reader = new SafetensorsReader('case.safetensors', { fileSize: bytes.length, onHeader: (h) => { header = h; }, onTensor: () => ({ write() {}, end() {} }) });
    reader.push(new Uint8Array(bytes));
    reader.end();
  } catch (err) {
    if (!err.code?.startsWith('E_')) throw err; // anything but a LoadError is a bug
    return { error: err.message };
  }
  let at = 0;
  return {
    tensors: header.tensors.map((t) => {
      const row = [t.name, t.dtype, t.shape, at, at + t.byteLength];
      at += t.byteLength;
      return t.quant ? [...row, t.quant.format, t.quant.shape] : row;
    }),
  };
}

test(`safetensors corpus: the JavaScript loader (${forReader('js').length} cases)`, () => {
  for (const c of forReader('js')) judge('js', c, jsVerdict(caseBytes(c)));
});

const native = existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)';
test(`safetensors corpus: the native CLI reader, src/cli/load.c (${forReader('c').length} cases)`, { skip: skipUnlessCI(native) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-st-corpus-'));
  try {
    const list = forReader('c');
    const files = list.map((c, i) => {
      const file = join(dir, `case-${i}.safetensors`);
      writeFileSync(file, caseBytes(c));
      return file;
    });
    const r = spawnSync(NATIVE, ['safetensors', ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.signal, null, `pldr-native safetensors crashed: ${r.signal}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, list.length, r.stderr);
    list.forEach((c, i) => {
      assert.equal(lines[i].file, files[i]);
      judge('c', c, lines[i].ok ? { tensors: lines[i].tensors } : { error: lines[i].error });
    });
    assert.equal(r.status, list.some((c) => c.error) ? 1 : 0, 'exit status 1 when a file was refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
