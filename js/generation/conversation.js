// A token history kept in step with a session's KV-cache: new text is appended as ids, only ids
// not yet in the cache are run (in steps that an AbortSignal can stop between), a shared prefix
// is reused after a rewind, and when the context is full the window slides (context shift,
// G-cache kept) instead of failing.
import { AbortError, PldrError } from '../errors.js';
import { yieldToEventLoop } from './schedule.js';

/** @typedef {import('../runtime/session.js').Session} Session */
/** @typedef {import('../runtime/session.js').PrefillRun} PrefillRun */

/** A stepped prefill visits the event loop (where a Stop arrives) at least this often. */
const SLICE_MS = 10;

export class Conversation {
  /**
   * @param {Session} session
   * @param {{keepTokens?: number, onContextShift?: (info: {dropped: number, kept: number}) => void}} [options]
   *   keepTokens: leading ids never dropped by a shift (e.g. a system prompt)
   */
  constructor(session, options = {}) {
    this.session = session;
    /** @type {number[]} every id of the conversation; the cache holds ids[0..session.position) */
    this.ids = [];
    /** @type {number[]} the history as the caller knows it: ids before any context shift */
    this.full = [];
    /** the span of `full` that context shifts dropped: full[at, at + count) is not in `ids` */
    this.cut = { at: 0, count: 0 };
    this.keepTokens = options.keepTokens ?? 0;
    this.onContextShift = options.onContextShift;
    this.shifts = 0;
    this.prefilled = 0; // ids run by the last sync()
  }

  get contextLength() { return this.session.contextLength; }

  /**
   * Replaces the history by `ids`, keeping the cached part they share with the old history. When
   * `ids` continue the history as it was before a context shift (a chat's next turn), the span the
   * shift dropped stays dropped, so the turn does not run the whole window again.
   */
  setIds(ids) {
    let effective = ids;
    if (this.cut.count > 0) {
      const end = this.cut.at + this.cut.count;
      if (ids.length >= end && startsWith(ids, this.full, end)) effective = [...ids.slice(0, this.cut.at), ...ids.slice(end)];
      else this.cut = { at: 0, count: 0 };
    }
    let common = 0;
    const cached = Math.min(this.session.position, this.ids.length);
    while (common < cached && common < effective.length && this.ids[common] === effective[common]) common++;
    if (this.session.position > common) this.session.rewind(this.session.position - common);
    this.ids = [...effective];
    this.full = [...ids];
  }

  /** @param {number[]} ids */
  append(ids) {
    this.ids.push(...ids);
    this.full.push(...ids);
  }

  /** Drops ids after `length` (and from the cache). */
  truncate(length) {
    if (this.session.position > length) this.session.rewind(this.session.position - length);
    const removed = Math.max(0, this.ids.length - length);
    this.ids.length -= removed;
    this.full.length -= removed;
    if (this.ids.length < this.cut.at) { // cut back into the kept prefix: the dropped span is gone
      this.cut = { at: 0, count: 0 };
      this.full = [...this.ids];
    }
  }

  /**
   * Makes room for `extra` more positions: slides the window (drops the oldest ids after
   * keepTokens, half of what can go) until they fit.
   */
  makeRoom(extra) {
    const ctx = this.contextLength;
    if (extra > ctx) throw new PldrError('E_CONTEXT', `${extra} tokens cannot fit a context of ${ctx}`);
    while (this.ids.length + extra > ctx || this.session.position + extra > ctx) {
      const keep = Math.min(this.keepTokens, Math.floor(ctx / 2));
      const movable = this.ids.length - keep;
      const needed = this.ids.length + extra - ctx;
      const drop = Math.min(movable, Math.max(needed, Math.ceil(movable / 2)));
      if (drop <= 0) throw new PldrError('E_CONTEXT', `no room for ${extra} tokens in a context of ${ctx}`);
      const cachedDrop = Math.max(0, Math.min(drop, this.session.position - keep));
      if (cachedDrop > 0) this.session.shift(keep, cachedDrop);
      if (drop > cachedDrop && this.session.position > keep) this.session.rewind(this.session.position - keep);
      if (this.cut.count > 0 && this.cut.at !== keep) { // another kept prefix: forget the old cut
        this.full = [...this.ids];
        this.cut = { at: 0, count: 0 };
      }
      this.cut = { at: keep, count: this.cut.count + drop };
      this.ids.splice(keep, drop);
      this.shifts++;
      this.onContextShift?.({ dropped: drop, kept: this.ids.length });
    }
  }

  /**
   * Runs the ids not yet in the cache; resolves to the last logits (a live view). Several ids (or
   * one in mode "off", where a token recomputes everything) run as a stepped prefill: the signal
   * is checked after every step, the event loop visited every SLICE_MS. On abort the prefill is
   * cancelled — the cache holds what it held before, the ids stay to be run — and an AbortError
   * is thrown.
   * @param {{signal?: AbortSignal}} [options] @returns {Promise<Float32Array>}
   */
  async sync(options = {}) {
    const { signal } = options;
    const start = this.session.position;
    this.prefilled = 0;
    if (signal?.aborted) throw new AbortError();
    if (this.ids.length - start <= 0) {
      // everything is cached: rerun the last id so its logits are current
      this.session.rewind(1);
      this.prefilled = 1;
      return this.session.prefill(this.ids.slice(-1), { copy: false });
    }
    const ids = this.ids.slice(start);
    if (ids.length === 1 && this.session.model.gcacheMode !== 'off') {
      this.prefilled = 1;
      return this.session.decode(ids[0], { copy: false });
    }
    await runSteps(this.session.beginPrefill(ids), signal);
    this.prefilled = ids.length;
    return this.session.logitsView();
  }
}

/**
 * Steps a prefill to its end, checking the signal after every step and yielding to the event loop
 * every SLICE_MS; cancels it when aborted (or when a step throws).
 * @param {PrefillRun} run @param {AbortSignal} [signal]
 */
async function runSteps(run, signal) {
  let slice = performance.now();
  try {
    while (run.step() > 0) {
      if (signal?.aborted) throw new AbortError();
      if (performance.now() - slice < SLICE_MS) continue;
      await yieldToEventLoop();
      if (signal?.aborted) throw new AbortError();
      slice = performance.now();
    }
  } finally {
    run.cancel(); // no-op once complete
  }
}

/** Whether a[0..n) equals b[0..n). */
function startsWith(a, b, n) {
  if (b.length < n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
