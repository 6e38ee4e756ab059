// <pldr-chat>: a chat box for any static page. One module script and one element:
//
//   <script type="module" src="https://example.org/pldr/js/pldr-chat.js"></script>
//   <pldr-chat model="models/pldr-tiny/" temperature="0.7" max-tokens="96"></pldr-chat>
//
// Attributes (all optional): model (folder URL, relative to the page; default: models/pldr-tiny/
// beside this script's js/ folder), temperature, top-k, top-p, min-p, repetition-penalty,
// frequency-penalty, presence-penalty, max-tokens, seed (unset ones take js/defaults.js's values),
// quant (f32|q8|q4), gcache (first|prompt|off|empty), kv-cache (f32|f16), context-length, threads (a
// count or auto: the threads the kernels run on, where the page is cross-origin isolated), mode (chat|complete),
// system (a system prompt), placeholder, greeting, lazy (load the model on first focus instead
// of at once), heading (the box's title).
// Events: pldr-load (detail: model info), pldr-progress, pldr-token, pldr-done (detail: result),
// pldr-error (detail: {error, title, hint}). Methods: ask(text) → Promise<string>, stop(), reset().
// Style it with CSS custom properties (--pldr-accent, --pldr-bg, --pldr-fg, --pldr-muted,
// --pldr-border, --pldr-radius, --pldr-font, --pldr-height) or ::part(box|header|log|input|send).
// The chat is js/browser/chat-controller.js (shared with the chat page) over the engine in a Web
// Worker: this file only renders it, and the page never blocks.
import { ChatController } from './browser/chat-controller.js';
import { DEFAULT_MODEL_URL } from './defaults.js';
import { explainError } from './ui/explain-error.js';
import { describeStats, modelLabel } from './ui/stats-text.js';

const STYLE = `
:host {
  --accent: var(--pldr-accent, #5b4ff5);
  --bg: var(--pldr-bg, #fff);
  --fg: var(--pldr-fg, #1b1b25);
  --muted: var(--pldr-muted, #6a6a7d);
  --border: var(--pldr-border, #e1e1ec);
  --soft: color-mix(in srgb, var(--accent) 9%, var(--bg));
  display: block; font: 15px/1.5 var(--pldr-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  color: var(--fg); height: var(--pldr-height, 440px); contain: content;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.box { height: 100%; display: flex; flex-direction: column; background: var(--bg); border: 1px solid var(--border);
  border-radius: var(--pldr-radius, 14px); overflow: hidden; box-shadow: 0 1px 2px rgba(20,20,40,.05), 0 6px 24px rgba(20,20,40,.07); }
header { display: flex; align-items: center; gap: 8px; padding: 10px 12px; border-bottom: 1px solid var(--border); }
.logo { width: 22px; height: 22px; border-radius: 7px; flex: none;
  background: linear-gradient(135deg, var(--accent), color-mix(in srgb, var(--accent) 55%, #fff)); }
.title { font-weight: 700; }
.state { font-size: 12px; color: var(--muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 1; min-width: 0; }
.icon { border: 0; background: none; color: var(--muted); font: inherit; font-size: 13px; padding: 4px 8px; border-radius: 8px; cursor: pointer; }
.icon:hover { background: var(--soft); color: var(--fg); }
.progress { padding: 8px 12px; border-bottom: 1px solid var(--border); font-size: 12px; color: var(--muted); }
.bar { height: 6px; border-radius: 99px; background: var(--soft); overflow: hidden; margin-bottom: 5px; }
.bar i { display: block; height: 100%; width: 0; background: var(--accent); border-radius: inherit; transition: width .2s; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; overscroll-behavior: contain; }
.greeting { color: var(--muted); font-size: 14px; margin: auto 0; text-align: center; padding: 0 12px; }
.m { max-width: 88%; white-space: pre-wrap; overflow-wrap: anywhere; padding: 8px 12px; border-radius: 14px; }
.m.user { align-self: flex-end; background: var(--accent); color: #fff; border-bottom-right-radius: 4px; }
.m.bot { align-self: flex-start; background: var(--soft); border-bottom-left-radius: 4px; }
.m.bot[data-state="streaming"]::after { content: ""; display: inline-block; width: .5em; height: 1em; margin-left: 2px;
  vertical-align: -.12em; background: var(--accent); border-radius: 2px; animation: blink .9s infinite; }
.m.bot .prompt { font-weight: 600; }
.m.bot[data-state="error"] { color: #c0303d; }
.m .empty { color: var(--muted); font-style: italic; }
@keyframes blink { 50% { opacity: .3; } }
.error { margin: 0 12px 8px; padding: 8px 10px; border-radius: 10px; background: #fdecee; color: #8f1d29; font-size: 13px; }
.error b { display: block; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--border); align-items: flex-end; }
textarea { flex: 1; min-width: 0; resize: none; font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--border);
  border-radius: 10px; padding: 7px 10px; max-height: 120px; outline: none; }
textarea:focus { border-color: var(--accent); }
button.send { font: inherit; font-weight: 600; border: 0; border-radius: 10px; padding: 8px 14px; background: var(--accent); color: #fff; cursor: pointer; }
button.send.stop { background: #d93f4c; }
button.send:disabled { opacity: .5; cursor: not-allowed; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.stats { font-size: 11px; color: var(--muted); padding: 0 12px 8px; min-height: 1.5em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
@media (prefers-reduced-motion: reduce) { * { animation: none !important; transition: none !important; } }
`;

const TEMPLATE = `
<div class="box" part="box">
  <header part="header"><span class="logo" aria-hidden="true"></span><span class="title"></span><span class="state" aria-live="polite"></span>
    <button class="icon new" type="button" title="New conversation">New chat</button></header>
  <div class="progress" hidden><div class="bar"><i></i></div><span class="ptext"></span></div>
  <div class="log" part="log" role="log" aria-live="polite"><p class="greeting"></p></div>
  <div class="error" role="alert" hidden></div>
  <form part="form"><textarea rows="1" part="input" aria-label="Message"></textarea>
    <button class="send" type="submit" part="send">Send</button></form>
  <div class="stats"></div>
</div>`;

const NUMBER_ATTRIBUTES = { temperature: 'temperature', 'top-k': 'topK', 'top-p': 'topP', 'min-p': 'minP',
  'repetition-penalty': 'repetitionPenalty', 'frequency-penalty': 'frequencyPenalty', 'presence-penalty': 'presencePenalty',
  'max-tokens': 'maxTokens', seed: 'seed' };
const LOAD_ATTRIBUTES = ['model', 'quant', 'gcache', 'kv-cache', 'context-length', 'threads'];

export class PldrChat extends HTMLElement {
  static observedAttributes = [...LOAD_ATTRIBUTES, 'placeholder', 'greeting', 'heading', 'mode'];

  /** @type {ChatController|null} */
  #chat = null;
  /** @type {Promise<unknown>|null} the load of the current model attributes */
  #loaded = null;
  /** @type {{bubble: HTMLElement, out: HTMLElement}|null} the reply being written */
  #reply = null;
  #ui = /** @type {Record<string, any>} */ ({});

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
    const q = (s) => root.querySelector(s);
    this.#ui = { title: q('.title'), state: q('.state'), progress: q('.progress'), bar: q('.bar i'), ptext: q('.ptext'),
      log: q('.log'), greeting: q('.greeting'), error: q('.error'), form: q('form'), input: q('textarea'),
      send: q('.send'), stats: q('.stats'), newChat: q('.new') };
    this.#ui.form.addEventListener('submit', (e) => { e.preventDefault(); this.#onSend(); });
    this.#ui.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.#onSend(); }
      if (e.key === 'Escape' && this.#chat?.state === 'generating') { e.preventDefault(); this.stop(); }
    });
    this.#ui.input.addEventListener('input', () => this.#autosize());
    this.#ui.input.addEventListener('focus', () => this.#ensureLoaded());
    this.#ui.newChat.addEventListener('click', () => this.reset());
    this.#render();
  }

  /** @returns {import('./browser/worker-client.js').PldrWorker|null} the engine worker */
  get client() { return this.#chat?.client ?? null; }

  /** @returns {import('./browser/worker-client.js').ModelInfo|null} the model loaded */
  get model() { return this.#chat?.model ?? null; }

  connectedCallback() {
    if (!this.#chat) this.#chat = this.#listen(new ChatController());
    if (!this.hasAttribute('lazy')) this.#ensureLoaded();
  }

  disconnectedCallback() {
    // Moved elements are disconnected and connected again in one task: keep the worker then.
    queueMicrotask(() => {
      if (this.isConnected || !this.#chat) return;
      this.#chat.dispose();
      this.#chat = null;
      this.#loaded = null;
    });
  }

  attributeChangedCallback(name, before, after) {
    if (before === after) return;
    this.#render();
    if (LOAD_ATTRIBUTES.includes(name) && this.#loaded) {
      this.#loaded = null;
      if (!this.hasAttribute('lazy')) this.#ensureLoaded();
    }
  }

  /** The URL the model loads from. */
  get modelUrl() {
    const value = this.getAttribute('model');
    return value ? new URL(value, document.baseURI).href : DEFAULT_MODEL_URL.href;
  }

  /** Sampling options from the attributes (those not set are the engine's defaults, js/defaults.js). */
  get options() {
    const o = {};
    for (const [attr, key] of Object.entries(NUMBER_ATTRIBUTES)) {
      const v = this.getAttribute(attr);
      if (v !== null && v.trim() !== '' && Number.isFinite(Number(v))) o[key] = Number(v);
    }
    return o;
  }

  #render() {
    const complete = this.getAttribute('mode') === 'complete';
    this.#ui.title.textContent = this.getAttribute('heading') ?? 'PLDR-LLM';
    this.#ui.input.placeholder = this.getAttribute('placeholder') ?? (complete ? 'Start a text to continue…' : 'Ask something…');
    this.#ui.greeting.textContent = this.getAttribute('greeting') ??
      'A small language model running in your browser. Its replies are those of a tiny base model — playful, not wise.';
  }

  /** Renders what the controller says. @param {ChatController} chat */
  #listen(chat) {
    const ui = this.#ui;
    const on = (type, render) => chat.addEventListener(type, (event) => render(/** @type {CustomEvent} */ (event).detail));
    on('state', ({ state }) => {
      this.dataset.state = state === 'empty' ? 'error' : state === 'generating' ? 'ready' : state;
      this.#setBusy(state === 'generating');
      ui.send.disabled = state === 'loading' || state === 'empty';
      ui.progress.hidden = state !== 'loading';
      if (state === 'loading') {
        ui.state.textContent = 'loading…';
        ui.error.hidden = true;
        ui.bar.style.width = '0';
        ui.ptext.textContent = 'Starting…';
      } else if (state === 'empty') ui.state.textContent = 'not loaded';
      else if (state === 'ready' && chat.model) ui.state.textContent = `${modelLabel(chat.model)} · ready`;   // also when a load failed and the model stayed
    });
    on('progress', ({ progress, meter }) => {
      if (meter.fraction != null) ui.bar.style.width = `${(meter.fraction * 100).toFixed(1)}%`;
      ui.ptext.textContent = `${progress.fromCache ? 'Loading from cache' : 'Downloading'} · ${meter.text}`;
      this.dispatchEvent(new CustomEvent('pldr-progress', { detail: progress }));
    });
    on('load', ({ model }) => {
      ui.state.textContent = `${modelLabel(model)} · ready`;
      this.dispatchEvent(new CustomEvent('pldr-load', { detail: model }));
    });
    on('turn', ({ mode, text }) => this.#startReply(mode, text));
    on('token', ({ piece, text }) => {
      if (!this.#reply) return;
      this.#reply.out.textContent = this.getAttribute('mode') === 'complete' ? text : text.trimStart();
      const log = ui.log;
      if (log.scrollHeight - log.scrollTop - log.clientHeight < 60) log.scrollTop = log.scrollHeight;
      this.dispatchEvent(new CustomEvent('pldr-token', { detail: piece }));
    });
    on('done', ({ result }) => {
      if (!this.#reply) return;
      const { bubble, out } = this.#reply;
      bubble.dataset.state = result.finishReason === 'abort' ? 'stopped' : 'done';
      bubble.dataset.finish = result.finishReason;
      if (!out.textContent) out.append(Object.assign(document.createElement('span'), { className: 'empty', textContent: '(no reply)' }));
      ui.stats.textContent = describeStats(result.stats).slice(0, 3).join(' · ');
      this.#reply = null;
      this.dispatchEvent(new CustomEvent('pldr-done', { detail: result }));
    });
    on('error', ({ error }) => {
      if (this.#reply) {
        this.#reply.bubble.dataset.state = 'error';
        this.#reply.out.textContent = explainError(error).title;
        this.#reply = null;
      }
      this.#showError(error);
    });
    return chat;
  }

  #setBusy(generating) {
    this.#ui.send.textContent = generating ? 'Stop' : 'Send';
    this.#ui.send.classList.toggle('stop', generating);
    this.#ui.send.type = generating ? 'button' : 'submit';
    this.#ui.send.onclick = generating ? () => this.stop() : null;
    this.toggleAttribute('busy', generating);
  }

  /** Loads the model of the current attributes, once. */
  #ensureLoaded() {
    if (!this.#loaded && this.#chat) {
      const contextLength = Number(this.getAttribute('context-length')) || undefined;
      const threads = this.getAttribute('threads') ?? undefined; // a count, or 'auto'; anything else is E_OPTION
      this.#loaded = this.#chat.load(this.modelUrl, {
        quant: this.getAttribute('quant') ?? undefined, gcache: this.getAttribute('gcache') ?? undefined,
        kvCache: this.getAttribute('kv-cache') ?? undefined, contextLength,
        threads: /^\d+$/.test(threads ?? '') ? Number(threads) : threads,
      }).then((info) => { if (!info) this.#loaded = null; }, () => { this.#loaded = null; });
    }
    return this.#loaded;
  }

  #showError(err) {
    const e = explainError(err);
    this.#ui.error.replaceChildren(Object.assign(document.createElement('b'), { textContent: e.title }), e.hint || e.detail);
    this.#ui.error.title = `${e.detail} (${e.code})`;
    this.#ui.error.hidden = false;
    this.dispatchEvent(new CustomEvent('pldr-error', { detail: { error: err, ...e } }));
  }

  #autosize() {
    const input = this.#ui.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }

  #bubble(kind, text = '') {
    this.#ui.greeting.hidden = true;
    const el = document.createElement('div');
    el.className = `m ${kind}`;
    el.textContent = text;
    this.#ui.log.append(el);
    this.#ui.log.scrollTop = this.#ui.log.scrollHeight;
    return el;
  }

  /** @param {'chat'|'complete'} mode @param {string} text */
  #startReply(mode, text) {
    this.#ui.error.hidden = true;
    if (mode === 'chat') this.#bubble('user', text);
    const bubble = this.#bubble('bot');
    if (mode === 'complete') bubble.append(Object.assign(document.createElement('span'), { className: 'prompt', textContent: text }));
    const out = document.createElement('span');
    bubble.append(out);
    bubble.dataset.state = 'streaming';
    this.#reply = { bubble, out };
  }

  #onSend() {
    const text = this.#ui.input.value;
    if (!text.trim() || this.#chat?.state !== 'ready') return;
    this.#ui.input.value = '';
    this.#autosize();
    this.ask(text).catch(() => {});
  }

  /**
   * Sends `text` as the user's message (or, with mode="complete", as the text to continue) and
   * resolves with the reply once it is complete.
   * @param {string} text @returns {Promise<string>}
   */
  async ask(text) {
    await this.#ensureLoaded();
    if (!this.#chat) throw new Error('the element is not in a document');
    const mode = this.getAttribute('mode') === 'complete' ? 'complete' : 'chat';
    const result = await this.#chat.send(text, { mode, system: this.getAttribute('system'), options: this.options });
    return result.text;
  }

  /** Stops the reply being written. */
  stop() {
    this.#chat?.stop();
  }

  /** Starts a new conversation (the model and its G-cache stay). */
  async reset() {
    const cleared = this.#chat?.reset();
    this.#reply = null;
    this.#ui.log.querySelectorAll('.m').forEach((el) => el.remove());
    this.#ui.greeting.hidden = false;
    this.#ui.stats.textContent = '';
    await cleared;
  }
}

if (!customElements.get('pldr-chat')) customElements.define('pldr-chat', PldrChat);
