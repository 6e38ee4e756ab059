// Conversations kept across reloads, in IndexedDB: the chat page lists them, switches between
// them, deletes and exports them. A conversation's session state (KV-cache and G-cache, large)
// is kept apart, so that listing conversations never reads it.
//
//   const store = await ConversationStore.open();
//   await store.put({id, title, created, updated, model, system, items});
//   const all = await store.list();           // newest first, without states
import { PldrError } from '../errors.js';

/**
 * @typedef {{role: 'user'|'assistant', content: string} | {role: 'completion', prompt: string, content: string}} Item
 *   what the log shows, in order; user/assistant items are the chat the engine holds
 * @typedef {{id: string, title: string, created: number, updated: number,
 *   model: {source: string, label: string}|null, system: string, items: Item[]}} Conversation
 *   created, updated: ms since the epoch
 * @typedef {{id: string, bytes: Uint8Array, model: string, messages: number, saved: number}} StoredState
 *   a session state (js/runtime/session.js exportState) and what it was made for
 */

export const DATABASE = 'pldr-chat';
const VERSION = 1;

/** @template T @param {IDBRequest<T>} request @returns {Promise<T>} */
function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** A conversation's title: its first user message (or prompt), shortened. @param {Item[]} items */
export function titleOf(items) {
  const first = items.find((i) => i.role === 'user' || i.role === 'completion');
  const text = (first ? (first.role === 'completion' ? first.prompt : first.content) : '').replace(/\s+/g, ' ').trim();
  return text.length > 60 ? `${text.slice(0, 57)}…` : text || 'New conversation';
}

/** A new id, unique enough for one browser's conversations. */
export function newConversationId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class ConversationStore {
  /** @param {IDBDatabase} db */
  constructor(db) { this.db = db; }

  /**
   * Opens (creating when needed) the page's database.
   * @param {IDBFactory} [idb] @returns {Promise<ConversationStore>}
   * @throws {PldrError} E_STORAGE when the browser keeps no IndexedDB (some private modes)
   */
  static async open(idb = globalThis.indexedDB) {
    if (!idb) throw new PldrError('E_STORAGE', 'this browser keeps no IndexedDB here: conversations are not kept');
    const request = idb.open(DATABASE, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains('conversations')) db.createObjectStore('conversations', { keyPath: 'id' });
      if (!db.objectStoreNames.contains('states')) db.createObjectStore('states', { keyPath: 'id' });
    };
    try {
      return new ConversationStore(await done(request));
    } catch (err) {
      throw new PldrError('E_STORAGE', `IndexedDB did not open: ${/** @type {any} */ (err)?.message ?? err}`, { cause: err });
    }
  }

  /** @param {'conversations'|'states'} store @param {IDBTransactionMode} mode */
  #store(store, mode) { return this.db.transaction(store, mode).objectStore(store); }

  /** Every conversation, the most recently changed first. @returns {Promise<Conversation[]>} */
  async list() {
    const all = await done(this.#store('conversations', 'readonly').getAll());
    return all.sort((a, b) => b.updated - a.updated);
  }

  /** @param {string} id @returns {Promise<Conversation|undefined>} */
  get(id) { return done(this.#store('conversations', 'readonly').get(id)); }

  /** @param {Conversation} conversation */
  async put(conversation) { await done(this.#store('conversations', 'readwrite').put(conversation)); }

  /** Deletes a conversation and its session state. @param {string} id */
  async delete(id) {
    const tx = this.db.transaction(['conversations', 'states'], 'readwrite');
    tx.objectStore('conversations').delete(id);
    tx.objectStore('states').delete(id);
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); tx.onabort = () => reject(tx.error); });
  }

  /** @param {StoredState} state */
  async putState(state) { await done(this.#store('states', 'readwrite').put(state)); }

  /** @param {string} id @returns {Promise<StoredState|undefined>} */
  getState(id) { return done(this.#store('states', 'readonly').get(id)); }

  /** @param {string} id */
  async deleteState(id) { await done(this.#store('states', 'readwrite').delete(id)); }

  close() { this.db.close(); }
}
