// The engine's home: a module Web Worker that owns one PLDR engine, so prefill and decode never
// block the page. The page talks to it with small typed messages (js/browser/worker-client.js wraps them):
//
//   page → worker  {type: 'load', id, source, options}        source: an absolute URL
//                  {type: 'generate', id, mode: 'chat', messages, options}
//                  {type: 'generate', id, mode: 'complete', prompt, options}
//                  {type: 'stop', id?}                          stops request `id` (default: all)
//                  {type: 'reset', id} | {type: 'stats', id} | {type: 'unload', id}
//                  {type: 'deductive', id, input?}              input: {ids} | {prompt}; none: the conversation
//                  {type: 'g-figures', id, g, shape}            figures of a given G (no model needed)
//                  {type: 'save-state', id} | {type: 'restore-state', id, state}   (Engine.saveState)
//   worker → page  {type: 'progress', id, loaded, total, file, fileLoaded, fileTotal, fromCache}
//                  {type: 'token', id, text, tokenId, tokens}   tokens: generated so far
//                  {type: 'notice', id, kind: 'context-shift', dropped, kept}
//                  {type: 'notice', id, kind: 'prompt-cut', tokens, context}   the new text alone overflows
//                  {type: 'notice', id, kind: 'replacing', needed, held, budget}  the old model is freed first
//                  {type: 'done', id, result}                   result depends on the request
//                  {type: 'error', id, error: SerializedError, modelKept?}   (js/browser/error-transfer.js)
//   and the threads' messages, pldr-thread-* (js/runtime/thread-host.js): the page starts this
//   engine's thread workers
//
// Requests run one at a time in arrival order, except that a load stops whatever runs before it.
// A load keeps the model loaded before until the new one is ready, so a failed or cancelled load
// leaves it in place (modelKept: true) — unless both would not fit (js/browser/memory-budget.js):
// then the old model is freed before the new one takes memory, and a 'replacing' notice says so.
import { PLDR } from '../generation/engine.js';
import { AbortError, PldrError } from '../errors.js';
import { DEFAULT_LOAD } from '../defaults.js';
import { serializeError } from './error-transfer.js';
import { headFigures } from '../generation/deductive.js';
import { canKeepBoth, safeMemoryBudget } from './memory-budget.js';
import { threadsFromParent } from '../runtime/thread-host.js';

/**
 * @typedef {{type: 'load', id: number, source: string, options?: {gcache?: string, quant?: string,
 *   kvCache?: string, contextLength?: number, threads?: number|'auto', cache?: boolean, wasmUrl?: string,
 *   template?: object, memoryBudget?: number}}} LoadRequest
 *   memoryBudget: bytes two models may hold together (default safeMemoryBudget())
 * @typedef {{type: 'generate', id: number, mode: 'chat'|'complete',
 *   messages?: {role: string, content: string}[], prompt?: string, options?: Record<string, any>}} GenerateRequest
 * @typedef {{type: 'deductive', id: number, input?: {ids?: number[], prompt?: string}}
 *   | {type: 'g-figures', id: number, g: Float32Array, shape: import('../generation/deductive.js').GShape}} DeductiveRequest
 * @typedef {LoadRequest|GenerateRequest|DeductiveRequest|{type: 'stop', id?: number}|{type: 'reset'|'stats'|'unload'|'save-state', id: number}
 *   |{type: 'restore-state', id: number, state: import('../generation/engine-state.js').EngineState}} Request
 * @typedef {{name: string, source: string, bytes: number, fromCache: boolean, loadMs: number,
 *   contextLength: number, gcacheMode: string, gcacheFrom: 'anet'|'empty'|'predefined'|'none',
 *   gcacheRequested: string, quant: string, quantRequested: string, kvCache: string, threads: number, weights: Record<string, string|null>,
 *   config: Record<string, any>,
 *   stats: ReturnType<import('../generation/engine.js').Engine['stats']>}} ModelInfo   the result of a load:
 *   gcacheMode the model's real mode (first | prompt | off | fixed); gcacheFrom where its G comes
 *   from (the A-net, the empty prompt, the checkpoint's predefined G, or nowhere: mode off); quant
 *   the format the large matrices are stored in (a q8 folder is q8 whatever was asked), weights
 *   the format of each kind (embedding, attention, ffn, head, anet); kvCache how the KV-cache stores keys
 *   and values (f32 | f16); threads those the kernels run on (nested workers of this one; 1 where
 *   the page is not cross-origin isolated: stats.threadsNote says why)
 */

/** @type {import('../generation/engine.js').Engine|null} */
let engine = null;
/** where the loaded model's G comes from (ModelInfo.gcacheFrom), for the stats of each reply */
let gcacheFrom = 'anet';
/** @type {Promise<void>} settles when every earlier request has finished */
let tail = Promise.resolve();
/**
 * Requests not finished yet. sampled: tokens generated so far; sampledAtStop: when Stop arrived.
 * @type {Map<number, {controller: AbortController, sampled: number, sampledAtStop?: number}>}
 */
const running = new Map();

const post = (message, transfer = []) => self.postMessage(message, transfer);
/** the page starts the thread workers (thread-host.js: why) */
const spawnThread = threadsFromParent(self);

self.addEventListener('message', (event) => {
  const request = /** @type {Request} */ (event.data);
  if (!request || typeof request.type !== 'string' || request.type.startsWith('pldr-thread-')) return;
  if (request.type === 'stop') return stop(request.id);
  if (request.type === 'load') stop();   // a new model replaces whatever is running
  const entry = { controller: new AbortController(), sampled: 0 };
  running.set(request.id, entry);
  const run = tail.then(() => handle(request, entry));
  tail = run.then(
    (result) => post({ type: 'done', id: request.id, result }, result?.session instanceof Uint8Array ? [result.session.buffer] : []),
    (err) => post({ type: 'error', id: request.id, error: serializeError(err),
      ...(request.type === 'load' && { modelKept: engine !== null }) }),
  ).finally(() => running.delete(request.id));
});

/** @param {number} [id] */
function stop(id) {
  for (const [key, entry] of running) {
    if (id !== undefined && id !== key) continue;
    entry.sampledAtStop ??= entry.sampled;
    entry.controller.abort();
  }
}

/** @param {Request} request @param {{controller: AbortController, sampled: number, sampledAtStop?: number}} entry */
async function handle(request, entry) {
  switch (request.type) {
    case 'load': return load(request, entry.controller.signal);
    case 'generate': return generate(request, entry);
    case 'reset': engine?.reset(); return {};
    case 'stats': return stats(needEngine());
    case 'deductive': return needEngine().deductive(request.input ?? {});
    case 'g-figures': return { layers: headFigures(request.g, request.shape) };
    case 'unload': engine?.free(); engine = null; return {};
    case 'save-state': return needEngine().saveState();
    case 'restore-state': needEngine().restoreState(request.state); return { position: needEngine().session.position };
    default: throw new PldrError('E_MESSAGE', `the engine worker does not know the request "${request.type}"`);
  }
}

function needEngine() {
  if (!engine) throw new PldrError('E_NO_MODEL', 'no model is loaded yet');
  return engine;
}

/** @param {LoadRequest} request @param {AbortSignal} signal @returns {Promise<ModelInfo>} */
async function load({ id, source, options = {} }, signal) {
  const { memoryBudget, ...loadOptions } = options;
  const started = performance.now();
  let allFromCache = true;
  const loaded = await PLDR.load(source, {
    ...loadOptions,
    signal,
    spawnThread,
    onConfig: (config, needed) => makeRoom(id, needed.weights + needed.session, memoryBudget ?? safeMemoryBudget()),
    onProgress: (p) => {
      allFromCache &&= p.fromCache;
      post({ type: 'progress', id, ...p });
    },
    onContextShift: (info) => post({ type: 'notice', id: -1, kind: 'context-shift', ...info }),
  });
  if (signal.aborted) { // cancelled in the last moment: the old model stays
    loaded.free();
    throw new AbortError('the load was cancelled');
  }
  engine?.free();
  engine = loaded;
  const c = loaded.config;
  const requested = options.gcache ?? DEFAULT_LOAD.gcache;
  const mode = loaded.model.gcacheMode;
  gcacheFrom = c.custom_G_type != null ? 'predefined' : mode === 'off' ? 'none' : requested === 'empty' ? 'empty' : 'anet';
  return {
    name: loaded.name,
    source,
    bytes: loaded.loadedBytes,
    fromCache: allFromCache,
    loadMs: performance.now() - started,
    contextLength: loaded.contextLength,
    gcacheMode: mode,
    gcacheFrom,
    gcacheRequested: requested,
    ...storedWeights(loaded.model),
    quantRequested: options.quant ?? DEFAULT_LOAD.quant,
    kvCache: loaded.session.kvCache,
    threads: loaded.stats().threads,
    config: {
      hidden_size: c.hidden_size, num_hidden_layers: c.num_hidden_layers, num_attention_heads: c.num_attention_heads,
      vocab_size: c.vocab_size, max_position_embeddings: c.max_position_embeddings, torch_dtype: c.torch_dtype,
      custom_G_type: c.custom_G_type ?? null,
    },
    stats: stats(loaded),
  };
}

/**
 * How the weights are stored, as loaded (a quantized folder stays quantized whatever was asked):
 * quant, the format of the large matrices ('mixed' when they differ), and weights, by kind.
 * @param {import('../runtime/model.js').Model} model
 */
function storedWeights(model) {
  const weights = model.weightFormats();
  const matrices = new Set([weights.embedding, weights.attention, weights.ffn, weights.head].filter(Boolean));
  return { quant: matrices.size === 1 ? [...matrices][0] : 'mixed', weights };
}

/** Engine.stats() and where G comes from. @param {import('../generation/engine.js').Engine} e */
function stats(e) {
  return { ...e.stats(), gcacheFrom };
}

/**
 * Before the new model takes memory: frees the old one when both would not fit.
 * @param {number} id @param {number} needed bytes the new model and a session will take (pldr_model_memory_needed)
 * @param {number} budget
 */
function makeRoom(id, needed, budget) {
  if (!engine) return;
  const held = engine.model.rt.x.memory.buffer.byteLength;
  if (canKeepBoth(held, needed, budget)) return;
  engine.free();
  engine = null;
  post({ type: 'notice', id, kind: 'replacing', needed, held, budget });
}

/**
 * @param {GenerateRequest} request @param {{controller: AbortController, sampled: number, sampledAtStop?: number}} entry
 * @returns {Promise<{finishReason: string, text: string, stats: object, tokensAtStop?: number}>}
 *   tokensAtStop: tokens generated when Stop reached the worker
 */
async function generate({ id, mode, messages, prompt, options = {} }, entry) {
  const e = needEngine();
  // tokens drawn so far (a piece of text may hold several: held-back bytes, stop-string prefixes)
  const o = { ...options, signal: entry.controller.signal, onLogits: (step) => { entry.sampled = step + 1; } };
  const run = mode === 'complete' ? e.generate(prompt ?? '', o) : e.respond(messages ?? [], o);
  warnIfCut(id, e, mode === 'complete' ? prompt ?? '' : messages?.at(-1));
  for await (const piece of run) post({ type: 'token', id, text: piece.text, tokenId: piece.id, tokens: entry.sampled });
  const result = await run.result;
  return { finishReason: result.finishReason, text: result.text, stats: stats(e),
    ...(entry.sampledAtStop !== undefined && { tokensAtStop: entry.sampledAtStop }) };
}

/**
 * Says so when the new text alone does not fit the context: the window slides over it and the
 * model reads only its end (the reply is still written).
 * @param {number} id @param {import('../generation/engine.js').Engine} e
 * @param {string|{role: string, content: string}|undefined} text the prompt, or the last message
 */
function warnIfCut(id, e, text) {
  if (text === undefined || !e.tokenizer) return;
  const ids = typeof text === 'string' ? e.encode(text)
    : e.encode(e.template[/** @type {'user'} */ (text.role)]?.replace('{content}', text.content) ?? text.content);
  if (ids.length + 1 > e.contextLength) post({ type: 'notice', id, kind: 'prompt-cut', tokens: ids.length, context: e.contextLength });
}

self.addEventListener('unhandledrejection', (event) => {
  post({ type: 'error', id: -1, error: serializeError(event.reason) });
});
