// The models kept in the browser (the loader's Cache API store, js/loading/model-cache.js): what
// is stored, how big, deleting one, and asking the browser not to evict them when space runs low.
import { DEFAULT_CACHE_NAME } from '../loading/model-cache.js';

/** The loader's meta entries carry this query (model-cache.js metaKey). */
const META = 'pldr-cache-meta';

/**
 * @typedef {{folder: string, files: number, bytes: number}} StoredModel
 *   folder: the model folder's URL; bytes: of the complete files kept (remembered absences count 0)
 */

/** @param {string} url a file's URL (its meta key's query removed) */
function folderOf(url) {
  const u = new URL(url);
  u.search = u.search.replace(new RegExp(`[?&]${META}$`), '');
  u.pathname = u.pathname.replace(/[^/]*$/, '');
  return u.href;
}

/**
 * Every model folder with files in the store, the largest first.
 * @param {CacheStorage} [storage] @param {string} [cacheName] @returns {Promise<StoredModel[]>}
 */
export async function listStoredModels(storage = globalThis.caches, cacheName = DEFAULT_CACHE_NAME) {
  if (!storage || !(await storage.has(cacheName))) return [];
  const cache = await storage.open(cacheName);
  /** @type {Map<string, StoredModel>} */
  const folders = new Map();
  for (const request of await cache.keys()) {
    if (!request.url.includes(META)) continue;
    const meta = await cache.match(request).then((r) => r?.json()).catch(() => null);
    if (!meta) continue;
    const folder = folderOf(request.url);
    const entry = folders.get(folder) ?? { folder, files: 0, bytes: 0 };
    if (!meta.absent && Number.isSafeInteger(meta.size)) {
      entry.files++;
      entry.bytes += meta.size;
    }
    folders.set(folder, entry);
  }
  return [...folders.values()].filter((m) => m.files > 0).sort((a, b) => b.bytes - a.bytes);
}

/**
 * Deletes every file kept for `folder` (the next load downloads them again).
 * @param {string} folder @param {CacheStorage} [storage] @param {string} [cacheName]
 * @returns {Promise<number>} entries deleted
 */
export async function deleteStoredModel(folder, storage = globalThis.caches, cacheName = DEFAULT_CACHE_NAME) {
  if (!storage || !(await storage.has(cacheName))) return 0;
  const cache = await storage.open(cacheName);
  let deleted = 0;
  for (const request of await cache.keys()) {
    if (folderOf(request.url) === folder && (await cache.delete(request))) deleted++;
  }
  return deleted;
}

/**
 * How much the origin stores and may store, and whether its storage is persistent.
 * @param {StorageManager} [manager] @returns {Promise<{usage: number|null, quota: number|null, persisted: boolean|null}>}
 */
export async function storageState(manager = globalThis.navigator?.storage) {
  const estimate = await manager?.estimate?.().catch(() => null);
  const persisted = await manager?.persisted?.().catch(() => null);
  return { usage: estimate?.usage ?? null, quota: estimate?.quota ?? null, persisted: persisted ?? null };
}

/**
 * Asks the browser to keep this origin's storage when space runs low (it may say no, or ask the
 * user; Chrome decides by itself from how the site is used).
 * @param {StorageManager} [manager] @returns {Promise<boolean>} whether storage is persistent now
 */
export async function persistStorage(manager = globalThis.navigator?.storage) {
  if (!manager?.persist) return false;
  return manager.persist().catch(() => false);
}
