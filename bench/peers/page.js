// The three engines' measurements inside one Chromium page (bench/peers/run.mjs opens a fresh
// browser for each engine and format): the same per-token work, single-threaded. Each returns
// {load_ms, prefill_tok_s, decode: [{ctx, tok_s}], variant?}. Token ids are fixed pseudo-random
// ones; decode steps are greedy and time the model only (the samplers are alike and cheap).
//   ours     the runtime (js/runtime, the variant this browser gets: relaxed SIMD in Chromium)
//   wllama   llama.cpp's WebAssembly build through @wllama/wllama (timings from llama.cpp itself)
//   ort      onnxruntime-web's wasm backend (what transformers.js runs), past key/values fed back

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const best = (xs) => Math.min(...xs);
const ids = (n, V, seed = 7) => { // as tools/testkit/synthetic.mjs benchIds: 4..V-1
  let s = seed >>> 0;
  return Array.from({ length: n }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return 4 + (s % (V - 4)); });
};
const argmax = (x) => { let b = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i; return b; };

/** @param {{modelUrl: string, quant: string, kvCache?: string, variant?: string, prefill: number, ctx: number[], steps: number}} o */
export async function benchOurs(o) {
  const { createRuntime } = await import('/js/runtime/wasm.js');
  const { modelSink } = await import('/js/runtime/model.js');
  const { loadModel } = await import('/js/loading/loader.js');
  const t0 = performance.now();
  const rt = await createRuntime(o.variant ? { variant: o.variant } : {});
  const sink = modelSink(rt, { gcache: 'first', quant: o.quant });
  await loadModel(o.modelUrl, sink, { cache: false });
  const load_ms = performance.now() - t0;
  const model = sink.model, V = model.vocabSize;
  const all = ids(Math.max(o.prefill, ...o.ctx) + o.steps + 1, V);
  const s = model.newSession({ contextLength: Math.max(o.prefill, ...o.ctx) + o.steps + 1, kvCache: o.kvCache ?? 'f32' });
  s.prefill(all.slice(0, 48)); // computes G once (mode first) and lets V8 tier the kernels up
  for (let i = 0; i < 8; i++) s.decode(all[48 + i]);
  const pre = [];
  for (let r = 0; r < 3; r++) {
    s.rewind(s.position);
    const a = performance.now();
    s.prefill(all.slice(0, o.prefill));
    pre.push(performance.now() - a);
  }
  const decode = [];
  for (const c of o.ctx) {
    s.rewind(s.position);
    let logits = s.prefill(all.slice(0, c));
    const t = [];
    for (let i = 0; i < o.steps; i++) {
      const a = performance.now();
      logits = s.decode(argmax(logits));
      t.push(performance.now() - a);
    }
    decode.push({ ctx: c, tok_s: 1e3 / median(t) });
  }
  const memory = rt.x.memory.buffer.byteLength;
  s.free();
  model.free();
  return { load_ms, prefill_tok_s: o.prefill / best(pre) * 1e3, decode, variant: rt.variant, wasm_memory: memory };
}

/** @param {{modelUrl: string, prefill: number, ctx: number[], steps: number, threads: number, V: number}} o */
export async function benchWllama(o) {
  const base = '/bench/peers/node_modules/@wllama/wllama/esm/';
  const { Wllama } = await import(`${base}index.js`);
  const w = new Wllama({ 'single-thread/wllama.wasm': `${base}single-thread/wllama.wasm`,
    'multi-thread/wllama.wasm': `${base}multi-thread/wllama.wasm` }, { suppressNativeLog: true });
  const t0 = performance.now();
  const blob = await (await fetch(o.modelUrl)).blob();
  await w.loadModel([blob], { n_ctx: 1024, n_threads: o.threads, n_batch: 512 });
  const load_ms = performance.now() - t0;
  const all = ids(Math.max(o.prefill, ...o.ctx) + o.steps + 1, o.V);
  await w.decode(all.slice(0, 48), {}); // warm-up
  const pre = [];
  for (let r = 0; r < 3; r++) {
    await w.kvClear();
    const a = performance.now();
    await w.decode(all.slice(0, o.prefill), {});
    pre.push(performance.now() - a);
  }
  const decode = [];
  for (const c of o.ctx) {
    await w.kvClear();
    await w.decode(all.slice(0, c), {});
    const t = [];
    for (let i = 0; i < o.steps; i++) { // llama_decode of one token: the model's step (sampling aside, as for the others)
      const a = performance.now();
      await w.decode([all[c + i]], {});
      t.push(performance.now() - a);
    }
    decode.push({ ctx: c, tok_s: 1e3 / median(t) });
  }
  const multithread = w.isMultithread();
  await w.exit();
  return { load_ms, prefill_tok_s: o.prefill / best(pre) * 1e3, decode, multithread };
}

/** @param {{modelUrl: string, L: number, H: number, dk: number, V: number, prefill: number, ctx: number[], steps: number, threads: number}} o */
export async function benchOrt(o) {
  const ort = await import('/bench/peers/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = o.threads;
  ort.env.wasm.wasmPaths = '/bench/peers/node_modules/onnxruntime-web/dist/';
  const t0 = performance.now();
  const bytes = new Uint8Array(await (await fetch(o.modelUrl)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const load_ms = performance.now() - t0;
  const all = ids(Math.max(o.prefill, ...o.ctx) + o.steps + 1, o.V);
  /** runs tokens at positions past.. with the cache `past` (null: empty); returns {logits, past} */
  const step = async (tokens, past, P) => {
    const S = tokens.length, T = P + S;
    const bias = new Float32Array(S * T);
    for (let i = 0; i < S; i++) for (let j = P + i + 1; j < T; j++) bias[i * T + j] = -1e9;
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, S]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map((_, i) => BigInt(P + i))), [1, S]),
      attention_bias: new ort.Tensor('float32', bias, [1, 1, S, T]),
    };
    for (let l = 0; l < o.L; l++) {
      feeds[`past_key_${l}`] = past?.[2 * l] ?? new ort.Tensor('float32', new Float32Array(0), [1, o.H, 0, o.dk]);
      feeds[`past_value_${l}`] = past?.[2 * l + 1] ?? new ort.Tensor('float32', new Float32Array(0), [1, o.H, 0, o.dk]);
    }
    const out = await session.run(feeds);
    const next = [];
    for (let l = 0; l < o.L; l++) next.push(out[`present_key_${l}`], out[`present_value_${l}`]);
    return { logits: out.logits.data, past: next };
  };
  await step(all.slice(0, 48), null, 0); // warm-up
  const pre = [];
  for (let r = 0; r < 3; r++) {
    const a = performance.now();
    await step(all.slice(0, o.prefill), null, 0);
    pre.push(performance.now() - a);
  }
  const decode = [];
  for (const c of o.ctx) {
    let { logits, past } = await step(all.slice(0, c), null, 0);
    const t = [];
    for (let i = 0; i < o.steps; i++) {
      const a = performance.now();
      ({ logits, past } = await step([argmax(logits)], past, c + i));
      t.push(performance.now() - a);
    }
    decode.push({ ctx: c, tok_s: 1e3 / median(t) });
  }
  await session.release();
  return { load_ms, prefill_tok_s: o.prefill / best(pre) * 1e3, decode };
}
