// A session handle over the C API (include/pldr.h): the KV-cache, the position and the session's
// own G-cache (modes prompt, off); many sessions can share one Model. A prefill runs at once
// (prefill) or in steps (beginPrefill) that a caller can stop between.
import { EngineError } from '../errors.js';
import { engineError } from './status.js';

/** @typedef {import('./model.js').Model} Model */

/** pldr_gcache_tensor values (include/pldr.h). */
export const GCACHE_TENSORS = Object.freeze({ G_LM: 0, A_LM: 1 });

/** pldr_kv_format values by index (include/pldr.h): how the KV-cache stores keys and values. */
export const KV_FORMATS = /** @type {const} */ (['f32', 'f16']);
/** @typedef {typeof KV_FORMATS[number]} KvFormat */

/**
 * A prefill in steps (Session.beginPrefill): each step() runs a piece of work — one layer over a
 * chunk of up to 64 tokens, a layer's A-net, or the logits — and returns how many are left. Until
 * the last one the session is unchanged; cancel() drops the prefill, leaving it exactly as before,
 * and so does a step that throws. The results are bitwise those of Session.prefill.
 */
export class PrefillRun {
  #session;
  #out;
  #ids;
  /** @type {Float32Array|null} every position's logits, copied out when complete (allLogits) */
  #all = null;
  /** @type {'open'|'done'|'closed'} */
  #state = 'open';

  /** @param {Session} session @param {number} out all-logits buffer (0: none) @param {number} n */
  constructor(session, out, n) {
    this.#session = session;
    this.#out = out;
    this.#ids = n;
  }

  /** Whether the prefill still has work left. */
  get open() { return this.#state === 'open'; }

  /**
   * Runs at least one and at most `budget` pieces of work.
   * @param {number} [budget] @returns {number} pieces left (0: complete, logits() is ready)
   */
  step(budget = 1) {
    if (this.#state !== 'open') throw new EngineError('PLDR_ERR_STATE', `prefill step: the prefill is ${this.#state}`);
    const s = this.#session;
    let left;
    try {
      left = s.check(s.rt.x.pldr_session_prefill_step(s.handle, budget), '');
    } catch (err) {
      s.rt.x.pldr_session_prefill_cancel(s.handle); // a step that fails ends the prefill (C may have already)
      this.#close('closed');
      throw err;
    }
    if (left === 0) {
      if (this.#out) this.#all = s.rt.f32.slice(this.#out >>> 2, (this.#out >>> 2) + this.#ids * s.model.vocabSize);
      this.#close('done');
    }
    return left;
  }

  /** Drops the prefill if it is still open: the session is as it was before beginPrefill. */
  cancel() {
    if (this.#state !== 'open') return;
    const s = this.#session;
    s.rt.x.pldr_session_prefill_cancel(s.handle);
    this.#close('closed');
  }

  /**
   * The logits once complete: the last position's (a copy; with {copy: false} the live view), or
   * with allLogits those of every position [n][vocab].
   * @param {{copy?: boolean}} [options] @returns {Float32Array}
   */
  logits(options = {}) {
    if (this.#state !== 'done') throw new EngineError('PLDR_ERR_STATE', 'prefill logits: the prefill has not completed');
    if (this.#all) return this.#all;
    return options.copy === false ? this.#session.logitsView() : this.#session.logits();
  }

  /** @param {'done'|'closed'} state */
  #close(state) {
    this.#state = state;
    this.#session.rt.free(this.#out);
    this.#out = 0;
  }
}

export class Session {
  /** @param {Model} model @param {{contextLength?: number, kvCache?: KvFormat}} options */
  constructor(model, options) {
    const ctx = options.contextLength ?? 0;
    if (!Number.isInteger(ctx) || ctx < 0) {
      throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `invalid context length ${JSON.stringify(ctx)}`);
    }
    const kvFormat = KV_FORMATS.indexOf(/** @type {any} */ (options.kvCache ?? 'f32'));
    if (kvFormat < 0) {
      throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `invalid KV-cache format ${JSON.stringify(options.kvCache)}: expected ${KV_FORMATS.join(' or ')}`);
    }
    const { rt } = model;
    const handle = rt.withParams('session', { context_length: ctx, kv_format: kvFormat }, (p) => rt.x.pldr_session_new(model.handle, p) >>> 0);
    if (!handle) throw new EngineError(rt.statusName(rt.x.pldr_model_status(model.handle)), model.error());
    this.model = model;
    this.rt = rt;
    this.handle = handle;
    this.idsPtr = 0;
    this.idsCap = 0;
    model.sessions.add(this);
  }

  /**
   * Throws the session's last C error when rc < 0; returns rc.
   * @param {number} rc @param {string} what a prefix for the message ('' for none)
   */
  check(rc, what) {
    if (rc < 0) throw engineError(this.rt, what, rc, this.rt.readCString(this.rt.x.pldr_session_error(this.handle)));
    return rc;
  }

  /** @param {ArrayLike<number>} ids */
  #stageIds(ids) {
    if (ids.length > this.idsCap) {
      this.rt.free(this.idsPtr);
      this.idsPtr = 0; // freed: nothing to free again if malloc throws
      this.idsCap = 0;
      const cap = Math.max(ids.length, 64);
      this.idsPtr = this.rt.malloc(cap * 4);
      this.idsCap = cap;
    }
    this.rt.i32.set(ids, this.idsPtr >>> 2);
    return this.idsPtr;
  }

  /**
   * Runs ids at the next positions. Returns the logits of the last position (a copy; with
   * {copy: false} the live view of logitsView), or with {allLogits: true} those of every
   * position [n][vocab]. A failed prefill leaves the session unchanged.
   * @param {ArrayLike<number>} ids @param {{allLogits?: boolean, copy?: boolean}} [options]
   * @returns {Float32Array}
   */
  prefill(ids, options = {}) {
    const V = this.model.vocabSize;
    const ptr = this.#stageIds(ids);
    const out = options.allLogits ? this.rt.malloc(ids.length * V * 4) : 0;
    try {
      this.check(this.rt.x.pldr_session_prefill(this.handle, ptr, ids.length, out), '');
      if (out) return this.rt.f32.slice(out >>> 2, (out >>> 2) + ids.length * V);
      return options.copy === false ? this.logitsView() : this.logits();
    } finally {
      this.rt.free(out);
    }
  }

  /**
   * Begins the same prefill in steps (see PrefillRun). Until it completes or is cancelled the
   * session accepts no other prefill, decode, rewind or shift. A failed begin leaves the session
   * unchanged.
   * @param {ArrayLike<number>} ids @param {{allLogits?: boolean}} [options] @returns {PrefillRun}
   */
  beginPrefill(ids, options = {}) {
    const ptr = this.#stageIds(ids); // C copies the ids: the buffer is free again after begin
    const out = options.allLogits ? this.rt.malloc(ids.length * this.model.vocabSize * 4) : 0;
    try {
      this.check(this.rt.x.pldr_session_prefill_begin(this.handle, ptr, ids.length, out), '');
    } catch (err) {
      this.rt.free(out);
      throw err;
    }
    return new PrefillRun(this, out, ids.length);
  }

  /**
   * Runs one token with the KV-cache and G-cache; returns its logits (a copy; with {copy: false}
   * the live view of logitsView). A failed decode leaves the session unchanged.
   * @param {number} id @param {{copy?: boolean}} [options] @returns {Float32Array}
   */
  decode(id, options = {}) {
    this.check(this.rt.x.pldr_session_decode(this.handle, id), '');
    return options.copy === false ? this.logitsView() : this.logits();
  }

  /** Live view of the last logits: valid until the next call on any engine object. @returns {Float32Array} */
  logitsView() {
    const ptr = this.rt.x.pldr_session_logits(this.handle) >>> 0;
    if (!ptr) throw new EngineError('PLDR_ERR_STATE', 'no logits: nothing run since the session started or was rewound');
    return this.rt.f32.subarray(ptr >>> 2, (ptr >>> 2) + this.model.vocabSize);
  }

  /** A copy of the last logits. @returns {Float32Array} */
  logits() { return this.logitsView().slice(); }

  /** Drops the last n positions. @param {number} n */
  rewind(n) { this.check(this.rt.x.pldr_session_rewind(this.handle, n), 'rewind'); }

  /**
   * Drops positions [keep, keep + nDrop) and slides the later ones back, keeping the G-cache.
   * @param {number} keep @param {number} nDrop
   */
  shift(keep, nDrop) { this.check(this.rt.x.pldr_session_shift(this.handle, keep, nDrop), 'context shift'); }

  /** Positions held (0 again after the model's G-cache was replaced). */
  get position() { return this.rt.x.pldr_session_position(this.handle); }
  get contextLength() { return this.rt.x.pldr_session_context_length(this.handle); }
  /** How the KV-cache stores keys and values. @returns {KvFormat} */
  get kvCache() { return KV_FORMATS[this.rt.x.pldr_session_kv_format(this.handle)]; }
  /** The C status name of the session's last error ('PLDR_OK' when none). */
  get status() { return this.rt.statusName(this.rt.x.pldr_session_status(this.handle)); }

  /** @param {'G_LM'|'A_LM'} [which] @returns {Float32Array|null} a copy, or null before G is computed */
  gcache(which = 'G_LM') {
    const ptr = this.rt.x.pldr_session_gcache(this.handle, which === 'A_LM' ? GCACHE_TENSORS.A_LM : GCACHE_TENSORS.G_LM) >>> 0;
    const n = this.model.gcacheCount;
    return ptr ? this.rt.f32.slice(ptr >>> 2, (ptr >>> 2) + n) : null;
  }

  /** The token ids of the positions held. @returns {Int32Array} a copy */
  tokens() {
    const ptr = this.rt.x.pldr_session_tokens(this.handle) >>> 0;
    return ptr ? this.rt.i32.slice(ptr >>> 2, (ptr >>> 2) + this.position) : new Int32Array(0);
  }

  /**
   * What the session holds — token ids, the KV-cache, the G_LM they were computed under — as bytes
   * to keep and give back to importState later (include/pldr.h, pldr_session_state_*: the format
   * is tagged and names the model it was made with).
   * @returns {Uint8Array}
   */
  exportState() {
    const { rt } = this;
    const size = rt.x.pldr_session_state_size(this.handle) >>> 0;
    if (size === 0) this.check(rt.x.pldr_session_status(this.handle) || -1, 'state export');
    const ptr = rt.malloc(size);
    try {
      this.check(rt.x.pldr_session_state_export(this.handle, ptr, size), 'state export');
      return rt.u8.slice(ptr, ptr + size);
    } finally {
      rt.free(ptr);
    }
  }

  /**
   * Replaces what the session holds by a state from exportState. A state that is damaged, of
   * another format, or made with another model, G-cache mode or G_LM is refused (E_SESSION_STATE,
   * the message says which) and the session is left as it was.
   * @param {Uint8Array} bytes
   */
  importState(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', 'a session state is a Uint8Array');
    const { rt } = this;
    const ptr = rt.malloc(bytes.length);
    try {
      rt.u8.set(bytes, ptr);
      this.check(rt.x.pldr_session_state_import(this.handle, ptr, bytes.length), 'state import');
    } finally {
      rt.free(ptr);
    }
  }

  /** Bytes held by the KV-cache and by scratch. @returns {{kvCache: number, scratch: number}} */
  memory() {
    return {
      kvCache: this.rt.x.pldr_session_kv_bytes(this.handle) >>> 0,
      scratch: this.rt.x.pldr_session_scratch_bytes(this.handle) >>> 0,
    };
  }

  /** Frees the session (and its staged ids). */
  free() {
    if (!this.handle) return;
    this.rt.free(this.idsPtr);
    this.rt.x.pldr_session_free(this.handle);
    this.handle = 0;
    this.model.sessions.delete(this);
  }
}
