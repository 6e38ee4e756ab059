// The chat page: a model picker with a download meter, streamed replies from the engine in a Web
// Worker, Stop, sampling settings, a "complete text" mode for base models, and a status line with
// speeds and the one-off cost of G_LM. The chat itself (loading, the conversation, streaming,
// Stop) is js/browser/chat-controller.js, shared with <pldr-chat>: this file only renders it.
//
// URL parameters: ?model=<folder URL> (relative to this page or absolute), ?quant=f32|q8|q4,
// ?gcache=first|prompt|off|empty. `document.body.dataset.state` is starting | loading | ready |
// generating | error (no model), for CSS and for tests.
import { ChatController } from '../js/browser/chat-controller.js';
import { DEFAULT_LOAD, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_URL, DEFAULT_SAMPLING } from '../js/defaults.js';
import { explainError } from '../js/ui/explain-error.js';
import { describeStats, formatBytes, modelLabel } from '../js/ui/stats-text.js';

const SETTINGS_KEY = 'pldr-chat-settings-v1';
/** The sampling fields of the form (ids = option names) and their defaults: js/defaults.js's. */
const FORM_DEFAULTS = {
  temperature: DEFAULT_SAMPLING.temperature, topK: DEFAULT_SAMPLING.topK, topP: DEFAULT_SAMPLING.topP,
  maxTokens: DEFAULT_MAX_TOKENS, repetitionPenalty: DEFAULT_SAMPLING.repetitionPenalty, seed: '',
};
const FINISH_WORDS = { eos: 'end of text', length: 'max tokens', stop: 'end of turn', abort: 'stopped' };

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const ui = {
  log: $('log'), welcome: $('welcome'), input: $('input'), send: $('send'), stop: $('stop'), composer: $('composer'),
  status: $('status'), pill: $('model-pill-text'), progress: $('progress'), progressLabel: $('progress-label'),
  progressPercent: $('progress-percent'), progressBar: $('progress-bar'), progressFill: $('progress-fill'),
  progressDetail: $('progress-detail'), error: $('error'), errorTitle: $('error-title'), errorHint: $('error-hint'),
  errorDetail: $('error-detail'), errorRetry: $('error-retry'), modelForm: $('model-form'), modelChoice: $('model-choice'),
  modelUrl: $('model-url'), modelUrlField: $('model-url-field'), quant: $('quant'), gcache: $('gcache'),
  modelInfo: $('model-info'), settings: $('settings'), temperatureOut: $('temperature-out'),
};

const chat = new ChatController();
/** @type {ReturnType<typeof addReply>|null} the reply being written */
let reply = null;
/** @type {(() => void)|null} what "Try again" does */
let retry = null;

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
}

function mode() {
  return /** @type {'chat'|'complete'} */ (document.querySelector('input[name="mode"]:checked')?.value ?? 'chat');
}

function setMode(value) {
  const radio = document.querySelector(`input[name="mode"][value="${value}"]`);
  if (radio) radio.checked = true;
  updatePlaceholder();
}

function updatePlaceholder() {
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

function store() {
  try {
    const values = Object.fromEntries(Object.keys(FORM_DEFAULTS).map((k) => [k, $(k).value]));
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...values, quant: ui.quant.value, gcache: ui.gcache.value, mode: mode() }));
  } catch { /* private mode: settings just are not remembered */ }
}

function applySampling(values) {
  for (const [key, fallback] of Object.entries(FORM_DEFAULTS)) {
    $(key).value = values[key] ?? fallback;
  }
  ui.temperatureOut.textContent = Number($('temperature').value).toFixed(2);
}

/** The sampling options for the engine; the seed is drawn here when empty so it can be shown. */
function samplingOptions() {
  const number = (id, fallback) => {
    const v = Number($(id).value);
    return $(id).value === '' || !Number.isFinite(v) ? fallback : v;
  };
  const seedText = $('seed').value.trim();
  return {
    temperature: number('temperature', FORM_DEFAULTS.temperature),
    topK: Math.max(0, Math.round(number('topK', FORM_DEFAULTS.topK))),
    topP: Math.min(1, Math.max(0.01, number('topP', FORM_DEFAULTS.topP))),
    maxTokens: Math.max(1, Math.round(number('maxTokens', FORM_DEFAULTS.maxTokens))),
    repetitionPenalty: Math.max(0.01, number('repetitionPenalty', FORM_DEFAULTS.repetitionPenalty)),
    seed: seedText === '' ? Math.floor(Math.random() * 2 ** 31) : Math.round(Number(seedText)),
  };
}

function modelUrl() {
  if (ui.modelChoice.value === 'default') return DEFAULT_MODEL_URL.href;
  const text = ui.modelUrl.value.trim();
  return text === '' ? '' : text;
}

// --- loading ------------------------------------------------------------------------------------

function loadModel() {
  const source = modelUrl();
  hideError();
  if (!source) {
    ui.modelUrl.focus();
    showError({ code: 'E_SOURCE', message: 'the model URL is empty' });
    return;
  }
  ui.modelInfo.textContent = '';
  ui.status.textContent = '';
  showProgress({ file: 'config.json', fromCache: false }, { fraction: null, text: 'Starting…' });
  chat.load(source, { quant: ui.quant.value, gcache: ui.gcache.value }).catch(() => {}); // shown by the 'error' event
}

function showLoaded(info) {
  const seconds = (info.loadMs / 1000).toFixed(1);
  const where = info.fromCache ? 'from the browser cache' : 'downloaded';
  const shortName = modelLabel(info);
  ui.pill.textContent = `${shortName} · ${info.quant}`;
  ui.pill.parentElement.title = `${shortName} (${info.quant}, G-cache ${info.gcacheMode}) is ready`;
  ui.modelInfo.textContent = `${shortName}: ${info.config.num_hidden_layers} layers, ${info.config.hidden_size} wide, ` +
    `vocabulary ${info.config.vocab_size}, context ${info.contextLength} · ${formatBytes(info.bytes)} ${where} in ${seconds} s`;
  ui.status.textContent = `Loaded ${shortName} in ${seconds} s (${formatBytes(info.bytes)}, ${where}). ` +
    `G_LM is computed on the first prompt${info.gcacheMode === 'first' || info.gcacheMode === 'empty' ? ', then cached' : ''}.`;
  if (ui.log.querySelector('.reply')) addDivider(`${shortName} loaded — ${info.quant}, G-cache “${info.gcacheMode}”`);
  ui.input.focus({ preventScroll: true });
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

// --- the log ------------------------------------------------------------------------------------

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function atBottom() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
}

function scrollDown(force = false) {
  if (force || atBottom()) ui.log.scrollTop = ui.log.scrollHeight;
}

function addDivider(text) {
  ui.log.append(element('div', 'divider', text));
  scrollDown(true);
}

function addUser(text) {
  ui.welcome.hidden = true;
  const msg = element('div', 'msg user');
  const body = element('div', 'body');
  body.append(element('div', 'text', text));
  msg.append(body);
  ui.log.append(msg);
  scrollDown(true);
}

/**
 * A reply being written: the chat bubble or the completion card. `update` shows the raw text
 * (the leading space a reply starts with after "Assistant:" is not shown).
 */
function addReply(kind, prompt) {
  ui.welcome.hidden = true;
  let root, textEl, meta;
  if (kind === 'chat') {
    root = element('div', 'msg assistant');
    const body = element('div', 'body');
    textEl = element('div', 'text');
    meta = element('div', 'meta');
    body.append(textEl, meta);
    root.append(element('div', 'avatar', 'P'), body);
  } else {
    root = element('article', 'doc');
    const text = element('div', 'text');
    text.append(element('span', 'prompt', prompt));
    textEl = element('span', 'completion');
    text.append(textEl);
    meta = element('div', 'meta');
    root.append(element('div', 'label', 'Completion'), text, meta);
  }
  root.classList.add('reply');
  root.dataset.state = 'streaming';
  root.dataset.tokens = '0';
  ui.log.append(root);
  scrollDown(true);
  return {
    root,
    /** @param {string} raw @param {number} tokens */
    update(raw, tokens) {
      const follow = atBottom();
      textEl.textContent = kind === 'chat' ? raw.trimStart() : raw;
      root.dataset.tokens = String(tokens);
      if (follow) scrollDown(true);
    },
    /** @param {string} state @param {string} note */
    finish(state, note) {
      root.dataset.state = state;
      meta.textContent = note;
      if (state !== 'error' && textEl.textContent === '') {
        textEl.append(element('span', 'empty-reply', kind === 'chat' ? '(no reply — the model ended its turn at once)' : '(the model ended the text at once)'));
      }
      scrollDown();
    },
  };
}

// --- generating ---------------------------------------------------------------------------------

function send(text = ui.input.value) {
  if (!text.trim() || chat.state !== 'ready') return;
  hideError();
  ui.input.value = '';
  autosize();
  chat.send(text, { mode: mode(), options: samplingOptions() }).catch(() => {}); // shown by the 'error' event
}

function onTurn({ mode: kind, text, options }) {
  ui.status.textContent = 'Thinking…';
  if (kind === 'chat') addUser(text);
  reply = { ...addReply(kind, text), options, started: performance.now(), pieces: 0 };
  reply.root.dataset.seed = String(options.seed);
}

function onToken({ text, tokens }) {
  if (!reply) return;
  reply.update(text, tokens);
  reply.pieces++;
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
  reply.finish(result.finishReason === 'abort' ? 'stopped' : 'done',
    `${s.completionTokens} token${s.completionTokens === 1 ? '' : 's'}${speed} · ${FINISH_WORDS[result.finishReason] ?? result.finishReason}${sampled}`);
  showStats(s);
  endReply();
}

function onGenerateError(err) {
  reply?.finish('error', explainError(err).title);
  showError(err);
  ui.status.textContent = '';
  endReply();
}

function endReply() {
  reply = null;
  if (!matchMedia('(max-width: 600px)').matches) ui.input.focus({ preventScroll: true });
}

function showStats(s) {
  ui.status.replaceChildren();
  describeStats(s).forEach((phrase, i) => {
    if (i) ui.status.append(element('span', 'sep', '·'));
    ui.status.append(element('span', phrase.startsWith('G_LM') || phrase.startsWith('G-cache') ? 'gcache' : '', phrase));
  });
}

async function newConversation() {
  const hadModel = chat.model !== null;
  const cleared = chat.reset();
  ui.log.querySelectorAll('.msg, .doc, .divider').forEach((el) => el.remove());
  ui.welcome.hidden = false;
  hideError();
  await cleared;
  if (hadModel) ui.status.textContent = 'New conversation. The G-cache stays: no A-net run needed.';
  ui.input.focus();
}

// --- wiring -------------------------------------------------------------------------------------

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, window.innerHeight * 0.4)}px`;
}

function togglePanel(open) {
  const wide = matchMedia('(min-width: 901px)').matches;
  if (wide) {
    const hidden = open === undefined ? !document.body.classList.contains('panel-hidden') : !open;
    document.body.classList.toggle('panel-hidden', hidden);
    $('panel-toggle').setAttribute('aria-expanded', String(!hidden));
  } else {
    const shown = open ?? !document.body.classList.contains('panel-open');
    document.body.classList.toggle('panel-open', shown);
    $('scrim').hidden = !shown;
    $('panel-toggle').setAttribute('aria-expanded', String(shown));
    if (shown) ui.modelChoice.focus();
  }
}

function init() {
  const params = new URLSearchParams(location.search);
  const stored = readStored();
  applySampling(stored);
  ui.quant.value = params.get('quant') ?? stored.quant ?? DEFAULT_LOAD.quant;
  ui.gcache.value = params.get('gcache') ?? stored.gcache ?? DEFAULT_LOAD.gcache;
  if (!ui.quant.value) ui.quant.value = DEFAULT_LOAD.quant;   // a value the select does not offer
  if (!ui.gcache.value) ui.gcache.value = DEFAULT_LOAD.gcache;
  setMode(stored.mode === 'complete' ? 'complete' : 'chat');
  const requested = params.get('model');
  if (requested) {
    ui.modelChoice.value = 'custom';
    ui.modelUrl.value = new URL(requested, location.href).href;
  }
  ui.modelUrlField.hidden = ui.modelChoice.value !== 'custom';
  $('panel-toggle').setAttribute('aria-expanded', String(matchMedia('(min-width: 901px)').matches));

  ui.composer.addEventListener('submit', (event) => { event.preventDefault(); send(); });
  ui.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  ui.input.addEventListener('input', autosize);
  ui.stop.addEventListener('click', () => chat.stop());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      if (chat.state === 'generating') { event.preventDefault(); chat.stop(); }
      else if (document.body.classList.contains('panel-open')) togglePanel(false);
    }
    if (event.key.toLowerCase() === 'o' && (event.ctrlKey || event.metaKey) && event.shiftKey) {
      event.preventDefault();
      newConversation();
    }
  });
  $('new-chat').addEventListener('click', newConversation);
  $('panel-toggle').addEventListener('click', () => togglePanel());
  // the "Deductive outputs" view is its own module (web/deductive.js), fetched when first opened
  $('deductive-open').addEventListener('click', () => import('./deductive.js').then((m) => m.openDeductive(chat)));
  $('panel-close').addEventListener('click', () => togglePanel(false));
  $('scrim').addEventListener('click', () => togglePanel(false));
  $('cancel-load').addEventListener('click', () => chat.cancelLoad());
  $('error-dismiss').addEventListener('click', hideError);
  ui.errorRetry.addEventListener('click', () => { const again = retry; hideError(); again?.(); });
  $('defaults').addEventListener('click', () => { applySampling({}); store(); });
  ui.settings.addEventListener('input', () => { ui.temperatureOut.textContent = Number($('temperature').value).toFixed(2); store(); });
  ui.settings.addEventListener('submit', (event) => event.preventDefault());
  document.querySelectorAll('input[name="mode"]').forEach((radio) => radio.addEventListener('change', () => { updatePlaceholder(); store(); }));
  ui.modelChoice.addEventListener('change', () => {
    ui.modelUrlField.hidden = ui.modelChoice.value !== 'custom';
    if (ui.modelChoice.value === 'custom') ui.modelUrl.focus();
  });
  ui.modelForm.addEventListener('submit', (event) => {
    event.preventDefault();
    store();
    if (!matchMedia('(min-width: 901px)').matches) togglePanel(false);
    loadModel();
  });
  for (const select of [ui.quant, ui.gcache]) select.addEventListener('change', store);
  $('suggestions').addEventListener('click', (event) => {
    const chip = event.target.closest('.chip');
    if (!chip) return;
    setMode(chip.dataset.mode);
    if (chat.state === 'ready') send(chip.textContent);
    else { ui.input.value = chip.textContent; autosize(); ui.input.focus(); }
  });
  listen();
  setState('starting');
  loadModel();
  registerServiceWorker();
}

/** What the chat controller says, rendered. */
function listen() {
  const on = (type, render) => chat.addEventListener(type, (event) => render(/** @type {CustomEvent} */ (event).detail));
  on('state', ({ state }) => {
    setState(state);
    if (state === 'loading') ui.pill.textContent = 'Loading…';
  });
  on('progress', ({ progress, meter }) => showProgress(progress, meter));
  on('load', ({ model }) => showLoaded(model));
  on('cancel', () => {
    ui.pill.textContent = 'No model';
    ui.status.textContent = 'Loading cancelled.';
  });
  on('turn', onTurn);
  on('token', onToken);
  on('done', onDone);
  on('error', ({ error, during }) => {
    if (during === 'generate') onGenerateError(error);
    else if (during === 'load') {
      ui.pill.textContent = 'Not loaded';
      showError(error, () => loadModel());
    } else showError(error);
  });
  on('context-shift', ({ dropped }) => addDivider(`The context was full: the oldest ${dropped} tokens were dropped (G-cache kept)`));
}

/** The page, its JS and the wasm from the Cache API next time, also offline (web/sw.js). */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url)).catch((err) => {
    console.warn('PLDR-LLM: no offline support, the service worker did not register:', err);
  });
}

init();
