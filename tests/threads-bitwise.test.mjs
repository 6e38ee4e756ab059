// Multi-threaded inference gives the bits of one thread (issue 14): logits, G_LM and A_LM of a
// prefill, decode steps and a stepped prefill are bitwise equal with 1, 2 and 3 threads (3 splits
// nothing evenly) for every weight format and G-cache mode (and the f16 KV-cache), on pldr-tiny (real weights) and at the
// released 110M shape; the threads option through PLDR.load, stats() and the CLI; the fallback to
// the single-thread module where shared memory is missing; a process whose engine was never freed
// still exits. The same C under ThreadSanitizer: tests/threads.test.mjs, make tsan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PLDR, autoThreads } from '../js/pldr.js';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model, modelSink } from '../js/runtime/model.js';
import { WASM_URLS } from '../js/runtime/wasm-location.js';
import { chooseVariant, detectFeatures } from '../js/runtime/features.js';
import { importedMemory, startPool } from '../js/runtime/threads.js';
import { loadModel } from '../js/loading/loader.js';
import { checkModelMemory } from '../js/runtime/memory.js';
import { RELEASE, benchIds, configFor, uploadSynthetic } from '../tools/testkit/synthetic.mjs';
import { ROOT, argmax } from './helpers/engines.mjs';
import { readFileSync } from 'node:fs';

const TINY = join(ROOT, 'models/pldr-tiny');
const FORMATS = ['f32', 'q8', 'q4'];
const MODES = ['first', 'prompt', 'off', 'empty']; // empty: G computed once from [END], then fixed
const PROMPT = benchIds(100, 8000, 3); // two chunks of rows per layer (64 + 36)
const MORE = benchIds(12, 8000, 4);

/** bitwise equality of float arrays (NaN-safe, -0 and 0 told apart) */
function sameBits(a, b, what) {
  assert.ok(a && b, `${what}: missing`);
  assert.equal(a.length, b.length, `${what}: length`);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const i = x.findIndex((v, k) => v !== y[k]);
  assert.equal(i, -1, `${what}: first difference at ${i} (${a[i]} vs ${b[i]})`);
}

/** Everything a run shows: a prefill's logits of every position, G, A, greedy decode steps and a stepped prefill. */
function observe(model, mode, contextLength = 140, kvCache = 'f32') {
  if (mode === 'empty') model.computeGcache([model.eosId]);
  const s = model.newSession({ contextLength, kvCache });
  const out = { all: s.prefill(PROMPT, { allLogits: true }), G: s.gcache('G_LM'), A: s.gcache('A_LM'), steps: [] };
  let logits = out.all.subarray(out.all.length - model.vocabSize);
  for (let i = 0; i < 4; i++) out.steps.push(logits = s.decode(argmax(logits)));
  const run = s.beginPrefill(MORE, { allLogits: true });
  while (run.step(1) > 0);
  out.stepped = run.logits();
  s.free();
  return out;
}

function assertSame(one, other, what) {
  for (const key of ['all', 'G', 'A', 'stepped']) sameBits(other[key], one[key], `${what}: ${key}`);
  one.steps.forEach((l, i) => sameBits(other.steps[i], l, `${what}: decode step ${i}`));
}

async function tinyRuns(threads) {
  const rt = await createRuntime({ threads });
  assert.equal(rt.threads, threads, rt.threadsNote);
  assert.equal(rt.variant, threads > 1 ? 'threads' : 'simd128');
  const runs = {};
  for (const quant of FORMATS) {
    for (const mode of MODES) {
      const sink = modelSink(rt, { gcache: mode === 'empty' ? 'first' : mode, quant });
      await loadModel(TINY, sink, { cache: false });
      assert.equal(sink.model.threads, threads);
      runs[`${quant} ${mode}`] = observe(sink.model, mode);
      if (mode === 'prompt') runs[`${quant} ${mode} KV f16`] = observe(sink.model, mode, 140, 'f16'); // binary16 keys and values
      sink.model.free();
    }
  }
  rt.close();
  return runs;
}

test('pldr-tiny: 2 and 3 threads give the bits of 1 in every weight format and G-cache mode, KV-cache f32 and f16', async () => {
  const one = await tinyRuns(1);
  for (const threads of [2, 3]) {
    const many = await tinyRuns(threads);
    for (const [what, run] of Object.entries(one)) assertSame(run, many[what], `${threads} threads, ${what}`);
  }
});

test('the released 110M shape (q8, the A-net computing G): 2 threads give the bits of 1', async () => {
  const runs = [];
  for (const threads of [1, 2]) {
    const rt = await createRuntime({ threads });
    const model = Model.create(rt, configFor(RELEASE), { gcache: 'prompt', quant: 'q8' });
    uploadSynthetic(model, RELEASE);
    const s = model.newSession({ contextLength: 80 });
    const ids = benchIds(72, RELEASE.V, 5); // a chunk of 64 and one of 8 rows
    const prefill = s.prefill(ids);
    runs.push({ prefill, G: s.gcache('G_LM'), decode: s.decode(argmax(prefill)) });
    model.free();
    rt.close();
  }
  for (const key of ['prefill', 'G', 'decode']) sameBits(runs[1][key], runs[0][key], `110M ${key}`);
});

test('the threaded module with a pool of 1 runs too, and equals the single-thread module', async () => {
  const rt = await createRuntime({ wasmUrl: WASM_URLS.threads });
  assert.equal(rt.variant, 'threads');
  assert.equal(rt.threads, 1);
  const sink = modelSink(rt, { gcache: 'prompt', quant: 'q4' });
  await loadModel(TINY, sink, { cache: false });
  const threaded = observe(sink.model, 'prompt');
  sink.model.free();
  const base = await createRuntime();
  const sink1 = modelSink(base, { gcache: 'prompt', quant: 'q4' });
  await loadModel(TINY, sink1, { cache: false });
  assertSame(observe(sink1.model, 'prompt'), threaded, 'threaded module, one thread');
  sink1.model.free();
});

test('PLDR.load({threads}): the same reply, stats() says how many threads, free() stops them', async () => {
  const messages = [{ role: 'user', content: 'Write a Python function that adds two numbers.' }];
  const replies = [];
  for (const threads of [1, 2]) {
    const engine = await PLDR.load(TINY, { threads, cache: false });
    const result = await engine.respond(messages, { temperature: 0, maxTokens: 24 }).result;
    const stats = engine.stats();
    assert.equal(stats.threads, threads);
    assert.equal(stats.wasmVariant, threads > 1 ? 'threads' : 'simd128');
    assert.equal(stats.threadsNote, '');
    replies.push(result.ids);
    const rt = engine.model.rt;
    engine.free();
    assert.equal(rt.pool, null, 'the pool is stopped');
  }
  assert.deepEqual(replies[1], replies[0]);
  const auto = await PLDR.load(TINY, { cache: false }); // 'auto'
  const { availableParallelism } = await import('node:os');
  assert.equal(auto.stats().threads, autoThreads(availableParallelism()));
  auto.free();
});

test('invalid thread counts are E_OPTION naming the value', async () => {
  for (const threads of [0, 65, 1.5, -2, '2', 'all', null]) {
    await assert.rejects(PLDR.load(TINY, { threads }), (err) => err.code === 'E_OPTION' && err.message.includes(`threads ${JSON.stringify(threads)}`),
      `threads ${JSON.stringify(threads)}`);
    await assert.rejects(createRuntime({ threads }), (err) => err.code === 'E_OPTION', `createRuntime threads ${JSON.stringify(threads)}`);
  }
  assert.deepEqual([1, 2, 3, 4, 8, 16, 64].map(autoThreads), [1, 1, 2, 2, 4, 8, 8]);
});

test('without shared memory: the single-thread module and a note, or E_WASM for the threaded one', async () => {
  const Memory = WebAssembly.Memory;
  WebAssembly.Memory = function (descriptor) { // an engine without shared memory (or a page without COOP/COEP)
    if (descriptor?.shared) throw new TypeError('shared memory is not available');
    return new Memory(descriptor);
  };
  try {
    assert.deepEqual(detectFeatures(), { threads: false, why: 'this JavaScript engine has no shared WebAssembly memory' });
    const engine = await PLDR.load(TINY, { threads: 2, cache: false });
    assert.equal(engine.stats().threads, 1);
    assert.equal(engine.stats().wasmVariant, 'simd128');
    assert.match(engine.stats().threadsNote, /no shared WebAssembly memory/);
    assert.equal((await engine.generate('Hello', { temperature: 0, maxTokens: 3 }).result).completionTokens, 3);
    engine.free();
    await assert.rejects(createRuntime({ wasmUrl: WASM_URLS.threads }),
      (err) => err.code === 'E_WASM' && /threaded module, which cannot run here: this JavaScript engine has no shared WebAssembly memory/.test(err.message));
  } finally {
    WebAssembly.Memory = Memory;
  }
  assert.equal(detectFeatures().threads, true);
  assert.equal(chooseVariant({ threads: true }), 'threads');
  assert.equal(chooseVariant({ threads: false }), 'simd128');
});

test('a pool thread that fails inside the pool: the others take its share, the bits stay, stats() and free() know', async () => {
  const base = await createRuntime();
  const one = await loadWasm(base, 'prompt', 'q8');
  const expected = observe(one, 'prompt');
  one.free();
  const rt = await createRuntime({ wasmUrl: WASM_URLS.threads });
  const failing = new URL('./fixtures/threads/failing-worker.mjs', import.meta.url);
  const lost = [];
  rt.pool = await startPool(rt.x, rt.module, rt.x.memory, 4, {
    workerUrl: (i) => (i === 2 ? failing : new URL('../js/runtime/thread-worker.js', import.meta.url)),
    onLost: (i, message) => { lost.push(i); rt.noteLostThread(i, message); },
  });
  rt.threads = 4;
  const model = await loadWasm(rt, 'prompt', 'q8');
  assertSame(expected, observe(model, 'prompt'), 'a pool of 4 with thread 2 lost');
  assert.equal(model.threads, 3, 'the pool counts the threads that run');
  for (let i = 0; i < 200 && !lost.length; i++) await new Promise((r) => setTimeout(r, 10)); // its message
  assert.deepEqual(lost, [2]);
  assert.match(rt.threadsNote, /^thread 2 stopped \(this test thread fails\): the other threads run its share$/);
  model.free();
  rt.close(); // returns: pldr_threads_free does not wait for the lost thread
  assert.equal(rt.pool, null);
});

test('a spawner that fails or never answers: startPool rejects naming the thread, in time', async () => {
  const rt = await createRuntime({ wasmUrl: WASM_URLS.threads });
  await assert.rejects(startPool(rt.x, rt.module, rt.x.memory, 2, { spawn: () => new Promise(() => {}), startTimeoutMs: 300 }),
    /^Error: thread 1 did not start within 0\.3 s$/);
  await assert.rejects(startPool(rt.x, rt.module, rt.x.memory, 3, { spawn: async () => { throw new Error('no workers here'); } }),
    /^Error: no workers here$/);
  let terminated = 0;
  const late = { post() {}, terminate() { terminated++; } };
  await assert.rejects(startPool(rt.x, rt.module, rt.x.memory, 2, {
    spawn: () => new Promise((resolve) => setTimeout(() => resolve(late), 400)), startTimeoutMs: 100 }), /did not start within/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(terminated, 1, 'a thread that the spawner starts after the time-out is ended');
  rt.close();
});

test('memory: a pool counts its threads\' work memory; a shared memory reserved smaller than 4 GiB is the limit PLDR.load checks', async () => {
  const config = configFor(RELEASE);
  const rt1 = await createRuntime(), rt3 = await createRuntime({ threads: 3 });
  const n1 = configured(rt1, config, (m) => m.memoryNeeded(1024)), n3 = configured(rt3, config, (m) => m.memoryNeeded(1024));
  rt3.close();
  assert.equal(n3.weights, n1.weights);
  assert.ok(n3.session > n1.session + 2 * 896 * 4, `a pool of 3: ${n3.session} > ${n1.session}`);
  const Memory = WebAssembly.Memory;
  WebAssembly.Memory = function (d) { // an engine that reserves at most 1 GiB of shared memory
    if (d?.shared && d.maximum > 16384) throw new RangeError('could not reserve');
    return new Memory(d);
  };
  try {
    const rt = await createRuntime({ threads: 2 });
    assert.equal(rt.memoryLimit, 2 ** 30);
    const big = { ...config, vocab_size: 200000 }; // 0.7 GiB of embedding and head as f32, more with the rest
    configured(rt, big, (model) => assert.throws(() => checkModelMemory(model, { quant: 'f32' }), (err) => err.code === 'E_OUT_OF_MEMORY'
      && /more than the 1\.00 GiB this browser reserved for the threaded module's shared memory/.test(err.message)
      && err.memory.limit === 2 ** 30, 'refused against the reservation'), 'f32');
    rt.close();
  } finally {
    WebAssembly.Memory = Memory;
  }
});

/** fn's result on a model configured from `config` on rt, never allocated (what PLDR.load's check sees). */
function configured(rt, config, fn, quant = 'q8') {
  let result;
  const stop = new Error('not allocated');
  assert.throws(() => Model.create(rt, config, { quant, beforeAlloc: (m) => { result = fn(m); throw stop; } }), (err) => err === stop);
  return result;
}

/** pldr-tiny loaded on rt. */
async function loadWasm(rt, gcache, quant) {
  const sink = modelSink(rt, { gcache, quant });
  await loadModel(TINY, sink, { cache: false });
  return sink.model;
}

test("the threaded module imports a shared memory; the single-thread one imports none", () => {
  const limits = importedMemory(readFileSync(new URL(WASM_URLS.threads)));
  assert.equal(limits.shared, true);
  assert.ok(limits.initial >= 1 && limits.maximum >= limits.initial);
  assert.equal(importedMemory(readFileSync(new URL(WASM_URLS.simd128))), null);
  assert.equal(importedMemory(Uint8Array.from([1, 2, 3])), null, 'not a module');
});

test('a process whose threaded engine was never freed exits, and so does the CLI with --threads', () => {
  const script = `import { PLDR } from ${JSON.stringify(join(ROOT, 'js/pldr.js'))};
    const e = await PLDR.load(${JSON.stringify(TINY)}, { threads: 2, cache: false });
    const r = await e.generate('Once', { temperature: 0, maxTokens: 4 }).result;
    console.log(JSON.stringify({ threads: e.stats().threads, n: r.completionTokens }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { threads: 2, n: 4 });
  const cli = (threads) => spawnSync(process.execPath, [join(ROOT, 'js/cli.mjs'), 'generate', '--prompt', 'The Python language is',
    '--max-tokens', '12', '--greedy', '--json', '--no-progress', '--threads', threads], { encoding: 'utf8', timeout: 120_000 });
  const [a, b] = ['1', '3'].map(cli);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(JSON.parse(b.stdout).ids, JSON.parse(a.stdout).ids);
  assert.equal(JSON.parse(b.stdout).stats.threads, 3);
  const bad = cli('zero');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--threads zero: expected an integer/);
});
