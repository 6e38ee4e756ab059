// Plain-words text for numbers the engine reports: byte sizes and the speed/G-cache/memory line
// shown under a reply (page, <pldr-chat>, terminal chat), durations and model names.
import { folderUrl } from '../loading/sources.js';

/** @param {number|null|undefined} n @returns {string} "44.0 MB" */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return '?';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/**
 * The status line after a reply: speeds, the one-off cost of G_LM, context and memory.
 * @param {Record<string, any>} s Engine.stats()
 * @returns {string[]} short phrases
 */
export function describeStats(s) {
  const out = [];
  const rate = (v) => (v == null ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  if (s.prefillTokens) out.push(`prefill ${s.prefillTokens} tok at ${rate(s.prefillTokensPerSec)} tok/s`);
  if (s.decodeTokens) out.push(`decode ${rate(s.decodeTokensPerSec)} tok/s`);
  if (s.threads > 1) out.push(`${s.threads} threads`);
  const ms = s.gcacheMs >= 10 ? s.gcacheMs.toFixed(0) : (s.gcacheMs ?? 0).toFixed(1);
  out.push(gcachePhrase(s.gcacheMode, s.gcacheRuns, ms, s.gcacheFrom));
  if (s.contextLength) out.push(`context ${s.contextUsed}/${s.contextLength}`);
  if (s.contextShifts) out.push(`${s.contextShifts} context shift${s.contextShifts > 1 ? 's' : ''}`);
  if (s.memory?.wasmTotal) out.push(`${formatBytes(s.memory.wasmTotal)} memory`);
  return out;
}

/** @param {string} [from] ModelInfo.gcacheFrom: predefined, empty, anet, none */
function gcachePhrase(mode, runs, ms, from) {
  if (mode === 'off') return 'G-cache off: the A-net runs at every step';
  if (from === 'predefined') return 'predefined G_LM of the checkpoint: no A-net';
  if (from === 'empty') return `G_LM from the empty prompt, computed once${runs ? ` in ${ms} ms` : ''} — fixed`;
  if (mode === 'prompt') return runs ? `G_LM computed for each new prompt (${runs}×, ${ms} ms in all)` : 'G_LM computed for each new prompt';
  if (!runs) return mode === 'fixed' ? 'G_LM installed — cached' : 'G_LM is computed on the first prompt, then cached';
  return `G_LM computed once in ${ms} ms — cached`;
}

/** @param {number} seconds @returns {string} "5 s", "2 min 10 s" */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return s ? `${m} min ${s} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * A short name for a loaded model: the folder's name, or the repository's on Hugging Face
 * (…/user/model/resolve/main/ → model).
 * @param {{source: string, name?: string}} info
 */
export function modelLabel(info) {
  try {
    const path = folderUrl(info.source).pathname.split('/').filter(Boolean);
    const i = path.indexOf('resolve');
    return (i >= 1 ? path[i - 1] : path.at(-1)) ?? info.name ?? 'model';
  } catch {
    return info.name ?? 'model';
  }
}
