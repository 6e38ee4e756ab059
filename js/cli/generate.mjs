// pldr generate: one completion, streamed to stdout (or one JSON object with --json).
import { writeFileSync } from 'node:fs';
import { PLDR } from '../pldr.js';
import { PldrError } from '../errors.js';
import { progressBar } from './progress.mjs';
import { MODEL_HELP, MODEL_OPTIONS, SAMPLING_HELP, SAMPLING_OPTIONS, loadOptions, parseCommandLine, parseIds, samplingOptions } from './options.mjs';

export const help = `usage: pldr generate [--prompt TEXT | --ids 12,345,6] [options]

  --prompt TEXT          prompt text (tokenized without BOS/EOS; "" is the empty prompt [END])
  --ids LIST             prompt as comma-separated token ids instead of text
  --json                 print one JSON object: {prompt_ids, ids, stop, text, stats}
  --dump-logits FILE     write the logits of the first generated step (float32, little-endian)

${MODEL_HELP}
${SAMPLING_HELP}`;

/** @param {string[]} argv */
export async function run(argv) {
  const { values } = parseCommandLine(argv, { prompt: { type: 'string' }, ids: { type: 'string' }, json: { type: 'boolean', default: false },
    'dump-logits': { type: 'string' }, ...MODEL_OPTIONS, ...SAMPLING_OPTIONS });
  if ((values.prompt === undefined) === (values.ids === undefined)) {
    throw new PldrError('E_OPTION', 'give exactly one of --prompt TEXT or --ids LIST (see --help)');
  }
  const prompt = values.ids !== undefined ? { ids: parseIds(values.ids) } : values.prompt;
  const options = samplingOptions(values);
  const engine = await PLDR.load(values.model, { ...loadOptions(values), onProgress: values['no-progress'] ? undefined : progressBar() });
  let firstLogits = null;
  if (values['dump-logits']) options.onLogits = (step, logits) => { if (step === 0) firstLogits = logits.slice(); };
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const run = engine.generate(prompt, { ...options, signal: controller.signal });
    if (!values.json && typeof prompt === 'string') process.stdout.write(prompt);
    for await (const piece of run) if (!values.json) process.stdout.write(piece.text);
    const result = await run.result;
    if (firstLogits) writeFileSync(values['dump-logits'], new Uint8Array(firstLogits.buffer));
    const promptIds = typeof prompt === 'string' ? engine.encode(prompt) : prompt.ids;
    const ids = result.finishReason === 'eos' ? [...result.ids, engine.model.eosId] : result.ids;
    if (values.json) {
      const out = { prompt_ids: promptIds, ids, stop: result.finishReason, stats: engine.stats() };
      if (engine.tokenizer) out.text = result.text;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      process.stdout.write('\n');
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    engine.free();
  }
}
