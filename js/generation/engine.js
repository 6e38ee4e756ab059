// The engine: PLDR.load (model folder → Engine) and the Engine (generate, respond, the OpenAI-style
// facade, stats, the G-cache). Re-exported by js/pldr.js, the public entry:
//   const engine = await PLDR.load(source, {onProgress, signal, contextLength, gcache, quant, kvCache, threads});
//   for await (const {text} of engine.generate('Once upon a time', {maxTokens: 64})) ...
//   const {text, finishReason} = await engine.respond([{role: 'user', content: 'Hi'}]).result;
//   await engine.chat.completions.create({messages, stream: true, max_tokens: 64});
import { chatApi } from './openai.js';
import { checkMessages, makeTemplate, renderMessages } from './chat-template.js';
import { Conversation } from './conversation.js';
import { DEFAULT_LOAD, DEFAULT_MAX_TOKENS, DEFAULT_SAMPLING, GCACHE_MODES, KV_CACHE_FORMATS, WEIGHT_FORMATS, autoThreads } from '../defaults.js';
import { Generation, checkGenerateOptions } from './generation.js';
import { Model, modelSink } from '../runtime/model.js';
import { checkModelMemory } from '../runtime/memory.js';
import { PldrError } from '../errors.js';
import { generateTokens } from './token-loop.js';
import { loadModel } from '../loading/loader.js';
import { Sampler } from './sampler.js';
import { SentencePieceTokenizer } from '../tokenizer/tokenizer.js';
import { TextStream } from './text-stream.js';
import { createRuntime } from '../runtime/wasm.js';
import { deductiveFigures, gOnlySaving } from './deductive.js';
import { checkState, packState } from './engine-state.js';
import { logicalCores } from '../runtime/features.js';
import { MAX_THREADS } from '../runtime/threads.js';

/**
 * @typedef {import('./sampler.js').SamplingOptions & {maxTokens?: number, stop?: string[],
 *           signal?: AbortSignal, onLogits?: (step: number, logits: Float32Array) => void}} GenerateOptions
 * @typedef {{onProgress?: (p: import('../loading/loader.js').LoadProgress) => void, signal?: AbortSignal,
 *   contextLength?: number, gcache?: 'first'|'prompt'|'off'|'empty', quant?: 'f32'|'q8'|'q4', kvCache?: 'f32'|'f16',
 *   threads?: number|'auto', wasmUrl?: string|URL, cache?: boolean, cacheDir?: string, name?: string,
 *   template?: Partial<import('./chat-template.js').Template>,
 *   onContextShift?: (info: {dropped: number, kept: number}) => void,
 *   onConfig?: (config: Record<string, any>, needed: {weights: number, session: number}) => void,
 *   spawnThread?: import('../runtime/threads.js').SpawnThread}} LoadOptions
 *   onConfig: config.json and the bytes the model and a session will take (pldr_model_memory_needed), before any is taken
 *   spawnThread: how the threads' workers start (createRuntime; the engine worker has the page start them)
 * @typedef {import('./token-loop.js').GenerationResult & {promptTokens: number, completionTokens: number}} EngineResult
 * @typedef {Generation<{text: string, id: number}, EngineResult>} EngineGeneration
 * @typedef {import('./deductive.js').Figures & {ids: number[], referenceIds: number[],
 *   shape: import('./deductive.js').GShape, G: Float32Array, referenceG: Float32Array,
 *   gOnly: boolean, anetMs: number|null, gcacheMs: number, decodeStepMs: number|null,
 *   saving: ReturnType<typeof gOnlySaving>}} DeductiveReport
 *   G: G_LM computed from `ids`; referenceG: from referenceIds ([END]); anetMs: the A-net's time
 *   for `ids`; gcacheMs: the model's one-off A-net time so far; decodeStepMs: ms per decode step
 *   of the last generation (null before one); saving: what a G-only model saved (else null)
 */

/** A text stream for ids-only use (no tokenizer): emits nothing, holds nothing. */
const SILENT_STREAM = { push: () => '', flush: () => '', pending: false };

/** @param {unknown} options @returns {LoadOptions} */
function checkLoadOptions(options) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new PldrError('E_OPTION', `load options must be an object, not ${options === null ? 'null' : typeof options}`);
  }
  const o = /** @type {LoadOptions} */ (options);
  if (o.gcache !== undefined && !GCACHE_MODES.includes(o.gcache)) {
    throw new PldrError('E_OPTION', `invalid gcache ${JSON.stringify(o.gcache)}: expected ${GCACHE_MODES.slice(0, -1).join(', ')} or ${GCACHE_MODES.at(-1)}`);
  }
  if (o.quant !== undefined && !WEIGHT_FORMATS.includes(o.quant)) {
    throw new PldrError('E_OPTION', `invalid quant ${JSON.stringify(o.quant)}: expected ${WEIGHT_FORMATS.join(', ')}`);
  }
  if (o.kvCache !== undefined && !KV_CACHE_FORMATS.includes(o.kvCache)) {
    throw new PldrError('E_OPTION', `invalid kvCache ${JSON.stringify(o.kvCache)}: expected ${KV_CACHE_FORMATS.join(' or ')}`);
  }
  if (o.contextLength !== undefined && !(Number.isInteger(o.contextLength) && o.contextLength > 0)) {
    throw new PldrError('E_OPTION', `invalid contextLength ${JSON.stringify(o.contextLength)}: expected a positive integer`);
  }
  if (o.threads !== undefined && o.threads !== 'auto' && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= MAX_THREADS)) {
    throw new PldrError('E_OPTION', `invalid threads ${JSON.stringify(o.threads)}: expected 'auto' or an integer from 1 to ${MAX_THREADS}`);
  }
  if (o.spawnThread !== undefined && typeof o.spawnThread !== 'function') {
    throw new PldrError('E_OPTION', `invalid spawnThread: expected a function (js/runtime/thread-host.js threadsFromParent), not ${typeof o.spawnThread}`);
  }
  return o;
}

/** The thread count of a `threads` option: 'auto' is autoThreads of this machine. */
async function resolveThreads(threads) {
  return threads === 'auto' ? autoThreads(await logicalCores()) : threads;
}

function checkContextLength(contextLength, contextMax) {
  if (contextLength !== undefined && contextLength > contextMax) {
    throw new PldrError('E_OPTION', `contextLength ${contextLength} is larger than the model's context (max_position_embeddings ${contextMax})`);
  }
}

export class PLDR {
  /**
   * Loads a model folder (Hugging Face layout) by URL, or by directory path under Node.
   * @param {string|URL} source @param {LoadOptions} [options] @returns {Promise<Engine>}
   */
  static async load(source, options) {
    options = checkLoadOptions(options);
    const threads = await resolveThreads(options.threads ?? DEFAULT_LOAD.threads);
    const rt = await createRuntime({ wasmUrl: options.wasmUrl, threads, spawnThread: options.spawnThread });
    try {
      return await PLDR.#loadOn(rt, source, options);
    } catch (err) {
      rt.close(); // its model is freed already: nothing uses the thread pool
      throw err;
    }
  }

  /** @param {import('../runtime/wasm.js').Runtime} rt @param {string|URL} source @param {LoadOptions} options */
  static async #loadOn(rt, source, options) {
    const gcache = options.gcache ?? DEFAULT_LOAD.gcache;
    const modelOptions = { gcache: gcache === 'empty' ? 'first' : gcache, quant: options.quant ?? DEFAULT_LOAD.quant };
    const sink = modelSink(rt, { ...modelOptions, beforeAlloc: (model, config) => { // right after config.json: before any shard
      model.memoryNeeded(); // checks config.json as allocating would (E_CONFIG)
      checkContextLength(options.contextLength, model.contextMax);
      const kvCache = options.kvCache ?? DEFAULT_LOAD.kvCache;
      options.onConfig?.(config, model.memoryNeeded(options.contextLength, kvCache)); // e.g. the worker frees the model it holds when both would not fit
      checkModelMemory(model, { contextLength: options.contextLength, quant: modelOptions.quant, kvCache,
        others: () => Object.fromEntries(WEIGHT_FORMATS.map((quant) =>
          [quant, Model.memoryNeeded(rt, config, { ...modelOptions, quant }, options.contextLength).weights])) });
    } });
    const loaded = await loadModel(source, sink, options).catch((err) => {
      const cause = err?.code === 'E_SINK' ? err.cause : null; // an option, or the memory, not the folder, is wrong
      throw cause?.code === 'E_OPTION' || cause?.memory ? cause : err;
    });
    const model = /** @type {import('../runtime/model.js').Model} */ (sink.model);
    try {
      if (gcache === 'empty') model.computeGcache([model.eosId]); // spec §3: G from [END], fixed
      const tokenizer = loaded.parsedTokenizer ?? (loaded.tokenizer ? SentencePieceTokenizer.fromBytes(loaded.tokenizer) : null);
      const ctx = options.contextLength ?? model.contextMax;
      return new Engine({ model, tokenizer, config: loaded.config, contextLength: ctx, options, bytes: loaded.bytes });
    } catch (err) {
      model.free();
      throw err;
    }
  }
}

export class Engine {
  /** @type {boolean} */
  #busy = false;
  /** @type {{role: string, content: string, ids: number[]}[]} messages in the conversation */
  #segments = [];
  #last = {};
  /** @type {Float32Array|null} G_LM of the empty prompt, once deductive() computed it */
  #gEmpty = null;

  /**
   * @param {{model: import('../runtime/model.js').Model, tokenizer: SentencePieceTokenizer|null,
   *          config: Record<string, any>, contextLength: number, options: LoadOptions, bytes: number}} parts
   */
  constructor({ model, tokenizer, config, contextLength, options, bytes }) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.config = config;
    /** @type {string} */
    this.name = options.name ?? config._name_or_path ?? 'pldr-llm';
    this.loadedBytes = bytes;
    this.template = makeTemplate(options.template);
    this.session = model.newSession({ contextLength, kvCache: options.kvCache ?? DEFAULT_LOAD.kvCache });
    this.conversation = new Conversation(this.session, { onContextShift: options.onContextShift });
    this.chat = chatApi(this);
    this.gcache = {
      /** @returns {Float32Array|null} the G-cache in use, [L][H][dk][dk] */
      export: () => this.session.gcache() ?? model.gcache(),
      /** @param {Float32Array} g installs G and switches to mode "fixed" */
      import: (g) => { this.#assertIdle(); model.setGcache(g); },
    };
  }

  get busy() { return this.#busy; }
  get contextLength() { return this.session.contextLength; }

  /** Prompt text to ids: no BOS/EOS; the empty prompt is [END] (spec §4). @param {string} text @returns {number[]} */
  encode(text) {
    if (!this.tokenizer) throw new PldrError('E_TOKENIZER', 'this model folder has no tokenizer.model: pass ids instead of text');
    return this.tokenizer.encodePrompt(text);
  }

  /** @param {number[]} ids @returns {string} */
  decode(ids) {
    if (!this.tokenizer) throw new PldrError('E_TOKENIZER', 'this model folder has no tokenizer.model');
    return this.tokenizer.decode(ids);
  }

  #assertIdle() {
    if (this.#busy) {
      throw new PldrError('E_BUSY', 'a generation is already running on this engine: wait for it to finish or abort it first');
    }
  }

  /**
   * A completion of `prompt` (text, or {ids}) from a fresh context: a handle that yields
   * {text, id} pieces, with the outcome in `result` and `abort()`.
   * @param {string|{ids: number[]}} prompt @param {GenerateOptions} [options] @returns {EngineGeneration}
   */
  generate(prompt, options) {
    this.#assertIdle();
    const o = checkGenerateOptions(options);
    const ids = typeof prompt === 'string' ? this.encode(prompt) : checkIds(prompt?.ids, this.model.vocabSize, this.model.eosId);
    const sampler = this.#sampler(o);
    // pieces append to the prompt's text: keep the space that opens the first one
    const afterText = typeof prompt === 'string' && prompt.length > 0;
    return new Generation((signal) => this.#run(sampler, { ...o, signal }, () => {
      if (this.model.gcacheMode === 'prompt') this.conversation.setIds([]); // G from this prompt (mode "prompt")
      this.conversation.setIds(ids);
      this.#segments = [];
      return ids.length;
    }, afterText), { signal: o.signal });
  }

  /**
   * The assistant's reply to `messages` (rendered with the engine's template), as generate()'s
   * handle. Messages already in the conversation are not prefilled again.
   * @param {import('./chat-template.js').Message[]} messages @param {GenerateOptions} [options]
   * @returns {EngineGeneration}
   */
  respond(messages, options) {
    this.#assertIdle();
    const o = checkGenerateOptions(options);
    checkMessages(messages);
    const sampler = this.#sampler(o);
    const opening = this.template.generation ? this.encode(this.template.generation) : [];
    const stop = [...this.template.stop, ...(o.stop ?? [])];
    const engine = this;
    return new Generation((signal) => (async function* reply() {
      let segments = [];
      const result = yield* engine.#run(sampler, { ...o, stop, signal }, () => { // against the conversation as it is then
        segments = renderMessages(messages, engine.#segments, engine.template, (t) => engine.encode(t));
        const ids = [...segments.flatMap((s) => s.ids), ...opening];
        engine.conversation.keepTokens = segments[0]?.role === 'system' ? segments[0].ids.length : 0;
        engine.conversation.setIds(ids);
        return ids.length;
      });
      segments.push({ role: 'assistant', content: result.text, ids: [...opening, ...result.ids] });
      engine.#segments = segments;
      return result;
    })(), { signal: o.signal });
  }

  /** @param {GenerateOptions} options */
  #sampler(options) {
    const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new PldrError('E_OPTION', `invalid maxTokens ${JSON.stringify(options.maxTokens)}: expected a positive integer`);
    }
    if (options.stop !== undefined && !(Array.isArray(options.stop) && options.stop.every((s) => typeof s === 'string'))) {
      throw new PldrError('E_OPTION', 'stop must be an array of strings');
    }
    const { temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty, presencePenalty, seed } = options;
    return new Sampler({ ...DEFAULT_SAMPLING,
      ...stripUndefined({ temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty, presencePenalty, seed }) });
  }

  /**
   * The generation loop. `setup` puts the prompt into the conversation and returns its length: it
   * runs here, when the generation starts, so two handles made before either started cannot mix.
   * @returns {AsyncGenerator<{text: string, id: number}, EngineResult>}
   */
  async *#run(sampler, options, setup, afterText = false) {
    this.#assertIdle();
    this.#busy = true;
    const runsBefore = this.model.anetRuns, gMsBefore = this.model.anetMs;
    try {
      const promptTokens = setup();
      const result = yield* generateTokens(this.conversation, {
        sampler, maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS, eosId: this.model.eosId, stop: options.stop,
        signal: options.signal, onLogits: options.onLogits, textStream: this.tokenizer ? new TextStream(this.tokenizer, { afterText }) : SILENT_STREAM,
      });
      const usage = { promptTokens, completionTokens: result.ids.length };
      this.#last = { ...result, ...usage, gcacheComputed: this.model.anetRuns > runsBefore, gcacheMsThisCall: this.model.anetMs - gMsBefore };
      return { ...result, ...usage };
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Speed and memory of the last call, and the one-off cost of G.
   * @returns {{finishReason: import('./token-loop.js').FinishReason|null, promptTokens: number, completionTokens: number,
   *   prefillTokens: number, prefillMs: number, prefillTokensPerSec: number|null, decodeTokens: number, decodeMs: number,
   *   decodeTokensPerSec: number|null, gcacheMs: number, gcacheRuns: number, gcacheComputedThisCall: boolean,
   *   gcacheMode: string, contextShifts: number, contextUsed: number, contextLength: number,
   *   memory: {weights: number, kvCache: number, scratch: number, wasmTotal: number}}}
   */
  stats() {
    const l = /** @type {Record<string, any>} */ (this.#last);
    const rate = (tokens, ms) => (ms > 0 ? (tokens * 1000) / ms : null);
    const mem = this.session.memory();
    return {
      finishReason: l.finishReason ?? null,
      promptTokens: l.promptTokens ?? 0,
      completionTokens: l.completionTokens ?? 0,
      prefillTokens: l.prefillTokens ?? 0,
      prefillMs: l.prefillMs ?? 0,
      // the rate of the prefill itself: the one-off A-net run it triggered is gcacheMs
      prefillTokensPerSec: rate(l.prefillTokens, l.prefillMs - (this.model.gcacheMode === 'off' ? 0 : l.gcacheMsThisCall ?? 0)),
      decodeTokens: l.decodeTokens ?? 0,
      decodeMs: l.decodeMs ?? 0,
      decodeTokensPerSec: rate(l.decodeTokens, l.decodeMs),
      gcacheMs: this.model.anetMs,
      gcacheRuns: this.model.anetRuns,
      gcacheComputedThisCall: l.gcacheComputed ?? false,
      gcacheMode: this.model.gcacheMode,
      // the threads the kernels run on, and why fewer than asked for (the single-thread module)
      threads: this.model.threads,
      threadsNote: this.model.rt.threadsNote,
      wasmVariant: this.model.rt.variant,
      contextShifts: this.conversation.shifts,
      contextUsed: this.session.position,
      contextLength: this.session.contextLength,
      kvCacheFormat: this.session.kvCache,
      // the relaxed module's instructions for the q4_0 products, timed at load ('i32' | 'pairs16'; null elsewhere)
      int8Dot: this.model.rt.int8Dot,
      memory: { weights: this.model.weightBytes, kvCache: mem.kvCache, scratch: mem.scratch,
        wasmTotal: this.model.rt.x.memory.buffer.byteLength },
    };
  }

  /**
   * The deductive outputs (spec §6) of a prompt — {ids} or {prompt}, by default the ids of the
   * current conversation — against those of the empty prompt [END]: G_LM computed afresh by the
   * A-net from each (the G-cache in use and the conversation are left alone), per layer rmse and
   * rel_rmse, per head slogdet and energy share (js/generation/deductive.js), with both G tensors.
   * A G-only model has one G whatever the prompt: it is reported against itself.
   * @param {{ids?: number[], prompt?: string}} [input] @returns {DeductiveReport}
   */
  deductive(input = {}) {
    this.#assertIdle();
    if (input === null || typeof input !== 'object') throw new PldrError('E_OPTION', 'deductive() takes {ids} or {prompt}');
    const { model } = this;
    const ids = input.ids !== undefined ? checkIds(input.ids, model.vocabSize, model.eosId)
      : input.prompt !== undefined ? this.encode(String(input.prompt)) : [...this.conversation.ids];
    if (ids.length === 0) throw new PldrError('E_OPTION', 'the conversation is empty: pass {ids} or {prompt}');
    if (ids.length > model.contextMax) {
      throw new PldrError('E_CONTEXT', `${ids.length} tokens are more than the model's context (${model.contextMax})`);
    }
    const shape = { layers: model.hparam('num_hidden_layers'), heads: model.hparam('num_attention_heads'), dk: model.hparam('head_dim') };
    const gOnly = model.hparam('custom_G_type') > 0;
    const referenceIds = [model.eosId];
    let G, referenceG, anetMs = null;
    if (gOnly) {
      G = referenceG = model.gcache();
      if (!G) throw new PldrError('E_GCACHE', 'this G-only model has no G installed');
    } else {
      this.#gEmpty ??= model.computeG(referenceIds).g;
      referenceG = this.#gEmpty;
      const own = model.computeG(ids);
      G = own.g;
      anetMs = own.anetMs;
    }
    const l = /** @type {Record<string, any>} */ (this.#last);
    return {
      ids, referenceIds, shape, G, referenceG, gOnly, anetMs, gcacheMs: model.anetMs,
      decodeStepMs: l.decodeTokens > 0 ? l.decodeMs / l.decodeTokens : null,
      saving: gOnly ? gOnlySaving(this.config) : null,
      ...deductiveFigures(G, referenceG, shape),
    };
  }

  /**
   * The conversation and the caches it is held in (KV-cache, G-cache), to give back to
   * restoreState later — after a page reload, in another engine of the same model — so that the
   * next reply does not run the conversation again. @returns {import('./engine-state.js').EngineState}
   */
  saveState() {
    this.#assertIdle();
    return packState(this.conversation, this.#segments);
  }

  /**
   * Puts back a conversation saved with saveState. A state that is damaged, of another format, or
   * made with another model, G-cache mode or G_LM is refused (E_SESSION_STATE, saying which) and
   * the engine is left as it was; one whose parts disagree leaves it as after reset().
   * @param {import('./engine-state.js').EngineState} state
   */
  restoreState(state) {
    this.#assertIdle();
    const s = checkState(state, this.model.vocabSize);
    this.session.importState(s.session);
    const held = this.session.tokens(), ids = s.conversation.ids;
    if (held.length > ids.length || held.some((id, i) => id !== ids[i])) {
      this.reset();
      throw new PldrError('E_SESSION_STATE', 'an engine state whose token ids disagree with its session state: not used');
    }
    const c = this.conversation;
    c.ids = [...ids];
    c.full = [...s.conversation.full];
    c.cut = { ...s.conversation.cut };
    c.keepTokens = s.conversation.keepTokens;
    this.#segments = s.segments.map(({ role, content, ids: segment }) => ({ role, content, ids: [...segment] }));
  }

  /** Forgets the conversation (the G-cache stays in modes first/fixed). */
  reset() {
    this.#assertIdle();
    this.conversation.setIds([]);
    this.#segments = [];
  }

  /** Frees the model, then stops the runtime's thread pool. */
  free() {
    this.model.free();
    this.model.rt.close();
  }
}

function stripUndefined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function checkIds(ids, vocab, eos) {
  if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new PldrError('E_OPTION', 'prompt must be text or {ids: number[]}');
  const list = Array.from(ids);
  if (list.length === 0) throw new PldrError('E_OPTION', `prompt ids are empty (the empty prompt is [${eos}])`);
  const bad = list.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad >= 0) throw new PldrError('E_TOKEN', `prompt id ${list[bad]} at index ${bad} is outside the vocabulary [0, ${vocab})`);
  return list;
}

