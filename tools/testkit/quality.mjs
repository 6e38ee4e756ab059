// Quality of the weight formats on pldr-tiny (real weights), through the product's WebAssembly
// path: held-out perplexity on the golden windows and how many greedy tokens stay those of f32.
// Used by bench/run.mjs and asserted by tests/quant.test.mjs.
import { windowNll } from '../../js/cli/perplexity.mjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../js/runtime/wasm.js';
import { modelSink } from '../../js/runtime/model.js';
import { loadModel } from '../../js/loading/loader.js';

export const TINY = fileURLToPath(new URL('../../models/pldr-tiny', import.meta.url));
export const GOLDEN = fileURLToPath(new URL('../../tests/fixtures/golden/pldr-tiny/golden.json', import.meta.url));

/** @param {string} dir @param {{gcache?: string, quant?: string}} options */
export async function loadTiny(options, dir = TINY) {
  const rt = await createRuntime();
  const sink = modelSink(rt, /** @type {any} */ (options));
  await loadModel(dir, sink, { cache: false });
  return sink.model;
}

const argmax = (x) => { let b = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i; return b; };

// The NLL of one window: the CLI's (pldr perplexity), so the tests and the bench measure what it reports.
export { windowNll };

/**
 * Mean negative log-likelihood of ids[1..] given ids[..-1] over the golden windows: one full
 * pass per window, G computed from the window (G-cache mode "prompt"), as in golden.json.
 * @param {'f32'|'q8'|'q4'} quant @param {string} [dir] @param {'f32'|'f16'} [kvCache]
 */
export async function meanNll(quant, dir = TINY, kvCache = 'f32') {
  const { windows } = JSON.parse(readFileSync(GOLDEN, 'utf8')).perplexity;
  const model = await loadTiny({ gcache: 'prompt', quant }, dir);
  const V = model.vocabSize;
  let sum = 0, count = 0;
  for (const w of windows) {
    const input = w.slice(0, -1);
    const s = model.newSession({ contextLength: input.length, kvCache });
    const logits = s.prefill(input, { allLogits: true });
    s.free();
    sum += windowNll(logits, w, V);
    count += input.length;
  }
  model.free();
  return sum / count;
}

/**
 * Greedy continuations of the golden prompts (G-cache mode "prompt", as greedy_kv_g).
 * @param {'f32'|'q8'|'q4'} quant @param {string} [dir] @param {'f32'|'f16'} [kvCache]
 * @returns {Promise<{name: string, ids: number[]}[]>}
 */
export async function greedyIds(quant, dir = TINY, kvCache = 'f32') {
  const { cases } = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  const model = await loadTiny({ gcache: 'prompt', quant }, dir);
  const out = [];
  for (const c of cases) {
    const n = c.greedy_kv_g.length;
    const s = model.newSession({ kvCache });
    const ids = [];
    let logits = s.prefill(c.ids);
    for (;;) {
      ids.push(argmax(logits));
      if (ids.length === n || ids.at(-1) === model.eosId) break;
      logits = s.decode(ids.at(-1));
    }
    s.free();
    out.push({ name: c.name, ids });
  }
  model.free();
  return out;
}

/**
 * Share of greedy tokens equal to the reference's at the same position (a missing token counts
 * as changed), and share of prompts whose whole continuation is unchanged.
 * @param {{ids: number[]}[]} got @param {{ids: number[]}[]} ref
 */
export function agreement(got, ref) {
  let same = 0, total = 0, whole = 0;
  got.forEach((g, i) => {
    const r = ref[i].ids;
    let k = 0;
    for (let j = 0; j < r.length; j++) if (g.ids[j] === r[j]) k++;
    same += k;
    total += r.length;
    if (k === r.length && g.ids.length === r.length) whole++;
  });
  return { tokens: same / total, prompts: whole / got.length };
}
