// The chat page: a model picker with a download meter, streamed replies from the engine in a Web
// Worker, Stop, regenerate and edit, sampling settings and a system prompt, a "complete text"
// mode for base models, conversations kept across reloads (conversations.js), the models kept in
// the browser (stored-models-card.js), and a status line with speeds and the one-off cost of G_LM.
// The chat itself (loading, the conversation, streaming, Stop) is js/browser/chat-controller.js,
// shared with <pldr-chat>: this file only renders it. Model text only ever becomes text nodes
// (js/ui/render-text.js): nothing a model writes is parsed as HTML.
//
// URL parameters: ?model=<folder URL> (relative to this page or absolute; one on another site is
// loaded only after the user agrees), ?quant=f32|q8|q4, ?gcache=first|prompt|off|empty,
// ?kv-cache=f32|f16, ?threads=N|auto (the kernels' threads; default auto).
// `document.body.dataset.state` is starting | loading | ready | generating | error (no model),
// for CSS and for tests.
import { ChatController } from '../js/browser/chat-controller.js';
import { DEFAULT_LOAD, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_URL, DEFAULT_SAMPLING } from '../js/defaults.js';
import { explainError } from '../js/ui/explain-error.js';
import { describeStats, formatBytes, modelLabel } from '../js/ui/stats-text.js';
import { isCrossOrigin, modelFolderUrl, shareableModelUrl } from '../js/ui/model-url.js';
import { renderText } from '../js/ui/render-text.js';
import { Conversations } from './conversations.js';
import { storedModelsCard } from './stored-models-card.js';

const SETTINGS_KEY = 'pldr-chat-settings-v1';
/** The sampling fields of the form (ids = option names): defaults (js/defaults.js's) and limits. */
const FIELDS = {
  temperature: { label: 'Temperature', value: DEFAULT_SAMPLING.temperature, min: 0, max: 2 },
  topK: { label: 'Top-k', value: DEFAULT_SAMPLING.topK, min: 0, max: 100000, integer: true },
  topP: { label: 'Top-p', value: DEFAULT_SAMPLING.topP, min: 0.01, max: 1 },
  minP: { label: 'Min-p', value: DEFAULT_SAMPLING.minP, min: 0, max: 0.99 },
  maxTokens: { label: 'Max tokens', value: DEFAULT_MAX_TOKENS, min: 1, max: 4096, integer: true },
  repetitionPenalty: { label: 'Repetition penalty', value: DEFAULT_SAMPLING.repetitionPenalty, min: 0.5, max: 2 },
  seed: { label: 'Seed', value: '', min: 0, max: 2 ** 31 - 1, integer: true },
};
const FINISH_WORDS = { eos: 'end of text', length: 'max tokens', stop: 'end of turn', abort: 'stopped' };
const GCACHE_WORDS = { first: 'first prompt', prompt: 'every prompt', off: 'off', empty: 'empty prompt', fixed: 'fixed' };

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const ui = {
  log: $('log'), welcome: $('welcome'), input: $('input'), send: $('send'), stop: $('stop'), composer: $('composer'),
  status: $('status'), pill: $('model-pill-text'), progress: $('progress'), progressLabel: $('progress-label'),
  progressPercent: $('progress-percent'), progressBar: $('progress-bar'), progressFill: $('progress-fill'),
  progressDetail: $('progress-detail'), progressNote: $('progress-note'), error: $('error'), errorTitle: $('error-title'),
  errorHint: $('error-hint'), errorDetail: $('error-detail'), errorRetry: $('error-retry'), modelForm: $('model-form'),
  modelChoice: $('model-choice'), modelUrl: $('model-url'), modelUrlField: $('model-url-field'), quant: $('quant'),
  gcache: $('gcache'), kvCache: $('kv-cache'), loadHint: $('load-hint'), load: $('load'), modelInfo: $('model-info'), settings: $('settings'),
  system: $('system'), temperatureOut: $('temperature-out'), confirm: $('confirm'),
};

const chat = new ChatController();
const conversations = new Conversations();
const stored = storedModelsCard({ loadedSource: () => chat.model?.source ?? null });
/** @type {ReturnType<typeof addReply>|null} the reply being written */
let reply = null;
/** @type {(() => void)|null} what "Try again" does */
let retry = null;
/** @type {{source: string, quant: string, gcache: string, kvCache: string}|null} what the last load asked for */
let requested = null;
/** @type {import('../js/browser/conversation-store.js').Item[]|null} the conversation's items before this turn */
let itemsBefore = null;
/** @type {Promise<void>} caches being put back (restoreCaches): a reply waits for them */
let restoring = Promise.resolve();

// --- state --------------------------------------------------------------------------------------

/** @param {string} state the controller's, or 'starting' */
function setState(state) {
  const shown = state === 'empty' ? 'error' : state;
  document.body.dataset.state = shown;
  const generating = shown === 'generating';
  ui.send.hidden = generating;
  ui.stop.hidden = !generating;
  ui.send.disabled = shown !== 'ready';
  ui.send.title = shown === 'ready' ? 'Send (Enter)' : shown === 'loading' ? 'The model is still loading' : 'Load a model first';
  ui.progress.hidden = shown !== 'loading';
  for (const b of ui.log.querySelectorAll('.act.again')) b.disabled = shown !== 'ready';
  updateLoadHint();
}

function mode() {
  return /** @type {'chat'|'complete'} */ (document.querySelector('input[name="mode"]:checked')?.value ?? 'chat');
}

function setMode(value) {
  const radio = document.querySelector(`input[name="mode"][value="${value === 'complete' ? 'complete' : 'chat'}"]`);
  if (radio) radio.checked = true;
  ui.input.placeholder = mode() === 'chat' ? 'Message PLDR-LLM…' : 'Start a text for the model to continue…';
}

// --- errors -------------------------------------------------------------------------------------

function showError(err, again = null) {
  const e = explainError(err);
  ui.errorTitle.textContent = e.title;
  ui.errorHint.textContent = e.hint;
  ui.errorHint.hidden = !e.hint;
  ui.errorDetail.textContent = `${e.detail}${e.code ? ` (${e.code})` : ''}`;
  ui.error.dataset.code = e.code;
  retry = again;
  ui.errorRetry.hidden = !again;
  ui.error.hidden = false;
}

function hideError() {
  ui.error.hidden = true;
  retry = null;
}

// --- settings -----------------------------------------------------------------------------------

function readStored() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

function store(extra = {}) {
  try {
    const values = Object.fromEntries(Object.keys(FIELDS).map((k) => [k, $(k).value]));
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...readStored(), ...values, quant: ui.quant.value, gcache: ui.gcache.value,
      kvCache: ui.kvCache.value, mode: mode(), system: ui.system.value, modelChoice: ui.modelChoice.value, modelUrl: ui.modelUrl.value, ...extra }));
  } catch { /* private mode: settings just are not remembered */ }
}

function applySampling(values) {
  for (const [key, field] of Object.entries(FIELDS)) {
    $(key).value = values[key] ?? field.value;
    setNote(key, '');
  }
  ui.temperatureOut.textContent = Number($('temperature').value).toFixed(2);
}

/** The note under a field that says what was changed in its value, or nothing. */
function setNote(id, text) {
  const input = $(id);
  const field = input.closest('.field');
  let note = field.querySelector('.note');
  if (!text) {
    note?.remove();
    input.removeAttribute('aria-invalid');
    if (input.getAttribute('aria-describedby') === `${id}-note`) input.removeAttribute('aria-describedby');
    return;
  }
  if (!note) {
    note = Object.assign(document.createElement('small'), { className: 'note', id: `${id}-note` });
    note.setAttribute('role', 'status');
    field.append(note);
  }
  note.textContent = text;
  input.setAttribute('aria-invalid', 'true');
  if (!input.hasAttribute('aria-describedby')) input.setAttribute('aria-describedby', note.id);
}

/**
 * A field's value for the engine: empty is the default, anything out of range or not a number is
 * replaced by the nearest allowed value — in the field too, with a note saying so.
 * @param {string} id @returns {number|undefined}
 */
function fieldValue(id) {
  const f = FIELDS[id], input = $(id), text = String(input.value).trim();
  if (text === '') { setNote(id, input.validity?.badInput ? `That is not a number: ${f.label.toLowerCase()} is left at its default.` : ''); return undefined; }
  let v = Number(text), note = '';
  if (!Number.isFinite(v)) { v = Number(f.value); note = `“${text}” is not a number: ${v} is used.`; }
  if (f.integer && !Number.isInteger(v)) { v = Math.round(v); note = `${f.label} is a whole number: ${v} is used.`; }
  if (v < f.min) { note = `${f.label} is at least ${f.min}: ${f.min} is used instead of ${v}.`; v = f.min; }
  if (v > f.max) { note = `${f.label} is at most ${f.max}: ${f.max} is used instead of ${v}.`; v = f.max; }
  if (note) input.value = String(v);
  setNote(id, note);
  return v;
}

/** The sampling options for the engine; the seed is drawn here when empty so it can be shown. */
function samplingOptions() {
  const o = {};
  for (const id of Object.keys(FIELDS)) {
    const v = fieldValue(id);
    o[id] = v ?? (id === 'seed' ? Math.floor(Math.random() * 2 ** 31) : FIELDS[id].value);
  }
  return o;
}

/** The model folder the form names (E_SOURCE when the URL field is empty or wrong). */
function formModelUrl() {
  if (ui.modelChoice.value === 'default') return DEFAULT_MODEL_URL.href;
  return modelFolderUrl(ui.modelUrl.value, location.href);
}

// --- loading ------------------------------------------------------------------------------------

/** @param {string} [source] default: what the form says */
function loadModel(source) {
  hideError();
  ui.confirm.hidden = true;
  let url;
  try {
    url = source ?? formModelUrl();
  } catch (err) {
    ui.modelUrl.focus();
    showError(err);
    return;
  }
  ui.progressNote.hidden = true;
  requested = { source: url, quant: ui.quant.value, gcache: ui.gcache.value, kvCache: ui.kvCache.value };
  showProgress({ file: 'config.json', fromCache: false }, { fraction: null, text: 'Starting…' });
  if (chat.model) ui.status.textContent = `${modelLabel(chat.model)} stays loaded until the new model is ready.`;
  const threads = new URLSearchParams(location.search).get('threads') ?? undefined;
  chat.load(url, { quant: ui.quant.value, gcache: ui.gcache.value, kvCache: ui.kvCache.value,
    threads: /^\d+$/.test(threads ?? '') ? Number(threads) : threads }).catch(() => {}); // shown by the 'error' event
}

/** Words for where the loaded model's G_LM comes from. @param {import('../js/browser/worker.js').ModelInfo} info */
function gcacheSentence(info) {
  switch (info.gcacheFrom) {
    case 'predefined': return 'G_LM is the checkpoint\'s predefined G: the A-net never runs.';
    case 'empty': return 'G_LM was computed once, from the empty prompt, and stays fixed.';
    case 'none': return 'The G-cache is off: the A-net runs at every step, and there is no KV-cache.';
    default: return info.gcacheMode === 'prompt' ? 'G_LM is computed for each new prompt.' : 'G_LM is computed on the first prompt, then cached.';
  }
}

/** The G-cache as it is in force, in two words. @param {import('../js/browser/worker.js').ModelInfo} info */
function gcacheWords(info) {
  return info.gcacheFrom === 'predefined' ? 'predefined' : info.gcacheFrom === 'empty' ? 'empty prompt' : GCACHE_WORDS[info.gcacheMode] ?? info.gcacheMode;
}

/** The weight formats as loaded: "q8", "q8 (A-net f32)", or per kind when they differ. */
function weightWords(info) {
  const w = info.weights ?? {};
  const words = info.quant === 'mixed'
    ? ['embedding', 'attention', 'ffn', 'head'].filter((k) => w[k]).map((k) => `${k} ${w[k]}`).join(', ') : info.quant;
  return w.anet && w.anet !== info.quant ? `${words} (A-net ${w.anet})` : words;
}

function showLoaded(info) {
  const seconds = (info.loadMs / 1000).toFixed(1);
  const where = info.fromCache ? 'from the browser cache' : 'downloaded';
  const name = modelLabel(info);
  ui.pill.textContent = `${name} · ${info.quant}`;
  ui.pill.parentElement.title = `${name} is ready: weights ${info.quant}, G-cache ${gcacheWords(info)}`;
  ui.modelInfo.textContent = `${name}: ${info.config.num_hidden_layers} layers, ${info.config.hidden_size} wide, ` +
    `vocabulary ${info.config.vocab_size}, context ${info.contextLength} · weights ${weightWords(info)} · G-cache ${gcacheWords(info)} · ` +
    `KV-cache ${info.kvCache} · ${info.threads > 1 ? `${info.threads} threads` : '1 thread'} · ` +
    `${formatBytes(info.bytes)} ${where} in ${seconds} s`;
  ui.modelInfo.title = info.stats.threadsNote ?? ''; // why fewer threads than asked (?threads=), e.g. no cross-origin isolation
  ui.status.textContent = `Loaded ${name} in ${seconds} s (${formatBytes(info.bytes)}, ${where}). ${gcacheSentence(info)}`;
  if (ui.log.querySelector('.reply')) addDivider(`${name} loaded — ${info.quant}, G-cache ${gcacheWords(info)}`);
  shareModelUrl(info.source);
  store();
  stored.render();
  updateLoadHint();
  ui.input.focus({ preventScroll: true });
}

/** Keeps ?model= in the address bar (the shareable form of the model loaded). */
function shareModelUrl(source) {
  const url = new URL(location.href);
  if (source === DEFAULT_MODEL_URL.href) url.searchParams.delete('model');
  else url.searchParams.set('model', shareableModelUrl(source, location.href));
  for (const [key, param, value] of [['quant', 'quant', requested?.quant], ['gcache', 'gcache', requested?.gcache],
    ['kvCache', 'kv-cache', requested?.kvCache]]) {
    if (value && value !== DEFAULT_LOAD[key]) url.searchParams.set(param, value);
    else url.searchParams.delete(param);
  }
  if (url.href !== location.href) history.replaceState(null, '', url);
}

/** Says when the form names another model or settings than those in force. */
function updateLoadHint() {
  const model = chat.model;
  let wanted = null;
  try { wanted = formModelUrl(); } catch { /* an unfinished address: Load says what is wrong */ }
  const changes = [];
  if (model && requested) {
    if (wanted !== null && wanted !== model.source) changes.push('the model');
    if (ui.quant.value !== model.quantRequested) changes.push('the weights');
    if (ui.gcache.value !== model.gcacheRequested) changes.push('the G-cache');
    if (ui.kvCache.value !== model.kvCache) changes.push('the KV-cache');
  }
  const busy = chat.state === 'loading';
  ui.loadHint.hidden = changes.length === 0 || busy;
  ui.loadHint.textContent = changes.length
    ? `Press “Load model” to change ${changes.join(' and ').replace(/ and (?=.* and )/, ', ')}: now ${modelLabel(model)} · ${model.quant} · G-cache ${gcacheWords(model)}.`
    : '';
  ui.load.textContent = model && changes.length ? 'Load model with these settings' : 'Load model';
}

/** @param {{file: string, fromCache: boolean}} p @param {{fraction: number|null, text: string}} m */
function showProgress(p, m) {
  const file = p.file.split('/').pop();
  ui.progressLabel.textContent = p.fromCache ? `Loading ${file} from the browser cache` : `Downloading ${file}`;
  ui.progressDetail.textContent = m.text;
  if (m.fraction == null) {
    ui.progressBar.classList.add('indeterminate');
    ui.progressPercent.textContent = '';
    ui.progressBar.removeAttribute('aria-valuenow');
  } else {
    const percent = Math.min(100, Math.round(m.fraction * 100));
    ui.progressBar.classList.remove('indeterminate');
    ui.progressFill.style.width = `${(m.fraction * 100).toFixed(1)}%`;
    ui.progressPercent.textContent = `${percent}%`;
    ui.progressBar.setAttribute('aria-valuenow', String(percent));
  }
}

/** A ?model= on another site: show where it points and load only when the user agrees. */
function askBeforeLoading(url) {
  $('confirm-url').textContent = url;
  ui.confirm.hidden = false;
  ui.pill.textContent = 'Waiting for you';
  setState('empty');
  document.body.dataset.state = 'confirm';
  $('confirm-load').onclick = () => loadModel(url);
  $('confirm-default').onclick = () => {
    ui.modelChoice.value = 'default';
    ui.modelUrlField.hidden = true;
    shareModelUrl(DEFAULT_MODEL_URL.href);
    loadModel(DEFAULT_MODEL_URL.href);
  };
  $('confirm-load').focus();
}

// --- the log ------------------------------------------------------------------------------------

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function button(className, text, label) {
  const b = element('button', `act ${className}`, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  return b;
}

function atBottom() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
}

function scrollDown(force = false) {
  if (force || atBottom()) ui.log.scrollTop = ui.log.scrollHeight;
}

/** @param {string} text @param {Element|null} [before] where (default: the end) */
function addDivider(text, before = null, warn = false) {
  const divider = element('div', `divider${warn ? ' warn' : ''}`, text);
  ui.log.insertBefore(divider, before);
  scrollDown(true);
  return divider;
}

function clearLog() {
  ui.log.querySelectorAll('.msg, .doc, .divider').forEach((el) => el.remove());
  ui.welcome.hidden = false;
}

function addUser(text) {
  ui.welcome.hidden = true;
  const msg = element('div', 'msg user new');
  const body = element('div', 'body');
  const textEl = element('div', 'text');
  renderText(textEl, text);
  body.append(textEl, element('div', 'actions'));
  msg.append(body);
  ui.log.append(msg);
  scrollDown(true);
  return msg;
}

/**
 * A reply: the chat bubble or the completion card. `update` shows the text so far (the leading
 * space a reply starts with after "Assistant:" is not shown), redrawn at most once a frame.
 * @param {'chat'|'complete'} kind @param {string} prompt
 */
function addReply(kind, prompt) {
  ui.welcome.hidden = true;
  let root, textEl, meta;
  if (kind === 'chat') {
    root = element('div', 'msg assistant new');
    const body = element('div', 'body');
    textEl = element('div', 'text');
    meta = element('div', 'meta');
    body.append(textEl, meta, element('div', 'actions'));
    root.append(element('div', 'avatar', 'P'), body);
  } else {
    root = element('article', 'doc');
    const text = element('div', 'text');
    text.append(element('span', 'prompt', prompt));
    textEl = element('span', 'completion');
    text.append(textEl);
    meta = element('div', 'meta');
    root.append(element('div', 'label', 'Completion'), text, meta, element('div', 'actions'));
  }
  root.classList.add('reply');
  root.dataset.state = 'streaming';
  root.dataset.tokens = '0';
  ui.log.append(root);
  scrollDown(true);
  let raw = '', frame = 0;
  const draw = () => {
    frame = 0;
    const follow = atBottom();
    if (kind === 'chat') renderText(textEl, raw.trimStart());
    else textEl.textContent = raw;
    if (follow) scrollDown(true);
  };
  /** @type {HTMLElement|null} */
  let shiftNote = null, dropped = 0, shifts = 0;
  return {
    root, kind,
    get text() { return raw; },
    /** @param {string} text @param {number} tokens */
    update(text, tokens) {
      raw = text;
      root.dataset.tokens = String(tokens);
      frame ||= requestAnimationFrame(draw);
    },
    /** One divider per reply, above it, however many times the window slid. @param {number} n */
    shifted(n) {
      dropped += n;
      shifts++;
      const text = `The context was full: the oldest ${dropped} tokens were dropped${shifts > 1 ? ` (${shifts} times)` : ''} — G-cache kept`;
      if (shiftNote) shiftNote.textContent = text;
      else shiftNote = addDivider(text, root);
      root.dataset.shifts = String(shifts);
    },
    /** @param {string} state @param {string} note */
    finish(state, note) {
      if (frame) cancelAnimationFrame(frame);
      draw();
      root.dataset.state = state;
      meta.textContent = note;
      if (state !== 'error' && raw.trim() === '') {
        textEl.append(element('span', 'empty-reply', kind === 'chat' ? '(no reply — the model ended its turn at once)' : '(the model ended the text at once)'));
      }
      scrollDown();
    },
  };
}

/** A finished reply or user message from a kept conversation. @param {import('../js/browser/conversation-store.js').Item} item */
function addItem(item) {
  let root;
  if (item.role === 'user') root = addUser(item.content);
  else {
    const r = addReply(item.role === 'completion' ? 'complete' : 'chat', item.role === 'completion' ? item.prompt : '');
    r.update(item.content, 0);
    r.finish('done', '');
    root = r.root;
  }
  root.classList.remove('new');   // what was there appears at once
  return root;
}

/** Copy on every reply; Regenerate on the last reply and Edit on the last message of the chat. */
function updateActions() {
  const ready = chat.state === 'ready';
  ui.log.querySelectorAll('.act.again').forEach((b) => b.remove());
  ui.log.querySelectorAll('.reply .actions').forEach((box) => {
    if (!box.querySelector('.copy-reply')) box.append(button('copy-reply', 'Copy', 'Copy the reply'));
  });
  const chats = [...ui.log.querySelectorAll('.msg')];
  const lastUser = chats.findLast((m) => m.classList.contains('user'));
  const lastReply = chats.at(-1);
  if (lastReply?.classList.contains('assistant') && lastReply.dataset.state !== 'streaming') {
    const b = button('again regenerate', 'Regenerate', 'Write the last reply again');
    b.disabled = !ready;
    lastReply.querySelector('.actions').append(b);
  }
  if (lastUser) {
    const b = button('again edit', 'Edit', 'Edit the last message and send it again');
    b.disabled = !ready;
    lastUser.querySelector('.actions').append(b);
  }
}

/** @param {HTMLElement} msg the last user message */
function startEdit(msg) {
  const item = conversations.current.items.findLast((i) => i.role === 'user');
  if (!item || msg.querySelector('.edit-box')) return;
  const box = element('div', 'edit-box');
  const area = element('textarea');
  area.value = item.content;
  area.setAttribute('aria-label', 'Edit the message');
  const row = element('div');
  const save = button('primary-act', 'Send');
  const cancel = button('', 'Cancel');
  row.append(cancel, save);
  box.append(area, row);
  const text = msg.querySelector('.text');
  text.hidden = true;
  msg.querySelector('.body').prepend(box);
  area.focus();
  const close = () => { box.remove(); text.hidden = false; };
  cancel.onclick = close;
  const submit = () => {
    if (!area.value.trim() || chat.state !== 'ready') return;
    const value = area.value;
    close();
    hideError();
    const settings = { system: ui.system.value, options: samplingOptions() };
    restoring.then(() => chat.edit(value, settings)).catch(() => {});
  };
  save.onclick = submit;
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
  });
}

async function copyText(text, b) {
  try {
    await navigator.clipboard.writeText(text);
    b.textContent = 'Copied';
  } catch {
    b.textContent = 'Copy failed';
  }
  setTimeout(() => { b.textContent = 'Copy'; }, 1500);
}

function onLogClick(event) {
  const b = /** @type {HTMLElement} */ (event.target).closest('button');
  if (!b) return;
  if (b.classList.contains('copy')) return copyText(b.closest('.code').querySelector('pre').textContent, b);
  if (b.classList.contains('copy-reply')) {
    const root = b.closest('.reply');
    const item = itemOf(root);
    return copyText(item ? item.content.trimStart() : root.querySelector('.text, .completion').textContent, b);
  }
  if (b.classList.contains('regenerate') && chat.state === 'ready') {
    hideError();
    const settings = { system: ui.system.value, options: samplingOptions() };
    restoring.then(() => chat.regenerate(settings)).catch(() => {});
  }
  if (b.classList.contains('edit')) startEdit(b.closest('.msg'));
}

/** The kept item a reply element shows (the n-th reply is the n-th assistant/completion item). */
function itemOf(root) {
  const replies = [...ui.log.querySelectorAll('.reply')];
  return conversations.current.items.filter((i) => i.role !== 'user')[replies.indexOf(root)];
}

// --- generating ---------------------------------------------------------------------------------

function send(text = ui.input.value) {
  if (!text.trim() || chat.state !== 'ready') return;
  hideError();
  ui.input.value = '';
  autosize();
  const settings = { mode: mode(), system: ui.system.value, options: samplingOptions() };
  restoring.then(() => chat.send(text, settings)).catch(() => {}); // shown by the 'error' event
}

function onTurn({ mode: kind, text, options, again }) {
  ui.status.textContent = 'Thinking…';
  itemsBefore = structuredClone(conversations.current.items);
  const items = conversations.current.items;
  if (again) { // drop the old reply (and, for an edit, the old message) from the log and the record
    const msgs = [...ui.log.querySelectorAll('.msg')];
    const lastUser = msgs.findLast((m) => m.classList.contains('user'));
    let cut = again === 'edit' ? lastUser : lastUser?.nextElementSibling;
    while (cut) { const next = cut.nextElementSibling; cut.remove(); cut = next; }
    items.splice(items.findLastIndex((i) => i.role === 'user') + (again === 'edit' ? 0 : 1));
  }
  if (kind === 'chat' && again !== 'regenerate') {
    addUser(text);
    items.push({ role: 'user', content: text });
  }
  reply = { ...addReply(kind, text), options, started: performance.now(), pieces: 0, prompt: text };
  reply.root.dataset.seed = String(options.seed);
  updateActions();
}

function onToken({ text, tokens }) {
  if (!reply) return;
  reply.update(text, tokens);
  if (reply.pieces++ === 0) reply.root.dataset.firstTokenMs = (performance.now() - reply.started).toFixed(1);
  if (reply.pieces === 1 || reply.pieces % 8 === 0) {
    const seconds = (performance.now() - reply.started) / 1000;
    ui.status.textContent = `Generating… ${tokens} tokens in ${seconds.toFixed(1)} s`;
  }
}

function onDone({ result, stopped }) {
  if (!reply) return;
  const s = result.stats, data = reply.root.dataset, options = reply.options;
  data.finish = result.finishReason;
  data.completionTokens = String(s.completionTokens);
  if (stopped) {
    data.tokensAtStop = String(stopped.tokensShown);   // what the page had shown at the click
    data.stoppedAt = String(stopped.at);
  }
  if (result.tokensAtStop !== undefined) data.workerTokensAtStop = String(result.tokensAtStop);
  data.endedAt = String(performance.now());
  const speed = s.decodeTokensPerSec ? ` · ${s.decodeTokensPerSec.toFixed(0)} tok/s` : '';
  const sampled = options.temperature > 0 && options.topK !== 1 ? ` · seed ${options.seed}` : ' · greedy';
  reply.update(result.text, s.completionTokens);
  reply.finish(result.finishReason === 'abort' ? 'stopped' : 'done',
    `${s.completionTokens} token${s.completionTokens === 1 ? '' : 's'}${speed} · ${FINISH_WORDS[result.finishReason] ?? result.finishReason}${sampled}`);
  const item = reply.kind === 'chat' ? { role: 'assistant', content: result.text } : { role: 'completion', prompt: reply.prompt, content: result.text };
  const model = chat.model ? { source: chat.model.source, label: modelLabel(chat.model) } : null;
  const kept = conversations.update((c) => c.items.push(/** @type {any} */ (item)), { model, system: ui.system.value });
  if (reply.kind === 'chat' && model) keepCaches(kept, model.source);
  showStats(s);
  endReply();
}

/** Keeps the conversation's caches with it, so that after a reload its next reply runs only the new message. */
async function keepCaches(written, source) {
  await written;
  try {
    const state = await chat.saveState();
    await conversations.keepState(state, source);
    document.body.dataset.cachesKept = conversations.current.id;
  } catch (err) {
    console.warn('PLDR-LLM: the caches of the conversation were not kept:', err);
  }
}

/**
 * Puts the caches kept with a conversation back into the engine, when they were made with the
 * model loaded; a state that does not fit (another model, mode or G_LM) is said and dropped.
 * @param {import('../js/browser/conversation-store.js').Conversation} c
 */
function restoreCaches(c) {
  restoring = restoring.then(async () => {
    const kept = await conversations.keptState(c.id);
    if (!kept || !chat.model || chat.state !== 'ready' || conversations.current.id !== c.id) return;
    if (kept.model !== chat.model.source) return;   // made with another model: kept for when it is loaded again
    try {
      const { position } = await chat.restoreState(c.items.filter((i) => i.role !== 'completion'), kept.state);
      ui.status.textContent = `This conversation's caches were kept: ${position} tokens restored, the next reply reads only the new message.`;
      document.body.dataset.cachesRestored = `${c.id}:${position}`;
    } catch (err) {
      addDivider(`The caches kept with this conversation were not used (${explainError(err).detail.replace(/^state import: /, '')}): the next reply reads it again.`, null, true);
      conversations.dropState(c.id);
    }
  });
  return restoring;
}

function onGenerateError(err) {
  reply?.finish('error', explainError(err).title);
  showError(err);
  ui.status.textContent = '';
  if (itemsBefore) { // the turn is taken back, as the controller takes it back
    conversations.current.items = itemsBefore;
    showConversation(conversations.current, { keepError: true });
  }
  endReply();
}

function endReply() {
  reply = null;
  itemsBefore = null;
  updateActions();
  if (!matchMedia('(max-width: 600px)').matches) ui.input.focus({ preventScroll: true });
}

function showStats(s) {
  ui.status.replaceChildren();
  describeStats(s).forEach((phrase, i) => {
    if (i) ui.status.append(element('span', 'sep', '·'));
    ui.status.append(element('span', phrase.startsWith('G_LM') || phrase.startsWith('G-cache') || phrase.startsWith('predefined') ? 'gcache' : '', phrase));
  });
}

/** What a new conversation costs, as things are. */
function newConversationWords() {
  const m = chat.model;
  if (!m) return '';
  if (m.gcacheFrom === 'predefined' || m.gcacheFrom === 'empty') return 'New conversation. G_LM stays fixed: no A-net run needed.';
  if (m.gcacheFrom === 'none') return 'New conversation. The G-cache is off: the A-net runs at every step.';
  if (m.gcacheMode === 'prompt') return 'New conversation. G_LM will be computed for its first prompt.';
  return (m.stats?.gcacheRuns ?? 0) > 0 || document.querySelector('.reply')
    ? 'New conversation. The G-cache stays: no A-net run needed.' : 'New conversation. G_LM is computed on the first prompt, then cached.';
}

async function newConversation() {
  const words = newConversationWords();
  const cleared = chat.reset();
  conversations.startNew();
  clearLog();
  hideError();
  await cleared;
  if (words) ui.status.textContent = words;
  ui.input.focus();
}

/**
 * Shows a kept conversation and puts it in the controller: the next reply continues it.
 * @param {import('../js/browser/conversation-store.js').Conversation} c
 */
function showConversation(c, { keepError = false } = {}) {
  clearLog();
  if (!keepError) hideError();
  for (const item of c.items) addItem(item);
  chat.restore(c.items.filter((i) => i.role !== 'completion'));
  if (c.model && chat.model && c.model.source !== chat.model.source) addDivider(`This conversation was with ${c.model.label}; replies now come from ${modelLabel(chat.model)}`);
  updateActions();
  scrollDown(true);
  if (c.items.length && !keepError) restoreCaches(c);
}

// --- drawers ------------------------------------------------------------------------------------

const DRAWERS = {
  history: { el: $('history'), toggle: $('history-toggle'), wide: '(min-width: 1101px)', open: 'history-open', hidden: 'history-hidden' },
  panel: { el: $('panel'), toggle: $('panel-toggle'), wide: '(min-width: 901px)', open: 'panel-open', hidden: 'panel-hidden' },
};

/** @param {'history'|'panel'} name @param {boolean} [open] */
function toggleDrawer(name, open) {
  const d = DRAWERS[name];
  if (matchMedia(d.wide).matches) {
    document.body.classList.toggle(d.hidden, open === undefined ? !document.body.classList.contains(d.hidden) : !open);
  } else {
    const shown = open ?? !document.body.classList.contains(d.open);
    for (const other of Object.values(DRAWERS)) document.body.classList.remove(other.open);
    document.body.classList.toggle(d.open, shown);
    syncDrawers();
    if (shown) d.el.querySelector('select, button, input, textarea')?.focus();
  }
  syncDrawers();
}

/** A closed drawer is inert: out of the Tab order and the accessibility tree. */
function syncDrawers() {
  let anyOpen = false;
  for (const d of Object.values(DRAWERS)) {
    const wide = matchMedia(d.wide).matches;
    const open = wide ? !document.body.classList.contains(d.hidden) : document.body.classList.contains(d.open);
    d.el.inert = !open;
    d.toggle.setAttribute('aria-expanded', String(open));
    anyOpen ||= open && !wide;
  }
  $('scrim').hidden = !anyOpen;
}

function closeDrawers() {
  for (const d of Object.values(DRAWERS)) document.body.classList.remove(d.open);
  syncDrawers();
}

// --- wiring -------------------------------------------------------------------------------------

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, window.innerHeight * 0.4)}px`;
}

/** The model to open with: ?model= (asking first when it is on another site), else the last one picked. */
function initialModel(params, saved) {
  const fromLink = params.get('model');
  if (fromLink) {
    ui.modelChoice.value = 'custom';
    try {
      const url = modelFolderUrl(fromLink, location.href);
      ui.modelUrl.value = url;
      return { url, ask: isCrossOrigin(url, location.href) && saved.lastLoaded !== url };
    } catch (err) {
      ui.modelUrl.value = fromLink;
      return { error: err };
    }
  }
  if (saved.modelChoice === 'custom' && saved.modelUrl) {
    ui.modelChoice.value = 'custom';
    ui.modelUrl.value = saved.modelUrl;
    try { return { url: modelFolderUrl(saved.modelUrl, location.href), ask: false }; } catch (err) { return { error: err }; }
  }
  return { url: DEFAULT_MODEL_URL.href, ask: false };
}

function init() {
  const params = new URLSearchParams(location.search);
  const saved = readStored();
  applySampling(saved);
  ui.system.value = saved.system ?? '';
  ui.quant.value = params.get('quant') ?? saved.quant ?? DEFAULT_LOAD.quant;
  ui.gcache.value = params.get('gcache') ?? saved.gcache ?? DEFAULT_LOAD.gcache;
  ui.kvCache.value = params.get('kv-cache') ?? saved.kvCache ?? DEFAULT_LOAD.kvCache;
  if (!ui.quant.value) ui.quant.value = DEFAULT_LOAD.quant;   // a value the select does not offer
  if (!ui.gcache.value) ui.gcache.value = DEFAULT_LOAD.gcache;
  if (!ui.kvCache.value) ui.kvCache.value = DEFAULT_LOAD.kvCache;
  setMode(saved.mode);
  const first = initialModel(params, saved);
  ui.modelUrlField.hidden = ui.modelChoice.value !== 'custom';

  ui.composer.addEventListener('submit', (event) => { event.preventDefault(); send(); });
  ui.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  ui.input.addEventListener('input', autosize);
  ui.stop.addEventListener('click', () => chat.stop());
  ui.log.addEventListener('click', onLogClick);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      if (chat.state === 'generating') { event.preventDefault(); chat.stop(); }
      else closeDrawers();
    }
    if (event.key.toLowerCase() === 'o' && (event.ctrlKey || event.metaKey) && event.shiftKey) {
      event.preventDefault();
      newConversation();
    }
  });
  $('new-chat').addEventListener('click', newConversation);
  $('panel-toggle').addEventListener('click', () => toggleDrawer('panel'));
  $('history-toggle').addEventListener('click', () => toggleDrawer('history'));
  $('panel-close').addEventListener('click', () => toggleDrawer('panel', false));
  $('history-close').addEventListener('click', () => toggleDrawer('history', false));
  $('scrim').addEventListener('click', closeDrawers);
  for (const d of Object.values(DRAWERS)) matchMedia(d.wide).addEventListener('change', syncDrawers);
  // the "Deductive outputs" view is its own module (web/deductive.js), fetched when first opened
  $('deductive-open').addEventListener('click', () => import('./deductive.js').then((m) => m.openDeductive(chat)));
  $('cancel-load').addEventListener('click', () => chat.cancelLoad());
  $('error-dismiss').addEventListener('click', hideError);
  ui.errorRetry.addEventListener('click', () => { const again = retry; hideError(); again?.(); });
  $('defaults').addEventListener('click', () => { applySampling({}); store(); });
  ui.settings.addEventListener('input', () => { ui.temperatureOut.textContent = Number($('temperature').value).toFixed(2); store(); });
  ui.settings.addEventListener('change', (event) => { if (event.target.id in FIELDS) { fieldValue(event.target.id); store(); } });
  ui.settings.addEventListener('submit', (event) => event.preventDefault());
  document.querySelectorAll('input[name="mode"]').forEach((radio) => radio.addEventListener('change', () => { setMode(mode()); store(); }));
  ui.modelChoice.addEventListener('change', () => {
    ui.modelUrlField.hidden = ui.modelChoice.value !== 'custom';
    if (ui.modelChoice.value === 'custom') ui.modelUrl.focus();
    updateLoadHint();
  });
  ui.modelUrl.addEventListener('input', updateLoadHint);
  ui.modelForm.addEventListener('submit', (event) => {
    event.preventDefault();
    store();
    if (!matchMedia(DRAWERS.panel.wide).matches) toggleDrawer('panel', false);
    loadModel();
  });
  for (const select of [ui.quant, ui.gcache, ui.kvCache]) select.addEventListener('change', () => { store(); updateLoadHint(); });
  $('suggestions').addEventListener('click', (event) => {
    const chip = event.target.closest('.chip');
    if (!chip) return;
    setMode(chip.dataset.mode);
    if (chat.state === 'ready') send(chip.textContent);
    else { ui.input.value = chip.textContent; autosize(); ui.input.focus(); }
  });
  conversations.onOpen = (c) => {
    if (chat.state === 'generating') chat.stop();
    showConversation(c);
    closeDrawers();
  };
  listen();
  syncDrawers();
  setState('starting');
  conversations.open();
  stored.render();
  if (first.error) { setState('empty'); ui.pill.textContent = 'Not loaded'; showError(first.error); }
  else if (first.ask) askBeforeLoading(first.url);
  else loadModel(first.url);
  registerServiceWorker();
}

/** What the chat controller says, rendered. */
function listen() {
  const on = (type, render) => chat.addEventListener(type, (event) => render(/** @type {CustomEvent} */ (event).detail));
  on('state', ({ state }) => {
    setState(state);
    if (state === 'loading') ui.pill.textContent = chat.model ? `${modelLabel(chat.model)} · loading another…` : 'Loading…';
  });
  on('progress', ({ progress, meter }) => showProgress(progress, meter));
  let first = true;
  on('load', async ({ model }) => {
    store({ lastLoaded: model.source });
    showLoaded(model);
    const reopen = first ? await conversations.last() : conversations.current;
    first = false;
    if (reopen?.items.length && chat.state === 'ready') { // the conversation on screen goes on with this model
      conversations.show(reopen);
      showConversation(reopen);
    }
  });
  on('replacing', () => {
    ui.progressNote.textContent = 'The model loaded before was unloaded first: both would not fit in this tab\'s memory. If this load fails, load it again.';
    ui.progressNote.hidden = false;
  });
  /** The model still in place after a load that did not finish. */
  const kept = (model, what) => {
    if (model) {
      ui.pill.textContent = `${modelLabel(model)} · ${model.quant}`;
      ui.status.textContent = `${what} ${modelLabel(model)} is still loaded and ready.`;
    } else {
      ui.pill.textContent = 'Not loaded';
      ui.status.textContent = `${what} No model is loaded.`;
    }
    updateLoadHint();
  };
  on('cancel', ({ kept: model }) => kept(model, 'Loading cancelled.'));
  on('turn', onTurn);
  on('token', onToken);
  on('done', onDone);
  on('error', ({ error, during, kept: model }) => {
    if (during === 'generate') onGenerateError(error);
    else if (during === 'load') {
      kept(model, 'The new model did not load.');
      showError(error, () => loadModel());
    } else showError(error);
  });
  on('context-shift', ({ dropped }) => {
    if (reply) reply.shifted(dropped);
    else addDivider(`The context was full: the oldest ${dropped} tokens were dropped — G-cache kept`);
  });
  on('prompt-cut', ({ tokens, context }) => {
    const text = `This text is ${tokens} tokens, longer than the model's context of ${context}: the model reads only its last part.`;
    addDivider(text, reply?.root ?? null, true);
  });
}

/** The page, its JS and the wasm from the Cache API next time, also offline (web/sw.js). */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url)).catch((err) => {
    console.warn('PLDR-LLM: no offline support, the service worker did not register:', err);
  });
}

init();
