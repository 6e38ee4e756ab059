// The chat page: a model picker with a download meter, streamed replies from the engine in a Web
// Worker (js/browser/worker.js through js/browser/worker-client.js), Stop, sampling settings, a "complete text"
// mode for base models, and a status line with speeds and the one-off cost of G_LM.
//
// URL parameters: ?model=<folder URL> (relative to this page or absolute), ?quant=f32|q8|q4,
// ?gcache=first|prompt|off|empty. `document.body.dataset.state` is starting | loading | ready |
// generating | error (no model), for CSS and for tests.
import { PldrWorker } from '../js/browser/worker-client.js';
import { DownloadMeter } from '../js/ui/download-meter.js';
import { explainError } from '../js/ui/explain-error.js';
import { describeStats, formatBytes, modelLabel } from '../js/ui/stats-text.js';

const DEFAULT_MODEL = new URL('../models/pldr-tiny/', import.meta.url).href;
const SETTINGS_KEY = 'pldr-chat-settings-v1';
const SAMPLING_DEFAULTS = { temperature: 0.8, topK: 40, topP: 0.95, maxTokens: 128, repetitionPenalty: 1.1, seed: '' };
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

const client = new PldrWorker();
/** @type {{role: 'user'|'assistant', content: string}[]} the conversation as the engine holds it */
let messages = [];
/** @type {AbortController|null} */
let loadController = null;
/** @type {AbortController|null} */
let generation = null;
/** @type {import('../js/browser/worker-client.js').ModelInfo|null} */
let model = null;
/** bumped by a new conversation: a reply that ends after it does not join the new one */
let epoch = 0;
/** @type {(() => void)|null} what "Try again" does */
let retry = null;

// --- state --------------------------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const generating = state === 'generating';
  ui.send.hidden = generating;
  ui.stop.hidden = !generating;
  ui.send.disabled = state !== 'ready';
  ui.send.title = state === 'ready' ? 'Send (Enter)' : state === 'loading' ? 'The model is still loading' : 'Load a model first';
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
    const values = Object.fromEntries(Object.keys(SAMPLING_DEFAULTS).map((k) => [k, $(k).value]));
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...values, quant: ui.quant.value, gcache: ui.gcache.value, mode: mode() }));
  } catch { /* private mode: settings just are not remembered */ }
}

function applySampling(values) {
  for (const [key, fallback] of Object.entries(SAMPLING_DEFAULTS)) {
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
    temperature: number('temperature', SAMPLING_DEFAULTS.temperature),
    topK: Math.max(0, Math.round(number('topK', SAMPLING_DEFAULTS.topK))),
    topP: Math.min(1, Math.max(0.01, number('topP', SAMPLING_DEFAULTS.topP))),
    maxTokens: Math.max(1, Math.round(number('maxTokens', SAMPLING_DEFAULTS.maxTokens))),
    repetitionPenalty: Math.max(0.01, number('repetitionPenalty', SAMPLING_DEFAULTS.repetitionPenalty)),
    seed: seedText === '' ? Math.floor(Math.random() * 2 ** 31) : Math.round(Number(seedText)),
  };
}

function modelUrl() {
  if (ui.modelChoice.value === 'default') return DEFAULT_MODEL;
  const text = ui.modelUrl.value.trim();
  return text === '' ? '' : text;
}

// --- loading ------------------------------------------------------------------------------------

async function loadModel() {
  const source = modelUrl();
  hideError();
  if (!source) {
    ui.modelUrl.focus();
    showError({ code: 'E_SOURCE', message: 'the model URL is empty' });
    return;
  }
  loadController?.abort();
  generation?.abort();
  epoch++;
  const controller = new AbortController();
  loadController = controller;
  model = null;
  setState('loading');
  ui.pill.textContent = 'Loading…';
  ui.modelInfo.textContent = '';
  ui.status.textContent = '';
  const meter = new DownloadMeter();
  showProgress({ loaded: 0, total: null, file: 'config.json', fileLoaded: 0, fileTotal: null, fromCache: false }, meter);
  ui.progress.hidden = false;
  const started = performance.now();
  try {
    const info = await client.load(source, {
      quant: ui.quant.value, gcache: ui.gcache.value, signal: controller.signal,
      onProgress: (p) => showProgress(p, meter),
    });
    if (loadController !== controller) return;
    model = info;
    messages = [];
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const where = info.fromCache ? 'from the browser cache' : 'downloaded';
    const shortName = modelLabel(info);
    ui.pill.textContent = `${shortName} · ${info.quant}`;
    ui.pill.parentElement.title = `${shortName} (${info.quant}, G-cache ${info.gcacheMode}) is ready`;
    ui.modelInfo.textContent = `${shortName}: ${info.config.num_hidden_layers} layers, ${info.config.hidden_size} wide, ` +
      `vocabulary ${info.config.vocab_size}, context ${info.contextLength} · ${formatBytes(info.bytes)} ${where} in ${seconds} s`;
    ui.status.textContent = `Loaded ${shortName} in ${seconds} s (${formatBytes(info.bytes)}, ${where}). ` +
      `G_LM is computed on the first prompt${info.gcacheMode === 'first' || info.gcacheMode === 'empty' ? ', then cached' : ''}.`;
    if (ui.log.querySelector('.reply')) addDivider(`${shortName} loaded — ${info.quant}, G-cache “${info.gcacheMode}”`);
    setState('ready');
    ui.input.focus({ preventScroll: true });
  } catch (err) {
    if (loadController !== controller) return;
    if (controller.signal.aborted) {
      ui.pill.textContent = 'No model';
      setState('error');
      ui.status.textContent = 'Loading cancelled.';
    } else {
      ui.pill.textContent = 'Not loaded';
      setState('error');
      showError(err, () => loadModel());
    }
  } finally {
    if (loadController === controller) {
      ui.progress.hidden = true;
      loadController = null;
    }
  }
}

function showProgress(p, meter) {
  const m = meter.update(p);
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

async function send(text = ui.input.value) {
  if (!text.trim() || document.body.dataset.state !== 'ready') return;
  hideError();
  ui.input.value = '';
  autosize();
  const kind = mode();
  const options = samplingOptions();
  const conversation = epoch;
  const controller = new AbortController();
  generation = controller;
  setState('generating');
  ui.status.textContent = 'Thinking…';

  let run, reply;
  if (kind === 'chat') {
    messages.push({ role: 'user', content: text });
    addUser(text);
    reply = addReply('chat');
    run = client.respond(messages, { ...options, signal: controller.signal });
  } else {
    reply = addReply('complete', text);
    run = client.generate(text, { ...options, signal: controller.signal });
  }
  reply.root.dataset.seed = String(options.seed);
  controller.signal.addEventListener('abort', () => {
    reply.root.dataset.tokensAtStop = reply.root.dataset.tokens;   // what the page had shown
    reply.root.dataset.stoppedAt = String(performance.now());
  }, { once: true });

  let raw = '', pieces = 0;
  const started = performance.now();
  try {
    for (;;) {
      const step = await run.next();
      if (step.done) {
        const result = step.value;
        if (kind === 'chat' && conversation === epoch) messages.push({ role: 'assistant', content: result.text });
        const s = result.stats;
        reply.root.dataset.finish = result.finishReason;
        reply.root.dataset.completionTokens = String(s.completionTokens);
        if (result.tokensAtStop !== undefined) reply.root.dataset.workerTokensAtStop = String(result.tokensAtStop);
        reply.root.dataset.endedAt = String(performance.now());
        const speed = s.decodeTokensPerSec ? ` · ${s.decodeTokensPerSec.toFixed(0)} tok/s` : '';
        const sampled = options.temperature > 0 && options.topK !== 1 ? ` · seed ${options.seed}` : ' · greedy';
        reply.finish(result.finishReason === 'abort' ? 'stopped' : 'done',
          `${s.completionTokens} token${s.completionTokens === 1 ? '' : 's'}${speed} · ${FINISH_WORDS[result.finishReason] ?? result.finishReason}${sampled}`);
        showStats(s);
        break;
      }
      raw += step.value.text;
      pieces++;
      reply.update(raw, step.value.tokens);
      if (pieces === 1 || pieces % 8 === 0) {
        const seconds = (performance.now() - started) / 1000;
        ui.status.textContent = `Generating… ${step.value.tokens} tokens in ${seconds.toFixed(1)} s`;
      }
    }
  } catch (err) {
    if (kind === 'chat' && conversation === epoch) messages.pop();   // the engine did not keep the failed turn either
    reply.finish('error', explainError(err).title);
    showError(err);
    ui.status.textContent = '';
  } finally {
    if (generation === controller) generation = null;
    if (document.body.dataset.state === 'generating') setState(model ? 'ready' : 'error');
    if (!matchMedia('(max-width: 600px)').matches) ui.input.focus({ preventScroll: true });
  }
}

function showStats(s) {
  ui.status.replaceChildren();
  describeStats(s).forEach((phrase, i) => {
    if (i) ui.status.append(element('span', 'sep', '·'));
    ui.status.append(element('span', phrase.startsWith('G_LM') || phrase.startsWith('G-cache') ? 'gcache' : '', phrase));
  });
}

function stop() {
  generation?.abort();
}

async function newConversation() {
  generation?.abort();
  epoch++;
  messages = [];
  ui.log.querySelectorAll('.msg, .doc, .divider').forEach((el) => el.remove());
  ui.welcome.hidden = false;
  hideError();
  if (model) {
    await client.reset().catch(() => {});
    ui.status.textContent = 'New conversation. The G-cache stays: no A-net run needed.';
  }
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
  ui.quant.value = params.get('quant') ?? stored.quant ?? 'f32';
  ui.gcache.value = params.get('gcache') ?? stored.gcache ?? 'first';
  if (!ui.quant.value) ui.quant.value = 'f32';
  if (!ui.gcache.value) ui.gcache.value = 'first';
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
  ui.stop.addEventListener('click', stop);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      if (generation) { event.preventDefault(); stop(); }
      else if (document.body.classList.contains('panel-open')) togglePanel(false);
    }
    if (event.key.toLowerCase() === 'o' && (event.ctrlKey || event.metaKey) && event.shiftKey) {
      event.preventDefault();
      newConversation();
    }
  });
  $('new-chat').addEventListener('click', newConversation);
  $('panel-toggle').addEventListener('click', () => togglePanel());
  $('panel-close').addEventListener('click', () => togglePanel(false));
  $('scrim').addEventListener('click', () => togglePanel(false));
  $('cancel-load').addEventListener('click', () => loadController?.abort());
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
    if (document.body.dataset.state === 'ready') send(chip.textContent);
    else { ui.input.value = chip.textContent; autosize(); ui.input.focus(); }
  });
  client.addEventListener('context-shift', (event) => {
    addDivider(`The context was full: the oldest ${event.detail.dropped} tokens were dropped (G-cache kept)`);
  });
  client.addEventListener('error', (event) => showError(event.error));

  setState('starting');
  loadModel();
  registerServiceWorker();
}

/** The page, its JS and the wasm from the Cache API next time, also offline (web/sw.js). */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url)).catch((err) => {
    console.warn('PLDR-LLM: no offline support, the service worker did not register:', err);
  });
}

init();
