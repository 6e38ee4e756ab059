// pldr perplexity: the paper's "scores unchanged", measured — the mean negative log-likelihood of
// a text with G_LM recomputed by the A-net for every window, and with one G fixed for all of them
// (G of the empty prompt [END], or of the first window), and the difference.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PLDR } from '../pldr.js';
import { PldrError } from '../errors.js';
import { progressBar } from './progress.mjs';
import { MODEL_HELP, MODEL_OPTIONS, loadOptions, parseIds } from './options.mjs';

const DEFAULT_WINDOW = 256;
const FIXED_MODES = ['empty', 'first', 'prompt'];

export const help = `usage: pldr perplexity (--file TEXT | --ids-file IDS) [--window N] [--gcache empty|first|prompt] [options]

The text is split into windows of N + 1 token ids, each starting at the last id of the one
before (so every id after the first is predicted once); each window is one full pass from
position 0 that predicts its last N ids. Mean NLL = the average over all predicted ids of
-log p(id | the ids before it in its window); perplexity = e^(mean NLL). Computed twice:

  per window   G_LM recomputed by the A-net from each window (G-cache mode "prompt": a full pass)
  fixed        one G for every window (--gcache): empty (default) G of the empty prompt [END],
               the paper's "deep net removed"; first: G of the first window, kept (mode "first")

and the difference (fixed - per window) is printed. --gcache prompt prints the per-window figures
only. A G-only model (no A-net) has only its fixed G.

  --file FILE            text to score, tokenized whole (no BOS/EOS)
  --ids-file FILE        token ids to score instead: a JSON array, or ids separated by commas or
                         white space
  --window N             ids predicted per window (default ${DEFAULT_WINDOW}, at most the context)
  --gcache MODE          empty (default) | first | prompt: the fixed G compared (see above)
  --json                 print {"tokens", "window", "windows", "per_window": {"mean_nll",
                         "perplexity"}, "fixed": {"gcache", "mean_nll", "perplexity"},
                         "difference": {"mean_nll", "perplexity_ratio"}}

${MODEL_HELP.replace(/\n {2}--gcache[\s\S]*?(?=\n {2}--quant)/, '')}`;

/**
 * Windows of n + 1 ids with stride n (the last may be shorter, never under 2 ids).
 * @param {number[]} ids @param {number} n @returns {number[][]}
 */
export function windowsOf(ids, n) {
  const out = [];
  for (let start = 0; start + 1 < ids.length; start += n) out.push(ids.slice(start, start + n + 1));
  return out;
}

/**
 * Summed NLL of window[t + 1] under row t of logits [window.length - 1][V] (log-sum-exp in float64).
 * @param {Float32Array} logits @param {number[]} window @param {number} V @returns {number}
 */
export function windowNll(logits, window, V) {
  let sum = 0;
  for (let t = 0; t + 1 < window.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    sum += max + Math.log(z) - row[window[t + 1]];
  }
  return sum;
}

/**
 * Mean NLL over the windows, each a fresh full pass; `gFor(window)` gives the G to install
 * before it (null: the model's mode decides, e.g. "prompt": G from the window itself).
 * @param {import('../runtime/model.js').Model} model @param {number[][]} windows
 * @param {(input: number[]) => Float32Array|null} gFor
 */
function meanNll(model, windows, gFor) {
  let sum = 0, count = 0;
  for (const w of windows) {
    const input = w.slice(0, -1);
    const g = gFor(input);
    if (g) model.setGcache(g);
    const s = model.newSession({ contextLength: input.length });
    try {
      sum += windowNll(s.prefill(input, { allLogits: true }), w, model.vocabSize);
    } finally {
      s.free();
    }
    count += input.length;
  }
  return sum / count;
}

/** @param {string} file @returns {number[]} */
function readIds(file) {
  const text = readFileSync(file, 'utf8').trim();
  if (text.startsWith('[')) {
    let ids;
    try {
      ids = JSON.parse(text);
    } catch (err) {
      throw new PldrError('E_OPTION', `--ids-file ${file}: not valid JSON (${err.message})`);
    }
    if (!Array.isArray(ids) || !ids.every(Number.isInteger)) throw new PldrError('E_OPTION', `--ids-file ${file}: expected a JSON array of token ids`);
    return ids;
  }
  return text === '' ? [] : parseIds(text.split(/[\s,]+/).join(','));
}

/** Loads for per-window G (mode prompt); a G-only model, which has one fixed G, in its own mode. */
async function loadEngine(values) {
  const options = { ...loadOptions(values), onProgress: values['no-progress'] ? undefined : progressBar() };
  try {
    return { engine: await PLDR.load(values.model, { ...options, gcache: 'prompt' }), gOnly: false };
  } catch (err) {
    if (!(err?.cause?.code === 'E_GCACHE' && /predefined G/.test(err.message))) throw err;
    return { engine: await PLDR.load(values.model, { ...options, gcache: 'first', onProgress: undefined }), gOnly: true };
  }
}

const figures = (nll) => ({ mean_nll: nll, perplexity: Math.exp(nll) });

/** @param {string[]} argv */
export async function run(argv) {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: { ...MODEL_OPTIONS, file: { type: 'string' }, 'ids-file': { type: 'string' }, window: { type: 'string' },
      gcache: { type: 'string', default: 'empty' }, json: { type: 'boolean', default: false } },
  });
  if ((values.file === undefined) === (values['ids-file'] === undefined)) {
    throw new PldrError('E_OPTION', 'give exactly one of --file TEXT or --ids-file IDS (see --help)');
  }
  if (!FIXED_MODES.includes(values.gcache)) {
    throw new PldrError('E_OPTION', `--gcache ${values.gcache}: expected ${FIXED_MODES.join(', ')}`);
  }
  const n = values.window === undefined ? DEFAULT_WINDOW : Number(values.window);
  if (!Number.isInteger(n) || n < 1) throw new PldrError('E_OPTION', `--window ${values.window}: expected a positive integer`);
  const { engine, gOnly } = await loadEngine(values);
  try {
    const { model } = engine;
    if (n > model.contextMax) throw new PldrError('E_OPTION', `--window ${n} is larger than the model's context (${model.contextMax})`);
    const ids = values.file !== undefined ? engine.encode(readFileSync(values.file, 'utf8')) : readIds(values['ids-file']);
    const bad = ids.findIndex((id) => id < 0 || id >= model.vocabSize);
    if (bad >= 0) throw new PldrError('E_TOKEN', `id ${ids[bad]} at index ${bad} is outside the vocabulary [0, ${model.vocabSize})`);
    const windows = windowsOf(ids, n);
    if (windows.length === 0) throw new PldrError('E_OPTION', `the text is ${ids.length} token${ids.length === 1 ? '' : 's'}: at least 2 are needed to predict one`);
    const out = { tokens: ids.length, window: n, windows: windows.length, predicted: windows.reduce((a, w) => a + w.length - 1, 0) };
    if (!gOnly) out.per_window = figures(meanNll(model, windows, () => null));
    if (gOnly || values.gcache !== 'prompt') {
      const mode = gOnly ? 'fixed' : values.gcache;
      const g = gOnly ? null : model.computeG(mode === 'empty' ? [model.eosId] : windows[0].slice(0, -1)).g;
      out.fixed = { gcache: mode, ...figures(meanNll(model, windows, g ? () => g : () => null)) };
    }
    if (out.per_window && out.fixed) {
      out.difference = { mean_nll: out.fixed.mean_nll - out.per_window.mean_nll, perplexity_ratio: out.fixed.perplexity / out.per_window.perplexity };
    }
    process.stdout.write(values.json ? `${JSON.stringify(out)}\n` : describe(out));
    return 0;
  } finally {
    engine.free();
  }
}

const FIXED_WORDS = { empty: 'G fixed from the empty prompt [END]', first: 'G fixed from the first window', fixed: "the model's fixed G (G-only)" };

function describe(o) {
  const row = (label, f) => `${label.padEnd(46)} mean NLL ${f.mean_nll.toFixed(6)}   perplexity ${f.perplexity.toFixed(4)}`;
  const lines = [`${o.tokens} tokens: ${o.windows} window${o.windows === 1 ? '' : 's'} of up to ${o.window} predictions (${o.predicted} in all)`];
  if (o.per_window) lines.push(row('G recomputed per window (prompt)', o.per_window));
  if (o.fixed) lines.push(row(`${FIXED_WORDS[o.fixed.gcache]} (${o.fixed.gcache})`, o.fixed));
  if (o.difference) {
    const pct = 100 * (o.difference.perplexity_ratio - 1);
    lines.push(`${'difference (fixed - per window)'.padEnd(46)} mean NLL ${o.difference.mean_nll >= 0 ? '+' : ''}${o.difference.mean_nll.toFixed(6)}   perplexity ${pct >= 0 ? '+' : ''}${pct.toFixed(3)} %`);
  }
  return `${lines.join('\n')}\n`;
}
