// The page's side of js/browser/worker.js: `PldrWorker` mirrors the engine API (load, respond, generate,
// stats, reset) over messages, so the page's main thread never runs the model.
//
//   const client = new PldrWorker();
//   const info = await client.load(new URL('../models/pldr-tiny/', location), {onProgress});
//   const run = client.respond([{role: 'user', content: 'Hi'}]);   // a Generation, like the Engine's
//   for await (const {text} of run) ...
//   const {finishReason, stats} = await run.result;
import { AbortError, LoadError, PldrError } from '../errors.js';
import { GENERATE_OPTIONS, Generation, checkGenerateOptions } from '../generation/generation.js';
import { toError } from './error-transfer.js';
import { hostThreads } from '../runtime/thread-host.js';
import { startBlobWorker } from '../runtime/blob-worker.js';

/**
 * @typedef {import('./worker.js').ModelInfo} ModelInfo
 * @typedef {{loaded: number, total: number|null, file: string, fileLoaded: number,
 *   fileTotal: number|null, fromCache: boolean}} LoadProgress
 * @typedef {{temperature?: number, topK?: number, topP?: number, minP?: number, repetitionPenalty?: number,
 *   frequencyPenalty?: number, presencePenalty?: number, seed?: number, maxTokens?: number, stop?: string[],
 *   signal?: AbortSignal}} GenerateOptions
 * @typedef {{finishReason: 'eos'|'length'|'stop'|'abort', text: string, stats: Record<string, any>,
 *   tokensAtStop?: number}} GenerateResult   tokensAtStop: tokens generated when Stop reached the worker
 * @typedef {{role: 'system'|'user'|'assistant', content: string}} Message
 * @typedef {{text: string, id: number, tokens: number}} Piece   tokens: generated so far in this reply
 * @typedef {Generation<Piece, GenerateResult>} WorkerGeneration
 */

/** generate()/respond() options that can cross to the worker (a function cannot). */
const WORKER_OPTIONS = GENERATE_OPTIONS.filter((name) => name !== 'onLogits');

export const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Starts the engine's module worker (blob-worker.js: why through a blob). @param {URL} url @returns {Worker} */
const startWorker = (url) => startBlobWorker(blobWorkerCode(url), url, 'pldr-engine');

/**
 * The blob worker's script: a dynamic import() of the real one, not a static `import '…'`:
 * Firefox (153 ESR) loads a blob module worker's static imports past the service worker, so
 * offline the engine would not start, while its dynamic imports go through it as in every other
 * engine. Requests that arrive before the engine's module has run are held, then replayed in
 * order; a failed import is thrown from a task, so the page sees the worker's 'error' event.
 * @param {URL} url
 */
function blobWorkerCode(url) {
  return `const held = [];
const hold = (event) => { event.stopImmediatePropagation(); held.push(event.data); };
self.addEventListener('message', hold);
import(${JSON.stringify(url.href)}).then(() => {
  self.removeEventListener('message', hold);
  for (const data of held) self.dispatchEvent(new MessageEvent('message', { data }));
}, (err) => setTimeout(() => { throw err; }));`;
}

/** The engine in a Web Worker, with the engine's own API shape. */
export class PldrWorker extends EventTarget {
  #worker;
  #nextId = 1;
  /** @type {Map<number, (message: any) => void>} */
  #handlers = new Map();
  #active = 0;
  /** @type {Error|null} set when the worker died */
  #failure = null;
  /** the engine's thread workers, started by this page (thread-host.js) */
  #threads;

  /** @param {{workerUrl?: string|URL}} [options] */
  constructor({ workerUrl = WORKER_URL } = {}) {
    super();
    this.#worker = startWorker(new URL(String(workerUrl), globalThis.location?.href));
    this.#threads = hostThreads(this.#worker);
    this.#worker.addEventListener('message', (event) => this.#receive(event.data));
    this.#worker.addEventListener('error', (event) => {
      event.preventDefault?.();
      const detail = event.message || 'the worker script failed to load or threw at start-up';
      this.#fail(new PldrError('E_WORKER', `the engine could not start in a Web Worker: ${detail}`));
    });
    this.#worker.addEventListener('messageerror', () => {
      this.#fail(new PldrError('E_WORKER', 'a message from the engine worker could not be read'));
    });
  }

  /** Whether a request (load or generation) is running. */
  get busy() { return this.#active > 0; }

  #receive(message) {
    if (!message || typeof message !== 'object') return;
    if (message.type === 'notice') {
      this.dispatchEvent(Object.assign(new Event(message.kind), { detail: message }));
      return;
    }
    if (message.id === -1 && message.type === 'error') {
      this.dispatchEvent(Object.assign(new Event('error'), { error: toError(message.error) }));
      return;
    }
    this.#handlers.get(message.id)?.(message);
  }

  #fail(err) {
    this.#failure = err;
    this.#threads.terminate();
    for (const handler of [...this.#handlers.values()]) handler({ type: 'error', error: err });
    this.dispatchEvent(Object.assign(new Event('error'), { error: err }));
  }

  /**
   * Sends one request; `onEvent` sees its progress/token messages; resolves with its result.
   * @param {Record<string, any>} request @param {{signal?: AbortSignal, onEvent?: (m: any) => void}} [o]
   */
  #request(request, { signal, onEvent } = {}) {
    if (this.#failure) return Promise.reject(this.#failure);
    // a generation stopped before it started still runs in the worker, to answer with finishReason 'abort'
    if (signal?.aborted && request.type !== 'generate') return Promise.reject(new AbortError());
    const id = this.#nextId++;
    this.#active++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ type: 'stop', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        this.#handlers.delete(id);
        signal?.removeEventListener('abort', onAbort);
        this.#active--;
      };
      this.#handlers.set(id, (m) => {
        if (m.type === 'done') { finish(); resolve(m.result); }
        else if (m.type === 'error') {
          finish();
          const err = m.error instanceof Error ? m.error : toError(m.error);
          if (typeof m.modelKept === 'boolean') /** @type {any} */ (err).modelKept = m.modelKept;
          reject(err);
        }
        else onEvent?.(m);
      });
      try {
        this.#worker.postMessage({ ...request, id });
      } catch (err) { // e.g. DataCloneError: something in the request cannot be copied to the worker
        finish();
        reject(new PldrError('E_OPTION', `the request cannot be sent to the engine worker: ${/** @type {any} */ (err)?.message ?? err}`, { cause: err }));
        return;
      }
      if (signal?.aborted) onAbort();
    });
  }

  /**
   * Loads a model folder (an absolute URL, or one relative to the page) in the worker; a running
   * generation is stopped. The model loaded before is freed once the new one is ready, or before
   * it takes memory when both would not fit in `memoryBudget` bytes (a 'replacing' event then
   * says so). A failed load rejects with an error whose `modelKept` says whether the model
   * loaded before is still there.
   * @param {string|URL} source
   * @param {{onProgress?: (p: LoadProgress) => void, signal?: AbortSignal, gcache?: 'first'|'prompt'|'off'|'empty',
   *   quant?: 'f32'|'q8'|'q4', contextLength?: number, cache?: boolean, wasmUrl?: string|URL, template?: object,
   *   memoryBudget?: number}} [loadOptions]
   * @returns {Promise<ModelInfo>}
   */
  load(source, loadOptions = {}) {
    if (loadOptions === null || typeof loadOptions !== 'object') {
      return Promise.reject(new PldrError('E_OPTION', `load options must be an object, not ${loadOptions === null ? 'null' : typeof loadOptions}`));
    }
    const { onProgress, signal, ...options } = loadOptions;
    let url;
    try {
      url = new URL(String(source), globalThis.document?.baseURI ?? globalThis.location?.href).href;
    } catch {
      return Promise.reject(new LoadError('E_SOURCE', `"${source}" is not a URL`));
    }
    if (!/^https?:$/.test(new URL(url).protocol)) {
      return Promise.reject(new LoadError('E_SOURCE', `${url}: only http(s) model URLs can be loaded in a browser`));
    }
    if (options.wasmUrl) options.wasmUrl = new URL(String(options.wasmUrl), globalThis.location?.href).href;
    return this.#request({ type: 'load', source: url, options: stripUndefined(options) }, {
      signal,
      onEvent: (m) => {
        if (m.type !== 'progress') return;
        const { type, id, ...progress } = m;
        onProgress?.(progress);
      },
    });
  }

  /**
   * The assistant's reply to `messages`, streamed. Earlier messages stay in the worker's
   * KV-cache: send the whole conversation each time, with the replies as they were returned.
   * @param {Message[]} messages @param {GenerateOptions} [options] @returns {WorkerGeneration}
   */
  respond(messages, options) {
    return this.#generation({ type: 'generate', mode: 'chat', messages }, options);
  }

  /**
   * A raw continuation of `prompt` from a fresh context, streamed.
   * @param {string} prompt @param {GenerateOptions} [options] @returns {WorkerGeneration}
   */
  generate(prompt, options) {
    return this.#generation({ type: 'generate', mode: 'complete', prompt }, options);
  }

  /** @param {Record<string, any>} request @param {unknown} options @returns {WorkerGeneration} */
  #generation(request, options) {
    if (/** @type {any} */ (options)?.onLogits !== undefined) {
      throw new PldrError('E_OPTION', 'onLogits cannot be used through the engine worker: a function cannot be sent to it');
    }
    const { signal, ...rest } = checkGenerateOptions(options, WORKER_OPTIONS);
    return new Generation((stop) => this.#pieces({ ...request, options: stripUndefined(rest) }, stop), { signal });
  }

  /** The worker's token messages as pieces; returns its result. @param {Record<string, any>} request @param {AbortSignal} stop */
  async *#pieces(request, stop) {
    /** @type {any[]} */
    const queue = [];
    let wake = () => {};
    const push = (m) => { queue.push(m); wake(); };
    this.#request(request, { signal: stop, onEvent: push })
      .then((result) => push({ type: 'done', result }), (error) => push({ type: 'error', error }));
    for (;;) {
      while (queue.length) {
        const m = queue.shift();
        if (m.type === 'token') yield { text: m.text, id: m.tokenId, tokens: m.tokens };
        else if (m.type === 'done') return /** @type {GenerateResult} */ (m.result);
        else if (m.type === 'error') throw m.error;
      }
      await new Promise((resolve) => { wake = resolve; });
    }
  }

  /** Stops whatever runs in the worker (a load or a generation). */
  stop() {
    this.#worker.postMessage({ type: 'stop' });
  }

  /** Forgets the conversation (the G-cache stays). @returns {Promise<void>} */
  async reset() { await this.#request({ type: 'reset' }); }

  /**
   * The deductive outputs of a prompt ({ids} or {prompt}; none: the conversation) against the
   * empty prompt, computed in the worker (see Engine.deductive).
   * @param {{ids?: number[], prompt?: string}} [input]
   * @returns {Promise<import('../generation/engine.js').DeductiveReport>}
   */
  deductive(input) { return this.#request({ type: 'deductive', input: input ?? {} }); }

  /**
   * Per layer and head, slogdet and energy share of a given G [L][H][dk][dk] (e.g. a G-cache
   * file), computed in the worker; no model is needed.
   * @param {Float32Array} g @param {import('../generation/deductive.js').GShape} shape
   * @returns {Promise<{layers: {heads: import('../generation/deductive.js').HeadFigures[]}[]}>}
   */
  gFigures(g, shape) { return this.#request({ type: 'g-figures', g, shape }); }

  /** Speed and memory of the last call (see Engine.stats). @returns {Promise<Record<string, any>>} */
  stats() { return this.#request({ type: 'stats' }); }

  /**
   * The conversation and the caches it is held in (Engine.saveState), to keep and restore later.
   * @returns {Promise<import('../generation/engine-state.js').EngineState>}
   */
  saveState() { return this.#request({ type: 'save-state' }); }

  /**
   * Puts back a saved conversation (Engine.restoreState): rejects with E_SESSION_STATE, saying
   * why, for a state of another model, mode or G_LM, or a damaged one; the worker's engine is
   * then as it was. @param {import('../generation/engine-state.js').EngineState} state
   * @returns {Promise<{position: number}>}
   */
  restoreState(state) { return this.#request({ type: 'restore-state', state }); }

  /** Frees the model, keeping the worker. @returns {Promise<void>} */
  async unload() { await this.#request({ type: 'unload' }); }

  /** Ends the worker; the client cannot be used afterwards. */
  terminate() {
    this.#worker.terminate();
    this.#threads.terminate();
    this.#fail(new PldrError('E_WORKER', 'the engine worker was terminated'));
  }
}

function stripUndefined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
