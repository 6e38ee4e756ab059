// The product's path: dist/pldr.wasm through js/runtime/model.js in Node (with --threads N > 1 the
// threaded module, dist/pldr-threads.wasm, and its pool of worker_threads). Runs the same
// measurements, in the same order, as `pldr-native bench model` (src/cli/bench.c) and prints one
// JSON line of the same shape.
//   node bench/wasm-model.mjs (--shape release | --model DIR) [--quant f32|q8|q4] [--gcache first|off]
//        [--kv-cache f32|f16] [--variant simd128|relaxed|threads] [--prefill 128] [--ctx 16,256,1000]
//        [--steps 8] [--reps 3] [--answer 64] [--threads 1]
// --threads N > 1 runs the threaded module (its pool of N threads) unless --variant says another.
// The same measurements run in a browser page (bench/peers/page.js imports runModelBench).
import { createRuntime } from '../js/runtime/wasm.js';
import { Model, modelSink } from '../js/runtime/model.js';
import { loadModel } from '../js/loading/loader.js';
import { RELEASE, benchIds, configFor, uploadSynthetic } from '../tools/testkit/synthetic.mjs';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const argmax = (x) => { let b = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i; return b; };

function parseArgs(argv) {
  const o = { quant: 'f32', gcache: 'first', kvCache: 'f32', variant: undefined, prefill: 128, ctx: [16, 256, 1000], steps: 8, reps: 3, answer: 64, warmup: true, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--no-warmup') { o.warmup = false; continue; }
    i++;
    if (a === '--shape') o.shape = v === 'release' ? RELEASE : (() => { throw new Error(`unknown shape ${v}`); })();
    else if (a === '--model') o.model = v;
    else if (a === '--quant') o.quant = v;
    else if (a === '--gcache') o.gcache = v;
    else if (a === '--kv-cache') o.kvCache = v;
    else if (a === '--variant') o.variant = v;
    else if (a === '--ctx') o.ctx = v.split(',').map(Number);
    else if (['--prefill', '--steps', '--reps', '--answer', '--threads'].includes(a)) o[a.slice(2)] = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.shape && !o.model) throw new Error('--shape release or --model DIR');
  return o;
}

/** A fresh runtime and model (synthetic or from a folder). */
async function openModel(o, gcache, shape = o.shape) {
  const rt = await createRuntime({ variant: o.variant ?? (o.threads > 1 ? 'threads' : 'simd128'), threads: o.threads });
  if (rt.threads !== o.threads) throw new Error(`asked for ${o.threads} threads, got ${rt.threads}: ${rt.threadsNote}`);
  if (shape) {
    const model = Model.create(rt, configFor(shape), { gcache, quant: o.quant });
    uploadSynthetic(model, shape);
    return { rt, model };
  }
  const sink = modelSink(rt, { gcache, quant: o.quant });
  await loadModel(o.model, sink, { cache: false });
  return { rt, model: sink.model };
}

/** Prompt of 16 ids, then greedy decoding to `answer` tokens: [ms, logits of the prompt]. */
function answer(model, ids, n, kv = 'f32') {
  const s = model.newSession({ contextLength: 16 + n, kvCache: kv });
  const t0 = performance.now();
  let logits = s.prefill(ids.slice(0, 16));
  const head = Array.from(logits.subarray(0, 4));
  for (let i = 1; i < n; i++) logits = s.decode(argmax(logits));
  const ms = performance.now() - t0;
  s.free();
  return [ms, head];
}

/** Runs every code path once on a small model of the same format, so that V8 has tiered the
 * module's hot functions up to its optimizing compiler before anything is timed. */
async function warmUp(o) {
  const small = { ...RELEASE, L: 1, V: 1024, ctx: 64 };
  const { rt, model } = await openModel(o, 'first', small);
  const ids = benchIds(48, small.V);
  for (let r = 0; r < 3; r++) {
    answer(model, ids, 24, o.kvCache);
    model.computeGcache([3]);
    await new Promise((resolve) => setTimeout(resolve, 100)); // background compilation
  }
  model.free();
  rt.close();
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.warmup) await warmUp(o);
  const off = o.gcache === 'off';
  const t0 = performance.now();
  const { rt, model } = await openModel(o, off ? 'off' : 'first');
  const r = { engine: 'wasm', variant: rt.variant, kv_cache: o.kvCache, quant: o.quant, gcache: o.gcache, threads: rt.threads, load_ms: performance.now() - t0, weight_bytes: model.weightBytes };
  const V = model.vocabSize;
  const fillTo = Math.max(o.prefill, ...o.ctx);
  const ids = benchIds(fillTo + o.steps, V);
  const [e2e, head] = answer(model, ids, o.answer, o.kvCache);
  r.answer_tokens = o.answer;
  r.logits_head = head;
  if (off) {
    r.e2e_off_ms = e2e;
    r.anet_ms_total = model.anetMs;
    r.anet_runs = model.anetRuns;
  } else {
    r.e2e_first_ms = e2e;
    r.anet_first_ms = model.anetMs;
    const s = model.newSession({ contextLength: fillTo + o.steps, kvCache: o.kvCache });
    const t = [];
    for (let i = 0; i < o.reps; i++) {
      s.rewind(s.position);
      const a = performance.now();
      s.prefill(ids.slice(0, o.prefill));
      t.push(performance.now() - a);
    }
    r.prefill_tokens = o.prefill;
    r.prefill_ms = median(t);
    r.prefill_tok_s = o.prefill / r.prefill_ms * 1e3;
    if (fillTo > o.prefill) s.prefill(ids.slice(o.prefill, fillTo));
    const dec = new Map();
    for (const c of [...o.ctx].sort((a, b) => b - a)) { // longest first: rewinding reaches the others
      s.rewind(s.position - c);
      const ts = [];
      for (let i = 0; i < o.steps; i++) {
        const a = performance.now();
        s.decode(ids[c + i]);
        ts.push(performance.now() - a);
      }
      dec.set(c, median(ts));
    }
    r.decode = o.ctx.map((c) => ({ ctx: c, ms: dec.get(c), tok_s: 1e3 / dec.get(c) }));
    const mem = s.memory();
    r.kv_bytes = mem.kvCache;
    r.scratch_bytes = mem.scratch;
    s.free();
    const anet0 = model.anetMs, ts = [];
    for (let i = 0; i < o.reps; i++) { // a step that re-runs the A-net (G from one token)
      const a = performance.now();
      model.computeGcache([model.eosId]);
      ts.push(performance.now() - a);
    }
    r.anet_ms = (model.anetMs - anet0) / o.reps;
    r.step_anet_ms = median(ts);
  }
  r.wasm_memory_mb = rt.x.memory.buffer.byteLength / 2 ** 20;
  model.free();
  rt.close();
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

await main();
