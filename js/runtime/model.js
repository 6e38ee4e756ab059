// The model handle over the C API (include/pldr.h): weights and the model-level G-cache, plus the
// tensor sink that streams shards into it. Sessions (KV-cache, position) are in session.js.
import { EngineError } from '../errors.js';
import { Session } from './session.js';
import { engineError } from './status.js';

/** @typedef {import('./wasm.js').Runtime} Runtime */
/** @typedef {'first'|'prompt'|'off'|'fixed'} GcacheMode */
/** @typedef {'f32'|'q8'|'q4'} WeightFormat */

export const GCACHE_MODES = /** @type {const} */ (['first', 'prompt', 'off', 'fixed']);
export const WEIGHT_FORMATS = /** @type {const} */ (['f32', 'q8', 'q4']);
const DTYPES = { F32: 0, F16: 1, BF16: 2, Q8_0: 3, Q4_0: 4, U8: 5, BOOL: 6 };

/** The C dtype code and logical shape of a loader TensorInfo (99: a dtype the C API rejects). */
function tensorDtype(info) {
  const dtype = info.quant ? ({ q8_0: DTYPES.Q8_0, q4_0: DTYPES.Q4_0 }[info.quant.format] ?? 99)
    : (DTYPES[/** @type {keyof typeof DTYPES} */ (info.dtype)] ?? 99);
  return { dtype, shape: info.quant ? info.quant.shape : info.shape };
}

/** @param {string} name @param {readonly string[]} allowed @param {unknown} value */
function checkOption(name, allowed, value) {
  const index = allowed.indexOf(/** @type {any} */ (value));
  if (index < 0) {
    throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `invalid ${name} ${JSON.stringify(value)}: expected one of ${allowed.join(', ')}`);
  }
  return index;
}

export class Model {
  /**
   * Creates a model from a parsed config.json (Hugging Face or native names) and allocates it.
   * @param {Runtime} rt
   * @param {Record<string, unknown>} config
   * @param {{gcache?: GcacheMode, quant?: WeightFormat}} [options]
   */
  static create(rt, config, options = {}) {
    const mode = checkOption('G-cache mode', GCACHE_MODES, options.gcache ?? 'first');
    const format = checkOption('weight format', WEIGHT_FORMATS, options.quant ?? 'f32');
    if (!config || typeof config !== 'object' || Array.isArray(config)) {
      throw new EngineError('PLDR_ERR_BAD_CONFIG', 'config.json must hold a JSON object');
    }
    const params = rt.copyIn(new Int32Array([mode, format]));
    const handle = rt.x.pldr_model_new(params) >>> 0;
    rt.free(params);
    if (!handle) throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', 'out of memory creating the model');
    const model = new Model(rt, handle);
    try {
      model.#applyConfig(config);
      model.#check(rt.x.pldr_model_alloc(handle), '');
    } catch (err) {
      model.free();
      throw err;
    }
    return model;
  }

  /** @param {Runtime} rt @param {number} handle */
  constructor(rt, handle) {
    this.rt = rt;
    this.handle = handle;
    /** @type {Set<Session>} */
    this.sessions = new Set();
  }

  /** @param {number} rc @param {string} what */
  #check(rc, what, tensor) {
    if (rc < 0) throw engineError(this.rt, what, rc, this.error(), tensor);
    return rc;
  }

  error() { return this.rt.readCString(this.rt.x.pldr_model_error(this.handle)); }

  /** @param {Record<string, unknown>} config */
  #applyConfig(config) {
    const { rt } = this;
    for (const [key, value] of Object.entries(config)) {
      let rc = 1;
      if (typeof value === 'number' || typeof value === 'boolean') {
        rc = rt.withStrings([key], (k) => rt.x.pldr_model_set_hparam(this.handle, k, Number(value)));
      } else if (typeof value === 'string' || value === null) {
        rc = rt.withStrings([key, value ?? 'null'], (k, v) => rt.x.pldr_model_set_hparam_str(this.handle, k, v));
      }
      this.#check(rc, 'config.json');
    }
  }

  /**
   * Starts streaming one tensor into the model; returns its writer.
   * @param {{name: string, dtype: string, shape: number[], quant?: {format: string, shape: number[]}}} info
   */
  beginTensor(info) {
    const { rt } = this;
    const { dtype, shape } = tensorDtype(info);
    const shapePtr = rt.copyIn(new Int32Array(shape));
    try {
      const rc = rt.withStrings([info.name], (n) => rt.x.pldr_model_upload_begin(this.handle, n, dtype, shapePtr, shape.length));
      this.#check(rc, '', info.name);
    } finally {
      rt.free(shapePtr);
    }
    const slots = rt.malloc(8); // void* window; size_t capacity
    const model = this;
    return {
      /** @param {Uint8Array} bytes */
      write(bytes) {
        try {
          writeAll(bytes);
        } catch (err) {
          rt.x.pldr_model_upload_end(model.handle); // discards the partial tensor
          rt.free(slots);
          throw err;
        }
      },
      end() {
        rt.free(slots);
        model.#check(rt.x.pldr_model_upload_end(model.handle), '', info.name);
      },
    };
    /** @param {Uint8Array} bytes */
    function writeAll(bytes) {
        let offset = 0;
        while (offset < bytes.length) {
          model.#check(rt.x.pldr_model_upload_window(model.handle, slots, slots + 4), '', info.name);
          const u32 = rt.u32;
          const dst = u32[slots >>> 2], capacity = u32[(slots >>> 2) + 1];
          if (capacity === 0) throw Object.assign(new EngineError('PLDR_ERR_SHAPE', `tensor ${info.name}: more bytes than its shape and dtype hold`), { tensor: info.name });
          const n = Math.min(capacity, bytes.length - offset);
          rt.u8.set(bytes.subarray(offset, offset + n), dst);
          model.#check(rt.x.pldr_model_upload_commit(model.handle, n), '', info.name);
          offset += n;
        }
    }
  }

  /** Validates a tensor's name, dtype and shape as beginTensor would, without loading it. */
  checkTensor(info) {
    const { dtype, shape } = tensorDtype(info);
    const shapePtr = this.rt.copyIn(new Int32Array(shape));
    try {
      const rc = this.rt.withStrings([info.name], (n) => this.rt.x.pldr_model_check_tensor(this.handle, n, dtype, shapePtr, shape.length));
      this.#check(rc, '', info.name);
    } finally {
      this.rt.free(shapePtr);
    }
  }

  /** Names of required tensors neither uploaded nor checked. */
  missingTensors() {
    const out = [];
    for (let i = 0, n = this.rt.x.pldr_model_tensor_count(this.handle); i < n; i++) {
      const status = this.rt.x.pldr_model_tensor_status(this.handle, i);
      if (!(status & 7)) out.push(this.rt.readCString(this.rt.x.pldr_model_tensor_name(this.handle, i)));
    }
    return out;
  }

  /** Checks every tensor arrived; the model is then ready for sessions. */
  finalize() { this.#check(this.rt.x.pldr_model_finalize(this.handle), ''); }

  /** @param {Float32Array} g G_LM [L][H][dk][dk]; switches the model to mode "fixed" */
  setGcache(g) {
    if (!(g instanceof Float32Array)) throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', 'G-cache must be a Float32Array');
    const ptr = this.rt.copyIn(g);
    try { this.#check(this.rt.x.pldr_model_set_gcache(this.handle, ptr, g.length), 'G-cache'); } finally { this.rt.free(ptr); }
  }

  /** Computes G with the A-net from `ids` (e.g. [3], the empty prompt) and installs it (mode "fixed"). */
  computeGcache(ids) {
    const ptr = this.rt.copyIn(Int32Array.from(ids));
    try { this.#check(this.rt.x.pldr_model_compute_gcache(this.handle, ptr, ids.length), 'G-cache'); } finally { this.rt.free(ptr); }
  }

  /** @returns {Float32Array|null} a copy of the model's G-cache, or null when not computed yet */
  gcache() {
    const ptr = this.rt.x.pldr_model_gcache(this.handle) >>> 0;
    const n = this.rt.x.pldr_model_gcache_count(this.handle);
    return ptr ? this.rt.f32.slice(ptr >>> 2, (ptr >>> 2) + n) : null;
  }

  get gcacheCount() { return this.rt.x.pldr_model_gcache_count(this.handle); }
  get gcacheMode() { return GCACHE_MODES[this.rt.x.pldr_model_gcache_mode(this.handle)]; }
  get vocabSize() { return this.rt.x.pldr_model_vocab_size(this.handle); }
  get contextMax() { return this.rt.x.pldr_model_context_max(this.handle); }
  get eosId() { return this.rt.x.pldr_model_eos_id(this.handle); }
  get weightBytes() { return this.rt.x.pldr_model_weight_bytes(this.handle) >>> 0; }
  /** How many times the A-net ran (all sessions): 1 after the first prompt in mode "first". */
  get anetRuns() { return Number(this.rt.x.pldr_model_anet_runs(this.handle)); }
  /** Milliseconds spent computing G with the A-net (all runs). */
  get anetMs() { return this.rt.x.pldr_model_anet_ms(this.handle); }

  /** @param {string} key any accepted config name @returns {number} NaN when unset */
  hparam(key) { return this.rt.withStrings([key], (k) => this.rt.x.pldr_model_hparam(this.handle, k)); }

  /** @param {{contextLength?: number}} [options] */
  newSession(options = {}) { return new Session(this, options); }

  /** Frees the model and its sessions. */
  free() {
    for (const s of this.sessions) s.free();
    if (this.handle) this.rt.x.pldr_model_free(this.handle);
    this.handle = 0;
  }
}

/**
 * The loader's TensorSink over a Model: configure() creates it from config.json, begin() streams
 * each tensor straight into WebAssembly memory, finish() finalizes, abort() frees everything.
 * @param {Runtime} rt @param {{gcache?: GcacheMode, quant?: WeightFormat}} [options]
 */
export function modelSink(rt, options = {}) {
  const sink = {
    /** @type {Model|null} */
    model: null,
    /** @param {Record<string, unknown>} config */
    configure(config) { sink.model = Model.create(rt, config, options); },
    /** @param {any} info */
    begin(info) {
      if (!sink.model) throw new EngineError('PLDR_ERR_STATE', 'tensor before config.json');
      return sink.model.beginTensor(info);
    },
    finish() { sink.model?.finalize(); },
    abort() {
      sink.model?.free();
      sink.model = null;
    },
  };
  return sink;
}
