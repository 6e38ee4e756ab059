// The token loop: sample, stream text, stop at [END], a stop string, maxTokens or an abort (also
// in the middle of a long prefill), and leave the conversation holding exactly what was emitted.
import { AbortError } from '../errors.js';
import { yieldToEventLoop } from './schedule.js';

/**
 * @typedef {{push(id: number): string, flush(): string, readonly pending: boolean}} TextStream
 *   streaming detokeniser: text for each id, holding incomplete UTF-8 (pending) until complete
 * @typedef {{id: number, text: string}} Piece
 * @typedef {'eos'|'length'|'stop'|'abort'} FinishReason
 * @typedef {{finishReason: FinishReason, ids: number[], text: string,
 *            prefillTokens: number, prefillMs: number, decodeTokens: number, decodeMs: number}} GenerationResult
 */

/** Longest suffix of `text` that is a proper prefix of one of `stops`. */
function heldBackLength(text, stops) {
  let hold = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(stop.slice(0, n))) { hold = n; break; }
    }
  }
  return hold;
}

/**
 * Generates after the conversation's ids. Yields pieces of text as they are final; the return
 * value (the generator's `value` when done) is the GenerationResult.
 * @param {import('./conversation.js').Conversation} conv
 * @param {{sampler: import('./sampler.js').Sampler, maxTokens: number, eosId: number,
 *          stop?: string[], signal?: AbortSignal, textStream: TextStream,
 *          onLogits?: (step: number, logits: Float32Array) => void}} o   onLogits: a live view, before sampling
 * @returns {AsyncGenerator<Piece, GenerationResult>}
 */
export async function* generateTokens(conv, o) {
  const stops = (o.stop ?? []).filter((s) => s.length > 0);
  const generatedIds = [];
  const timing = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0 };
  /** per generated token: text length decoded through it, and whether bytes were held */
  const marks = [];
  let text = '', emitted = 0, finishReason = /** @type {FinishReason} */ ('length');

  /** conv.sync(), or null when the signal stopped it (the conversation is then as before it) */
  const sync = async () => {
    try {
      return await conv.sync({ signal: o.signal });
    } catch (err) {
      if (err instanceof AbortError) return null;
      throw err;
    }
  };

  conv.makeRoom(1);
  let t0 = performance.now();
  let logits = await sync();
  timing.prefillTokens = conv.prefilled;
  timing.prefillMs = performance.now() - t0;
  if (!logits) finishReason = 'abort';

  for (let step = 0; logits && step < o.maxTokens; step++) {
    if (o.signal?.aborted) { finishReason = 'abort'; break; }
    o.onLogits?.(step, logits);
    const id = o.sampler.sample(logits, conv.ids);
    if (id === o.eosId) { finishReason = 'eos'; break; }
    conv.append([id]);
    generatedIds.push(id);
    text += o.textStream.push(id);
    marks.push({ end: text.length, pending: o.textStream.pending });
    // a stop never starts inside emitted text: what could begin one is held back
    const cut = stops.length ? Math.min(...stops.map((s) => text.indexOf(s, emitted)).filter((i) => i >= 0)) : Infinity;
    if (cut !== Infinity) {
      if (cut > emitted) yield { id, text: text.slice(emitted, cut) };
      emitted = cut;
      finishReason = 'stop';
      break;
    }
    const ready = text.length - heldBackLength(text, stops);
    if (ready > emitted) {
      yield { id, text: text.slice(emitted, ready) };
      emitted = ready;
    }
    await yieldToEventLoop();
    if (step + 1 === o.maxTokens || o.signal?.aborted) continue;
    conv.makeRoom(1);
    t0 = performance.now();
    logits = await sync();
    timing.decodeMs += performance.now() - t0;
    if (!logits) { finishReason = 'abort'; break; }
    timing.decodeTokens++;
  }

  if (finishReason === 'eos' || finishReason === 'length') {
    text += o.textStream.flush();
    if (text.length > emitted) yield { id: -1, text: text.slice(emitted) };
    emitted = text.length;
  } else {
    text = text.slice(0, emitted);
    // keep the tokens whose text was emitted in full; drop the rest from history and cache
    let keep = 0;
    while (keep < marks.length && !marks[keep].pending && marks[keep].end <= emitted) keep++;
    // (a context shift may have dropped early ids: count from the end)
    conv.truncate(Math.max(0, conv.ids.length - (marks.length - keep)));
    generatedIds.length = keep;
  }
  return { finishReason, ids: generatedIds, text, ...timing };
}
