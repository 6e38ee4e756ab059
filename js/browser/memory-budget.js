// Whether a second model may load while the first stays in memory: the worker keeps the model it
// has until a new one has loaded (so a failed, cancelled or mistyped load changes nothing), unless
// both would not fit in what a browser tab can safely hold; then the old one goes first.

const MIB = 2 ** 20;
const GIB = 2 ** 30;

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
 * @param {number} oldBytes memory the loaded model holds @param {number} newBytes what the new model and a session take (pldr_model_memory_needed)
 * @param {number} [budget] safeMemoryBudget() @returns {boolean}
 */
export function canKeepBoth(oldBytes, newBytes, budget = safeMemoryBudget()) {
  return oldBytes + newBytes <= budget;
}
