// The deductive outputs of a PLDR-LLM (spec §6) as numbers: how far G_LM computed from one prompt
// is from G_LM of the empty prompt [END], per layer, and what each head's dk×dk matrix looks like
// (its log-determinant and how much of its energy its top singular value holds — a rank-1 head
// holds nearly all). Everything is float64. Engine.deductive() and the `invariance` command
// report these; the page's "Deductive outputs" view draws them.
//
//   const d = engine.deductive({ prompt: 'The Python language is' });
//   d.layers[0].rel_rmse;                  // G of the prompt vs G of [END], layer 0
//   d.layers[0].heads[3].slogdet;          // [sign, log|det|] of G_0,3
//   d.layers[0].heads[3].energy_share;     // σ1² / Σσi² of G_0,3
import { PldrError } from '../errors.js';

/**
 * @typedef {{layers: number, heads: number, dk: number}} GShape   a G-cache is [layers][heads][dk][dk]
 * @typedef {{slogdet: [number, number], energy_share: number}} HeadFigures
 *   slogdet: [sign, log|det|] (sign 0 and log -Infinity for a singular matrix, as numpy's slogdet);
 *   energy_share: σ1² / ‖G‖_F², in (0, 1]: 1 for a rank-1 head (0 for the zero matrix)
 * @typedef {{rmse: number, rel_rmse: number, heads: HeadFigures[]}} LayerFigures
 *   rmse = sqrt(mean((G_l − R_l)²)) over the layer's heads and entries; rel_rmse = rmse / sqrt(mean(R_l²))
 * @typedef {{layers: LayerFigures[], reference: {heads: HeadFigures[]}[]}} Figures
 */

/**
 * sign and log|det| of the n×n matrix m (row-major, not modified), by LU decomposition with
 * partial pivoting in float64.
 * @param {ArrayLike<number>} m @param {number} n @returns {[number, number]}
 */
export function slogdet(m, n) {
  const a = Float64Array.from({ length: n * n }, (_, i) => m[i]);
  let sign = 1, log = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i * n + k]) > Math.abs(a[p * n + k])) p = i;
    const pivot = a[p * n + k];
    if (pivot === 0 || !Number.isFinite(pivot)) return pivot === 0 ? [0, -Infinity] : [NaN, NaN];
    if (p !== k) {
      for (let j = 0; j < n; j++) { const t = a[k * n + j]; a[k * n + j] = a[p * n + j]; a[p * n + j] = t; }
      sign = -sign;
    }
    if (pivot < 0) sign = -sign;
    log += Math.log(Math.abs(pivot));
    for (let i = k + 1; i < n; i++) {
      const f = a[i * n + k] / pivot;
      if (f === 0) continue;
      for (let j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
    }
  }
  return [sign, log];
}

/**
 * σ1² / ‖m‖_F² of the n×n matrix m: the top eigenvalue of mᵀm (power iteration in float64, from
 * a fixed start, until the Rayleigh quotient settles) over the trace of mᵀm.
 * @param {ArrayLike<number>} m @param {number} n @returns {number}
 */
export function energyShare(m, n) {
  const b = new Float64Array(n * n); // mᵀm
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const mki = m[k * n + i];
      if (mki === 0) continue;
      for (let j = 0; j < n; j++) b[i * n + j] += mki * m[k * n + j];
    }
  }
  let trace = 0;
  for (let i = 0; i < n; i++) trace += b[i * n + i];
  if (!(trace > 0)) return trace === 0 ? 0 : NaN;
  let x = Float64Array.from({ length: n }, (_, i) => 1 + i / n);
  const y = new Float64Array(n);
  let lambda = 0;
  for (let it = 0; it < 5000; it++) {
    let norm = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += b[i * n + j] * x[j];
      y[i] = s;
      norm += s * s;
    }
    let xx = 0, xy = 0;
    for (let i = 0; i < n; i++) { xx += x[i] * x[i]; xy += x[i] * y[i]; }
    const next = xy / xx; // Rayleigh quotient: converges to λ1 from below
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    for (let i = 0; i < n; i++) x[i] = y[i] / norm;
    if (it > 2 && Math.abs(next - lambda) <= 1e-15 * next) { lambda = next; break; }
    lambda = next;
  }
  return Math.min(1, lambda / trace);
}

/** @param {Float32Array|Float64Array} g @param {GShape} shape @param {number} l @param {number} h */
function head(g, { heads, dk }, l, h) {
  const at = (l * heads + h) * dk * dk;
  return g.subarray(at, at + dk * dk);
}

/**
 * Per layer and head: slogdet and energy share of one G-cache.
 * @param {Float32Array|Float64Array} g [L][H][dk][dk] @param {GShape} shape @returns {{heads: HeadFigures[]}[]}
 */
export function headFigures(g, shape) {
  checkG(g, shape, 'G');
  return Array.from({ length: shape.layers }, (_, l) => ({
    heads: Array.from({ length: shape.heads }, (_, h) => {
      const m = head(g, shape, l, h);
      return { slogdet: slogdet(m, shape.dk), energy_share: energyShare(m, shape.dk) };
    }),
  }));
}

/**
 * The figures of `g` against the reference `ref` (G of the empty prompt): per layer rmse and
 * rel_rmse, per head the figures of g; `reference` holds the figures of ref itself.
 * @param {Float32Array|Float64Array} g @param {Float32Array|Float64Array} ref @param {GShape} shape
 * @returns {Figures}
 */
export function deductiveFigures(g, ref, shape) {
  checkG(g, shape, 'G');
  checkG(ref, shape, 'the reference G');
  const own = headFigures(g, shape), theirs = ref === g ? own : headFigures(ref, shape);
  const per = shape.heads * shape.dk * shape.dk;
  const layers = own.map(({ heads }, l) => {
    let d2 = 0, r2 = 0;
    for (let i = l * per; i < (l + 1) * per; i++) {
      d2 += (g[i] - ref[i]) ** 2;
      r2 += ref[i] ** 2;
    }
    const rmse = Math.sqrt(d2 / per);
    return { rmse, rel_rmse: r2 > 0 ? rmse / Math.sqrt(r2 / per) : rmse === 0 ? 0 : Infinity, heads };
  });
  return { layers, reference: theirs };
}

/** @param {ArrayLike<number>} g @param {GShape} shape @param {string} what */
function checkG(g, { layers, heads, dk }, what) {
  const n = layers * heads * dk * dk;
  if (!g || g.length !== n) {
    throw new PldrError('E_OPTION', `${what} has ${g?.length ?? 0} values, but [${layers}][${heads}][${dk}][${dk}] is ${n}`);
  }
}

/** Bytes per stored value of a config's torch_dtype (the A-net is never quantized). */
function valueBytes(config) {
  return /^(bfloat16|float16|bf16|f16)$/i.test(String(config.torch_dtype ?? config.dtype ?? '')) ? 2 : 4;
}

/**
 * What a G-only model (custom_G_type set: A-net removed, G fixed) saves against its full model:
 * the parameters of the A-net and of the PLGA tensors (spec §5.2), from the A-net sizes its
 * config.json still names (tools/convert keeps them), less the G buffer it carries instead
 * (decoder.past_G_values, float32 [L][3][1][H][dk][dk]). null when the config does not say.
 * @param {Record<string, any>} config
 * @returns {{anetParameters: number, anetBytes: number, gBytes: number, savedBytes: number}|null}
 */
export function gOnlySaving(config) {
  const L = config.num_hidden_layers ?? config.num_layers, D = config.hidden_size ?? config.d_model;
  const H = config.num_attention_heads ?? config.num_heads, Adff = config.A_dff;
  const nres = config.num_reslayerA, ndense = config.num_denseA;
  if (![L, D, H, Adff, nres, ndense].every((v) => Number.isInteger(v) && v > 0)) return null;
  const dk = D / H;
  const glu = 2 * (Adff * dk + Adff) + dk * Adff + dk;
  const perLayer = 5 * H * dk * dk + 2 * dk + nres * (ndense * glu + 2 * dk);
  const anetParameters = L * perLayer, anetBytes = anetParameters * valueBytes(config);
  const gBytes = L * 3 * H * dk * dk * 4;
  return { anetParameters, anetBytes, gBytes, savedBytes: anetBytes - gBytes };
}
