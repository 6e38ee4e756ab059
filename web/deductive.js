// The chat page's "Deductive outputs" view (loaded when first opened): G_LM of every layer and
// head as heat maps, the invariance figures of the current conversation against the empty prompt
// [END], the one-off A-net time against a decode step, and, for a G-only model, the download the
// missing A-net saved. Everything is computed in the engine's Web Worker (engine.deductive(),
// PldrWorker.gFigures); this module only draws. Without a conversation it shows the released
// PLDR-LLM-v51-110M-1's own G (pldrv51-110m-1.G_LM.f32 beside this file, fetched on demand).
//
//   import('./deductive.js').then((m) => m.openDeductive(chat));   // chat: the page's ChatController
//
// The dialog's data-state is loading | ready | error and data-source conversation | example, for
// CSS and tests; each head's canvas carries data-layer, data-head and data-energy.

const EXAMPLE = {
  url: new URL('pldrv51-110m-1.G_LM.f32', import.meta.url),
  name: 'PLDR-LLM-v51-110M-1',
  shape: { layers: 5, heads: 14, dk: 64 },
};
/** σ1 holding this share of a head's energy (σ1² / Σσi²) makes it rank 1 for the eye and the label. */
const RANK1 = 0.99;
/** ColorBrewer RdBu, blue (negative) → near-white (0) → red (positive). */
const PALETTE = ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f']
  .map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));

/** @type {HTMLDialogElement|null} */
let dialog = null;
/** @type {{g: Float32Array, figures: any}|null} the example, once fetched and measured */
let example = null;
let generation = 0;

/**
 * Opens the view over the page's chat. It shows the conversation when there is one, else the
 * released model's G.
 * @param {import('../js/browser/chat-controller.js').ChatController} chat
 * @param {{source?: 'conversation'|'example'}} [options]
 */
export function openDeductive(chat, { source } = {}) {
  dialog ??= build(chat);
  const chosen = source ?? (chat.model ? 'conversation' : 'example');
  if (!dialog.open) dialog.showModal();
  show(chat, chosen, source === undefined);
  return dialog;
}

/** @param {import('../js/browser/chat-controller.js').ChatController} chat */
function build(chat) {
  if (!document.querySelector('link[data-deductive]')) {
    const css = Object.assign(document.createElement('link'), { rel: 'stylesheet', href: new URL('deductive.css', import.meta.url).href });
    css.dataset.deductive = '';
    document.head.append(css);
  }
  const d = document.createElement('dialog');
  d.id = 'deductive';
  d.className = 'deductive';
  d.setAttribute('aria-labelledby', 'dd-title');
  d.innerHTML = `
    <div class="dd-head">
      <h2 id="dd-title">Deductive outputs</h2>
      <button type="button" class="btn ghost small dd-close" aria-label="Close">✕</button>
    </div>
    <p class="dd-intro">G<sub>LM</sub>, the energy-curvature tensor each head puts between query and key: layers in
      rows, heads in columns, each a 64×64 matrix. A trained PLDR-LLM's G barely depends on the input, so it is computed
      once and cached.</p>
    <div class="dd-source" role="radiogroup" aria-label="Which G">
      <label><input type="radio" name="dd-source" value="conversation"><span>This conversation</span></label>
      <label><input type="radio" name="dd-source" value="example"><span>Released ${EXAMPLE.name}</span></label>
    </div>
    <p class="dd-status" role="status" aria-live="polite"></p>
    <div class="dd-legend" hidden>
      <span class="dd-legend-label">−s</span><canvas width="220" height="10" aria-hidden="true"></canvas><span class="dd-legend-label">+s</span>
      <span class="dd-legend-note">s: each row's 99th percentile of |G| (given at the row); outlined heads are rank 1: σ₁ holds ≥ ${RANK1 * 100}% of ‖G‖²</span>
    </div>
    <div class="dd-grid"></div>
    <p class="dd-summary"></p>
    <section class="dd-invariance" hidden>
      <h3>Against the empty prompt</h3>
      <p class="dd-note">G computed by the A-net from this conversation against G of the empty prompt [END]:
        rmse = √mean((G − G<sub>[END]</sub>)²) per layer, rel = rmse / √mean(G<sub>[END]</sub>²).</p>
      <table><thead><tr><th>layer</th><th>rmse</th><th>rel</th><th></th></tr></thead><tbody></tbody></table>
    </section>
    <section class="dd-cost" hidden><h3>What the G-cache saves</h3><p></p></section>
    <section class="dd-saving" hidden><h3>G-only model</h3><p></p></section>`;
  document.body.append(d);
  d.querySelector('.dd-close').addEventListener('click', () => d.close());
  d.addEventListener('click', (event) => { if (event.target === d) d.close(); }); // a click on the backdrop
  for (const radio of d.querySelectorAll('input[name="dd-source"]')) {
    radio.addEventListener('change', () => show(chat, /** @type {any} */ (radio).value));
  }
  drawLegend(/** @type {HTMLCanvasElement} */ (d.querySelector('.dd-legend canvas')));
  return d;
}

/**
 * @param {import('../js/browser/chat-controller.js').ChatController} chat @param {'conversation'|'example'} source
 * @param {boolean} [fallBack] an empty conversation shows the example instead
 */
async function show(chat, source, fallBack = false) {
  const d = /** @type {HTMLDialogElement} */ (dialog);
  const mine = ++generation;
  /** @type {HTMLInputElement} */ (d.querySelector(`input[name="dd-source"][value="${source}"]`)).checked = true;
  d.dataset.state = 'loading';
  d.dataset.source = source;
  for (const s of d.querySelectorAll('section')) s.hidden = true;
  d.querySelector('.dd-grid').replaceChildren();
  d.querySelector('.dd-summary').textContent = '';
  /** @type {HTMLElement} */ (d.querySelector('.dd-legend')).hidden = true;
  const status = /** @type {HTMLElement} */ (d.querySelector('.dd-status'));
  try {
    if (source === 'example') {
      status.textContent = `Fetching ${EXAMPLE.name}'s G (1.1 MB) and measuring its heads in the engine's worker…`;
      const { g, figures } = await exampleData(chat);
      if (mine !== generation) return;
      await draw(d, g, EXAMPLE.shape, figures.layers, () => mine === generation);
      if (mine !== generation) return;
      status.textContent = `${EXAMPLE.name}: the G_LM its A-net computes, ${EXAMPLE.shape.layers} layers × ${EXAMPLE.shape.heads} heads of 64×64 (float32).`;
    } else {
      if (!chat.model) throw new Error('load a model first (the example needs none)');
      status.textContent = chat.state === 'generating' ? 'Waiting for the reply to finish, then computing G from the conversation…'
        : 'Computing G from the conversation with the A-net, in the engine\'s worker…';
      const report = await chat.client.deductive();
      if (mine !== generation) return;
      await draw(d, report.G, report.shape, report.layers, () => mine === generation);
      if (mine !== generation) return;
      showConversation(d, report);
      status.textContent = report.gOnly
        ? 'This model is G-only: its G is fixed, the same for every prompt.'
        : `G computed by the A-net from this conversation's ${report.ids.length} tokens.`;
    }
    d.dataset.state = 'ready';
  } catch (err) {
    if (mine !== generation) return;
    if (fallBack && /** @type {any} */ (err)?.code === 'E_OPTION') { // nothing said yet: the released model's G meanwhile
      await show(chat, 'example');
      if (mine + 1 === generation) status.textContent = `Nothing in this conversation yet: send a message to see its G. Meanwhile, ${status.textContent}`;
      return;
    }
    d.dataset.state = 'error';
    status.textContent = `Cannot show this: ${/** @type {any} */ (err)?.message ?? err}`;
  }
}

/** @param {import('../js/browser/chat-controller.js').ChatController} chat */
async function exampleData(chat) {
  if (example) return example;
  const response = await fetch(EXAMPLE.url);
  if (!response.ok) throw new Error(`${EXAMPLE.url.pathname}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const { layers, heads, dk } = EXAMPLE.shape;
  if (bytes.byteLength !== layers * heads * dk * dk * 4) throw new Error(`${EXAMPLE.url.pathname}: ${bytes.byteLength} bytes, not a [${layers}][${heads}][${dk}][${dk}] float32 G`);
  const g = new Float32Array(bytes);
  example = { g, figures: await chat.client.gFigures(g, EXAMPLE.shape) };
  return example;
}

/** The heat maps and the rank-1 summary, a layer per frame (the page keeps answering). */
async function draw(d, g, shape, layers, current) {
  const { heads, dk } = shape;
  const grid = d.querySelector('.dd-grid');
  grid.style.setProperty('--heads', String(heads));
  const head = document.createElement('div');
  head.className = 'dd-row dd-colhead';
  head.append(Object.assign(document.createElement('div'), { className: 'dd-rowlabel', textContent: 'head' }),
    ...Array.from({ length: heads }, (_, h) => Object.assign(document.createElement('div'), { className: 'dd-colnum', textContent: String(h) })));
  grid.replaceChildren(head);
  d.querySelector('.dd-legend').hidden = false;
  for (let l = 0; l < shape.layers; l++) {
    if (l > 0) await new Promise((resolve) => requestAnimationFrame(resolve));
    if (!current()) return;
    const at = l * heads * dk * dk, layerG = g.subarray(at, at + heads * dk * dk);
    const s = percentileAbs(layerG, 0.99) || 1;
    const row = document.createElement('div');
    row.className = 'dd-row';
    const label = document.createElement('div');
    label.className = 'dd-rowlabel';
    label.innerHTML = `<strong>layer ${l}</strong><span>s ${s.toPrecision(2)}</span>`;
    row.append(label);
    for (let h = 0; h < heads; h++) {
      const f = layers[l].heads[h];
      const cell = document.createElement('figure');
      cell.className = f.energy_share >= RANK1 ? 'dd-cell rank1' : 'dd-cell';
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = dk;
      Object.assign(canvas.dataset, { layer: String(l), head: String(h), energy: String(f.energy_share) });
      const [sign, log] = f.slogdet;
      canvas.title = `layer ${l}, head ${h}: σ₁ holds ${(100 * f.energy_share).toFixed(1)}% of ‖G‖²; ` +
        `log|det G| ${Number.isFinite(log) ? log.toFixed(2) : '−∞'} (sign ${sign > 0 ? '+' : sign < 0 ? '−' : '0'})`;
      paint(canvas, layerG.subarray(h * dk * dk, (h + 1) * dk * dk), dk, s);
      const caption = document.createElement('figcaption');
      caption.textContent = `${Math.round(100 * f.energy_share)}%`;
      cell.append(canvas, caption);
      row.append(cell);
    }
    grid.append(row);
  }
  const counts = layers.map((l) => l.heads.filter((x) => x.energy_share >= RANK1).length);
  d.querySelector('.dd-summary').textContent = `Rank-1 heads (σ₁ ≥ ${RANK1 * 100}% of the energy) per layer: ` +
    counts.map((c, l) => `layer ${l}: ${c} of ${heads}`).join(' · ') + '. The % under each head is σ₁²/‖G‖².';
}

/** Invariance table, A-net cost, G-only saving. @param {import('../js/generation/engine.js').DeductiveReport} r */
function showConversation(d, r) {
  const inv = d.querySelector('.dd-invariance');
  if (!r.gOnly) {
    const worst = Math.max(...r.layers.map((l) => l.rel_rmse), 1e-12);
    inv.querySelector('tbody').replaceChildren(...r.layers.map((l, i) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${i}</td><td>${l.rmse.toExponential(3)}</td><td>${(100 * l.rel_rmse).toFixed(2)}%</td>` +
        `<td class="dd-barcell"><span class="dd-bar" style="width:${(100 * l.rel_rmse / worst).toFixed(1)}%"></span></td>`;
      return tr;
    }));
    inv.hidden = false;
    const cost = d.querySelector('.dd-cost');
    const step = r.decodeStepMs;
    cost.querySelector('p').textContent = `The A-net took ${r.anetMs.toFixed(1)} ms to compute this G — once. ` + (step
      ? `A decode step takes ${step.toFixed(1)} ms: the A-net costs as much as ${(r.anetMs / step).toFixed(1)} steps, ` +
        'and with the G-cache it runs once instead of at every step.'
      : 'Generate a reply to measure a decode step.');
    cost.hidden = false;
  } else {
    const saving = d.querySelector('.dd-saving');
    const s = r.saving;
    saving.querySelector('p').textContent = s
      ? `The converter removed the A-net and the PLGA weights (${s.anetParameters.toLocaleString('en')} parameters, ` +
        `${megabytes(s.anetBytes)}) and stored G instead (${megabytes(s.gBytes)}): ${megabytes(s.savedBytes)} less to download, ` +
        'and no A-net to run.'
      : 'The converter removed the A-net; this config.json does not say how large it was.';
    saving.hidden = false;
  }
}

const megabytes = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;

/** The q-quantile of |x| (sampled for large x). */
function percentileAbs(x, q) {
  const step = Math.max(1, Math.floor(x.length / 20000));
  const a = [];
  for (let i = 0; i < x.length; i += step) a.push(Math.abs(x[i]));
  a.sort((p, r) => p - r);
  return a[Math.min(a.length - 1, Math.floor(q * a.length))];
}

/** Diverging colour of t ∈ [−1, 1]. */
function colour(t) {
  const u = (Math.max(-1, Math.min(1, t)) + 1) / 2 * (PALETTE.length - 1);
  const i = Math.min(PALETTE.length - 2, Math.floor(u)), f = u - i;
  return PALETTE[i].map((c, k) => Math.round(c + (PALETTE[i + 1][k] - c) * f));
}

/** The colour scale in LUT_SIZE steps from −1 to 1, as RGBA bytes. */
const LUT_SIZE = 511;
const LUT = (() => {
  const lut = new Uint8ClampedArray(4 * LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) lut.set([...colour((2 * i) / (LUT_SIZE - 1) - 1), 255], 4 * i);
  return lut;
})();

/** @param {HTMLCanvasElement} canvas @param {Float32Array} m [dk][dk] @param {number} dk @param {number} s */
function paint(canvas, m, dk, s) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const image = ctx.createImageData(dk, dk), px = image.data, k = (LUT_SIZE - 1) / 2;
  for (let i = 0; i < dk * dk; i++) {
    const t = m[i] / s, j = 4 * Math.round((t < -1 ? -1 : t > 1 ? 1 : t) * k + k);
    px[4 * i] = LUT[j]; px[4 * i + 1] = LUT[j + 1]; px[4 * i + 2] = LUT[j + 2]; px[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

/** @param {HTMLCanvasElement} canvas */
function drawLegend(canvas) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = colour((x / (canvas.width - 1)) * 2 - 1);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}
