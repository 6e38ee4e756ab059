// Instantiates the runtime's WebAssembly module (standalone: no Emscripten glue) in Node and
// browsers — the variant js/runtime/features.js chooses for this engine (wasm-location.js lists
// them), or the one asked for; a threaded one over a shared memory, with its pool of workers
// (threads.js) — checks that it speaks the C API these modules were written for, and gives typed
// access to its memory. One Runtime per module instance.
import { EngineError, PldrError } from '../errors.js';
import { chooseVariant, detectFeatures } from './features.js';
import { WASM_MEMORY_MAX } from './memory.js';
import { MAX_THREADS, importedMemory, sharedMemory, startPool } from './threads.js';
import { tuneInt8Dot } from './tuning.js';
import { DEFAULT_WASM_URL, WASM_URLS } from './wasm-location.js';

/** The C API these modules call: include/pldr.h PLDR_ABI_VERSION (the module's pldr_abi_version()). */
export const ABI_VERSION = 3;

/**
 * Int32 fields of the C params structs, in their order (include/pldr.h). The structs are sized
 * and filled with defaults by C (`*_default_params_by_ref`); these modules write only these.
 */
export const PARAMS_FIELDS = {
  model: ['gcache_mode', 'weight_format'],
  session: ['context_length', 'kv_format'],
};

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Variants whose module imports no memory (compiled while they download). */
const SINGLE_THREAD = new Set(['simd128', 'relaxed']);

/**
 * The compiled module at url, and the memory it imports (a threaded module: the host creates it;
 * read from its import section, so a module whose variant is not known is read whole first).
 * @param {URL} url @param {string} variant
 * @returns {Promise<{module: WebAssembly.Module, memory: ReturnType<typeof importedMemory>}>}
 */
async function compileModule(url, variant) {
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(url);
    return { module: await WebAssembly.compile(bytes), memory: importedMemory(bytes) };
  }
  const response = await fetch(url);
  if (!response.ok) throw new EngineError('E_WASM', `cannot load ${url}: HTTP ${response.status}`);
  if (SINGLE_THREAD.has(variant) && WebAssembly.compileStreaming && response.headers.get('content-type')?.startsWith('application/wasm')) {
    return { module: await WebAssembly.compileStreaming(response), memory: null };
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { module: await WebAssembly.compile(bytes), memory: importedMemory(bytes) };
}

/** @type {Map<string, ReturnType<typeof compileModule>>} */
const moduleCache = new Map();

/** A WebAssembly instance of the runtime with helpers to move data in and out of its memory. */
export class Runtime {
  /**
   * @param {WebAssembly.Instance} instance @param {string} [variant] which module (WASM_URLS), or 'custom'
   * @param {WebAssembly.Memory|null} [memory] the memory it imports (a threaded module's shared memory)
   */
  constructor(instance, variant = 'custom', memory = null) {
    /** @type {Record<string, Function> & {memory: WebAssembly.Memory}} */
    this.x = /** @type {any} */ (memory ? { ...instance.exports, memory } : instance.exports);
    this.encoder = new TextEncoder();
    this.decoder = new TextDecoder();
    /** whether the memory is shared (the threaded module): browsers decode no text from it in place */
    this.shared = !!memory;
    /** bytes the memory may grow to: 4 GiB, or what the threaded module's shared memory reserved
     * (threads.js sharedMemory: less where the engine would not reserve 4 GiB) */
    this.memoryLimit = WASM_MEMORY_MAX;
    /** the module variant this runtime runs: a key of WASM_URLS, or 'custom' (a wasmUrl that is none of them) */
    this.variant = variant;
    /** threads the kernels run on */
    this.threads = 1;
    /** why there are fewer threads than asked for ('' when there are not) */
    this.threadsNote = '';
    /** @type {import('./tuning.js').Int8Dot|null} the relaxed module's form of the q4_0 products (tuning.js), null in the others */
    this.int8Dot = null;
    /** @type {{pool: number, threads: number, close(): void}|null} */
    this.pool = null;
    /** @type {WebAssembly.Module|null} the compiled module (createRuntime sets it) */
    this.module = null;
    /** where the module came from */
    this.url = '';
  }

  /**
   * A pool thread stopped (thread-worker.js told the pool: the others take its share, the
   * results keep their bits): said in threadsNote. @param {number} index @param {string} message
   */
  noteLostThread(index, message) {
    const note = `thread ${index} stopped (${message}): the other threads run its share`;
    this.threadsNote = this.threadsNote ? `${this.threadsNote}; ${note}` : note;
  }

  /** The pldr_threads pool its models run on (0: none). */
  get poolHandle() { return this.pool?.pool ?? 0; }

  /** Stops the thread pool's workers. Call it after freeing the models (they use the pool). */
  close() {
    this.pool?.close();
    this.pool = null;
    this.threads = 1;
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
    return this.decoder.decode(this.shared ? u8.slice(ptr, end) : u8.subarray(ptr, end));
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

/** The compiled module at url, compiled once per URL. @param {URL} url @param {string} variant */
function cachedModule(url, variant) {
  let compiled = moduleCache.get(url.href);
  if (!compiled) {
    compiled = compileModule(url, variant);
    moduleCache.set(url.href, compiled);
    compiled.catch(() => moduleCache.delete(url.href));
  }
  return compiled;
}

/**
 * An instance of the module at url (over a shared memory, for a threaded module), ABI checked.
 * @param {URL} url @param {string} variant @param {() => {threads: boolean, why: string}} features
 */
async function instantiate(url, variant, features) {
  let module, memory = null, shared = null, instance;
  try {
    const compiled = await cachedModule(url, variant);
    module = compiled.module;
    shared = compiled.memory ? threadedMemory(url, compiled.memory, features()) : null;
    memory = shared?.memory ?? null;
    const imports = { env: { emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now(), ...(memory && { memory }) } };
    instance = await WebAssembly.instantiate(module, imports);
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw new EngineError('E_WASM', `${url.href} cannot be compiled or started here (${variant.endsWith('relaxed')
      ? 'the relaxed-SIMD module needs an engine with relaxed SIMD: ' : ''}${err?.message ?? err})`, { cause: err });
  }
  const rt = new Runtime(instance, variant, memory);
  if (shared) rt.memoryLimit = shared.maximum * 65536;
  rt.checkAbi(url.href);
  rt.int8Dot = tuneInt8Dot(rt.x);
  rt.module = module;
  rt.url = url.href;
  return rt;
}

/** The shared memory a threaded module imports (and its maximum in pages), or E_WASM naming what is missing. */
function threadedMemory(url, limits, features) {
  if (!limits.shared) throw new EngineError('E_WASM', `${url.href} imports a memory that is not shared: not a pldr runtime module`);
  if (!features.threads) throw new EngineError('E_WASM', `${url.href} is the threaded module, which cannot run here: ${features.why}`);
  try {
    return sharedMemory(limits);
  } catch (err) {
    throw new EngineError('PLDR_ERR_OUT_OF_MEMORY', `cannot reserve the shared WebAssembly memory of ${url.href}: ${err.message}`);
  }
}

const base = () => (isNode ? `file://${process.cwd()}/` : globalThis.location?.href);

/** The variant whose URL is url, or 'custom'. @param {URL} url */
function variantOf(url) {
  return Object.entries(WASM_URLS).find(([, u]) => u.href === url.href)?.[0] ?? 'custom';
}

/**
 * Loads and instantiates the runtime. The compiled module is cached per URL.
 *
 * threads (default 1): how many threads the kernels run on. More than 1 loads the threaded module
 * (WASM_URLS.threads) where this environment can run it (features.js detectFeatures: Node, a
 * cross-origin isolated page whose workers can be given shared memory) and starts its pool;
 * elsewhere a single-thread module — same API, same results. `rt.threads` says how many it got,
 * `rt.threadsNote` why not more.
 *
 * Without `wasmUrl` or `variant` the module is the best this engine runs (features.js
 * chooseVariant); when it cannot be loaded (a site that ships only pldr.wasm, no room for a
 * shared memory) the next best is: the single-thread choice, then the baseline (whose own failure
 * is then reported). `variant` asks for one module (no fallback); `wasmUrl` for a module file
 * (a threaded one is recognised by the shared memory it imports).
 * spawnThread: how the pool's workers are started (thread-host.js threadsFromParent: by the page)
 * @param {{wasmUrl?: string|URL, variant?: import('./features.js').WasmVariant, threads?: number,
 *   spawnThread?: import('./threads.js').SpawnThread}} [options]
 * @returns {Promise<Runtime>}
 */
export async function createRuntime(options = {}) {
  const wanted = options.threads === undefined ? 1 : options.threads;
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > MAX_THREADS) {
    throw new EngineError('E_OPTION', `invalid threads ${JSON.stringify(wanted)}: expected an integer from 1 to ${MAX_THREADS}`);
  }
  if (options.variant !== undefined && !Object.hasOwn(WASM_URLS, options.variant)) {
    throw new PldrError('E_OPTION', `unknown WebAssembly variant ${JSON.stringify(options.variant)}: expected ${Object.keys(WASM_URLS).join(' or ')}`);
  }
  let features = null;
  const detect = () => (features ??= detectFeatures());
  let rt, note = '';
  if (options.wasmUrl !== undefined || options.variant !== undefined) {
    const url = options.wasmUrl !== undefined ? new URL(String(options.wasmUrl), base()) : /** @type {URL} */ (WASM_URLS[options.variant]);
    rt = await instantiate(url, options.variant ?? variantOf(url), detect);
  } else {
    const threaded = wanted > 1 && detect().threads;
    if (wanted > 1 && !threaded) note = detect().why;
    // the best first; then without relaxed SIMD, then without threads, then the baseline
    const choices = [...new Set([chooseVariant({ threads: threaded }), chooseVariant({ threads: threaded, relaxed: false }),
      chooseVariant(), 'simd128'])];
    for (const [i, variant] of choices.entries()) {
      try {
        rt = await instantiate(/** @type {URL} */ (WASM_URLS[variant]), variant, detect);
        break;
      } catch (err) {
        if (i === choices.length - 1) throw err;
        if (variant.startsWith('threads')) note = `the threaded module could not be started (${err.message})`;
      }
    }
  }
  if (wanted > 1 && rt.shared) {
    try {
      rt.pool = await startPool(rt.x, rt.module, rt.x.memory, wanted,
        { onLost: (i, message) => rt.noteLostThread(i, message), spawn: options.spawnThread });
      rt.threads = wanted;
    } catch (err) {
      rt.threadsNote = `the thread pool could not start (${err.message})`;
    }
  } else if (wanted > 1) {
    rt.threadsNote = note || `${rt.url} runs one thread`;
  }
  return rt;
}
