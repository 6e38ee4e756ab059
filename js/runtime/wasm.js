// Instantiates the runtime's WebAssembly module (standalone: no Emscripten glue) in Node and
// browsers — the variant js/runtime/features.js chooses for this engine (wasm-location.js lists
// them), or the one asked for — checks that it speaks the C API these modules were written for,
// and gives typed access to its memory. One Runtime per module instance.
import { EngineError, PldrError } from '../errors.js';
import { chooseVariant } from './features.js';
import { DEFAULT_WASM_URL, WASM_URLS } from './wasm-location.js';

/** The C API these modules call: include/pldr.h PLDR_ABI_VERSION (the module's pldr_abi_version()). */
export const ABI_VERSION = 2;

/**
 * Int32 fields of the C params structs, in their order (include/pldr.h). The structs are sized
 * and filled with defaults by C (`*_default_params_by_ref`); these modules write only these.
 */
export const PARAMS_FIELDS = {
  model: ['gcache_mode', 'weight_format'],
  session: ['context_length', 'kv_format'],
};

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** @param {URL} url */
async function compileModule(url) {
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return WebAssembly.compile(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new EngineError('E_WASM', `cannot load ${url}: HTTP ${response.status}`);
  if (WebAssembly.compileStreaming && response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

const moduleCache = new Map();

/** A WebAssembly instance of the runtime with helpers to move data in and out of its memory. */
export class Runtime {
  /** @param {WebAssembly.Instance} instance @param {string} [variant] which module (WASM_URLS), or 'custom' */
  constructor(instance, variant = 'custom') {
    /** @type {Record<string, Function> & {memory: WebAssembly.Memory}} */
    this.x = /** @type {any} */ (instance.exports);
    /** the module variant this runtime runs: a key of WASM_URLS, or 'custom' (a wasmUrl) */
    this.variant = variant;
    this.encoder = new TextEncoder();
    this.decoder = new TextDecoder();
  }

  /** Views are made afresh: memory growth replaces the buffer. */
  get u8() { return new Uint8Array(this.x.memory.buffer); }
  get i32() { return new Int32Array(this.x.memory.buffer); }
  get u32() { return new Uint32Array(this.x.memory.buffer); }
  get f32() { return new Float32Array(this.x.memory.buffer); }

  /** @param {number} bytes @returns {number} pointer; throws when out of memory */
  malloc(bytes) {
    // malloc takes a 32-bit size_t: a larger count would wrap to a smaller allocation
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `cannot allocate ${bytes} bytes`);
    if (bytes > 0xffffffff) throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', `cannot allocate ${bytes} bytes: more than the 4 GiB WebAssembly memory holds`);
    const ptr = this.x.malloc(Math.max(1, bytes)) >>> 0; // pointers past 2 GiB are negative i32s
    if (!ptr) throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', `out of WebAssembly memory allocating ${bytes} bytes`);
    return ptr;
  }

  /** @param {number} ptr */
  free(ptr) { if (ptr) this.x.free(ptr); }

  /** @param {string} text @returns {number} pointer to a NUL-terminated UTF-8 copy (caller frees) */
  cstring(text) {
    const bytes = this.encoder.encode(text);
    const ptr = this.malloc(bytes.length + 1);
    const u8 = this.u8;
    u8.set(bytes, ptr);
    u8[ptr + bytes.length] = 0;
    return ptr;
  }

  /** The C name of a pldr_status, e.g. 'PLDR_ERR_SHAPE' (pldr_status_name). @param {number} status */
  statusName(status) { return this.readCString(this.x.pldr_status_name(status)); }

  /** @param {number} ptr a NUL-terminated UTF-8 string in the module's memory @returns {string} */
  readCString(ptr) {
    ptr >>>= 0;
    if (!ptr) return '';
    const u8 = this.u8;
    let end = ptr;
    while (u8[end] !== 0) end++;
    return this.decoder.decode(u8.subarray(ptr, end));
  }

  /**
   * Calls fn with C strings for each of `texts`, freeing them afterwards.
   * @template T @param {string[]} texts @param {(...ptrs: number[]) => T} fn @returns {T}
   */
  withStrings(texts, fn) {
    const ptrs = texts.map((t) => this.cstring(t));
    try { return fn(...ptrs); } finally { ptrs.forEach((p) => this.free(p)); }
  }

  /**
   * Calls fn with a C params struct ('model': pldr_model_params, 'session': pldr_session_params)
   * that C allocated with its defaults, after setting the given fields; frees it afterwards.
   * @template T @param {'model'|'session'} kind @param {Record<string, number>} values
   * @param {(ptr: number) => T} fn @returns {T}
   */
  withParams(kind, values, fn) {
    const x = this.x;
    const ptr = (kind === 'model' ? x.pldr_model_default_params_by_ref() : x.pldr_session_default_params_by_ref()) >>> 0;
    if (!ptr) throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', `out of WebAssembly memory for the ${kind} params`);
    try {
      const fields = PARAMS_FIELDS[kind];
      for (const [name, value] of Object.entries(values)) {
        const index = fields.indexOf(name);
        if (index < 0) throw new EngineError('PLDR_ERR_INVALID_ARGUMENT', `pldr_${kind}_params has no field ${name}`);
        this.i32[(ptr >>> 2) + index] = value;
      }
      return fn(ptr);
    } finally {
      if (kind === 'model') x.pldr_model_params_free(ptr);
      else x.pldr_session_params_free(ptr);
    }
  }

  /**
   * Throws E_WASM unless the module implements ABI_VERSION with params structs that hold the
   * fields written by withParams: a stale dist/pldr.wasm beside newer JavaScript (or the reverse).
   * @param {string} where the module's URL, for the message
   */
  checkAbi(where) {
    const x = this.x;
    const abi = typeof x.pldr_abi_version === 'function' ? x.pldr_abi_version() : null;
    const version = typeof x.pldr_version === 'function' ? this.readCString(x.pldr_version()) : 'unknown';
    if (abi !== ABI_VERSION) {
      throw new EngineError('E_WASM', `${where} is pldr runtime ${version} with C API ABI ${abi ?? 'unknown (no pldr_abi_version)'}, `
        + `but these JavaScript modules need ABI ${ABI_VERSION}: serve the pldr.wasm built from the same sources (make)`);
    }
    for (const [kind, fields] of Object.entries(PARAMS_FIELDS)) {
      const size = kind === 'model' ? x.pldr_model_params_size() : x.pldr_session_params_size();
      if (size < 4 * fields.length) {
        throw new EngineError('E_WASM', `${where}: pldr_${kind}_params is ${size} bytes, too small for its ${fields.length} int32 fields`);
      }
    }
  }

  /** Copies a typed array into fresh memory; returns the pointer (caller frees). */
  copyIn(/** @type {Int32Array|Float32Array} */ array) {
    const ptr = this.malloc(array.byteLength);
    this.u8.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), ptr);
    return ptr;
  }
}

/** @param {URL} url @param {string} variant */
async function instantiate(url, variant) {
  let module = moduleCache.get(url.href);
  if (!module) {
    module = compileModule(url);
    moduleCache.set(url.href, module);
    module.catch(() => moduleCache.delete(url.href));
  }
  const imports = { env: { emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now() } };
  let instance;
  try {
    instance = await WebAssembly.instantiate(await module, imports);
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw new EngineError('E_WASM', `${url.href} cannot be compiled or started here (${variant === 'relaxed'
      ? 'the relaxed-SIMD module needs an engine with relaxed SIMD: ' : ''}${err?.message ?? err})`, { cause: err });
  }
  const rt = new Runtime(instance, variant);
  rt.checkAbi(url.href);
  return rt;
}

const base = () => (isNode ? `file://${process.cwd()}/` : globalThis.location?.href);

/**
 * Loads and instantiates the runtime. The compiled module is cached per URL. Without `wasmUrl`
 * the module is the `variant` asked for, or the best this engine runs (features.js chooseVariant):
 * when a chosen variant other than the baseline cannot be loaded (a site that ships only
 * pldr.wasm), the baseline is loaded instead.
 * @param {{wasmUrl?: string|URL, variant?: import('./features.js').WasmVariant}} [options]
 * @returns {Promise<Runtime>}
 */
export async function createRuntime(options = {}) {
  if (options.wasmUrl !== undefined) return instantiate(new URL(String(options.wasmUrl), base()), 'custom');
  if (options.variant !== undefined && !Object.hasOwn(WASM_URLS, options.variant)) {
    throw new PldrError('E_OPTION', `unknown WebAssembly variant ${JSON.stringify(options.variant)}: expected ${Object.keys(WASM_URLS).join(' or ')}`);
  }
  const variant = options.variant ?? chooseVariant();
  const url = /** @type {URL} */ (WASM_URLS[variant]);
  if (options.variant !== undefined || url.href === DEFAULT_WASM_URL.href) return instantiate(url, variant);
  try {
    return await instantiate(url, variant);
  } catch { // missing, unreachable or unusable: the baseline (whose own failure is then reported)
    return instantiate(DEFAULT_WASM_URL, 'simd128');
  }
}
