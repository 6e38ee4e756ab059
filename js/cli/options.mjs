// Option parsing shared by the generate and chat commands.
import { fileURLToPath } from 'node:url';
import { PldrError } from '../errors.js';

export const DEFAULT_MODEL = fileURLToPath(new URL('../../models/pldr-tiny', import.meta.url));

/** node:util parseArgs definitions for loading a model and sampling */
export const MODEL_OPTIONS = {
  model: { type: 'string', default: DEFAULT_MODEL },
  gcache: { type: 'string', default: 'first' },
  quant: { type: 'string', default: 'f32' },
  context: { type: 'string' },
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
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
};

export const MODEL_HELP = `model:
  --model DIR|URL        model folder, Hugging Face layout (default: the embedded pldr-tiny)
  --gcache MODE          first (default: G computed once, on the first prompt) | prompt (each
                         prompt) | off (no G- or KV-cache) | empty (G fixed from the empty prompt)
  --quant FORMAT         f32 (default) | q8 | q4: weight format in memory
  --context N            context length (default: the model's)
  --cache-dir DIR        keep downloaded files here
  --no-progress          no progress bar
`;

export const SAMPLING_HELP = `sampling:
  --max-tokens N         tokens to generate (default 256)
  --greedy               always the most likely token (same as --temperature 0)
  --temperature T        0 = greedy (default 0.8)
  --top-k K              keep the K most likely tokens, 0 = off (default 40)
  --top-p P              keep tokens whose cumulative probability ≤ P (default 0.95)
  --min-p P              keep tokens at least P × the most likely one's probability (default 0)
  --repetition-penalty R penalise tokens already in the context, 1 = off (default 1)
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

/** PLDR.load options from parsed values. */
export function loadOptions(values) {
  return {
    gcache: values.gcache, quant: values.quant, contextLength: number(values, 'context', true),
    cacheDir: values['cache-dir'],
  };
}

/** generate()/respond() options from parsed values. */
export function samplingOptions(values) {
  return {
    maxTokens: number(values, 'max-tokens', true),
    temperature: values.greedy ? 0 : number(values, 'temperature'),
    topK: number(values, 'top-k', true), topP: number(values, 'top-p'), minP: number(values, 'min-p'),
    repetitionPenalty: number(values, 'repetition-penalty'), seed: number(values, 'seed', true),
    stop: values.stop,
  };
}

/** "12,345,6" → [12, 345, 6] */
export function parseIds(text) {
  const ids = text.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s))) throw new PldrError('E_OPTION', `--ids ${text}: expected comma-separated token ids`);
  return ids.map(Number);
}
