// Loads a model folder (docs/FORMAT.md) into a TensorSink: config.json, tokenizer.model, the
// optional manifest.json, then every safetensors shard streamed chunk by chunk into the sink.
// No shard is ever held whole in memory.

import { AbortError, LoadError, PldrError, TokenizerError } from '../errors.js';
import { SafetensorsReader } from './safetensors.js';
import { abortError, httpSource, networkPolicy } from './sources.js';
import { SentencePieceTokenizer } from '../tokenizer/tokenizer.js';
import { browserStore, openWithCache, sizeWithCache } from './model-cache.js';
import { Sha256 } from './sha256.js';
import { describeValue, oneLine, quote } from './messages.js';

/**
 * @typedef {import('./safetensors.js').TensorInfo} TensorInfo
 *   {name, dtype: 'F32'|'F16'|'BF16'|'U8', shape, byteLength, file, quant?: {format, shape}}:
 *   `quant` is set exactly for U8 tensors (their logical shape and block format).
 * @typedef {import('./safetensors.js').TensorWriter} TensorWriter
 *   write(bytes): the tensor's next bytes, in order, byteLength in total over all calls; the
 *   view is only valid during the call and must not be modified; end(): all bytes were written.
 * @typedef {{
 *   configure(config: object): void,
 *   begin(info: TensorInfo): TensorWriter,
 *   finish(): void,
 *   abort(): void,
 * }} TensorSink
 *   configure: the parsed config.json, before any tensor; begin: throws to reject a tensor
 *   (unknown name, wrong shape or dtype); finish: all files done, throws if tensors are missing;
 *   abort: the load failed or was aborted, free everything (called at most once, never after
 *   finish succeeded). Whatever begin/write/end/finish/configure throw becomes a LoadError
 *   'E_SINK' naming the file and tensor, with the original error as `cause`.
 * @typedef {{
 *   loaded: number, total: number|null, file: string, fileLoaded: number,
 *   fileTotal: number|null, fromCache: boolean,
 * }} LoadProgress
 *   loaded/total: bytes of every file read (config, tokenizer, index, shards). total is null while
 *   the small files are read, then: manifest.json sizes when there is a manifest; else the sizes
 *   the store or source report cheaply (HEAD's Content-Length, stat); else, when one of those is
 *   missing, the index's metadata.total_size plus the small files (an estimate that leaves out
 *   the safetensors headers, never below `loaded`); else null.
 * @typedef {{file: string, size: number, fromCache: boolean, sha256?: string}} LoadedFile
 *   sha256 is set when the file was verified against manifest.json.
 * @typedef {{config: object, tokenizer: Uint8Array|null, parsedTokenizer: SentencePieceTokenizer|null,
 *   files: LoadedFile[], bytes: number}} LoadResult
 *   tokenizer: tokenizer.model's bytes; parsedTokenizer: the same, parsed (it is parsed before it
 *   is kept in a cache, so a file that is not a SentencePiece model is never kept)
 * @typedef {{
 *   onProgress?: (progress: LoadProgress) => void,
 *   signal?: AbortSignal,
 *   fetch?: typeof globalThis.fetch,
 *   cache?: boolean|CacheStorage,
 *   cacheDir?: string,
 *   retries?: number,
 *   retryDelayMs?: number,
 *   idleTimeoutMs?: number,
 *   maxRetryAfterMs?: number,
 * }} LoadOptions
 */

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/**
 * The most bytes each small file may have: they are read whole into memory. Far above any real
 * file (a 256 000-piece tokenizer.model has 4.5 MB, the index of a 400B model 200 KB).
 */
export const SMALL_FILE_LIMITS = Object.freeze({
  'manifest.json': 16 << 20,
  'config.json': 4 << 20,
  'tokenizer.model': 64 << 20,
  [INDEX_FILE]: 32 << 20,
});

/** Progress callbacks at most this often, plus one at the end of every file. */
const PROGRESS_INTERVAL_MS = 50;

/**
 * Loads a model folder into `sink`.
 *
 * `source` is the folder's URL (a string or URL; relative strings resolve against the page) or,
 * in Node, a directory path or file: URL. Files are read in this order: manifest.json (optional),
 * then config.json, tokenizer.model (optional) and model.safetensors.index.json (optional) in
 * parallel, then the shards the index names in sorted order, or model.safetensors when there is
 * no index. With a manifest, every file read that it lists is checked against its size and
 * sha256 while it streams; files it lists that the load does not need are not fetched.
 *
 * Caching (URL sources only): in browsers with the Cache API and `cache !== false`, files are
 * kept in the cache 'pldr-models-v1' keyed by URL (pass a CacheStorage as `cache` to use another);
 * in Node, `cacheDir` keeps them in that directory. Only complete, verified files are kept, and
 * optional files found missing are remembered once a load succeeds, so a second load of the same
 * URL makes no request. URLs are assumed immutable (pin a revision, e.g. /resolve/<commit>/).
 *
 * @param {string|URL} source
 * @param {TensorSink} sink
 * @param {LoadOptions} [options]
 *   fetch: default globalThis.fetch; cache: default true; cacheDir: none;
 *   retries: further attempts after a failure without progress, default 4;
 *   retryDelayMs: first backoff delay, doubled each retry, default 250;
 *   idleTimeoutMs: longest wait for a server's answer or the next bytes of a body before the
 *   attempt counts as failed (and the file resumes), default 30 000;
 *   maxRetryAfterMs: the longest Retry-After (429/503) waited for, default 60 000: a server
 *   asking for longer fails the load at once (E_NETWORK)
 * @returns {Promise<LoadResult>}
 *   Rejects with AbortError (code 'E_ABORTED') when `signal` aborts, else with a LoadError
 *   carrying `file` (and `tensor`, `url`, `status` where they apply); sink.abort() has been
 *   called by then. Codes:
 *   - E_SOURCE: `source` is not a URL or path, or there is no fetch
 *   - E_NOT_FOUND: a required file is missing (HTTP 404/410, no such local file)
 *   - E_HTTP: another non-retryable HTTP status (403, 401, 400, …), not retried
 *   - E_OPTION: retries, retryDelayMs, idleTimeoutMs or maxRetryAfterMs out of range
 *   - E_NETWORK: 5xx/408/429, network errors or stalls (idleTimeoutMs) still failing after
 *     `retries` retries; a Retry-After longer than maxRetryAfterMs
 *   - E_RANGE: a resume got a wrong Content-Range or HTTP 416
 *   - E_CHANGED: a file changed on the server while it was read (another ETag/Last-Modified or
 *     size, or the bytes read again from its start differ); a resume never mixes two versions
 *   - E_TOO_LARGE: config.json, tokenizer.model, the index or manifest.json is larger than
 *     SMALL_FILE_LIMITS allows (they are read whole)
 *   - E_READ: a local read failed
 *   - E_CONFIG / E_INDEX / E_MANIFEST: config.json / the index / manifest.json malformed
 *   - E_SIZE / E_CHECKSUM: a file disagrees with manifest.json (or with its Content-Length)
 *   - E_HEADER_SIZE: safetensors header length absurd (> 100 MB) or past the end of the file
 *   - E_HEADER_JSON: header is not a JSON object of well-formed entries
 *   - E_DTYPE: dtype other than F32, F16, BF16, U8
 *   - E_QUANT: U8 tensor without a "pldr.quant" entry, or an entry that disagrees with it
 *   - E_SHAPE: shape × dtype size ≠ the data_offsets span
 *   - E_OFFSETS: bad data_offsets, a gap, or bytes after the last tensor
 *   - E_OVERLAP: two tensors' bytes overlap
 *   - E_TRUNCATED: the file has fewer bytes than its header or its Content-Length promises
 *   - E_TENSOR_MISSING: the index puts a tensor in a shard that lacks it
 *   - E_TENSOR_SHARD: a shard holds a tensor the index maps elsewhere (or not at all)
 *   - E_SINK: the sink threw (`cause` is its error)
 *   TokenizerError (E_TOKENIZER_FORMAT, E_TOKENIZER_UNSUPPORTED): tokenizer.model is not a
 *   SentencePiece unigram model; the message names the file.
 */
export async function loadModel(source, sink, options = {}) {
  checkSink(sink);
  const { signal } = options;
  const inner = new AbortController();   // also stops parallel reads once one has failed
  const forward = () => inner.abort(signal.reason);
  signal?.addEventListener('abort', forward, { once: true });
  try {
    if (signal?.aborted) throw abortError(signal);
    const files = await openFiles(source, options);
    const load = new ModelLoad(files, guardSink(sink), inner, options.onProgress);
    return await load.run();
  } catch (err) {
    try {
      sink.abort();
    } catch { /* the load has failed already; report why it failed */ }
    if (signal?.aborted) throw err instanceof AbortError ? err : abortError(signal);
    throw err instanceof PldrError ? err : new LoadError('E_READ', String(err?.message ?? err), { cause: err });
  } finally {
    signal?.removeEventListener('abort', forward);
    inner.abort();
  }
}

// --- one load ---------------------------------------------------------------------------------

class ModelLoad {
  /**
   * @param {OpenedFiles} files
   * @param {TensorSink} sink  already guarded
   * @param {AbortController} inner  aborts with the caller's signal; aborted too when a read fails
   * @param {((p: LoadProgress) => void)|undefined} onProgress
   */
  constructor({ source, store, newHash }, sink, inner, onProgress) {
    this.abortRest = () => inner.abort(new Error('another file of the load failed'));
    this.source = source;
    this.store = store;
    this.newHash = newHash ?? (() => new Sha256()); // Node passes its native SHA-256
    this.sink = sink;
    this.signal = inner.signal;
    this.progress = new Progress(onProgress);
    /** @type {Map<string, {size: number, sha256: string}>|null} */
    this.manifest = null;
    /** @type {LoadedFile[]} */
    this.files = [];
    this.absent = [];   // optional files the source does not have, remembered on success
    this.invalidated = new Set();   // files whose stored copy failed a check and was deleted
  }

  /** @returns {Promise<LoadResult>} */
  async run() {
    this.manifest = await this.readWhole('manifest.json', true, parseManifest);
    const [config, tokenizer, index] = await settleAll([
      this.readWhole('config.json', false, (bytes) => parseJsonObject(bytes, 'config.json', 'E_CONFIG')),
      this.readWhole('tokenizer.model', true, (bytes) => parseTokenizer(bytes, this.source.name('tokenizer.model'))),
      this.readWhole(INDEX_FILE, true, parseIndex),
    ], this.abortRest);
    this.sink.configure(config);
    const shards = index ? index.shards : [SINGLE_FILE];
    await this.planTotal(shards, index);
    for (const shard of shards) await this.readShard(shard, index);
    this.sink.finish();
    await this.rememberAbsent();
    return {
      config, tokenizer: tokenizer?.bytes ?? null, parsedTokenizer: tokenizer?.parsed ?? null,
      files: this.files, bytes: this.progress.loaded,
    };
  }

  /**
   * A whole small file (at most SMALL_FILE_LIMITS[file] bytes), parsed by `parse` before it is
   * kept in the store (a file that does not parse is never cached), or null when optional and
   * missing. A file that changed on the server while it was read, or whose stored copy failed
   * to parse (and was deleted), is read once more from its start: nothing of it has left this
   * function yet.
   * @template T @param {string} file @param {boolean} optional
   * @param {(bytes: Uint8Array) => T} [parse] default: the bytes as they are
   * @returns {Promise<T|null>}
   */
  async readWhole(file, optional, parse = (bytes) => /** @type {any} */ (bytes)) {
    try {
      return await this.readWholeOnce(file, parse).catch((err) => {
        if (err?.code === 'E_CHANGED' || this.invalidated.delete(file)) return this.readWholeOnce(file, parse);
        throw err;
      });
    } catch (err) {
      if (optional && err instanceof LoadError && err.code === 'E_NOT_FOUND') {
        this.absent.push(file);
        return null;
      }
      throw err;
    }
  }

  async readWholeOnce(file, parse) {
    const limit = SMALL_FILE_LIMITS[file];
    const tooLarge = (what) => new LoadError('E_TOO_LARGE', `${this.source.name(file)}: ${what}, more ` +
      `than the ${limit} bytes (${limit / 2 ** 20} MiB) a ${file} may have`, { file });
    const parts = [];
    let length = 0;
    let value = null;
    await this.stream(file, {
      onOpen: (size) => {
        if (size != null && size > limit) throw tooLarge(`${size} bytes`);
      },
      onChunk: (chunk) => {
        length += chunk.length;
        if (length > limit) throw tooLarge(`${length} bytes read so far`);
        parts.push(chunk.slice());
      },
      onEnd: () => { value = parse(concat(parts)); },
    });
    return value;
  }

  async readShard(shard, index) {
    /** @type {SafetensorsReader} */
    let reader;
    await this.stream(shard, {
      onOpen: (size) => {
        reader = new SafetensorsReader(shard, {
          fileSize: size,
          onHeader: (header) => index && checkAgainstIndex(header, index),
          onTensor: (info) => {
            if (this.signal.aborted) throw abortError(this.signal);   // chunks hold many small tensors
            return this.sink.begin(info);
          },
        });
      },
      onChunk: (chunk) => reader.push(chunk),
      onEnd: () => reader.end(),
    }).catch((err) => {
      if (index && err instanceof LoadError && err.code === 'E_NOT_FOUND' && err.file === shard) {
        err.message += ` (${INDEX_FILE} maps tensors to it)`;
      }
      throw err;
    });
  }

  /**
   * Streams one file through size and sha256 checks (with a manifest) into the callbacks, and
   * keeps it in the store once it is complete and verified.
   */
  async stream(file, { onOpen = () => {}, onChunk, onEnd = () => {} }) {
    const expect = this.manifest?.get(file);
    const opened = await this.open(file, expect);
    try {
      const size = expect?.size ?? opened.size;
      if (expect && opened.size != null && opened.size !== expect.size) {
        throw new LoadError('E_SIZE', `${this.source.name(file)}: ${opened.size} bytes, but ` +
          `manifest.json says ${expect.size}`, { file });
      }
      const track = this.progress.startFile(file, size, opened.fromCache);
      onOpen(size);
      // A cached copy stored with the manifest's sha256 was hashed when it was stored.
      const hash = expect && !opened.verified ? this.newHash() : null;
      let count = 0;
      for await (const chunk of opened.chunks) {
        if (this.signal.aborted) throw abortError(this.signal);
        count += chunk.length;
        if (size != null && count > size) break;
        hash?.update(chunk);
        onChunk(chunk);
        this.progress.add(track, chunk.length);
      }
      if (size != null && count !== size) {
        throw new LoadError(count > size ? 'E_SIZE' : 'E_TRUNCATED', `${this.source.name(file)}: ` +
          `expected ${size} bytes, read ${count > size ? 'more' : count}`, { file });
      }
      const sha256 = hash ? hash.hex() : expect?.sha256;
      if (expect && sha256 !== expect.sha256) {
        if (opened.fromCache) await opened.invalidate();
        throw new LoadError('E_CHECKSUM', `${this.source.name(file)}: sha256 ${sha256} does not ` +
          `match manifest.json (${expect.sha256})` +
          (opened.fromCache ? '; the cached copy was deleted, load again' : ''), { file });
      }
      onEnd();
      await opened.commit(sha256 ? { size: count, sha256 } : { size: count });
      this.files.push({ file, size: count, fromCache: opened.fromCache, ...(sha256 && { sha256 }) });
      this.progress.endFile(track);
    } catch (err) {
      await opened.discard();
      // A stored copy that fails a check (one kept by an older version, or damaged on disk) is
      // deleted, so that the next read gets the file from the source; a sink's refusal is no
      // fault of the file.
      if (opened.fromCache && !this.signal.aborted && !(err instanceof LoadError && err.code === 'E_SINK')) {
        await opened.invalidate();
        this.invalidated.add(file);
      }
      throw this.describe(err, file);
    }
  }

  /** @returns {Promise<import('./model-cache.js').CachedFile>} */
  async open(file, expect) {
    try {
      if (this.store) {
        return await openWithCache(this.store, this.source, file, { signal: this.signal, expect });
      }
      const opened = await this.source.open(file, { signal: this.signal, verifiable: !!expect?.sha256 });
      const none = async () => {};
      return { ...opened, fromCache: false, verified: false, commit: none, discard: none, invalidate: none };
    } catch (err) {
      throw this.describe(err, file);
    }
  }

  /** Names the file in errors that arrive without one (e.g. a disk read failing). */
  describe(err, file) {
    if (this.signal.aborted) return abortError(this.signal);
    if (err instanceof PldrError) {
      if (err instanceof LoadError && err.file === undefined) err.file = file;
      return err;
    }
    return new LoadError('E_READ', `${this.source.name(file)}: ${err?.message ?? err}`, { file, cause: err });
  }

  async planTotal(shards, index) {
    const sizes = shards.map((shard) => this.manifest?.get(shard)?.size ?? null);
    if (sizes.includes(null) && this.progress.enabled) {
      const found = await Promise.all(shards.map((shard, i) => sizes[i] ??
        sizeWithCache(this.store, this.source, shard, this.signal)));
      sizes.splice(0, sizes.length, ...found);
    }
    this.progress.planShards(shards, sizes, index?.totalSize ?? null);
  }

  async rememberAbsent() {
    if (!this.store) return;
    for (const file of this.absent) {
      await this.store.putAbsent(this.source.name(file)).catch(() => {});
    }
  }
}

// --- sources ----------------------------------------------------------------------------------

/**
 * @typedef {{source: import('./sources.js').FileSource, store: import('./model-cache.js').FileStore|null,
 *   newHash?: () => {update(bytes: Uint8Array): unknown, hex(): string}}} OpenedFiles
 */

/**
 * @param {string|URL} source
 * @param {{cache?: boolean|CacheStorage, cacheDir?: string} & import('./sources.js').HttpOptions} [options]
 * @returns {Promise<OpenedFiles>}
 */
export async function openFiles(source, { cache = true, cacheDir, ...network } = {}) {
  if (!(typeof source === 'string' && source !== '') && !(source instanceof URL)) {
    throw new LoadError('E_SOURCE', 'the model source must be a URL or, in Node, a directory path');
  }
  const node = isNode();
  const nodeOnly = node ? await import('./source-node.js') : null;
  const newHash = nodeOnly?.nodeSha256;
  const policy = networkPolicy({ fetch: network.fetch, retries: network.retries, retryDelayMs: network.retryDelayMs,
    idleTimeoutMs: network.idleTimeoutMs, maxRetryAfterMs: network.maxRetryAfterMs, newHash });
  if (nodeOnly && isLocal(source)) {
    return { source: nodeOnly.directorySource(source), store: null, newHash };
  }
  const http = httpSource(source, policy);
  let store = null;
  if (cache !== false && cacheDir && nodeOnly) {
    store = nodeOnly.diskStore(cacheDir);
  } else if (cache !== false) {
    const storage = typeof cache === 'object' ? cache : globalThis.caches;
    if (storage) store = browserStore(storage);
  }
  return { source: http, store, newHash };
}

function isNode() {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** In Node, anything that is not a URL with a scheme other than file: is a path. */
function isLocal(source) {
  const text = String(source);
  return /^file:/i.test(text) || !/^[a-z][a-z\d+.-]*:\/\//i.test(text);
}

// --- the sink, guarded --------------------------------------------------------------------------

function checkSink(sink) {
  for (const method of ['configure', 'begin', 'finish', 'abort']) {
    if (typeof sink?.[method] !== 'function') {
      throw new TypeError(`loadModel: the sink has no ${method}() method`);
    }
  }
}

/** Turns anything the sink throws into one LoadError 'E_SINK' that says where it happened. */
function guardSink(sink) {
  const call = (fn, file, tensor) => {
    try {
      return fn();
    } catch (err) {
      const named = tensor && err?.tensor !== tensor; // the engine's tensor errors name it already
      const where = [file, named && `tensor ${quote(tensor)}`].filter(Boolean).join(': ');
      throw new LoadError('E_SINK', `${where ? `${where}: ` : ''}${oneLine(err?.message ?? err)}`,
        { file, tensor, cause: err });
    }
  };
  return {
    configure: (config) => call(() => sink.configure(config), 'config.json'),
    begin(info) {
      const writer = call(() => sink.begin(info), info.file, info.name);
      if (typeof writer?.write !== 'function' || typeof writer?.end !== 'function') {
        call(() => { throw new TypeError('begin() must return a writer {write, end}'); }, info.file, info.name);
      }
      return {
        write: (bytes) => call(() => writer.write(bytes), info.file, info.name),
        end: () => call(() => writer.end(), info.file, info.name),
      };
    },
    finish: () => call(() => sink.finish()),
    abort: () => sink.abort(),
  };
}

// --- JSON files -------------------------------------------------------------------------------

function parseJsonObject(bytes, file, code) {
  let value;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new LoadError(code, `${file}: not valid JSON: ${oneLine(err.message)}`, { file, cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LoadError(code, `${file}: not a JSON object`, { file });
  }
  return value;
}

/**
 * tokenizer.model parsed, so that a file that is not a SentencePiece model (an HTML error page
 * served with 200, a cut-off body) fails here, before the store keeps it.
 * @returns {{bytes: Uint8Array, parsed: SentencePieceTokenizer}}
 */
function parseTokenizer(bytes, name) {
  try {
    return { bytes, parsed: SentencePieceTokenizer.fromBytes(bytes) };
  } catch (err) {
    if (!(err instanceof TokenizerError)) throw err;
    throw new TokenizerError(err.code, `${name}: ${err.message}`, { cause: err });
  }
}

/** @returns {Map<string, {size: number, sha256: string}>} */
export function parseManifest(bytes) {
  const file = 'manifest.json';
  const json = parseJsonObject(bytes, file, 'E_MANIFEST');
  if (!Array.isArray(json.files)) throw new LoadError('E_MANIFEST', `${file}: no "files" array`, { file });
  const map = new Map();
  for (const entry of json.files) {
    const ok = typeof entry?.path === 'string' && Number.isSafeInteger(entry.size) && entry.size >= 0 &&
      typeof entry.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(entry.sha256);
    if (!ok) {
      throw new LoadError('E_MANIFEST', `${file}: each file needs "path", "size" and a 64-digit ` +
        `"sha256" (bad entry: ${describeValue(entry)})`, { file });
    }
    map.set(entry.path, { size: entry.size, sha256: entry.sha256.toLowerCase() });
  }
  return map;
}

/**
 * @returns {{map: Map<string, string>, shards: string[], totalSize: number|null}}
 *   map: tensor name → shard file; shards: the distinct shard files, sorted
 */
export function parseIndex(bytes) {
  const file = INDEX_FILE;
  const json = parseJsonObject(bytes, file, 'E_INDEX');
  const weightMap = json.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap) ||
      Object.keys(weightMap).length === 0) {
    throw new LoadError('E_INDEX', `${file}: "weight_map" must be a non-empty object`, { file });
  }
  const map = new Map();
  for (const [name, shard] of Object.entries(weightMap)) {
    // A shard is a file beside the index: no folders, so no way out of the model folder.
    if (typeof shard !== 'string' || !/^[^/\\\u0000-\u001f\u007f]+$/.test(shard) || shard === '.' || shard === '..') {
      throw new LoadError('E_INDEX', `${file}: tensor ${quote(name)} maps to ${describeValue(shard)}, ` +
        'which is not a file name in the model folder', { file, tensor: name });
    }
    map.set(name, shard);
  }
  // only a number (or digits) counts: Number() of a deeply nested array recurses until the stack runs out
  const raw = json.metadata?.total_size;
  const total = typeof raw === 'number' || (typeof raw === 'string' && /^\d{1,16}$/.test(raw)) ? Number(raw) : NaN;
  return { map, shards: [...new Set(map.values())].sort(), totalSize: Number.isSafeInteger(total) && total > 0 ? total : null };
}

/** Every tensor of the shard must be mapped to it, and every tensor mapped to it must be there. */
function checkAgainstIndex(header, index) {
  const { file, tensors } = header;
  const present = new Set();
  for (const { name } of tensors) {
    const mapped = index.map.get(name);
    if (mapped !== file) {
      throw new LoadError('E_TENSOR_SHARD', `${file}: tensor ${quote(name)} is in this shard, but ` +
        `${INDEX_FILE} ${mapped ? `maps it to ${mapped}` : 'does not list it'}`, { file, tensor: name });
    }
    present.add(name);
  }
  for (const [name, shard] of index.map) {
    if (shard === file && !present.has(name)) {
      throw new LoadError('E_TENSOR_MISSING', `${file}: tensor ${quote(name)} is listed in ` +
        `${INDEX_FILE} for this shard but is not in it`, { file, tensor: name });
    }
  }
}

// --- progress ---------------------------------------------------------------------------------

class Progress {
  /** @param {((p: LoadProgress) => void)|undefined} callback */
  constructor(callback) {
    this.callback = callback;
    this.enabled = typeof callback === 'function';
    this.loaded = 0;
    this.smallBytes = 0;          // bytes of the files read before the shards
    this.shardSizes = null;       // Map shard → size|null once planned
    this.estimate = null;         // index total_size
    this.last = 0;
  }

  planShards(shards, sizes, estimate) {
    this.smallBytes = this.loaded;
    this.shardSizes = new Map(shards.map((s, i) => [s, sizes[i]]));
    this.estimate = estimate;
  }

  /** @returns {{file: string, loaded: number, total: number|null, fromCache: boolean}} */
  startFile(file, size, fromCache) {
    if (this.shardSizes?.has(file) && size != null) this.shardSizes.set(file, size);
    return { file, loaded: 0, total: size, fromCache };
  }

  add(track, n) {
    this.loaded += n;
    track.loaded += n;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last >= PROGRESS_INTERVAL_MS) this.emit(track, now);
  }

  endFile(track) {
    if (this.enabled) this.emit(track, Date.now());
  }

  total() {
    if (!this.shardSizes) return null;
    const sizes = [...this.shardSizes.values()];
    if (!sizes.includes(null)) return sizes.reduce((a, b) => a + b, this.smallBytes);
    if (this.estimate != null) return Math.max(this.smallBytes + this.estimate, this.loaded);
    return null;
  }

  emit(track, now) {
    this.last = now;
    this.callback({
      loaded: this.loaded, total: this.total(), file: track.file, fileLoaded: track.loaded,
      fileTotal: track.total, fromCache: track.fromCache,
    });
  }
}

/**
 * Like Promise.all, but settles only once every promise has: the first rejection calls `onFail`
 * (which stops the others) and is what it rejects with, so that no read of the load is still
 * writing to a cache after loadModel has settled.
 * @template T @param {Promise<T>[]} promises @param {() => void} onFail @returns {Promise<T[]>}
 */
async function settleAll(promises, onFail) {
  let first = null;
  const results = await Promise.all(promises.map((p) => p.catch((err) => {
    if (!first) {
      first = { err };
      onFail();
    }
    return null;
  })));
  if (first) throw first.err;
  return results;
}

/** The chunks as one byte array. @param {Uint8Array[]} parts */
export function concat(parts) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
