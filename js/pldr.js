// pldr.js — the public JavaScript API of the PLDR-LLM runtime: everything a user imports comes
// from here; the folders behind it (runtime/, loading/, tokenizer/, generation/, browser/, ui/)
// are free to change.
//
//   import { PLDR } from './js/pldr.js';
//   const engine = await PLDR.load('models/pldr-tiny', { onProgress, gcache: 'first', quant: 'f32', threads: 'auto' });
//   for await (const { text } of engine.generate('Once upon a time', { maxTokens: 64 })) ...
//   const { text, finishReason } = await engine.respond([{ role: 'user', content: 'Hi' }]).result;
//   await engine.chat.completions.create({ messages, stream: true, max_tokens: 64 });

// Loading a model and generating: generate/respond return a Generation (iterate it, await .result, abort())
export { PLDR, Engine } from './generation/engine.js';
export { Generation } from './generation/generation.js';
export { DEFAULT_SAMPLING, DEFAULT_MAX_TOKENS, DEFAULT_LOAD, DEFAULT_MODEL_URL, GCACHE_MODES, WEIGHT_FORMATS, autoThreads } from './defaults.js';

// The deductive outputs (spec §6): engine.deductive() returns them; the figures of any G_LM
export { deductiveFigures, headFigures, slogdet, energyShare, gOnlySaving } from './generation/deductive.js';

// Errors: every error the runtime throws on purpose is a PldrError with a `code` from ERROR_CODES
// (docs/ERRORS.md); an EngineError keeps the C status in `statusName`
export { PldrError, LoadError, TokenizerError, EngineError, AbortError, ERROR_CODES, STATUS_CODES } from './errors.js';

// Lower layers, for tools that need them: the tokenizer, the loader, the WebAssembly handles
export { SentencePieceTokenizer } from './tokenizer/tokenizer.js';
export { loadModel } from './loading/loader.js';
export { inspectModel } from './loading/inspect.js';
export { createRuntime } from './runtime/wasm.js';
export { detectFeatures } from './runtime/features.js';
export { Model } from './runtime/model.js';
export { Session } from './runtime/session.js';
// an engine in a worker of your own, on threads the page starts (README: Threads)
export { hostThreads, threadsFromParent } from './runtime/thread-host.js';

// The engine in a Web Worker (browsers): the same API over messages, and the chat controller
// that the chat page and <pldr-chat> render (for your own chat UI)
export { PldrWorker } from './browser/worker-client.js';
export { ChatController } from './browser/chat-controller.js';
