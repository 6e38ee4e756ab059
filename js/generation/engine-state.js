// An engine's conversation with the caches it is held in, as one object to keep (IndexedDB,
// structured clone) and give back later: the session's state (js/runtime/session.js exportState,
// checked by the C library against the model it is restored into) and the JavaScript side of the
// conversation (its token ids, the messages they came from, the span a context shift dropped).
import { PldrError } from '../errors.js';

export const ENGINE_STATE_FORMAT = 'pldr-engine-state-1';

/**
 * @typedef {{role: string, content: string, ids: number[]}} Segment
 * @typedef {{format: string, session: Uint8Array, segments: Segment[],
 *   conversation: {ids: number[], full: number[], cut: {at: number, count: number}, keepTokens: number}}} EngineState
 */

/**
 * @param {import('./conversation.js').Conversation} conversation @param {Segment[]} segments
 * @returns {EngineState}
 */
export function packState(conversation, segments) {
  const c = conversation;
  return {
    format: ENGINE_STATE_FORMAT,
    session: c.session.exportState(),
    segments: segments.map(({ role, content, ids }) => ({ role, content, ids: [...ids] })),
    conversation: { ids: [...c.ids], full: [...c.full], cut: { ...c.cut }, keepTokens: c.keepTokens },
  };
}

const bad = (why) => new PldrError('E_SESSION_STATE', `not an engine state: ${why}`);

/** @param {unknown} ids @param {number} vocab */
function checkIdList(ids, vocab, what) {
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab)) {
    throw bad(`${what} must be token ids of this vocabulary`);
  }
}

/**
 * Checks the JavaScript side of a state; returns it as trusted values.
 * @param {unknown} state @param {number} vocab @returns {EngineState}
 */
export function checkState(state, vocab) {
  const s = /** @type {any} */ (state);
  if (!s || typeof s !== 'object') throw bad('expected an object');
  if (s.format !== ENGINE_STATE_FORMAT) throw new PldrError('E_SESSION_STATE', `an engine state of format ${JSON.stringify(s.format)}: this runtime reads ${ENGINE_STATE_FORMAT}`);
  if (!(s.session instanceof Uint8Array)) throw bad('session must be a Uint8Array');
  const c = s.conversation;
  if (!c || typeof c !== 'object') throw bad('conversation is missing');
  checkIdList(c.ids, vocab, 'conversation.ids');
  checkIdList(c.full, vocab, 'conversation.full');
  const cut = c.cut;
  if (!cut || !Number.isInteger(cut.at) || !Number.isInteger(cut.count) || cut.at < 0 || cut.count < 0 || cut.at + cut.count > c.full.length) {
    throw bad('conversation.cut is not a span of conversation.full');
  }
  if (!Number.isInteger(c.keepTokens) || c.keepTokens < 0) throw bad('conversation.keepTokens must be a count');
  if (!Array.isArray(s.segments) || !s.segments.every((g) => g && typeof g.role === 'string' && typeof g.content === 'string')) {
    throw bad('segments must be {role, content, ids}');
  }
  s.segments.forEach((g, i) => checkIdList(g.ids, vocab, `segments[${i}].ids`));
  return s;
}
