// The native CLI's folder loader (src/cli/load.c) makes the JavaScript loader's checks: the index
// names plain files beside it (no "../"), every weight_map value is a file name, every shard is
// loaded however many there are, shards and index agree, and a header the rules refuse
// (docs/FORMAT.md) is refused with a message — never a crash, never a file outside the folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATIVE } from './helpers/engines.mjs';
import { configFor, synthesize } from './helpers/synthetic.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const skip = skipUnlessCI(existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)');
const tmp = mkdtempSync(join(tmpdir(), 'pldr-native-loader-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file of {name, shape, data: Float32Array} tensors. */
function safetensors(tensors) {
  const header = {};
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

/**
 * A model folder: config.json, and the tensors in shards — `shardOf(tensor, i)` names each one's
 * file — with model.safetensors.index.json (`weightMap` edits its weight_map).
 */
function folder(name, shape, { shardOf = () => 'model.safetensors', weightMap = (m) => m, index = true } = {}) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configFor(shape)));
  const tensors = synthesize(shape, 5);
  const shards = new Map();
  const map = {};
  tensors.forEach((t, i) => {
    const file = shardOf(t, i);
    if (!shards.has(file)) shards.set(file, []);
    shards.get(file).push(t);
    map[t.name] = file;
  });
  for (const [file, list] of shards) writeFileSync(join(dir, file), safetensors(list));
  if (index) writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap(map) }));
  return { dir, tensors };
}

function generate(dir) {
  return spawnSync(NATIVE, ['generate', '--model', dir, '--ids', '4,5', '--max-tokens', '2', '--greedy'], { encoding: 'utf8' });
}

function assertRefused(r, pattern) {
  assert.equal(r.signal, null, `crashed (${r.signal}): ${r.stderr}`);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, pattern);
}

const SMALL = { L: 1, D: 8, H: 2, dff: 8, Adff: 4, nres: 1, ndense: 1, V: 16, ctx: 8 };

test('native loader: more than 4096 shards are all loaded', { skip }, () => {
  const many = { ...SMALL, L: 2, nres: 64, ndense: 6 }; // 4,900 tensors, one per shard
  const { dir, tensors } = folder('many-shards', many, { shardOf: (t, i) => `shard-${String(i).padStart(5, '0')}.safetensors` });
  assert.ok(tensors.length > 4096, `${tensors.length} tensors`);
  const r = generate(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).prompt_ids, [4, 5]);
});

test('native loader: a weight_map value that is not a string is refused, not a crash', { skip }, () => {
  for (const value of [5, null, ['model.safetensors'], { file: 'model.safetensors' }]) {
    const { dir } = folder(`non-string-${JSON.stringify(value).length}`, SMALL, {
      weightMap: (m) => ({ ...m, 'decoder.layernorm1.bias': value }),
    });
    assertRefused(generate(dir), /tensor "decoder\.layernorm1\.bias" maps to a value that is not a string, which is not a file name in the model folder/);
  }
});

test('native loader: shard names with a path are refused, so no file outside the folder is read', { skip }, () => {
  const outside = folder('outside', SMALL, { index: false }); // a complete, loadable model.safetensors
  assert.equal(generate(outside.dir).status, 0);
  for (const shard of ['../outside/model.safetensors', 'sub/model.safetensors', '..', '.', '', '..\\outside\\model.safetensors', '/etc/passwd']) {
    const { dir } = folder(`escape-${Buffer.from(shard).toString('hex')}`, SMALL, { weightMap: (m) => Object.fromEntries(Object.keys(m).map((k) => [k, shard])) });
    assertRefused(generate(dir), /maps to .*which is not a file name in the model folder/);
  }
});

test('native loader: shards and index must agree', { skip }, () => {
  const half = (t, i) => (i % 2 ? 'b.safetensors' : 'a.safetensors');
  const unlisted = folder('unlisted', SMALL, { shardOf: half, weightMap: (m) => { const { 'final_layer.bias': _, ...rest } = m; return rest; } });
  assertRefused(generate(unlisted.dir), /tensor "final_layer\.bias" is in this shard, but model\.safetensors\.index\.json does not list it/);
  const moved = folder('moved', SMALL, { shardOf: half, weightMap: (m) => ({ ...m, 'decoder.embedding.weight': 'b.safetensors' }) });
  assertRefused(generate(moved.dir), /tensor "decoder\.embedding\.weight" is (in this shard, but .* maps it to b\.safetensors|listed in .* for this shard but is not in it)/);
});

test('native loader: a shape dimension of 1e20 is refused by the header rules (no undefined cast to int32)', { skip }, () => {
  const { dir, tensors } = folder('huge-dim', SMALL, { index: false });
  const bias = tensors.find((t) => t.name === 'final_layer.bias');
  // [1e20, 0] holds no element, so the size check alone cannot catch it: the dimension must
  const header = {};
  let at = 0;
  for (const t of tensors) {
    const size = t === bias ? 0 : t.data.byteLength;
    header[t.name] = { dtype: 'F32', shape: t === bias ? [1e20, 0] : t.shape, data_offsets: [at, at + size] };
    at += size;
  }
  const json = Buffer.from(JSON.stringify(header).replace('100000000000000000000', '1e20'));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([length, json, ...tensors.filter((t) => t !== bias).map((t) => Buffer.from(t.data.buffer))]));
  assertRefused(generate(dir), /tensor "final_layer\.bias": "shape" must be an array of integers from 0 to 2147483647/);
});

test('native loader: a config.json that is not JSON is refused naming the file and the byte', { skip }, () => {
  const { dir } = folder('bad-config', SMALL);
  for (const [text, pattern] of [
    ['{"num_layers": 1,}', /config\.json is not valid JSON: invalid JSON object at byte 17/],
    ['num_layers = 1', /config\.json is not valid JSON: invalid JSON value at byte 0/],
    ['{"num_layers": 1', /config\.json is not valid JSON: .* at byte 16/],
    ['[1, 2]', /config\.json is not a JSON object/],
  ]) {
    writeFileSync(join(dir, 'config.json'), text);
    assertRefused(generate(dir), pattern);
  }
});
