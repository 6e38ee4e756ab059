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
//   worker → page  {type: 'progress', id, loaded, total, file, fileLoaded, fileTotal, fromCache}
//                  {type: 'token', id, text, tokenId, tokens}   tokens: generated so far
//                  {type: 'notice', id, kind: 'context-shift', dropped, kept}
//                  {type: 'done', id, result}                   result depends on the request
//                  {type: 'error', id, error: SerializedError}   (js/browser/error-transfer.js)
//
// Requests run one at a time in arrival order, except that a load stops whatever runs before it.
import { PLDR } from '../generation/engine.js';
import { PldrError } from '../errors.js';
import { DEFAULT_LOAD } from '../defaults.js';
import { serializeError } from './error-transfer.js';
import { headFigures } from '../generation/deductive.js';

/**
 * @typedef {{type: 'load', id: number, source: string, options?: {gcache?: string, quant?: string,
 *   contextLength?: number, cache?: boolean, wasmUrl?: string, template?: object}}} LoadRequest
 * @typedef {{type: 'generate', id: number, mode: 'chat'|'complete',
 *   messages?: {role: string, content: string}[], prompt?: string, options?: Record<string, any>}} GenerateRequest
 * @typedef {{type: 'deductive', id: number, input?: {ids?: number[], prompt?: string}}
 *   | {type: 'g-figures', id: number, g: Float32Array, shape: import('../generation/deductive.js').GShape}} DeductiveRequest
 * @typedef {LoadRequest|GenerateRequest|DeductiveRequest|{type: 'stop', id?: number}|{type: 'reset'|'stats'|'unload', id: number}} Request
 * @typedef {{name: string, source: string, bytes: number, fromCache: boolean, loadMs: number,
 *   contextLength: number, gcacheMode: string, quant: string, config: Record<string, any>,
 *   stats: ReturnType<import('../generation/engine.js').Engine['stats']>}} ModelInfo   the result of a load
 */

/** @type {import('../generation/engine.js').Engine|null} */
let engine = null;
/** @type {Promise<void>} settles when every earlier request has finished */
let tail = Promise.resolve();
/**
 * Requests not finished yet. sampled: tokens generated so far; sampledAtStop: when Stop arrived.
 * @type {Map<number, {controller: AbortController, sampled: number, sampledAtStop?: number}>}
 */
const running = new Map();

const post = (message) => self.postMessage(message);

self.addEventListener('message', (event) => {
  const request = /** @type {Request} */ (event.data);
  if (!request || typeof request.type !== 'string') return;
  if (request.type === 'stop') return stop(request.id);
  if (request.type === 'load') stop();   // a new model replaces whatever is running
  const entry = { controller: new AbortController(), sampled: 0 };
  running.set(request.id, entry);
  const run = tail.then(() => handle(request, entry));
  tail = run.then(
    (result) => post({ type: 'done', id: request.id, result }),
    (err) => post({ type: 'error', id: request.id, error: serializeError(err) }),
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
    case 'stats': return needEngine().stats();
    case 'deductive': return needEngine().deductive(request.input ?? {});
    case 'g-figures': return { layers: headFigures(request.g, request.shape) };
    case 'unload': engine?.free(); engine = null; return {};
    default: throw new PldrError('E_MESSAGE', `the engine worker does not know the request "${request.type}"`);
  }
}

function needEngine() {
  if (!engine) throw new PldrError('E_NO_MODEL', 'no model is loaded yet');
  return engine;
}

/** @param {LoadRequest} request @param {AbortSignal} signal @returns {Promise<ModelInfo>} */
async function load({ id, source, options = {} }, signal) {
  engine?.free();   // one model at a time: two may not fit in memory
  engine = null;
  const started = performance.now();
  let allFromCache = true;
  const loaded = await PLDR.load(source, {
    ...options,
    signal,
    onProgress: (p) => {
      allFromCache &&= p.fromCache;
      post({ type: 'progress', id, ...p });
    },
    onContextShift: (info) => post({ type: 'notice', id: -1, kind: 'context-shift', ...info }),
  });
  engine = loaded;
  const c = loaded.config;
  return {
    name: loaded.name,
    source,
    bytes: loaded.loadedBytes,
    fromCache: allFromCache,
    loadMs: performance.now() - started,
    contextLength: loaded.contextLength,
    gcacheMode: options.gcache ?? DEFAULT_LOAD.gcache,
    quant: options.quant ?? DEFAULT_LOAD.quant,
    config: {
      hidden_size: c.hidden_size, num_hidden_layers: c.num_hidden_layers, num_attention_heads: c.num_attention_heads,
      vocab_size: c.vocab_size, max_position_embeddings: c.max_position_embeddings, torch_dtype: c.torch_dtype,
    },
    stats: loaded.stats(),
  };
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
  for await (const piece of run) post({ type: 'token', id, text: piece.text, tokenId: piece.id, tokens: entry.sampled });
  const result = await run.result;
  return { finishReason: result.finishReason, text: result.text, stats: e.stats(),
    ...(entry.sampledAtStop !== undefined && { tokensAtStop: entry.sampledAtStop }) };
}

self.addEventListener('unhandledrejection', (event) => {
  post({ type: 'error', id: -1, error: serializeError(event.reason) });
});
