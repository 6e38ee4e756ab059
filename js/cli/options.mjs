// Option parsing shared by the generate and chat commands; defaults and value lists are
// js/defaults.js's, the API's.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PldrError } from '../errors.js';
import { validateSampling } from '../generation/sampler.js';
import { didYouMean } from './suggest.mjs';
import { DEFAULT_LOAD, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_URL, DEFAULT_SAMPLING as S, GCACHE_MODES, KV_CACHE_FORMATS, WEIGHT_FORMATS } from '../defaults.js';

/** The npm package that holds the default model (js/defaults.js looks for it beside pldr-web). */
export const DEFAULT_MODEL_PACKAGE = 'pldr-web-tiny';

/**
 * The model used without --model: pldr-tiny where js/defaults.js puts it (beside js/ in a checkout,
 * the package pldr-web-tiny beside an installed pldr-web), or that package wherever Node resolves
 * it from here; when neither is installed (e.g. after `npm install -g pldr-web` alone), the package
 * on the npm CDN (or $PLDR_DEFAULT_MODEL_URL), downloaded once into the cache directory.
 * @param {NodeJS.ProcessEnv} [env] @returns {string} a folder path or URL
 */
export function defaultModel(env = process.env) {
  if (existsSync(new URL('config.json', DEFAULT_MODEL_URL))) return fileURLToPath(DEFAULT_MODEL_URL).replace(/[\\/]$/, '');
  try {
    return dirname(createRequire(import.meta.url).resolve(`${DEFAULT_MODEL_PACKAGE}/config.json`));
  } catch { /* not installed */ }
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return env.PLDR_DEFAULT_MODEL_URL || `https://cdn.jsdelivr.net/npm/${DEFAULT_MODEL_PACKAGE}@${version}/`;
}

/** Where downloaded models are kept without --cache-dir: $PLDR_CACHE_DIR, $XDG_CACHE_HOME/pldr-web or ~/.cache/pldr-web. */
export function defaultCacheDir(env = process.env) {
  return env.PLDR_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pldr-web');
}

export const DEFAULT_MODEL = defaultModel();

/** node:util parseArgs definitions for loading a model and sampling */
export const MODEL_OPTIONS = {
  model: { type: 'string', default: DEFAULT_MODEL },
  gcache: { type: 'string', default: DEFAULT_LOAD.gcache },
  quant: { type: 'string', default: DEFAULT_LOAD.quant },
  'kv-cache': { type: 'string', default: DEFAULT_LOAD.kvCache },
  context: { type: 'string' },
  threads: { type: 'string', default: String(DEFAULT_LOAD.threads) },
  'cache-dir': { type: 'string' },
  'no-progress': { type: 'boolean', default: false },
};

export const SAMPLING_OPTIONS = {
  'max-tokens': { type: 'string' },
  greedy: { type: 'boolean', default: false },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  'frequency-penalty': { type: 'string' },
  'presence-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
};

const GCACHE_WORDS = { first: 'G computed once, on the first prompt', prompt: 'G computed for each prompt',
  off: 'no G- or KV-cache', empty: 'G fixed from the empty prompt' };
const marked = (value, chosen) => (value === chosen ? `${value} (default)` : value);

export const MODEL_HELP = `model:
  --model DIR|URL        model folder, Hugging Face layout (default: pldr-tiny: models/pldr-tiny
                         or the package ${DEFAULT_MODEL_PACKAGE}, downloaded once when not installed)
  --gcache MODE          ${GCACHE_MODES.map((m) => `${marked(m, DEFAULT_LOAD.gcache)}: ${GCACHE_WORDS[m]}`).join(`\n${' '.repeat(25)}`)}
  --quant FORMAT         ${WEIGHT_FORMATS.map((f) => marked(f, DEFAULT_LOAD.quant)).join(' | ')}: weight format in memory
  --kv-cache FORMAT      ${KV_CACHE_FORMATS.map((f) => marked(f, DEFAULT_LOAD.kvCache)).join(' | ')}: how the KV-cache stores keys and values (f16: half the memory)
  --context N            context length (default: the model's)
  --threads N|auto       threads the kernels run on (default ${DEFAULT_LOAD.threads}: half the logical processors, at most 8)
  --cache-dir DIR        keep downloaded files here (the default model: ${defaultCacheDir().replace(homedir(), '~')})
  --no-progress          no progress bar
`;

export const SAMPLING_HELP = `sampling:
  --max-tokens N         tokens to generate (default ${DEFAULT_MAX_TOKENS})
  --greedy               always the most likely token (same as --temperature 0)
  --temperature T        0 = greedy (default ${S.temperature})
  --top-k K              keep the K most likely tokens, 0 = off (default ${S.topK})
  --top-p P              keep tokens whose cumulative probability ≤ P (default ${S.topP})
  --min-p P              keep tokens at least P × the most likely one's probability (default ${S.minP})
  --repetition-penalty R penalise tokens already in the context, 1 = off (default ${S.repetitionPenalty})
  --frequency-penalty F  subtract F × (times generated) from a token's logit, -2…2 (default ${S.frequencyPenalty})
  --presence-penalty P   subtract P from the logit of every token generated so far, -2…2 (default ${S.presencePenalty})
  --seed N               seed for reproducible sampling
  --stop TEXT            stop when TEXT is generated (repeatable)
`;

function number(values, name, integer = false) {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new PldrError('E_OPTION', `--${name} ${raw}: expected ${integer ? 'an integer' : 'a number'}`);
  }
  return v;
}

/** The flag of each option name the API uses (the engine's messages name those). */
const FLAGS = { maxTokens: '--max-tokens', temperature: '--temperature', topK: '--top-k', topP: '--top-p', minP: '--min-p',
  repetitionPenalty: '--repetition-penalty', frequencyPenalty: '--frequency-penalty', presencePenalty: '--presence-penalty',
  seed: '--seed', stop: '--stop', contextLength: '--context', gcache: '--gcache', quant: '--quant', kvCache: '--kv-cache' };

/**
 * An E_OPTION message of the API in the words of the command line: its option names become
 * flags ("invalid topP 7" → "invalid --top-p 7"). @param {string} message @returns {string}
 */
export function withFlags(message) {
  return message.replace(/\b(invalid |unknown option "?)?(maxTokens|temperature|topK|topP|minP|repetitionPenalty|frequencyPenalty|presencePenalty|seed|stop|contextLength|gcache|quant|kvCache)\b/g,
    (whole, before = '', name) => (before || name === 'contextLength' ? `${before}${FLAGS[name]}` : whole));
}

/**
 * node:util parseArgs with the command line's own messages: a negative number after a flag is
 * its value (--temperature -1, not an unknown option "-1"), an unknown flag gets a suggestion,
 * a flag without its value says so.
 * @param {string[]} argv @param {Record<string, {type: 'string'|'boolean', default?: any, multiple?: boolean}>} options
 * @param {{allowPositionals?: boolean}} [extra] @returns {{values: Record<string, any>, positionals: string[]}}
 */
export function parseCommandLine(argv, options, { allowPositionals = false } = {}) {
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    if (name && options[name]?.type === 'string' && /^-(\d|\.\d|Infinity)/.test(argv[i + 1] ?? '')) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  try {
    return /** @type {any} */ (parseArgs({ args, options, strict: true, allowPositionals }));
  } catch (err) {
    const e = /** @type {any} */ (err);
    const flag = /'(-{1,2}[^'\s]+)/.exec(e.message)?.[1] ?? '';
    const flags = Object.keys(options).map((o) => `--${o}`);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new PldrError('E_OPTION', `unknown option ${flag}${didYouMean(flag, flags)}; see --help`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = /--([\w-]+)/.exec(e.message)?.[1];
      throw new PldrError('E_OPTION', option && options[option]?.type === 'boolean'
        ? `--${option} takes no value` : `${option ? `--${option}` : flag} needs a value`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new PldrError('E_OPTION', `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''} (options start with --; see --help)`);
    }
    throw err;
  }
}

/** PLDR.load options from parsed values. */
export function loadOptions(values) {
  return {
    gcache: values.gcache, quant: values.quant, kvCache: values['kv-cache'], contextLength: number(values, 'context', true),
    threads: values.threads === undefined || values.threads === 'auto' ? values.threads : number(values, 'threads', true),
    cacheDir: values['cache-dir'] ?? downloadCacheDir(values.model),
  };
}

/** The cache directory for the default model when it must be downloaded (saying so the first time), else undefined. */
function downloadCacheDir(model) {
  if (model !== DEFAULT_MODEL || !/^https?:/i.test(model)) return undefined;
  const dir = defaultCacheDir();
  if (!existsSync(dir)) {
    process.stderr.write(`pldr: the default model (${DEFAULT_MODEL_PACKAGE}) is not installed: downloading it once from ${model}\n` +
      `      into ${dir} (or: npm install -g ${DEFAULT_MODEL_PACKAGE}; or pass --model DIR|URL)\n`);
  }
  return dir;
}

/**
 * generate()/respond() options from parsed values, checked as the engine checks them (before a
 * model is loaded for nothing), with messages that name the flags.
 */
export function samplingOptions(values) {
  const o = {
    maxTokens: number(values, 'max-tokens', true),
    temperature: values.greedy ? 0 : number(values, 'temperature'),
    topK: number(values, 'top-k', true), topP: number(values, 'top-p'), minP: number(values, 'min-p'),
    repetitionPenalty: number(values, 'repetition-penalty'), frequencyPenalty: number(values, 'frequency-penalty'),
    presencePenalty: number(values, 'presence-penalty'), seed: number(values, 'seed', true),
    stop: values.stop,
  };
  if (o.maxTokens !== undefined && o.maxTokens < 1) throw new PldrError('E_OPTION', `--max-tokens ${o.maxTokens}: expected at least 1`);
  try {
    validateSampling(o);
  } catch (err) {
    throw new PldrError('E_OPTION', withFlags(/** @type {Error} */ (err).message));
  }
  return o;
}

/** "12,345,6" → [12, 345, 6] */
export function parseIds(text) {
  const ids = text.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s))) throw new PldrError('E_OPTION', `--ids ${text}: expected comma-separated token ids`);
  return ids.map(Number);
}
