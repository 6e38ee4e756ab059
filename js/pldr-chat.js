// <pldr-chat>: a chat box for any static page. One module script and one element:
//
//   <script type="module" src="https://example.org/pldr/js/pldr-chat.js"></script>
//   <pldr-chat model="models/pldr-tiny/" temperature="0.7" max-tokens="96"></pldr-chat>
//
// Attributes (all optional): model (folder URL, relative to the page; default: models/pldr-tiny/
// beside this script's js/ folder), temperature, top-k, top-p, min-p, repetition-penalty,
// max-tokens, seed, quant (f32|q8|q4), gcache (first|prompt|off|empty), context-length,
// mode (chat|complete), system (a system prompt), placeholder, greeting, lazy (load the model
// on first focus instead of at once), heading (the box's title).
// Events: pldr-load (detail: model info), pldr-progress, pldr-token, pldr-done (detail: result),
// pldr-error (detail: {error, title, hint}). Methods: ask(text) → Promise<string>, stop(), reset().
// Style it with CSS custom properties (--pldr-accent, --pldr-bg, --pldr-fg, --pldr-muted,
// --pldr-border, --pldr-radius, --pldr-font, --pldr-height) or ::part(box|header|log|input|send).
// The engine runs in a Web Worker (js/browser/worker.js): the page never blocks.
import { PldrWorker } from './browser/worker-client.js';
import { DownloadMeter } from './ui/download-meter.js';
import { explainError } from './ui/explain-error.js';
import { describeStats, modelLabel } from './ui/stats-text.js';

const DEFAULT_MODEL = new URL('../models/pldr-tiny/', import.meta.url).href;

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
  'repetition-penalty': 'repetitionPenalty', 'max-tokens': 'maxTokens', seed: 'seed' };
const LOAD_ATTRIBUTES = ['model', 'quant', 'gcache', 'context-length'];

export class PldrChat extends HTMLElement {
  static observedAttributes = [...LOAD_ATTRIBUTES, 'placeholder', 'greeting', 'heading', 'mode'];

  /** @type {PldrWorker|null} */
  client = null;
  /** @type {import('./browser/worker-client.js').ModelInfo|null} */
  model = null;
  /** @type {{role: 'system'|'user'|'assistant', content: string}[]} */
  #messages = [];
  /** @type {AbortController|null} */
  #generation = null;
  /** @type {AbortController|null} */
  #loading = null;
  /** bumped by reset(): a reply that ends after it does not join the new conversation */
  #epoch = 0;
  /** @type {Promise<void>|null} */
  #loaded = null;
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
      if (e.key === 'Escape' && this.#generation) { e.preventDefault(); this.stop(); }
    });
    this.#ui.input.addEventListener('input', () => this.#autosize());
    this.#ui.input.addEventListener('focus', () => this.#ensureLoaded(), { once: false });
    this.#ui.newChat.addEventListener('click', () => this.reset());
    this.#render();
  }

  connectedCallback() {
    if (!this.client) {
      this.client = new PldrWorker();
      this.client.addEventListener('error', (e) => this.#showError(/** @type {any} */ (e).error));
    }
    if (!this.hasAttribute('lazy')) this.#ensureLoaded();
  }

  disconnectedCallback() {
    // Moved elements are disconnected and connected again in one task: keep the worker then.
    queueMicrotask(() => {
      if (this.isConnected || !this.client) return;
      this.#generation?.abort();
      this.#loading?.abort();
      this.client.terminate();
      this.client = null;
      this.model = null;
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
    return value ? new URL(value, document.baseURI).href : DEFAULT_MODEL;
  }

  /** Sampling options from the attributes. */
  get options() {
    const o = {};
    for (const [attr, key] of Object.entries(NUMBER_ATTRIBUTES)) {
      const v = this.getAttribute(attr);
      if (v !== null && v.trim() !== '' && Number.isFinite(Number(v))) o[key] = Number(v);
    }
    if (o.maxTokens === undefined) o.maxTokens = 128;
    return o;
  }

  #render() {
    const complete = this.getAttribute('mode') === 'complete';
    this.#ui.title.textContent = this.getAttribute('heading') ?? 'PLDR-LLM';
    this.#ui.input.placeholder = this.getAttribute('placeholder') ?? (complete ? 'Start a text to continue…' : 'Ask something…');
    this.#ui.greeting.textContent = this.getAttribute('greeting') ??
      'A small language model running in your browser. Its replies are those of a tiny base model — playful, not wise.';
  }

  #setBusy(generating) {
    this.#ui.send.textContent = generating ? 'Stop' : 'Send';
    this.#ui.send.classList.toggle('stop', generating);
    this.#ui.send.type = generating ? 'button' : 'submit';
    this.#ui.send.onclick = generating ? () => this.stop() : null;
    this.toggleAttribute('busy', generating);
  }

  #ensureLoaded() {
    if (!this.#loaded && this.client) {
      this.#loaded = this.#load().catch(() => { this.#loaded = null; });
    }
    return this.#loaded;
  }

  async #load() {
    this.#loading?.abort();
    const controller = new AbortController();
    this.#loading = controller;
    const meter = new DownloadMeter();
    const ui = this.#ui;
    this.model = null;
    this.#epoch++; // a reply still running belongs to the old model's conversation
    this.#messages = [];
    this.dataset.state = 'loading';
    ui.state.textContent = 'loading…';
    ui.send.disabled = true;
    ui.error.hidden = true;
    ui.progress.hidden = false;
    ui.bar.style.width = '0';
    ui.ptext.textContent = 'Starting…';
    try {
      const contextLength = Number(this.getAttribute('context-length')) || undefined;
      const info = await /** @type {PldrWorker} */ (this.client).load(this.modelUrl, {
        signal: controller.signal, quant: this.getAttribute('quant') ?? undefined,
        gcache: this.getAttribute('gcache') ?? undefined, contextLength,
        onProgress: (p) => {
          const m = meter.update(p);
          if (m.fraction != null) ui.bar.style.width = `${(m.fraction * 100).toFixed(1)}%`;
          ui.ptext.textContent = `${p.fromCache ? 'Loading from cache' : 'Downloading'} · ${m.text}`;
          this.dispatchEvent(new CustomEvent('pldr-progress', { detail: p }));
        },
      });
      this.model = info;
      this.dataset.state = 'ready';
      ui.state.textContent = `${modelLabel(info)} · ready`;
      ui.send.disabled = false;
      this.dispatchEvent(new CustomEvent('pldr-load', { detail: info }));
    } catch (err) {
      if (controller.signal.aborted) return;
      this.dataset.state = 'error';
      ui.state.textContent = 'not loaded';
      this.#showError(err);
      throw err;
    } finally {
      if (this.#loading === controller) {
        ui.progress.hidden = true;
        this.#loading = null;
      }
    }
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

  #onSend() {
    const text = this.#ui.input.value;
    if (!text.trim() || this.#generation || !this.model) return;
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
    if (!this.model || !this.client) throw new Error('the model is not loaded');
    if (this.#generation) throw new Error('a reply is still being written');
    const complete = this.getAttribute('mode') === 'complete';
    const epoch = this.#epoch;
    const controller = new AbortController();
    this.#generation = controller;
    this.#setBusy(true);
    this.#ui.error.hidden = true;
    const system = this.getAttribute('system');
    if (!complete && system && this.#messages.length === 0) this.#messages.push({ role: 'system', content: system });
    let bubble, run;
    if (complete) {
      bubble = this.#bubble('bot');
      bubble.append(Object.assign(document.createElement('span'), { className: 'prompt', textContent: text }));
      run = this.client.generate(text, { ...this.options, signal: controller.signal });
    } else {
      this.#bubble('user', text);
      this.#messages.push({ role: 'user', content: text });
      bubble = this.#bubble('bot');
      run = this.client.respond(this.#messages, { ...this.options, signal: controller.signal });
    }
    const out = document.createElement('span');
    bubble.append(out);
    bubble.dataset.state = 'streaming';
    let raw = '';
    try {
      for (;;) {
        const step = await run.next();
        if (step.done) {
          const result = step.value;
          if (!complete && epoch === this.#epoch) this.#messages.push({ role: 'assistant', content: result.text });
          bubble.dataset.state = result.finishReason === 'abort' ? 'stopped' : 'done';
          bubble.dataset.finish = result.finishReason;
          if (!out.textContent) out.append(Object.assign(document.createElement('span'), { className: 'empty', textContent: '(no reply)' }));
          this.#ui.stats.textContent = describeStats(result.stats).slice(0, 3).join(' · ');
          this.dispatchEvent(new CustomEvent('pldr-done', { detail: result }));
          return result.text;
        }
        raw += step.value.text;
        out.textContent = complete ? raw : raw.trimStart();
        const log = this.#ui.log;
        if (log.scrollHeight - log.scrollTop - log.clientHeight < 60) log.scrollTop = log.scrollHeight;
        this.dispatchEvent(new CustomEvent('pldr-token', { detail: step.value }));
      }
    } catch (err) {
      if (!complete && epoch === this.#epoch) this.#messages.pop();
      bubble.dataset.state = 'error';
      out.textContent = explainError(err).title;
      this.#showError(err);
      throw err;
    } finally {
      this.#generation = null;
      this.#setBusy(false);
    }
  }

  /** Stops the reply being written. */
  stop() {
    this.#generation?.abort();
  }

  /** Starts a new conversation (the model and its G-cache stay). */
  async reset() {
    this.stop();
    this.#epoch++;
    this.#messages = [];
    this.#ui.log.querySelectorAll('.m').forEach((el) => el.remove());
    this.#ui.greeting.hidden = false;
    this.#ui.stats.textContent = '';
    if (this.model) await this.client?.reset().catch(() => {});
  }
}

if (!customElements.get('pldr-chat')) customElements.define('pldr-chat', PldrChat);
