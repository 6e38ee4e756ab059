// The released 110M shape end to end, through the files real users bring: a Hugging Face folder
// with one F32 model.safetensors (~440 MB, synthetic weights from tools/testkit/synthetic.mjs) and the
// released 32k tokenizer, loaded by the streaming loader (js/loading/loader.js) and by the native CLI, then
// a greedy answer from each. Everything else in the suite runs on small models.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELEASE, writeSyntheticFolder } from '../tools/testkit/synthetic.mjs';
import { PLDR } from '../js/pldr.js';
import { NATIVE, ROOT, argmax } from './helpers/engines.mjs';
import { maxDiff } from './helpers/numeric.mjs';
import { readF32 } from './helpers/files.mjs';

const PROMPT = 'The Python language is';
const TOKENS = 6;
const G_FILE = join(ROOT, 'tests/fixtures/gcache/pldrv51-110m-1.G_LM.f32');

let work = '', dir = '', written = { bytes: 0, tensors: 0 };
before(() => {
  work = mkdtempSync(join(tmpdir(), 'pldr-110m-'));
  dir = join(work, 'hf');
  written = writeSyntheticFolder(dir, RELEASE, join(ROOT, 'tests/fixtures/tokenizers/pldr-32k/tokenizer.model'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** Greedy ids and first-step logits from the native CLI on folder `dir`. */
function nativeGreedy(dir, promptIds, extra = []) {
  const dump = join(work, 'native.logits.f32');
  const r = spawnSync(NATIVE, ['generate', '--model', dir, '--ids', promptIds.join(','), '--max-tokens', String(TOKENS),
    '--greedy', '--json', '--context', '64', '--dump-logits', dump, ...extra], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.prompt_ids, promptIds);
  return { ids: out.ids, logits: readF32(dump) };
}

/** Greedy ids and first-step logits from the JS engine. */
async function wasmGreedy(engine) {
  const ids = [];
  let first = null;
  for await (const piece of engine.generate(PROMPT, {
    maxTokens: TOKENS, temperature: 0,
    onLogits: (step, logits) => { if (step === 0) first = Float32Array.from(logits); },
  })) ids.push(piece.id);
  assert.equal(ids.length, TOKENS);
  return { ids, logits: first };
}

/** The same C on both sides: the first step's logits agree, and so do the greedy answers. */
function assertSameAnswer(t, wasm, native) {
  const diff = maxDiff(wasm.logits, native.logits);
  t.diagnostic(`first-step logits, WASM vs native: max |diff| ${diff.toExponential(2)}`);
  assert.ok(diff < 1e-3, `max |diff| ${diff}`);
  assert.equal(argmax(wasm.logits), wasm.ids[0]);
  assert.deepEqual(native.ids, wasm.ids);
}

test('110M shape: a single 440 MB F32 safetensors file streams in, and WASM and native give the same answer', async (t) => {
  assert.equal(statSync(join(dir, 'model.safetensors')).size, written.bytes);
  let progress = null, calls = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  const engine = await PLDR.load(dir, {
    cache: false, contextLength: 64,
    onProgress: (p) => { progress = p; calls++; heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed); },
  });
  try {
    assert.equal(progress.loaded, progress.total, 'progress reaches the total');
    assert.ok(calls > 10, `progress is reported along the way (${calls} calls)`);
    // no whole-shard buffer on the JS heap: the tensors go straight into linear memory
    const heapGrowthMb = (heapPeak - heapBefore) / 2 ** 20;
    t.diagnostic(`JS heap growth while loading ${(written.bytes / 2 ** 20).toFixed(0)} MiB: ${heapGrowthMb.toFixed(1)} MiB`);
    assert.ok(heapGrowthMb < 64, `JS heap grew by ${heapGrowthMb.toFixed(1)} MiB`);

    const wasm = await wasmGreedy(engine);
    const stats = engine.stats();
    t.diagnostic(`wasm: weights ${(stats.memory.weights / 2 ** 20).toFixed(0)} MiB, linear memory ${(stats.memory.wasmTotal / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(stats.memory.weights > 400 * 2 ** 20);
    assertSameAnswer(t, wasm, nativeGreedy(dir, engine.tokenizer.encode(PROMPT)));
    // the deductive outputs at the released shape: 5 layers × 14 heads of 64×64
    const d = engine.deductive({ prompt: PROMPT });
    assert.deepEqual(d.shape, { layers: 5, heads: 14, dk: 64 });
    assert.equal(d.G.length, 5 * 14 * 64 * 64);
    assert.ok(d.layers.every((l) => Number.isFinite(l.rel_rmse) && l.heads.length === 14 && l.heads.every((h) => h.energy_share > 0 && h.energy_share <= 1)));
    t.diagnostic(`deductive outputs at 110M: A-net ${d.anetMs.toFixed(0)} ms; rel_rmse per layer ${d.layers.map((l) => l.rel_rmse.toFixed(3)).join(' ')}`);
  } finally {
    engine.free();
  }
});

test('110M shape: tools/convert to q8 shards of 64 MiB with the released G (deep net removed) loads and runs the same in WASM and native', async (t) => {
  const out = join(work, 'q8-g');
  const started = performance.now();
  const r = spawnSync('python3', [join(ROOT, 'tools/convert'), dir, out, '--dtype', 'q8', '--shard-mb', '64', '--gcache', G_FILE, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const shards = readdirSync(out).filter((f) => f.endsWith('.safetensors'));
  const sizes = shards.map((f) => statSync(join(out, f)).size);
  t.diagnostic(`converted in ${((performance.now() - started) / 1e3).toFixed(1)} s: ${shards.length} shards, largest ${(Math.max(...sizes) / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(Math.max(...sizes) <= 64 * 2 ** 20, 'no shard over --shard-mb');
  assert.ok(existsSync(join(out, 'manifest.json')));
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.ok(config.custom_G_type, 'the config marks the model G-only');
  const engine = await PLDR.load(out, { cache: false, contextLength: 64 });
  try {
    const wasm = await wasmGreedy(engine);
    const stats = engine.stats();
    t.diagnostic(`wasm: weights ${(stats.memory.weights / 2 ** 20).toFixed(0)} MiB, no A-net (G fixed)`);
    assert.ok(stats.memory.weights < 160 * 2 ** 20, `q8 weights ${stats.memory.weights} bytes`);
    assertSameAnswer(t, wasm, nativeGreedy(out, engine.tokenizer.encode(PROMPT)));
    // a G-only model's deductive outputs: the released G, and the A-net download it saved
    const d = engine.deductive({ prompt: PROMPT });
    assert.equal(d.gOnly, true);
    assert.deepEqual(d.G, readF32(G_FILE));
    // per layer: 5 PLGA cubes 14×64×64, LN 2×64, 8 blocks of 2 GLUs (64→170→64) and LN: 4.08 M in all,
    // what v51G-106M lacks against v51-110M (spec §5.1)
    assert.equal(d.saving.anetParameters, 5 * (5 * 14 * 64 * 64 + 2 * 64 + 8 * (2 * (2 * (170 * 64 + 170) + 64 * 170 + 64) + 2 * 64)));
    assert.equal(d.saving.savedBytes, 4 * d.saving.anetParameters - 5 * 3 * 14 * 64 * 64 * 4);
  } finally {
    engine.free();
  }
});
