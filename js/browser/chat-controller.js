// One chat over the engine in a Web Worker, for the chat page and <pldr-chat> alike: loading with
// a download meter, the conversation as the engine holds it, streamed replies, Stop and new
// conversations. It renders nothing: the page and the element listen to its events.
//
//   const chat = new ChatController();
//   chat.addEventListener('token', (e) => show(e.detail.text));
//   await chat.load(DEFAULT_MODEL_URL);
//   await chat.send('Hello!', {options: {temperature: 0}});
//
// A load that fails or is cancelled leaves the model (and the conversation) that was there, ready,
// unless the worker had to free it to make room (a 'replacing' event said so first).
//
// Events (CustomEvent; `detail` as listed):
//   state          {state, previous}               'empty' | 'loading' | 'ready' | 'generating'
//   progress       {progress, meter}               LoadProgress and DownloadMeter.update()'s reading
//   load           {model}                         ModelInfo of the model now loaded
//   replacing      {needed, held, budget}          both models would not fit: the old one was freed
//   cancel         {kept}                          cancelLoad() stopped a load; kept: the model still loaded, or null
//   turn           {mode, text, options, again}    a reply starts (again: regenerate() or edit())
//   token          {piece, text, tokens}           text: the reply so far; tokens: generated so far
//   done           {mode, result, text, stopped}   stopped: {at, tokensShown} when stop() ended it
//   error          {error, during, kept}           during: 'load' | 'generate' | 'worker'; kept as for cancel
//   context-shift  {dropped, kept}                 the context was full: old tokens were dropped
//   prompt-cut     {tokens, context}               the new text alone is longer than the context
import { PldrError } from '../errors.js';
import { DownloadMeter } from '../ui/download-meter.js';
import { PldrWorker } from './worker-client.js';

/**
 * @typedef {'empty'|'loading'|'ready'|'generating'} ChatState   empty: no model (none yet, or the last load failed)
 * @typedef {{role: 'system'|'user'|'assistant', content: string}} Message
 * @typedef {import('./worker-client.js').ModelInfo} ModelInfo
 * @typedef {import('./worker-client.js').GenerateResult} GenerateResult
 * @typedef {{gcache?: string, quant?: string, kvCache?: string, contextLength?: number}} LoadSettings
 * @typedef {{mode?: 'chat'|'complete', system?: string|null, options?: import('./worker-client.js').GenerateOptions}} SendSettings
 *   mode chat: `text` is the user's message; system: the conversation's system message from now
 *   on ('' removes it; null or left out keeps it); complete: `text` is continued from a fresh
 *   context, the conversation is untouched
 */

export class ChatController extends EventTarget {
  #client;
  /** @type {ChatState} */
  #state = 'empty';
  /** @type {ModelInfo|null} */
  #model = null;
  /** @type {Message[]} the conversation as the engine holds it */
  #messages = [];
  /** bumped by load() and reset(): a reply that ends after it does not join the new conversation */
  #epoch = 0;
  /** @type {AbortController|null} */
  #loading = null;
  /** @type {import('./worker-client.js').WorkerGeneration|null} */
  #generation = null;
  /** tokens of the reply being written, as the last token event said */
  #tokens = 0;
  /** @type {{at: number, tokensShown: number}|null} when stop() was called, and what was shown then */
  #stopped = null;
  #disposed = false;

  /** @param {{client?: PldrWorker}} [options] client: an engine worker to use (default: a new one) */
  constructor({ client } = {}) {
    super();
    this.#client = client ?? new PldrWorker();
    for (const kind of ['context-shift', 'prompt-cut', 'replacing']) {
      this.#client.addEventListener(kind, (e) => {
        const { type, id, kind: k, ...detail } = /** @type {any} */ (e).detail;
        if (kind === 'replacing') this.#model = null;
        this.#emit(kind, detail);
      });
    }
    this.#client.addEventListener('error', (e) => {
      if (!this.#disposed) this.#emit('error', { error: /** @type {any} */ (e).error, during: 'worker' });
    });
  }

  get client() { return this.#client; }
  /** @returns {ChatState} */
  get state() { return this.#state; }
  /** @returns {ModelInfo|null} the model loaded, or null */
  get model() { return this.#model; }
  /** @returns {Message[]} a copy of the conversation, its system message first */
  get messages() { return this.#messages.map((m) => ({ ...m })); }

  /**
   * Puts a conversation in place (e.g. one kept from an earlier visit): the next reply continues
   * it. A reply being written is stopped.
   * @param {Message[]} messages
   */
  restore(messages) {
    this.stop();
    this.#epoch++;
    this.#messages = messages.filter((m) => ['system', 'user', 'assistant'].includes(m?.role) && typeof m.content === 'string')
      .map(({ role, content }) => ({ role, content }));
  }

  /**
   * Loads a model folder; once it is ready it replaces the model and the conversation. A load or
   * reply still running is stopped. Resolves with the model's info, or null when cancelLoad() or
   * another load() stopped it; rejects with the error (also sent as an 'error' event). Either way
   * the model loaded before stays, unless a 'replacing' event said it had to go.
   * @param {string|URL} source @param {LoadSettings & {memoryBudget?: number}} [settings] @returns {Promise<ModelInfo|null>}
   */
  async load(source, settings = {}) {
    this.#loading?.abort();
    this.#generation?.abort();
    const controller = new AbortController();
    this.#loading = controller;
    this.#setState('loading');
    const meter = new DownloadMeter();
    try {
      const info = await this.#client.load(source, { ...defined(settings), signal: controller.signal,
        onProgress: (progress) => this.#emit('progress', { progress, meter: meter.update(progress) }) });
      if (this.#loading !== controller) return null;
      this.#epoch++;
      this.#messages = [];
      this.#model = info;
      this.#setState('ready');
      this.#emit('load', { model: info });
      return info;
    } catch (error) {
      if (this.#loading !== controller) return null;
      const e = /** @type {any} */ (error);
      if (e?.modelKept === false || e?.code === 'E_WORKER') this.#model = null;
      if (!this.#model) this.#messages = [];
      const kept = this.#model;
      this.#setState(kept ? 'ready' : 'empty');
      if (controller.signal.aborted) {
        this.#emit('cancel', { kept });
        return null;
      }
      this.#emit('error', { error, during: 'load', kept });
      throw error;
    } finally {
      if (this.#loading === controller) this.#loading = null;
    }
  }

  /** Stops the load in progress, if any. */
  cancelLoad() {
    this.#loading?.abort();
  }

  /**
   * Sends `text` and streams the reply. Resolves with the worker's result once the reply is
   * complete (finishReason 'abort' after stop()); rejects with the error (also an 'error' event).
   * @param {string} text @param {SendSettings} [settings] @returns {Promise<GenerateResult>}
   */
  async send(text, { mode = 'chat', system = null, options = {} } = {}) {
    this.#checkReady();
    const before = this.messages;
    if (mode !== 'complete') {
      this.#setSystem(system);
      this.#messages.push({ role: 'user', content: text });
    }
    return this.#reply(mode, text, options, null, before);
  }

  /**
   * Writes the last reply again (another draw when sampling): the last assistant message is
   * replaced. Rejects with E_STATE when the conversation has no user message to answer.
   * @param {Omit<SendSettings, 'mode'>} [settings] @returns {Promise<GenerateResult>}
   */
  async regenerate({ system = null, options = {} } = {}) {
    this.#checkReady();
    const last = this.#lastUser(), before = this.messages;
    this.#setSystem(system);
    this.#messages.splice(last + (this.#messages.length - before.length) + 1);
    return this.#reply('chat', before[last].content, options, 'regenerate', before);
  }

  /**
   * Replaces the last user message by `text` (and drops the reply to it), then replies.
   * @param {string} text @param {Omit<SendSettings, 'mode'>} [settings] @returns {Promise<GenerateResult>}
   */
  async edit(text, { system = null, options = {} } = {}) {
    this.#checkReady();
    const last = this.#lastUser(), before = this.messages;
    this.#setSystem(system);
    this.#messages.splice(last + (this.#messages.length - before.length), Infinity, { role: 'user', content: text });
    return this.#reply('chat', text, options, 'edit', before);
  }

  #checkReady() {
    if (this.#state === 'generating') throw new PldrError('E_BUSY', 'a reply is still being written: wait for it or stop it');
    if (this.#state !== 'ready') throw new PldrError('E_NO_MODEL', this.#state === 'loading' ? 'the model is still loading' : 'no model is loaded');
  }

  #lastUser() {
    const last = this.#messages.findLastIndex((m) => m.role === 'user');
    if (last < 0) throw new PldrError('E_STATE', 'the conversation has no message to answer yet');
    return last;
  }

  /** @param {string|null|undefined} system */
  #setSystem(system) {
    if (system === null || system === undefined) return;
    if (this.#messages[0]?.role === 'system') this.#messages.shift();
    if (system !== '') this.#messages.unshift({ role: 'system', content: system });
  }

  /**
   * Streams the reply to the conversation (chat) or to `text` (complete).
   * @param {'chat'|'complete'} mode @param {string} text @param {Record<string, any>} options
   * @param {'regenerate'|'edit'|null} again @param {Message[]} before the conversation before this turn
   * @returns {Promise<GenerateResult>}
   */
  async #reply(mode, text, options, again, before) {
    const chat = mode !== 'complete';
    const epoch = this.#epoch;
    this.#tokens = 0;
    this.#stopped = null;
    this.#setState('generating');
    this.#emit('turn', { mode, text, options, again });
    let reply = '', run = null;
    try {
      run = chat ? this.#client.respond(this.messages, options) : this.#client.generate(text, options);
      this.#generation = run;
      for await (const piece of run) {
        reply += piece.text;
        this.#tokens = piece.tokens;
        this.#emit('token', { piece, text: reply, tokens: piece.tokens });
      }
      const result = await run.result;
      if (chat && epoch === this.#epoch) this.#messages.push({ role: 'assistant', content: result.text });
      this.#emit('done', { mode, result, text: reply, stopped: this.#stopped });
      return result;
    } catch (error) {
      // the engine did not keep the failed turn either: the conversation is as it was before it
      if (chat && epoch === this.#epoch) this.#messages = before;
      this.#emit('error', { error, during: 'generate', kept: this.#model });
      throw error;
    } finally {
      if (this.#generation === run) this.#generation = null;
      if (this.#state === 'generating') this.#setState(this.#model ? 'ready' : 'empty');
    }
  }

  /**
   * The conversation and the caches it is held in, to keep (e.g. in IndexedDB with the
   * conversation) and give to restoreState after a reload.
   * @returns {Promise<import('../generation/engine-state.js').EngineState>}
   */
  async saveState() {
    if (!this.#model) throw new PldrError('E_NO_MODEL', 'no model is loaded');
    return this.#client.saveState();
  }

  /**
   * Puts a kept conversation in place with the caches saved with it, so that the next reply does
   * not run the conversation again. Rejects (E_SESSION_STATE, saying why) when the state does
   * not fit the model loaded: the conversation is in place all the same, its next reply runs it.
   * @param {Message[]} messages @param {import('../generation/engine-state.js').EngineState} state
   * @returns {Promise<{position: number}>} positions restored
   */
  async restoreState(messages, state) {
    this.#checkReady();
    this.restore(messages);
    return this.#client.restoreState(state);
  }

  /** Stops the reply being written, if any: it ends within a token or two. */
  stop() {
    if (!this.#generation || this.#generation.aborted) return;
    this.#stopped = { at: performance.now(), tokensShown: this.#tokens };
    this.#generation.abort();
  }

  /** Starts a new conversation: the model and its G-cache stay. */
  async reset() {
    this.stop();
    this.#epoch++;
    this.#messages = [];
    if (this.#model) await this.#client.reset().catch(() => {});
  }

  /** Stops everything and ends the worker; the controller cannot be used afterwards. */
  dispose() {
    this.#disposed = true;
    this.#loading?.abort();
    this.#generation?.abort();
    this.#model = null;
    this.#client.terminate();
  }

  /** @param {ChatState} state */
  #setState(state) {
    const previous = this.#state;
    if (state === previous) return;
    this.#state = state;
    this.#emit('state', { state, previous });
  }

  /** @param {string} type @param {Record<string, any>} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function defined(o) {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));
}
