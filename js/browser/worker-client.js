// The page's side of js/browser/worker.js: `PldrWorker` mirrors the engine API (load, respond, generate,
// stats, reset) over messages, so the page's main thread never runs the model.
//
//   const client = new PldrWorker();
//   const info = await client.load(new URL('../models/pldr-tiny/', location), {onProgress});
//   for await (const {text} of client.respond([{role: 'user', content: 'Hi'}], {signal})) ...
//   const stats = await client.stats();
import { AbortError, EngineError, LoadError, PldrError, TokenizerError } from '../errors.js';

/**
 * @typedef {import('./worker.js').ModelInfo} ModelInfo
 * @typedef {{loaded: number, total: number|null, file: string, fileLoaded: number,
 *   fileTotal: number|null, fromCache: boolean}} LoadProgress
 * @typedef {{temperature?: number, topK?: number, topP?: number, minP?: number,
 *   repetitionPenalty?: number, seed?: number, maxTokens?: number, stop?: string[],
 *   signal?: AbortSignal}} GenerateOptions
 * @typedef {{finishReason: 'eos'|'length'|'stop'|'abort', text: string, stats: Record<string, any>,
 *   tokensAtStop?: number}} GenerateResult   tokensAtStop: tokens generated when Stop reached the worker
 * @typedef {{role: 'system'|'user'|'assistant', content: string}} Message
 * @typedef {{text: string, id: number, tokens: number}} Piece   tokens: generated so far in this reply
 */

export const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * Starts the module worker. Through a blob: URL that imports the real script, so that (1) the
 * worker shares the page's service worker (a blob worker inherits its creator's controller; a
 * worker at its own URL is matched against scopes by that URL) and the engine's files load
 * offline, and (2) a page may load this module from another origin that sends CORS headers.
 * @param {URL} url
 * @returns {Worker}
 */
function startWorker(url) {
  try {
    const code = `import ${JSON.stringify(url.href)};`;
    const blob = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    const worker = new Worker(blob, { type: 'module', name: 'pldr-engine' });
    setTimeout(() => URL.revokeObjectURL(blob), 60_000);
    return worker;
  } catch {
    return new Worker(url, { type: 'module', name: 'pldr-engine' });   // e.g. a CSP without blob: workers
  }
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

  /** @param {{workerUrl?: string|URL}} [options] */
  constructor({ workerUrl = WORKER_URL } = {}) {
    super();
    this.#worker = startWorker(new URL(String(workerUrl), globalThis.location?.href));
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
    for (const handler of [...this.#handlers.values()]) handler({ type: 'error', error: err });
    this.dispatchEvent(Object.assign(new Event('error'), { error: err }));
  }

  /**
   * Sends one request; `onEvent` sees its progress/token messages; resolves with its result.
   * @param {Record<string, any>} request @param {{signal?: AbortSignal, onEvent?: (m: any) => void}} [o]
   */
  #request(request, { signal, onEvent } = {}) {
    if (this.#failure) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(new AbortError());
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
        else if (m.type === 'error') { finish(); reject(m.error instanceof Error ? m.error : toError(m.error)); }
        else onEvent?.(m);
      });
      this.#worker.postMessage({ ...request, id });
    });
  }

  /**
   * Loads a model folder (an absolute URL, or one relative to the page) in the worker; a model
   * loaded before is freed, and a running generation stopped.
   * @param {string|URL} source
   * @param {{onProgress?: (p: LoadProgress) => void, signal?: AbortSignal, gcache?: string,
   *   quant?: string, contextLength?: number, cache?: boolean, wasmUrl?: string|URL, template?: object}} [options]
   * @returns {Promise<ModelInfo>}
   */
  load(source, { onProgress, signal, ...options } = {}) {
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
   * @param {Message[]} messages @param {GenerateOptions} [options]
   * @returns {AsyncGenerator<Piece, GenerateResult>}
   */
  respond(messages, options = {}) {
    return this.#stream({ type: 'generate', mode: 'chat', messages }, options);
  }

  /**
   * A raw continuation of `prompt` from a fresh context, streamed.
   * @param {string} prompt @param {GenerateOptions} [options]
   * @returns {AsyncGenerator<Piece, GenerateResult>}
   */
  generate(prompt, options = {}) {
    return this.#stream({ type: 'generate', mode: 'complete', prompt }, options);
  }

  async *#stream(request, { signal, ...options }) {
    /** @type {any[]} */
    const queue = [];
    let wake = () => {};
    let settled = false;
    const push = (m) => { queue.push(m); wake(); };
    const inner = new AbortController();   // stops the worker when the loop is left early
    const forward = () => inner.abort();
    signal?.addEventListener('abort', forward, { once: true });
    if (signal?.aborted) inner.abort();
    this.#request({ ...request, options: stripUndefined(options) }, { signal: inner.signal, onEvent: push })
      .then((result) => push({ type: 'done', result }), (error) => push({ type: 'error', error }));
    try {
      for (;;) {
        while (queue.length) {
          const m = queue.shift();
          if (m.type === 'token') yield { text: m.text, id: m.tokenId, tokens: m.tokens };
          else if (m.type === 'done') { settled = true; return /** @type {GenerateResult} */ (m.result); }
          else if (m.type === 'error') { settled = true; throw m.error; }
        }
        await new Promise((resolve) => { wake = resolve; });
      }
    } finally {
      signal?.removeEventListener('abort', forward);
      if (!settled) inner.abort();
    }
  }

  /** Stops whatever runs in the worker (a load or a generation). */
  stop() {
    this.#worker.postMessage({ type: 'stop' });
  }

  /** Forgets the conversation (the G-cache stays). @returns {Promise<void>} */
  async reset() { await this.#request({ type: 'reset' }); }

  /** Speed and memory of the last call (see Engine.stats). @returns {Promise<Record<string, any>>} */
  stats() { return this.#request({ type: 'stats' }); }

  /** Frees the model, keeping the worker. @returns {Promise<void>} */
  async unload() { await this.#request({ type: 'unload' }); }

  /** Ends the worker; the client cannot be used afterwards. */
  terminate() {
    this.#worker.terminate();
    this.#fail(new PldrError('E_WORKER', 'the engine worker was terminated'));
  }
}

/** Turns an error that crossed postMessage back into the matching PldrError subclass. */
export function toError(e) {
  if (e instanceof Error) return e;
  const o = e ?? {};
  const message = String(o.message ?? 'unknown error');
  let err;
  if (o.name === 'AbortError' || o.code === 'E_ABORTED') err = new AbortError(message);
  else if (o.name === 'LoadError') err = new LoadError(o.code, message, { file: o.file, url: o.url, status: o.status, tensor: o.tensor });
  else if (o.name === 'EngineError') err = new EngineError(o.code, message);
  else if (o.name === 'TokenizerError') err = new TokenizerError(o.code, message);
  else {
    err = new PldrError(o.code ?? (o.name === 'CompileError' ? 'E_WASM' : 'E_INTERNAL'), message);
    if (o.name && o.name !== 'PldrError' && o.name !== 'Error') err.name = o.name;
  }
  return err;
}

function stripUndefined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
