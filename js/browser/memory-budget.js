// Whether a second model may load while the first stays in memory: the worker keeps the model it
// has until a new one has loaded (so a failed, cancelled or mistyped load changes nothing), unless
// both would not fit in what a browser tab can safely hold; then the old one goes first.

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** Bytes per weight of a quantizable matrix, by weight format (docs/FORMAT.md blocks of 32). */
const MATRIX_BYTES = { f32: 4, q8: 34 / 32, q4: 18 / 32 };

/**
 * What a model of `config` needs in WebAssembly memory once loaded, from config.json alone (an
 * upper bound: a folder already quantized is smaller than `quant` f32 says).
 * @param {Record<string, any>} config @param {{quant?: string, contextLength?: number}} [options]
 * @returns {number} bytes; 0 when the config does not say enough
 */
export function estimateModelBytes(config, { quant = 'f32', contextLength } = {}) {
  const get = (...keys) => Number(keys.map((k) => config?.[k]).find((v) => v !== undefined && v !== null));
  const L = get('num_hidden_layers', 'num_layers'), D = get('hidden_size', 'd_model'), H = get('num_attention_heads', 'num_heads');
  const dff = get('intermediate_size', 'dff'), V = get('vocab_size', 'input_vocab_size');
  const ctx = contextLength ?? get('max_position_embeddings', 'max_seq_len');
  if (![L, D, H, dff, V, ctx].every((n) => Number.isFinite(n) && n > 0)) return 0;
  const dk = D / H;
  const aDff = get('A_dff') || 0, blocks = (get('num_reslayerA') || 0) * (get('num_denseA') || 0);
  const predefined = config.custom_G_type != null;
  const matrices = 2 * V * D + L * (4 * D * D + 3 * D * dff);                 // spec §2: embedding, head, attention, FFN
  const anet = predefined ? 0 : L * (blocks * (3 * dk * aDff + 2 * aDff + dk) + 5 * H * dk * dk);
  const vectors = V + L * (4 * D + 2 * dff + 5 * D);
  const gcache = L * H * dk * dk * 2;                                          // G_LM and A_LM
  const kv = 2 * L * ctx * D;                                                  // [L][ctx][D] for K and V
  const weights = matrices * (MATRIX_BYTES[quant] ?? 4) + (anet + vectors + gcache + kv) * 4;
  return Math.ceil(weights + V * 4 * 4 + 16 * MIB);                            // logits, scratch, the module
}

/**
 * The memory two models may use together: a quarter of the device's memory where the browser
 * says (navigator.deviceMemory, in GiB, at most 8), between 512 MiB and 2 GiB; 1 GiB otherwise.
 * @param {{deviceMemory?: number}} [nav] @returns {number} bytes
 */
export function safeMemoryBudget(nav = globalThis.navigator) {
  const gib = Number(nav?.deviceMemory);
  if (!Number.isFinite(gib) || gib <= 0) return GIB;
  return Math.min(2 * GIB, Math.max(512 * MIB, (gib * GIB) / 4));
}

/**
 * Whether the old model can stay while the new one loads.
 * @param {number} oldBytes memory the loaded model holds @param {number} newBytes estimateModelBytes
 * @param {number} [budget] safeMemoryBudget() @returns {boolean}
 */
export function canKeepBoth(oldBytes, newBytes, budget = safeMemoryBudget()) {
  return oldBytes + newBytes <= budget;
}
