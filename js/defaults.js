// Defaults that must agree across the JavaScript API (PLDR.load, generate, respond), the CLI, the
// chat page and <pldr-chat>: each of them takes its values from here, and tests/defaults.test.mjs
// checks that they do.

/** Sampling when an option is not given: the reference's sampler (spec §4); the additions are off. */
export const DEFAULT_SAMPLING = Object.freeze({
  temperature: 0.8, topK: 40, topP: 0.95, minP: 0, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0,
});

/** Tokens generated at most when `maxTokens` is not given. */
export const DEFAULT_MAX_TOKENS = 256;

/** The `gcache` values PLDR.load accepts (README "G-cache modes"). */
export const GCACHE_MODES = /** @type {readonly ['first', 'prompt', 'off', 'empty']} */ (Object.freeze(['first', 'prompt', 'off', 'empty']));

/** The `quant` values PLDR.load accepts: the weight format in memory. */
export const WEIGHT_FORMATS = /** @type {readonly ['f32', 'q8', 'q4']} */ (Object.freeze(['f32', 'q8', 'q4']));

/** The `kvCache` values PLDR.load accepts: how the KV-cache stores keys and values (f16: half the memory). */
export const KV_CACHE_FORMATS = /** @type {readonly ['f32', 'f16']} */ (Object.freeze(['f32', 'f16']));

/** PLDR.load when `gcache`, `quant`, `kvCache` or `threads` is not given. kvCache f32, by measurement: f16 reads
 * half the bytes per decode step (a gain only at long contexts: bench/results.md) and keeps
 * perplexity within 0.001 %, but its logits leave the float32 contract's tolerance (pldr-tiny: up to
 * 1.8e-3 from f32, against 4× the reference's float32 error): it is the choice for memory and long chats.
 * threads 'auto': autoThreads of the machine. */
export const DEFAULT_LOAD = Object.freeze({ gcache: 'first', quant: 'f32', kvCache: 'f32', threads: 'auto' });

/**
 * The threads `threads: 'auto'` runs the kernels on, for a machine of `cores` logical processors:
 * half of them, rounded up (two logical processors of one core share its arithmetic, and the
 * page, the browser and the rest of the machine keep the other half), at most 8 (decode is bound
 * by memory bandwidth long before that).
 * @param {number} cores @returns {number}
 */
export function autoThreads(cores) {
  return Math.max(1, Math.min(8, Math.ceil((Number(cores) || 1) / 2)));
}

// The default model, pldr-tiny, relative to the runtime's own files (a file: URL under Node):
//
//   a checkout, or the static site of `make dist`   models/pldr-tiny/ beside the js/ folder
//   the npm package pldr-web                         the npm package pldr-web-tiny beside it:
//     node_modules/pldr-web/js/…                       node_modules/pldr-web-tiny/
//     https://cdn.jsdelivr.net/npm/pldr-web@V/js/…     https://cdn.jsdelivr.net/npm/pldr-web-tiny@V/
//     https://unpkg.com/pldr-web@V/js/…                https://unpkg.com/pldr-web-tiny@V/
//
// The weights (43 MB) stay out of pldr-web (under 1 MB) and ship as their own package of the same
// version (tools/pack-model.mjs), so a CDN serves them beside the element, with CORS.

/**
 * The default model folder for the runtime whose root folder (the one holding js/) is `root`.
 * @param {URL} root @returns {URL} a folder URL (ending in '/')
 */
export function defaultModelUrl(root) {
  // …/node_modules/pldr-web/, …/npm/pldr-web/ or …/pldr-web@V/ (not a plain …/pldr-web/ folder)
  const m = /\/(node_modules\/|npm\/|)pldr-web(@[^/]+|)\/$/.exec(root.pathname);
  return new URL(m?.[1] || m?.[2] ? `../pldr-web-tiny${m[2]}/` : 'models/pldr-tiny/', root);
}

export const DEFAULT_MODEL_URL = defaultModelUrl(new URL('../', import.meta.url));
