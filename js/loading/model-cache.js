// Keeps downloaded model files so that the next load reads them from disk: the browser Cache API
// store lives here, the Node directory store in source-node.js; both sit behind `FileStore` and
// `openWithCache` puts either in front of a FileSource. Only complete, verified files are kept:
// the loader commits a file only after it has parsed (config, index, tokenizer) or streamed
// whole through the safetensors checks, so a bad download never becomes the next load's copy.

import { LoadError } from '../errors.js';
import { abortError } from './sources.js';

/** Cache API cache name; bump the version when the stored layout changes. */
export const DEFAULT_CACHE_NAME = 'pldr-models-v1';

/**
 * @typedef {{size: number, sha256?: string, validator?: import('./sources.js').Validator}} StoredMeta
 *   validator: the server's version of the bytes, so that a stored copy that breaks off while
 *   read is completed only from the same version
 * @typedef {StoredMeta & {absent?: false, read(signal?: AbortSignal): AsyncIterable<Uint8Array>}} StoredFile
 * @typedef {{
 *   get(key: string): Promise<StoredFile|{absent: true}|null>,
 *   writer(key: string): Promise<StoreWriter>,
 *   putAbsent(key: string): Promise<void>,
 *   delete(key: string): Promise<void>,
 * }} FileStore
 *   get: a complete stored file (its size already checked against what was stored), a marker
 *   saying a previous successful load found no such file, or null.
 * @typedef {{
 *   write(bytes: Uint8Array): Promise<void>,
 *   commit(meta: StoredMeta): Promise<void>,
 *   discard(): Promise<void>,
 * }} StoreWriter
 *   Writers never throw: storage trouble only means the file is not kept.
 * @typedef {import('./sources.js').FileSource} FileSource
 * @typedef {{
 *   size: number|null,
 *   fromCache: boolean,
 *   verified: boolean,
 *   chunks: AsyncIterable<Uint8Array>,
 *   commit(meta: StoredMeta): Promise<void>,
 *   discard(): Promise<void>,
 *   invalidate(): Promise<void>,
 * }} CachedFile
 *   verified: a stored copy that was checked against expect.sha256 when it was stored, so it
 *   need not be hashed again (a copy that breaks off while read is completed from the source
 *   with only its size checked); commit: keep the downloaded copy (call after verifying it);
 *   discard: drop a partial copy;
 *   invalidate: delete the stored copy this was read from.
 */

/**
 * A FileStore on the browser Cache API. Each file is two entries: the bytes under the file URL
 * and, written only after the bytes were stored completely, a small JSON meta entry.
 * @param {CacheStorage} [storage]  default globalThis.caches
 * @param {string} [cacheName]      default DEFAULT_CACHE_NAME
 * @returns {FileStore}
 */
export function browserStore(storage = globalThis.caches, cacheName = DEFAULT_CACHE_NAME) {
  const open = () => storage.open(cacheName);
  return {
    async get(key) {
      const cache = await open();
      const metaResponse = await cache.match(metaKey(key));
      if (!metaResponse) {
        await cache.delete(key);   // bytes without meta are an interrupted write
        return null;
      }
      const meta = await metaResponse.json();
      if (meta.absent) return { absent: true };
      const response = await cache.match(key);
      if (!response?.body || !Number.isSafeInteger(meta.size)) {
        await cache.delete(metaKey(key));
        return null;
      }
      return { ...storedMeta(meta), read: () => readBody(response.body) };
    },
    async writer(key) {
      const cache = await open();
      await cache.delete(metaKey(key));
      return streamingPut(cache, key);
    },
    async putAbsent(key) {
      const cache = await open();
      await cache.put(metaKey(key), jsonResponse({ absent: true }));
    },
    async delete(key) {
      const cache = await open();
      await Promise.all([cache.delete(metaKey(key)), cache.delete(key)]);
    },
  };
}

/**
 * Deletes every model file kept by the browser store.
 * @param {CacheStorage} [storage]
 * @param {string} [cacheName]
 * @returns {Promise<boolean>} whether there was a cache to delete
 */
export function clearBrowserCache(storage = globalThis.caches, cacheName = DEFAULT_CACHE_NAME) {
  return storage.delete(cacheName);
}

/**
 * Opens `file` from the store when a good copy is there, else from `source` while copying it
 * into the store. A stored copy whose size or sha256 disagrees with `expect` is deleted first;
 * one that turns out shorter while being read is deleted and the rest comes from `source`, of
 * the same version only (If-Range with the validator it was stored with).
 * @param {FileStore} store
 * @param {FileSource} source
 * @param {string} file
 * @param {{signal?: AbortSignal, expect?: {size?: number, sha256?: string}}} [options]
 * @returns {Promise<CachedFile>}
 */
export async function openWithCache(store, source, file, { signal, expect } = {}) {
  const key = source.name(file);
  let hit = await quietly(() => store.get(key), null);
  if (hit?.absent) {
    throw new LoadError('E_NOT_FOUND', `${key}: not found (remembered from an earlier load)`,
      { file, url: key });
  }
  if (hit && !agrees(hit, expect)) {
    await quietly(() => store.delete(key));
    hit = null;
  }
  const invalidate = () => quietly(() => store.delete(key));
  if (hit) {
    return {
      size: hit.size, fromCache: true, invalidate,
      verified: !!expect?.sha256 && hit.sha256 === expect.sha256,
      chunks: readWithFallback(hit, { key, store, source, file, signal }),
      commit: async () => {}, discard: async () => {},
    };
  }
  const opened = await source.open(file, { signal, verifiable: !!expect?.sha256 });
  const writer = await quietly(() => store.writer(key), null);
  const validator = opened.validator ?? undefined;
  return {
    size: opened.size, fromCache: false, invalidate, verified: false,
    chunks: writer ? tee(opened.chunks, writer) : opened.chunks,
    commit: (meta) => (writer ? writer.commit({ ...meta, ...(validator && { validator }) }) : Promise.resolve()),
    discard: () => (writer ? writer.discard() : Promise.resolve()),
  };
}

/**
 * The size of `file` from the store's record, else from the source (HEAD / stat).
 * @param {FileStore|null} store
 * @param {FileSource} source
 * @param {string} file
 * @param {AbortSignal} [signal]
 * @returns {Promise<number|null>}
 */
export async function sizeWithCache(store, source, file, signal) {
  const hit = store ? await quietly(() => store.get(source.name(file)), null) : null;
  if (hit && !hit.absent) return hit.size;
  return source.size(file, { signal });
}

function agrees(hit, expect) {
  if (expect?.size != null && hit.size !== expect.size) return false;
  if (expect?.sha256 && hit.sha256 && hit.sha256 !== expect.sha256) return false;
  return true;
}

async function* tee(chunks, writer) {
  for await (const chunk of chunks) {
    await writer.write(chunk);
    yield chunk;
  }
}

/**
 * Reads a stored copy; if it breaks off early, deletes it and continues from the source, which
 * must prove the rest is of the stored version (If-Range with the stored validator). A copy
 * stored without a validator cannot be completed: hashing every cached read to allow it would
 * cost more than the rare re-download, so that is an error that says to load again.
 */
async function* readWithFallback(hit, { key, store, source, file, signal }) {
  let position = 0;
  try {
    for await (let chunk of hit.read(signal)) {
      if (position + chunk.length > hit.size) chunk = chunk.subarray(0, hit.size - position);
      position += chunk.length;
      if (chunk.length > 0) yield chunk;
      if (position === hit.size) return;
    }
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
  }
  if (position === hit.size) return;
  await quietly(() => store.delete(key));
  if (position > 0 && !hit.validator) {
    throw new LoadError('E_READ', `${key}: the stored copy ended at byte ${position} of ${hit.size} and, ` +
      'stored without a validator, cannot be completed; it was deleted: load again', { file, url: key });
  }
  const rest = await source.open(file, { signal, start: position, ...(position > 0 && { validator: hit.validator }) });
  if (rest.size != null && rest.size !== hit.size) {
    throw new LoadError('E_CHANGED', `${key}: the stored copy had ${hit.size} bytes but the ` +
      `server now has ${rest.size}; the stored copy was deleted: load again`, { file, url: key });
  }
  yield* rest.chunks;
}

/** The fields of a stored record that a StoredFile carries. */
export function storedMeta({ size, sha256, validator }) {
  return { size, sha256, ...(validator?.constructor === Object && { validator }) };
}

async function* readBody(body) {
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Bytes queued for cache.put() before the download waits for the cache to catch up. */
const PUT_HIGH_WATER = 16 << 20;

/**
 * Streams a body into cache.put(). The body only closes (and so the entry is only stored) on
 * commit; discard errors the body so that put() stores nothing.
 * @returns {StoreWriter}
 */
function streamingPut(cache, key) {
  let controller;
  let pulled = null;   // resolves when put() reads again after we filled the queue
  let wake = () => {};
  const body = new ReadableStream({
    start(c) { controller = c; },
    pull() { wake(); },
  }, new ByteLengthQueuingStrategy({ highWaterMark: PUT_HIGH_WATER }));
  let failed = false;
  const put = cache.put(key, new Response(body)).then(() => true, () => { failed = true; return false; });
  return {
    async write(bytes) {
      if (failed) return;
      try {
        controller.enqueue(bytes);
      } catch {
        failed = true;   // put() gave up on the body (quota, storage error)
        return;
      }
      if (controller.desiredSize > 0) return;
      pulled = new Promise((resolve) => { wake = resolve; });
      await Promise.race([pulled, put]);
    },
    async commit(meta) {
      if (failed) return;
      controller.close();
      if (await put) await quietly(() => cache.put(metaKey(key), jsonResponse(meta)));
    },
    async discard() {
      try {
        controller.error(new Error('download not kept'));
      } catch { /* the body was already closed or errored */ }
      await put;
      await quietly(() => cache.delete(key));
    },
  };
}

function metaKey(key) {
  return `${key}${key.includes('?') ? '&' : '?'}pldr-cache-meta`;
}

function jsonResponse(value) {
  return new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
}

/** Runs a storage operation whose failure must not fail the load. */
async function quietly(fn, fallback) {
  try {
    return await fn();
  } catch {
    return fallback;
  }
}
