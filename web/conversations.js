// The chat page's conversations: kept in IndexedDB (js/browser/conversation-store.js) as they
// happen, listed in the left column, opened, deleted, exported as JSON or Markdown. The page
// (app.js) says what happened in the log; this file keeps the record and the list.
import { ConversationStore, newConversationId, titleOf } from '../js/browser/conversation-store.js';
import { conversationJson, conversationMarkdown, exportFileName } from '../js/ui/export-conversation.js';

/** @typedef {import('../js/browser/conversation-store.js').Conversation} Conversation */
/** @typedef {import('../js/browser/conversation-store.js').Item} Item */

const $ = (id) => /** @type {any} */ (document.getElementById(id));
/** localStorage: the conversation on screen, opened again after a reload */
const LAST_KEY = 'pldr-chat-last-conversation';

export class Conversations {
  /** @type {ConversationStore|null} */
  store = null;
  /** @type {Conversation} the conversation on screen (stored once it has an item) */
  current = Conversations.blank();
  /** @type {(c: Conversation) => void} opens a conversation in the page */
  onOpen = () => {};
  /** @type {Promise<void>} the last write, so that writes land in order */
  #writing = Promise.resolve();

  static blank() {
    const now = Date.now();
    return /** @type {Conversation} */ ({ id: newConversationId(), title: 'New conversation', created: now, updated: now, model: null, system: '', items: [] });
  }

  async open() {
    try {
      this.store = await ConversationStore.open();
    } catch (err) {
      console.warn('PLDR-LLM: conversations are not kept:', err);
      $('history-empty').textContent = 'This browser keeps no storage for this page: conversations are not kept.';
    }
    $('history-list').addEventListener('click', (event) => this.#click(event));
    $('export-json').addEventListener('click', () => this.#download('json'));
    $('export-md').addEventListener('click', () => this.#download('md'));
    await this.render();
  }

  /** Opens a conversation as the one on screen. @param {Conversation} c */
  show(c) {
    this.current = c;
    this.#remember();
    this.render();
  }

  /** @returns {Promise<Conversation[]>} */
  async list() { return this.store ? this.store.list().catch(() => []) : []; }

  /** Starts a new, empty conversation (stored with its first message). */
  startNew() {
    this.current = Conversations.blank();
    this.#remember();
    this.render();
  }

  /** The conversation that was on screen before the page was reloaded, if it is still kept. */
  async last() {
    const id = (() => { try { return localStorage.getItem(LAST_KEY); } catch { return null; } })();
    return id && this.store ? this.store.get(id).catch(() => undefined) : undefined;
  }

  #remember() {
    try {
      if (this.current.items.length) localStorage.setItem(LAST_KEY, this.current.id);
      else localStorage.removeItem(LAST_KEY);
    } catch { /* private mode */ }
  }

  /**
   * Keeps the session state (caches) of the conversation on screen with it.
   * @param {import('../js/generation/engine-state.js').EngineState} state @param {string} model the model folder it was made with
   */
  async keepState(state, model) {
    const c = this.current;
    if (!this.store || c.items.length === 0) return;
    await this.#writing;
    await this.store.putState({ id: c.id, state, model, messages: c.items.length, saved: Date.now() })
      .catch((err) => console.warn('PLDR-LLM: the caches of the conversation were not kept:', err));
  }

  /** @param {string} id @returns {Promise<{state: any, model: string}|undefined>} */
  async keptState(id) { return this.store?.getState(id).catch(() => undefined); }

  /** @param {string} id */
  async dropState(id) { await this.store?.deleteState(id).catch(() => {}); }

  /**
   * Changes the conversation on screen and keeps it.
   * @param {(c: Conversation) => void} change @param {{model?: {source: string, label: string}|null, system?: string}} [about]
   */
  update(change, about = {}) {
    const c = this.current;
    change(c);
    if (about.model) c.model = about.model;
    if (about.system !== undefined) c.system = about.system;
    c.title = titleOf(c.items);
    c.updated = Date.now();
    this.#remember();
    return this.save();
  }

  save() {
    const c = this.current;
    if (!this.store || c.items.length === 0) return this.#writing;
    const copy = structuredClone(c);
    this.#writing = this.#writing.then(() => this.store?.put(copy)).catch((err) => console.warn('PLDR-LLM: a conversation was not kept:', err))
      .then(() => this.render());
    return this.#writing;
  }

  /** Redraws the list. */
  async render() {
    const all = await this.list();
    const list = $('history-list');
    const items = all.map((c) => {
      const li = document.createElement('li');
      li.dataset.id = c.id;
      if (c.id === this.current.id) li.setAttribute('aria-current', 'true');
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'open';
      const title = document.createElement('span');
      title.textContent = c.title;
      const when = document.createElement('small');
      when.textContent = `${new Date(c.updated).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}${c.model ? ` · ${c.model.label}` : ''}`;
      open.append(title, when);
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'act delete';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete the conversation “${c.title}”`);
      li.append(open, del);
      return li;
    });
    list.replaceChildren(...items);
    $('history-empty').hidden = items.length > 0 || !this.store;
    const hasItems = this.current.items.length > 0;
    $('export-json').disabled = !hasItems;
    $('export-md').disabled = !hasItems;
  }

  /** @param {MouseEvent} event */
  async #click(event) {
    const button = /** @type {HTMLElement} */ (event.target).closest('button');
    const id = button?.closest('li')?.dataset.id;
    if (!button || !id || !this.store) return;
    if (button.classList.contains('delete')) {
      if (button.dataset.confirm !== 'yes') { // a second click deletes
        button.dataset.confirm = 'yes';
        button.textContent = 'Delete?';
        setTimeout(() => { if (button.isConnected) { button.dataset.confirm = ''; button.textContent = 'Delete'; } }, 4000);
        return;
      }
      await this.#writing;
      await this.store.delete(id).catch((err) => console.warn('PLDR-LLM: not deleted:', err));
      if (id === this.current.id) { this.current = Conversations.blank(); this.#remember(); this.onOpen(this.current); }
      await this.render();
      return;
    }
    const c = await this.store.get(id);
    if (!c) return this.render();
    this.current = c;
    this.#remember();
    this.onOpen(c);
    await this.render();
  }

  /** @param {'json'|'md'} kind */
  #download(kind) {
    const c = this.current;
    if (c.items.length === 0) return;
    const text = kind === 'json' ? conversationJson(c) : conversationMarkdown(c);
    const blob = new Blob([text], { type: kind === 'json' ? 'application/json' : 'text/markdown' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = exportFileName(c, kind);
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 30_000);
  }
}
