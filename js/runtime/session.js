// A session handle over the C API (include/pldr.h): the KV-cache, the position and the session's
// own G-cache (mode prompt); many sessions can share one Model.
import { EngineError } from '../errors.js';
import { engineError } from './status.js';

/** @typedef {import('./model.js').Model} Model */

export class Session {
  /** @param {Model} model @param {{contextLength?: number}} options */
  constructor(model, options) {
    const ctx = options.contextLength ?? 0;
    if (!Number.isInteger(ctx) || ctx < 0) {
      throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `invalid context length ${JSON.stringify(ctx)}`);
    }
    const { rt } = model;
    const params = rt.copyIn(new Int32Array([ctx]));
    const handle = rt.x.pldr_session_new(model.handle, params) >>> 0;
    rt.free(params);
    if (!handle) throw new EngineError(rt.statusName(rt.x.pldr_model_status(model.handle)), model.error());
    this.model = model;
    this.rt = rt;
    this.handle = handle;
    this.idsPtr = 0;
    this.idsCap = 0;
    model.sessions.add(this);
  }

  /** @param {number} rc @param {string} what */
  #check(rc, what) {
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
   * position [n][vocab].
   * @param {ArrayLike<number>} ids @param {{allLogits?: boolean, copy?: boolean}} [options]
   * @returns {Float32Array}
   */
  prefill(ids, options = {}) {
    const V = this.model.vocabSize;
    const ptr = this.#stageIds(ids);
    const out = options.allLogits ? this.rt.malloc(ids.length * V * 4) : 0;
    try {
      this.#check(this.rt.x.pldr_session_prefill(this.handle, ptr, ids.length, out), '');
      if (out) return this.rt.f32.slice(out >>> 2, (out >>> 2) + ids.length * V);
      return options.copy === false ? this.logitsView() : this.logits();
    } finally {
      this.rt.free(out);
    }
  }

  /**
   * Runs one token with the KV-cache and G-cache; returns its logits (a copy; with {copy: false}
   * the live view of logitsView).
   * @param {number} id @param {{copy?: boolean}} [options]
   */
  decode(id, options = {}) {
    this.#check(this.rt.x.pldr_session_decode(this.handle, id), '');
    return options.copy === false ? this.logitsView() : this.logits();
  }

  /** Live view of the last logits: valid until the next call on any engine object. */
  logitsView() {
    const ptr = this.rt.x.pldr_session_logits(this.handle) >>> 0;
    if (!ptr) throw new EngineError('PLDR_ERR_STATE', 'no logits: nothing run since the session started or was rewound');
    return this.rt.f32.subarray(ptr >>> 2, (ptr >>> 2) + this.model.vocabSize);
  }

  logits() { return this.logitsView().slice(); }

  /** Drops the last n positions. */
  rewind(n) { this.#check(this.rt.x.pldr_session_rewind(this.handle, n), 'rewind'); }

  /** Drops positions [keep, keep + nDrop) and slides the later ones back, keeping the G-cache. */
  shift(keep, nDrop) { this.#check(this.rt.x.pldr_session_shift(this.handle, keep, nDrop), 'context shift'); }

  get position() { return this.rt.x.pldr_session_position(this.handle); }
  get contextLength() { return this.rt.x.pldr_session_context_length(this.handle); }

  /** @param {'G_LM'|'A_LM'} [which] @returns {Float32Array|null} */
  gcache(which = 'G_LM') {
    const ptr = this.rt.x.pldr_session_gcache(this.handle, which === 'A_LM' ? 1 : 0) >>> 0;
    const n = this.model.gcacheCount;
    return ptr ? this.rt.f32.slice(ptr >>> 2, (ptr >>> 2) + n) : null;
  }

  memory() {
    return {
      kvCache: this.rt.x.pldr_session_kv_bytes(this.handle) >>> 0,
      scratch: this.rt.x.pldr_session_scratch_bytes(this.handle) >>> 0,
    };
  }

  free() {
    if (!this.handle) return;
    this.rt.free(this.idsPtr);
    this.rt.x.pldr_session_free(this.handle);
    this.handle = 0;
    this.model.sessions.delete(this);
  }
}
