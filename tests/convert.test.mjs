// Converted folders (tools/convert) load and run in the runtime: .pth → golden logits, q8/q4 and
// small shards load, a G-only model (A-net dropped, G from the empty prompt) reproduces the
// reference's greedy_G_eos continuations, and inspect reports what is wrong with a broken folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, argmax, loadWasmModel } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';
import { inspectModel } from '../js/loading/inspect.js';
import { skipUnlessCI } from './helpers/skip.mjs';

const python = spawnSync('python3', ['--version']).status === 0;
const skip = skipUnlessCI(python ? false : 'python3 not installed');
const MICRO = join(ROOT, 'tests/fixtures/pldr-micro');
const TINY = join(ROOT, 'models/pldr-tiny');
const GOLD = join(ROOT, 'tests/fixtures/golden/pldr-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'pldr-convert-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function convert(src, name, ...args) {
  const dst = join(tmp, name);
  const r = spawnSync('python3', [join(ROOT, 'tools/convert'), src, dst, '--quiet', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `convert failed: ${r.stderr}`);
  return dst;
}


test('pldr-micro model.pth converts to a folder whose logits match the golden ones', { skip }, async () => {
  const dst = convert(join(MICRO, 'model.pth'), 'micro-pth', '--config', join(MICRO, 'config.json'));
  const config = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  assert.equal(config.hidden_size, 128);
  assert.equal(config.d_model, 128, 'both name sets are written');
  const model = await loadWasmModel(dst, { gcache: 'prompt' });
  for (const c of JSON.parse(readFileSync(join(MICRO, 'golden.json'), 'utf8')).cases) {
    const logits = model.newSession({ contextLength: c.ids.length }).prefill(c.ids, { allLogits: true });
    const ref = readF32(join(MICRO, c.logits));
    assert.ok(maxDiff(logits, ref) < 1e-5 * maxAbs(ref) * 4, `logits of ${c.ids.length} ids differ by ${maxDiff(logits, ref)}`);
  }
  model.free();
});

for (const dtype of ['q8', 'q4']) {
  test(`pldr-tiny converted to ${dtype} with 4 MB shards loads and runs close to f32`, { skip }, async () => {
    const dst = convert(TINY, `tiny-${dtype}`, '--dtype', dtype, '--shard-mb', '4');
    const shards = readdirSync(dst).filter((f) => f.endsWith('.safetensors'));
    assert.ok(shards.length > 1, 'several shards');
    for (const s of shards) assert.ok(statSync(join(dst, s)).size <= 4 * 1024 * 1024 + 65536, `${s} respects --shard-mb`);
    const report = await inspectModel(dst);
    assert.deepEqual(report.problems, []);
    assert.ok(report.tensors.some((t) => t.quant === (dtype === 'q8' ? 'q8_0' : 'q4_0')));
    const [quant, f32] = [await loadWasmModel(dst), await loadWasmModel(TINY)];
    // the A-net (~2.6M of 11.1M parameters) stays float32
    assert.ok(quant.weightBytes < f32.weightBytes * (dtype === 'q8' ? 0.5 : 0.4), `quantized matrices stay quantized: ${quant.weightBytes} vs ${f32.weightBytes}`);
    const ids = [1155, 275, 2191, 395, 297, 534];
    const a = quant.newSession().prefill(ids), b = f32.newSession().prefill(ids);
    const rel = maxDiff(a, b) / maxAbs(b);
    assert.ok(rel < (dtype === 'q8' ? 0.05 : 0.25), `logits drift ${rel}`);
    assert.equal(argmax(a), argmax(b));
    quant.free();
    f32.free();
  });
}

test('the CLI generates from a converted q8 folder with 4 MB shards', { skip }, () => {
  const dst = join(tmp, 'tiny-q8');  // written by the q8 test above
  const r = spawnSync('node', [join(ROOT, 'js/cli.mjs'), 'generate', '--model', dst, '--prompt', 'The Python language is',
    '--max-tokens', '8', '--greedy', '--json', '--no-progress'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ids.length, 8);
  assert.ok(out.text.length > 0);
});

test('a G-only model (A-net dropped, G from the empty prompt) reproduces greedy_G_eos', { skip }, async () => {
  const dst = convert(TINY, 'tiny-gonly', '--gcache', join(GOLD, 'G_eos.f32'));
  const config = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  assert.equal(config.custom_G_type, 'external');
  const report = await inspectModel(dst);
  assert.deepEqual(report.problems, []);
  assert.ok(!report.tensors.some((t) => t.name.includes('reslayerAs') || t.name.includes('plgatt_layer')));
  const golden = JSON.parse(readFileSync(join(GOLD, 'golden.json'), 'utf8'));
  const model = await loadWasmModel(dst);
  assert.equal(model.gcacheMode, 'fixed');
  for (const c of golden.cases.filter((x) => ['python', 'fortune', 'unicode'].includes(x.name))) {
    const s = model.newSession();
    let logits = s.prefill(c.ids);
    const out = [];
    while (out.length < c.greedy_G_eos.length) {
      out.push(argmax(logits));
      if (out.at(-1) === 3 || out.length === c.greedy_G_eos.length) break;
      logits = s.decode(out.at(-1));
    }
    assert.deepEqual(out, c.greedy_G_eos, c.name);
    s.free();
  }
  assert.equal(model.anetRuns, 0, 'no A-net ran');
  model.free();
});

test('inspect lists every problem of a broken folder', { skip }, async () => {
  const dst = convert(join(MICRO, 'model.safetensors'), 'micro-broken', '--config', join(MICRO, 'config.json'), '--shard-mb', '1');
  const config = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  writeFileSync(join(dst, 'config.json'), JSON.stringify({ ...config, intermediate_size: 300, dff: 300 }));
  const report = await inspectModel(dst);
  assert.ok(report.problems.some((p) => /ffn\.gluw1\.weight: shape \[341, 128\] but the config needs \[300, 128\]/.test(p)), report.problems.join('\n'));
  writeFileSync(join(dst, 'config.json'), JSON.stringify(config));
  const index = JSON.parse(readFileSync(join(dst, 'model.safetensors.index.json'), 'utf8'));
  const lastShard = [...new Set(Object.values(index.weight_map))].sort().at(-1);
  unlinkSync(join(dst, lastShard));
  const missing = await inspectModel(dst);
  assert.ok(missing.problems.some((p) => p.includes(`${lastShard} is missing`)));
  assert.ok(missing.problems.some((p) => /^tensor .* is missing$/.test(p)));
});
