// Names and values read from a file (config keys and values, tensor names) reach error messages:
// each message is one line whatever they held, in the engine (dist/pldr.wasm: model_fail and
// session_fail) and in the native CLI's loader (src/cli/load.c). Found by the C fuzzers
// (tests/fixtures/fuzz-c/config/key-with-newline-*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { NATIVE } from './helpers/engines.mjs';
import { configFor } from './helpers/synthetic.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const SMALL = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 2, V: 50, ctx: 16 };
const rt = await createRuntime();

function oneLine(fn, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(!/[\n\r\u0000-\u001f]/.test(err.message), `a control character in: ${JSON.stringify(err.message)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('engine: a config key or value holding newlines is named on one line, the newlines written as \\n', () => {
  oneLine(() => Model.create(rt, { ...configFor(SMALL), 'line one\nline two': 1 }), /unknown key "line one\\nline two"/);
  oneLine(() => Model.create(rt, { ...configFor(SMALL), hidden_act: 'gelu\r\n\u0001' }), /hidden_act = "gelu\\r\\n\\x01"/);
  oneLine(() => Model.create(rt, { ...configFor(SMALL), rope: 'x\ty' }), /rope = "x\\ty"/);
});

test('engine: a tensor name holding a newline is named on one line', () => {
  const model = Model.create(rt, configFor(SMALL));
  oneLine(() => model.beginTensor({ name: 'decoder.\nbogus', dtype: 'F32', shape: [3] }), /unknown tensor "decoder\.\\nbogus"/);
  model.free();
});

test('native CLI: config.json and safetensors names holding newlines are named on one line', { skip: skipUnlessCI(existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-one-line-'));
  try {
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm/config.json'), JSON.stringify({ ...configFor(SMALL), 'a\nb': 1 }));
    const r = spawnSync(NATIVE, ['generate', '--model', join(dir, 'm'), '--ids', '4'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /unknown key "a\\nb"/);
    const header = Buffer.from(JSON.stringify({ 'x\ny': { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, 'bad.safetensors'), Buffer.concat([len, header, Buffer.alloc(4)]));
    const s = spawnSync(NATIVE, ['safetensors', join(dir, 'bad.safetensors')], { encoding: 'utf8' });
    const verdict = JSON.parse(s.stdout);
    assert.equal(verdict.ok, false);
    assert.match(verdict.error, /tensor "x\\ny": shape \[2\] of F32 needs 8 bytes/);
    assert.ok(!verdict.error.includes('\n'), verdict.error);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
