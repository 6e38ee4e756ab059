// An independent float64 implementation of the PLDR-LLM forward pass (spec §1–§2), written for
// clarity, not speed: what the runtime is checked against where no golden file exists
// (rotate-half RoPE, predefined G, identity G = SDPA).

const EPS_ADJ = 1e-9;

/** @param {Map<string, {shape: number[], data: ArrayLike<number>}>} W */
function weight(W, name) {
  const t = W.get(name);
  if (!t) throw new Error(`reference: missing ${name}`);
  return t.data;
}

/** y = x·Wᵀ + b for x [n][inDim] @returns {Float64Array} [n][out] */
function linear(x, n, inDim, w, b, out) {
  const y = new Float64Array(n * out);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i] * w[o * inDim + i];
      y[t * out + o] = s;
    }
  }
  return y;
}

function layerNormRows(x, rows, dim, g, b, eps) {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let mean = 0, variance = 0;
    for (let i = 0; i < dim; i++) mean += x[r * dim + i];
    mean /= dim;
    for (let i = 0; i < dim; i++) variance += (x[r * dim + i] - mean) ** 2;
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = (x[r * dim + i] - mean) * inv * g[i] + b[i];
  }
  return y;
}

const silu = (v) => v / (1 + Math.exp(-v));

function glu(x, rows, inDim, W, prefix, hidden, out) {
  const h1 = linear(x, rows, inDim, weight(W, `${prefix}.gluw1.weight`), weight(W, `${prefix}.gluw1.bias`), hidden);
  const h2 = linear(x, rows, inDim, weight(W, `${prefix}.gluw2.weight`), weight(W, `${prefix}.gluw2.bias`), hidden);
  for (let i = 0; i < h1.length; i++) h1[i] = silu(h1[i]) * h2[i];
  return linear(h1, rows, hidden, weight(W, `${prefix}.gluw3.weight`), weight(W, `${prefix}.gluw3.bias`), out);
}

/**
 * In place on q [n][D]: RoPE with float32 θ and angle as in the reference's table (spec §2.2);
 * linear scaling (rope_scaling) divides θ by the factor in float32, as Transformers' inv_freq.
 */
function rope(x, n, H, dk, base, interleaved, pos0, factor = 1) {
  const f = Math.fround;
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < dk / 2; i++) {
        let theta = f(1 / f(f(base) ** f(f(2 * i) / f(dk))));
        if (factor !== 1) theta = f(theta / f(factor));
        const angle = f(f(pos0 + t) * theta);
        const c = Math.cos(angle), s = Math.sin(angle);
        const o = t * H * dk + h * dk;
        const a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + dk / 2;
        const x0 = x[o + a], x1 = x[o + b];
        x[o + a] = x0 * c - x1 * s;
        x[o + b] = x1 * c + x0 * s;
      }
    }
  }
}

/** dk×dk product left·right */
function matmulSquare(left, right, dk) {
  const out = new Float64Array(dk * dk);
  for (let i = 0; i < dk; i++) {
    for (let j = 0; j < dk; j++) {
      let s = 0;
      for (let k = 0; k < dk; k++) s += left[i * dk + k] * right[k * dk + j];
      out[i * dk + j] = s;
    }
  }
  return out;
}

/** G_LM and A_LM of one layer from its queries (spec §2.3–2.4). */
function anet(cfg, W, l, q, n) {
  const { H, dk } = cfg;
  const p = `decoder.dec_layers.${l}.mha1`;
  const G = [], ALM = [];
  for (let h = 0; h < H; h++) {
    let A = new Float64Array(dk * dk);
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dk; j++) A[i * dk + j] += q[s * cfg.D + h * dk + i] * q[s * cfg.D + h * dk + j];
      }
    }
    A = layerNormRows(A, dk, dk, weight(W, `${p}.layernorm1.weight`), weight(W, `${p}.layernorm1.bias`), cfg.eps);
    for (let j = 0; j < cfg.nres; j++) {
      const Ain = A;
      for (let k = 0; k < cfg.ndense; k++) A = glu(A, dk, dk, W, `${p}.reslayerAs.${j}.denseAs.${k}`, cfg.Adff, dk);
      for (let i = 0; i < A.length; i++) A[i] += Ain[i];
      A = layerNormRows(A, dk, dk, weight(W, `${p}.reslayerAs.${j}.layernormA.weight`), weight(W, `${p}.reslayerAs.${j}.layernormA.bias`), cfg.eps);
    }
    const off = h * dk * dk, sub = (name) => Array.prototype.slice.call(weight(W, `${p}.plgatt_layer.${name}`), off, off + dk * dk);
    const Z = matmulSquare(sub('Wlst'), A, dk), bW = sub('blst'), P = sub('pwlst'), bA = sub('balst');
    const alm = new Float64Array(dk * dk), AP = new Float64Array(dk * dk);
    for (let i = 0; i < dk * dk; i++) {
      const z = Z[i] + bW[i];
      alm[i] = z * silu(z) + EPS_ADJ;
      AP[i] = alm[i] ** P[i];
    }
    const g = matmulSquare(sub('alst'), AP, dk);
    for (let i = 0; i < dk * dk; i++) g[i] += bA[i];
    G.push(g);
    ALM.push(alm);
  }
  return { G, ALM };
}

/**
 * Full pass over ids (positions 0..n-1, causal, pads masked).
 * @param {Record<string, any>} config config.json (Hugging Face names)
 * @param {Map<string, {shape: number[], data: ArrayLike<number>}>} W
 * @param {number[]} ids
 * @param {{G?: Float64Array[][]|null}} [options] fixed G per layer per head (skips the A-net)
 * @returns {{logits: Float64Array, G: Float64Array[][], A_LM: Float64Array[][]}}
 */
export function referenceForward(config, W, ids, options = {}) {
  const ropeObject = config.rope_parameters ?? config.rope_scaling ?? {};
  const cfg = {
    L: config.num_hidden_layers, D: config.hidden_size, H: config.num_attention_heads,
    dff: config.intermediate_size, Adff: config.A_dff, nres: config.num_reslayerA,
    ndense: config.num_denseA, V: config.vocab_size, eps: config.layer_norm_eps ?? 1e-6,
    base: config.rope_theta ?? config.rope_parameters?.rope_theta ?? 10000, interleaved: config.reference_rope !== false,
    pad: config.pad_token_id ?? 0,
    ropeFactor: (ropeObject.rope_type ?? ropeObject.type) === 'linear' ? ropeObject.factor : 1,
  };
  cfg.dk = cfg.D / cfg.H;
  const { D, H, dk } = cfg, n = ids.length;
  const emb = weight(W, 'decoder.embedding.weight');
  let x = new Float64Array(n * D);
  const scale = Math.fround(Math.sqrt(D));
  for (let t = 0; t < n; t++) for (let i = 0; i < D; i++) x[t * D + i] = emb[ids[t] * D + i] * scale;
  x = layerNormRows(x, n, D, weight(W, 'decoder.layernorm1.weight'), weight(W, 'decoder.layernorm1.bias'), cfg.eps);
  const allG = [], allA = [];
  for (let l = 0; l < cfg.L; l++) {
    const p = `decoder.dec_layers.${l}`;
    const lin = (name, input, rows, inDim, out) => linear(input, rows, inDim, weight(W, `${p}.${name}.weight`), weight(W, `${p}.${name}.bias`), out);
    const q = lin('mha1.wq', x, n, D, D), k = lin('mha1.wk', x, n, D, D), v = lin('mha1.wv', x, n, D, D);
    rope(q, n, H, dk, cfg.base, cfg.interleaved, 0, cfg.ropeFactor);
    rope(k, n, H, dk, cfg.base, cfg.interleaved, 0, cfg.ropeFactor);
    const { G, ALM } = options.G ? { G: options.G[l], ALM: [] } : anet(cfg, W, l, q, n);
    allG.push(G);
    allA.push(ALM);
    const att = new Float64Array(n * D);
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < n; s++) {
        const qg = new Float64Array(dk);
        for (let i = 0; i < dk; i++) for (let j = 0; j < dk; j++) qg[j] += q[s * D + h * dk + i] * G[h][i * dk + j];
        const e = new Float64Array(s + 1);
        let max = -Infinity;
        for (let t = 0; t <= s; t++) {
          let dot = 0;
          for (let j = 0; j < dk; j++) dot += qg[j] * k[t * D + h * dk + j];
          e[t] = dot / Math.sqrt(dk) + (ids[t] === cfg.pad ? -1e9 : 0);
          max = Math.max(max, e[t]);
        }
        let sum = 0;
        for (let t = 0; t <= s; t++) { e[t] = Math.exp(e[t] - max); sum += e[t]; }
        for (let t = 0; t <= s; t++) for (let j = 0; j < dk; j++) att[s * D + h * dk + j] += (e[t] / sum) * v[t * D + h * dk + j];
      }
    }
    const a = lin('mha1.dense', att, n, D, D);
    for (let i = 0; i < a.length; i++) a[i] += x[i];
    const x1 = layerNormRows(a, n, D, weight(W, `${p}.layernorm1.weight`), weight(W, `${p}.layernorm1.bias`), cfg.eps);
    const f = glu(x1, n, D, W, `${p}.ffn`, cfg.dff, D);
    for (let i = 0; i < f.length; i++) f[i] += x1[i];
    x = layerNormRows(f, n, D, weight(W, `${p}.layernorm2.weight`), weight(W, `${p}.layernorm2.bias`), cfg.eps);
  }
  const headBias = config.final_bias === false ? new Float64Array(cfg.V) : weight(W, 'final_layer.bias');
  const logits = linear(x, n, D, weight(W, 'final_layer.weight'), headBias, cfg.V);
  return { logits, G: allG, A_LM: allA };
}

/** Flattens per-layer, per-head G into [L][H][dk][dk]. */
export function flattenG(G) {
  const parts = G.flat();
  const dk2 = parts[0].length;
  const out = new Float64Array(parts.length * dk2);
  parts.forEach((g, i) => out.set(g, i * dk2));
  return out;
}
