// An OpenAI-style facade: engine.chat.completions.create({messages, stream, ...}) returning
// objects and chunks shaped like that API, so code written for it runs on PLDR-LLM.
import { PldrError } from '../errors.js';

const FINISH = { eos: 'stop', stop: 'stop', length: 'length', abort: 'abort' };

let counter = 0;
const newId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

/** Maps OpenAI request fields to engine options. @param {Record<string, any>} req */
function toOptions(req) {
  const known = ['messages', 'stream', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed', 'stop', 'model',
    'n', 'signal', 'top_k', 'min_p', 'repetition_penalty', 'frequency_penalty', 'presence_penalty'];
  for (const key of Object.keys(req)) {
    if (!known.includes(key)) throw new PldrError('E_OPTION', `unsupported request field "${key}"`);
  }
  if (req.n !== undefined && req.n !== 1) throw new PldrError('E_OPTION', 'only n = 1 is supported');
  const stop = req.stop === undefined || req.stop === null ? [] : Array.isArray(req.stop) ? req.stop : [req.stop];
  return {
    maxTokens: req.max_completion_tokens ?? req.max_tokens,
    temperature: req.temperature, topP: req.top_p, topK: req.top_k, minP: req.min_p,
    repetitionPenalty: req.repetition_penalty, seed: req.seed, stop, signal: req.signal,
  };
}

/**
 * @param {import('../generation/engine.js').Engine} engine
 * @returns {{completions: {create(req: Record<string, any>): Promise<any>}}}
 */
export function chatApi(engine) {
  return {
    completions: {
      async create(req) {
        if (!req || typeof req !== 'object') throw new PldrError('E_OPTION', 'create() needs a request object');
        const options = toOptions(req);
        const run = engine.respond(req.messages, options);
        const id = newId(), created = Math.floor(Date.now() / 1000), model = engine.name;
        if (req.stream) return streamChunks(run, engine, { id, created, model });
        let content = '';
        for await (const piece of run) content += piece.text;
        const s = engine.stats();
        return {
          id, object: 'chat.completion', created, model,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: FINISH[s.finishReason] }],
          usage: { prompt_tokens: s.promptTokens, completion_tokens: s.completionTokens, total_tokens: s.promptTokens + s.completionTokens },
        };
      },
    },
  };
}

async function* streamChunks(run, engine, head) {
  const chunk = (delta, finish) => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
  yield chunk({ role: 'assistant', content: '' }, null);
  for await (const piece of run) yield chunk({ content: piece.text }, null);
  yield chunk({}, FINISH[engine.stats().finishReason]);
}
