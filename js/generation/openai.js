// An OpenAI-style facade: engine.chat.completions.create({messages, stream, ...}) returning
// objects and chunks shaped like that API, so code written for it runs on PLDR-LLM.
import { PldrError } from '../errors.js';
import { Generation } from './generation.js';

const FINISH = { eos: 'stop', stop: 'stop', length: 'length', abort: 'abort' };

/** Request fields and the engine option each becomes (null: handled here). */
const FIELDS = {
  messages: null, stream: null, model: null, n: null, stop: null, signal: 'signal',
  max_tokens: 'maxTokens', max_completion_tokens: 'maxTokens', temperature: 'temperature', top_p: 'topP', seed: 'seed',
  frequency_penalty: 'frequencyPenalty', presence_penalty: 'presencePenalty',
  top_k: 'topK', min_p: 'minP', repetition_penalty: 'repetitionPenalty', // not OpenAI's: llama.cpp's and vLLM's names
};

/**
 * @typedef {{messages: import('./chat-template.js').Message[], stream?: boolean|null, model?: string|null,
 *   n?: number|null, stop?: string|string[]|null, signal?: AbortSignal, max_tokens?: number|null,
 *   max_completion_tokens?: number|null, temperature?: number|null, top_p?: number|null, seed?: number|null,
 *   frequency_penalty?: number|null, presence_penalty?: number|null, top_k?: number|null, min_p?: number|null,
 *   repetition_penalty?: number|null}} ChatCompletionRequest
 * @typedef {'stop'|'length'|'abort'} ChatFinishReason
 * @typedef {{id: string, object: 'chat.completion', created: number, model: string,
 *   choices: {index: number, message: {role: 'assistant', content: string}, finish_reason: ChatFinishReason}[],
 *   usage: {prompt_tokens: number, completion_tokens: number, total_tokens: number}}} ChatCompletion
 * @typedef {{id: string, object: 'chat.completion.chunk', created: number, model: string,
 *   choices: {index: number, delta: {role?: 'assistant', content?: string}, finish_reason: ChatFinishReason|null}[]}} ChatCompletionChunk
 * @typedef {{
 *   (req: ChatCompletionRequest & {stream: true}): Promise<Generation<ChatCompletionChunk, ChatCompletion>>,
 *   (req: ChatCompletionRequest & {stream?: false|null}): Promise<ChatCompletion>,
 * }} CreateChatCompletion   with `stream: true` a Generation of chunks, else the whole completion
 * @typedef {{completions: {create: CreateChatCompletion}}} ChatApi
 */

let counter = 0;
const newId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

/** Maps OpenAI request fields to engine options; null, as in OpenAI's API, means the default. @param {Record<string, any>} req */
function toOptions(req) {
  for (const key of Object.keys(req)) {
    if (!Object.hasOwn(FIELDS, key)) throw new PldrError('E_OPTION', `unsupported request field "${key}"`);
  }
  if (req.n != null && req.n !== 1) throw new PldrError('E_OPTION', 'only n = 1 is supported');
  /** @type {Record<string, any>} */
  const options = { stop: req.stop == null ? [] : Array.isArray(req.stop) ? req.stop : [req.stop] };
  for (const [field, option] of Object.entries(FIELDS)) {
    if (option && req[field] != null) options[option] = req[field];
  }
  if (req.max_completion_tokens != null) options.maxTokens = req.max_completion_tokens; // wins over the older max_tokens
  return options;
}

/**
 * @param {import('../generation/engine.js').Engine} engine
 * @returns {ChatApi} create() resolves with a chat.completion, or with `stream: true` with a Generation of
 *   chat.completion.chunk objects (abort() stops it; its result is the whole chat.completion)
 */
export function chatApi(engine) {
  /** @type {CreateChatCompletion} */
  const create = async (req) => {
    if (!req || typeof req !== 'object') throw new PldrError('E_OPTION', 'create() needs a request object');
    const run = engine.respond(req.messages, toOptions(req));
    const head = { id: newId(), created: Math.floor(Date.now() / 1000), model: engine.name };
    if (req.stream) return streamChunks(run, head);
    return completion(head, await run.result);
  };
  return { completions: { create } };
}

/** @param {Record<string, any>} head @param {import('./engine.js').EngineResult} result */
function completion(head, result) {
  return {
    ...head, object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: FINISH[result.finishReason] }],
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens,
      total_tokens: result.promptTokens + result.completionTokens },
  };
}

/** @param {import('./engine.js').EngineGeneration} run @param {Record<string, any>} head */
function streamChunks(run, head) {
  const chunk = (delta, finish) => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
  return new Generation(async function* chunks(signal) {
    if (signal.aborted) run.abort();
    signal.addEventListener('abort', () => run.abort(), { once: true });
    yield chunk({ role: 'assistant', content: '' }, null);
    for await (const piece of run) yield chunk({ content: piece.text }, null);
    const result = await run.result;
    yield chunk({}, FINISH[result.finishReason]);
    return completion(head, result);
  });
}
