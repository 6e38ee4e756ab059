// Defaults that must agree across the JavaScript API (PLDR.load, generate, respond), the CLI, the
// chat page and <pldr-chat>: each of them takes its values from here, and tests/defaults.test.mjs
// checks that they do.
import { defaultModelUrl } from './loading/default-model.js';

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

/** PLDR.load when `gcache` or `quant` is not given. */
export const DEFAULT_LOAD = Object.freeze({ gcache: 'first', quant: 'f32' });

/**
 * The default model, pldr-tiny: models/pldr-tiny/ beside the js/ folder (a file: URL under Node);
 * in the npm package, the package pldr-web-tiny beside pldr-web (js/loading/default-model.js).
 */
export const DEFAULT_MODEL_URL = defaultModelUrl(new URL('../', import.meta.url));
