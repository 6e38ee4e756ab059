// The model handle over the C API (include/pldr.h): weights and the model-level G-cache, plus the
// tensor sink that streams shards into it. Sessions (KV-cache, position) are in session.js.
import { EngineError } from '../errors.js';
import { KV_FORMATS, Session } from './session.js';
import { engineError } from './status.js';

/** @typedef {import('./wasm.js').Runtime} Runtime */
/** @typedef {'first'|'prompt'|'off'|'fixed'} GcacheMode */
/** @typedef {'f32'|'q8'|'q4'} WeightFormat */

/** pldr_gcache_mode values by index (include/pldr.h). */
export const GCACHE_MODES = /** @type {const} */ (['first', 'prompt', 'off', 'fixed']);
/** pldr_weight_format values by index. */
export const WEIGHT_FORMATS = /** @type {const} */ (['f32', 'q8', 'q4']);
/** pldr_dtype codes by enum name (include/pldr.h); files name dtypes as pldr_dtype_from_name reads them. */
export const DTYPES = Object.freeze({ INVALID: -1, F32: 0, F16: 1, BF16: 2, Q8_0: 3, Q4_0: 4, U8: 5, BOOL: 6 });
/** pldr_tensor_status bits. */
export const TENSOR_STATUS = Object.freeze({ UPLOADED: 1, CHECKED: 2, OPTIONAL: 4, QUANTIZABLE: 8 });

/**
 * The C dtype code (pldr_dtype_from_name: the one dtype table, include/pldr.h "Formats") and the
 * logical shape of a loader TensorInfo; an unknown name gives PLDR_DTYPE_INVALID, which the C
 * checks reject naming the tensor.
 * @param {Runtime} rt
 */
function tensorDtype(rt, info) {
  const name = info.quant ? info.quant.format : info.dtype;
  const dtype = rt.withStrings([String(name)], (n) => rt.x.pldr_dtype_from_name(n));
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
   * `beforeAlloc` runs between the two, when nothing large is allocated yet (the memory check of
   * PLDR.load: memoryNeeded() works then); what it throws frees the model.
   * @param {Runtime} rt
   * @param {Record<string, unknown>} config
   * @param {{gcache?: GcacheMode, quant?: WeightFormat, beforeAlloc?: (model: Model, config: Record<string, unknown>) => void}} [options]
   */
  static create(rt, config, options = {}) {
    const model = Model.#configured(rt, config, options);
    try {
      options.beforeAlloc?.(model, config);
      model.#check(rt.x.pldr_model_alloc(model.handle), '');
    } catch (err) {
      model.free();
      throw err;
    }
    return model;
  }

  /**
   * What a model of `config` would need (memoryNeeded) with these options, without creating it.
   * @param {Runtime} rt @param {Record<string, unknown>} config
   * @param {{gcache?: GcacheMode, quant?: WeightFormat}} options @param {number} [contextLength]
   */
  static memoryNeeded(rt, config, options, contextLength) {
    const model = Model.#configured(rt, config, options);
    try { return model.memoryNeeded(contextLength); } finally { model.free(); }
  }

  /** A new model handle with config.json applied, not allocated. */
  static #configured(rt, config, options) {
    const mode = checkOption('G-cache mode', GCACHE_MODES, options.gcache ?? 'first');
    const format = checkOption('weight format', WEIGHT_FORMATS, options.quant ?? 'f32');
    if (!config || typeof config !== 'object' || Array.isArray(config)) {
      throw new EngineError('PLDR_ERR_BAD_CONFIG', 'config.json must hold a JSON object');
    }
    const handle = rt.withParams('model', { gcache_mode: mode, weight_format: format }, (p) => rt.x.pldr_model_new(p) >>> 0);
    if (!handle) throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', 'out of memory creating the model');
    const model = new Model(rt, handle);
    try {
      if (rt.poolHandle) model.#check(rt.x.pldr_model_set_threads(handle, rt.poolHandle), 'threads');
      model.#applyConfig(config);
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

  /** @param {number} rc @param {string} what @param {string} [tensor] */
  #check(rc, what, tensor) {
    if (rc < 0) throw engineError(this.rt, what, rc, this.error(), tensor);
    return rc;
  }

  /** The message of the model's last C error ('' when none). */
  error() { return this.rt.readCString(this.rt.x.pldr_model_error(this.handle)); }

  /**
   * Every key of config.json goes to C, which reads it, ignores it as harmless or refuses it by
   * name (pldr_model_set_hparam): objects as "key.member" keys, arrays and empty objects as text.
   * @param {Record<string, unknown>} config
   */
  #applyConfig(config) {
    const { rt } = this;
    /** @param {string} key @param {unknown} value @param {number} depth */
    const set = (key, value, depth) => {
      const members = value && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : null;
      if (members?.length && depth < 8) {
        for (const [k, v] of members) set(`${key}.${k}`, v, depth + 1);
        return;
      }
      let rc;
      if (typeof value === 'number' || typeof value === 'boolean') {
        rc = rt.withStrings([key], (k) => rt.x.pldr_model_set_hparam(this.handle, k, Number(value)));
      } else {
        const text = typeof value === 'string' ? value : value === null ? 'null' : Array.isArray(value) ? '[array]' : '{object}';
        rc = rt.withStrings([key, text], (k, v) => rt.x.pldr_model_set_hparam_str(this.handle, k, v));
      }
      this.#check(rc, 'config.json');
    };
    for (const [key, value] of Object.entries(config)) set(key, value, 0);
  }

  /**
   * Starts streaming one tensor into the model; returns its writer. write() copies bytes into the
   * tensor's memory; end() completes it. A failed write (more bytes than the shape holds, or a C
   * error) discards the tensor — still missing, it can be begun again — and closes the writer:
   * a later write() or end() throws PLDR_ERR_STATE. abort() discards it on purpose.
   * @param {{name: string, dtype: string, shape: number[], quant?: {format: string, shape: number[]}}} info
   * @returns {{write(bytes: Uint8Array): void, end(): void, abort(): void}}
   */
  beginTensor(info) {
    const { rt } = this;
    const { dtype, shape } = tensorDtype(rt, info);
    const shapePtr = rt.copyIn(new Int32Array(shape));
    try {
      const rc = rt.withStrings([info.name], (n) => rt.x.pldr_model_upload_begin(this.handle, n, dtype, shapePtr, shape.length));
      this.#check(rc, '', info.name);
    } finally {
      rt.free(shapePtr);
    }
    const window = rt.malloc(8); // void* window; size_t capacity
    const model = this;
    let closed = '';
    const close = (why) => {
      closed = why;
      rt.free(window);
    };
    const assertOpen = () => {
      if (closed) throw Object.assign(new EngineError('PLDR_ERR_STATE', `tensor ${info.name}: ${closed}`), { tensor: info.name });
    };
    /** @param {Uint8Array} bytes */
    const writeAll = (bytes) => {
      for (let offset = 0; offset < bytes.length;) {
        model.#check(rt.x.pldr_model_upload_window(model.handle, window, window + 4), '', info.name);
        const u32 = rt.u32;
        const dst = u32[window >>> 2], capacity = u32[(window >>> 2) + 1];
        if (capacity === 0) throw Object.assign(new EngineError('PLDR_ERR_SHAPE', `tensor ${info.name}: more bytes than its shape and dtype hold`), { tensor: info.name });
        const n = Math.min(capacity, bytes.length - offset);
        rt.u8.set(bytes.subarray(offset, offset + n), dst);
        model.#check(rt.x.pldr_model_upload_commit(model.handle, n), '', info.name);
        offset += n;
      }
    };
    return {
      write(bytes) {
        assertOpen();
        try {
          writeAll(bytes);
        } catch (err) {
          rt.x.pldr_model_upload_abort(model.handle);
          close('its upload failed and was discarded: begin it again');
          throw err;
        }
      },
      end() {
        assertOpen();
        close('its upload has ended');
        model.#check(rt.x.pldr_model_upload_end(model.handle), '', info.name);
      },
      abort() {
        if (closed) return;
        rt.x.pldr_model_upload_abort(model.handle);
        close('its upload was aborted: begin it again');
      },
    };
  }

  /**
   * Validates a tensor's name, dtype and shape as beginTensor would, without loading it.
   * @param {{name: string, dtype: string, shape: number[], quant?: {format: string, shape: number[]}}} info
   */
  checkTensor(info) {
    const { dtype, shape } = tensorDtype(this.rt, info);
    const shapePtr = this.rt.copyIn(new Int32Array(shape));
    try {
      const rc = this.rt.withStrings([info.name], (n) => this.rt.x.pldr_model_check_tensor(this.handle, n, dtype, shapePtr, shape.length));
      this.#check(rc, '', info.name);
    } finally {
      this.rt.free(shapePtr);
    }
  }

  /**
   * The tensors this model expects, in docs/FORMAT.md order, as the C tensor table has them.
   * @returns {{name: string, shape: number[], optional: boolean, quantizable: boolean}[]}
   */
  tensorTable() {
    const { rt } = this;
    const out = [];
    const shapePtr = rt.malloc(4 * 8);
    try {
      for (let i = 0, n = rt.x.pldr_model_tensor_count(this.handle); i < n; i++) {
        const ndim = rt.x.pldr_model_tensor_shape(this.handle, i, shapePtr);
        const status = rt.x.pldr_model_tensor_status(this.handle, i);
        out.push({
          name: rt.readCString(rt.x.pldr_model_tensor_name(this.handle, i)),
          shape: Array.from(rt.i32.subarray(shapePtr >>> 2, (shapePtr >>> 2) + ndim)),
          optional: (status & TENSOR_STATUS.OPTIONAL) !== 0,
          quantizable: (status & TENSOR_STATUS.QUANTIZABLE) !== 0,
        });
      }
    } finally {
      rt.free(shapePtr);
    }
    return out;
  }

  /**
   * The hyperparameters under their Hugging Face names (pldr_hparam_name), whichever names
   * config.json used, as pldr_model_hparam reads them (custom_G_type as its code: 0 none,
   * 1 identity, 2 random, 3 external); unset and string-only ones are left out.
   * @returns {Record<string, number>}
   */
  hparams() {
    const { rt } = this;
    /** @type {Record<string, number>} */
    const out = {};
    for (let i = 0; ; i++) {
      const ptr = rt.x.pldr_hparam_name(i, 0);
      if (!ptr) break;
      const name = rt.readCString(ptr);
      const value = this.hparam(name);
      if (!Number.isNaN(value)) out[name] = value;
    }
    return out;
  }

  /** Names of required tensors neither uploaded nor checked. @returns {string[]} */
  missingTensors() {
    const out = [];
    const known = TENSOR_STATUS.UPLOADED | TENSOR_STATUS.CHECKED | TENSOR_STATUS.OPTIONAL;
    for (let i = 0, n = this.rt.x.pldr_model_tensor_count(this.handle); i < n; i++) {
      const status = this.rt.x.pldr_model_tensor_status(this.handle, i);
      if (!(status & known)) out.push(this.rt.readCString(this.rt.x.pldr_model_tensor_name(this.handle, i)));
    }
    return out;
  }

  /** Checks every tensor arrived; the model is then ready for sessions. */
  finalize() { this.#check(this.rt.x.pldr_model_finalize(this.handle), ''); }

  /**
   * Installs G_LM [L][H][dk][dk] and switches the model to mode "fixed". Every session of the
   * model is reset to position 0: its KV-cache was computed with the old G.
   * @param {Float32Array} g
   */
  setGcache(g) {
    if (!(g instanceof Float32Array)) throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', 'G-cache must be a Float32Array');
    const ptr = this.rt.copyIn(g);
    try { this.#check(this.rt.x.pldr_model_set_gcache(this.handle, ptr, g.length), 'G-cache'); } finally { this.rt.free(ptr); }
  }

  /**
   * Computes G with the A-net from `ids` (e.g. [3], the empty prompt) and installs it as setGcache does.
   * @param {number[]} ids
   */
  computeGcache(ids) {
    const ptr = this.rt.copyIn(Int32Array.from(ids));
    try { this.#check(this.rt.x.pldr_model_compute_gcache(this.handle, ptr, ids.length), 'G-cache'); } finally { this.rt.free(ptr); }
  }

  /**
   * The deductive outputs of `ids`: G_LM and A_LM [L][H][dk][dk] as the A-net computes them from
   * those ids (a first prefill of them), and the A-net's time. Nothing is installed: the G-cache,
   * the sessions and anetRuns stay as they were, whatever the mode.
   * @param {ArrayLike<number>} ids @returns {{g: Float32Array, a: Float32Array, anetMs: number}}
   */
  computeG(ids) {
    const { rt } = this;
    const n = this.gcacheCount;
    const idsPtr = rt.copyIn(Int32Array.from(ids));
    const out = rt.malloc(2 * n * 4 + 8);
    try {
      const g = out, a = out + n * 4, ms = out + 2 * n * 4;
      this.#check(rt.x.pldr_model_compute_g(this.handle, idsPtr, ids.length, g, a, n, ms), 'deductive outputs');
      return { g: rt.f32.slice(g >>> 2, (g >>> 2) + n), a: rt.f32.slice(a >>> 2, (a >>> 2) + n),
        anetMs: new Float64Array(rt.x.memory.buffer, ms, 1)[0] };
    } finally {
      rt.free(idsPtr);
      rt.free(out);
    }
  }

  /** @returns {Float32Array|null} a copy of the model's G-cache, or null when not computed yet */
  gcache() {
    const ptr = this.rt.x.pldr_model_gcache(this.handle) >>> 0;
    const n = this.rt.x.pldr_model_gcache_count(this.handle);
    return ptr ? this.rt.f32.slice(ptr >>> 2, (ptr >>> 2) + n) : null;
  }

  /** Floats of a G-cache: L*H*dk*dk. */
  /**
   * How the matrices are stored, by kind (a quantized folder stays quantized whatever `quant`
   * asked for; vectors and the PLGA tensors are always f32).
   * @returns {{embedding: string, attention: string, ffn: string, head: string, anet: string|null}}
   *   'f32' | 'q8' | 'q4' | 'mixed' per kind; anet null for a predefined-G model
   */
  weightFormats() {
    const names = { [DTYPES.F32]: 'f32', [DTYPES.Q8_0]: 'q8', [DTYPES.Q4_0]: 'q4' };
    const kinds = [['embedding', /^decoder\.embedding\.weight$/], ['head', /^final_layer\.weight$/],
      ['attention', /\.mha1\.(wq|wk|wv|dense)\.weight$/], ['ffn', /\.ffn\.gluw\d\.weight$/], ['anet', /\.denseAs\.\d+\.gluw\d\.weight$/]];
    /** @type {Record<string, Set<string>>} */
    const found = Object.fromEntries(kinds.map(([kind]) => [kind, new Set()]));
    for (let i = 0, n = this.rt.x.pldr_model_tensor_count(this.handle); i < n; i++) {
      const name = this.rt.readCString(this.rt.x.pldr_model_tensor_name(this.handle, i));
      const kind = kinds.find(([, re]) => re.test(name))?.[0];
      const dtype = this.rt.x.pldr_model_tensor_dtype(this.handle, i);
      if (kind && dtype !== DTYPES.INVALID) found[kind].add(names[dtype] ?? `dtype ${dtype}`);
    }
    const one = (set) => (set.size === 0 ? null : set.size === 1 ? [...set][0] : 'mixed');
    return /** @type {any} */ (Object.fromEntries(Object.entries(found).map(([kind, set]) => [kind, one(set)])));
  }

  get gcacheCount() { return this.rt.x.pldr_model_gcache_count(this.handle); }
  get gcacheMode() { return GCACHE_MODES[this.rt.x.pldr_model_gcache_mode(this.handle)]; }
  get vocabSize() { return this.rt.x.pldr_model_vocab_size(this.handle); }
  get contextMax() { return this.rt.x.pldr_model_context_max(this.handle); }
  get eosId() { return this.rt.x.pldr_model_eos_id(this.handle); }
  get weightBytes() { return this.rt.x.pldr_model_weight_bytes(this.handle) >>> 0; }
  /** Threads its kernels run on (the runtime's pool). */
  get threads() { return this.rt.x.pldr_model_threads(this.handle); }
  /** How many times the A-net ran (all sessions): 1 after the first prompt in mode "first". */
  get anetRuns() { return Number(this.rt.x.pldr_model_anet_runs(this.handle)); }
  /** Milliseconds spent computing G with the A-net (all runs). */
  get anetMs() { return this.rt.x.pldr_model_anet_ms(this.handle); }

  /**
   * The bytes of WebAssembly memory this model and one session of it will allocate
   * (pldr_model_memory_needed): `weights` (every matrix in the model's weight format, as from a
   * float folder; an already quantized one is smaller), `session` at most for a session of
   * `contextLength` (default max_position_embeddings) whose KV-cache is `kvCache` (f16: half the
   * bytes). Works before the model is allocated (it then checks the config as allocation would,
   * throwing E_CONFIG) and after.
   * @param {number} [contextLength] @param {import('./session.js').KvFormat} [kvCache] default f32
   * @returns {{weights: number, session: number}}
   */
  memoryNeeded(contextLength, kvCache = 'f32') {
    const { rt } = this;
    if (typeof rt.x.pldr_model_memory_needed !== 'function') {
      throw new EngineError('E_WASM', 'this pldr.wasm has no pldr_model_memory_needed: serve the pldr.wasm built from the same sources (make)');
    }
    const kvFormat = KV_FORMATS.indexOf(kvCache);
    if (kvFormat < 0) {
      throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `invalid KV-cache format ${JSON.stringify(kvCache)}: expected ${KV_FORMATS.join(' or ')}`);
    }
    const out = rt.malloc(16); // double weights, session
    try {
      const rc = rt.withParams('session', { context_length: contextLength ?? 0, kv_format: kvFormat },
        (p) => rt.x.pldr_model_memory_needed(this.handle, p, out, out + 8));
      this.#check(rc, 'config.json');
      const f64 = new Float64Array(rt.x.memory.buffer, out, 2);
      return { weights: f64[0], session: f64[1] };
    } finally {
      rt.free(out);
    }
  }

  /** @param {string} key any accepted config name @returns {number} NaN when unset */
  hparam(key) { return this.rt.withStrings([key], (k) => this.rt.x.pldr_model_hparam(this.handle, k)); }

  /** @param {{contextLength?: number, kvCache?: import('./session.js').KvFormat}} [options] */
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
 * @param {Runtime} rt @param {{gcache?: GcacheMode, quant?: WeightFormat, beforeAlloc?: (model: Model, config: Record<string, unknown>) => void}} [options]
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
