// pldr chat: an interactive terminal chat. Tokens stream as they come; the conversation (and its
// KV-cache) is kept across turns; Ctrl-C stops the current answer, a second Ctrl-C exits.
// With stdin not a terminal, each input line is one user message (scripts, tests).
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { PLDR } from '../pldr.js';
import { describeStats } from '../ui/stats-text.js';
import { progressBar } from './progress.mjs';
import { MODEL_HELP, MODEL_OPTIONS, SAMPLING_HELP, SAMPLING_OPTIONS, loadOptions, samplingOptions } from './options.mjs';

export const help = `usage: pldr chat [options]

Chat with a PLDR-LLM in the terminal. These are base models: the conversation is rendered with a
plain template ("User: …" / "Assistant: …").
  --system TEXT          a system message at the start of the conversation
  /reset                 (typed at the prompt) start a new conversation
  /stats                 (typed at the prompt) speed and memory of the last answer
  Ctrl-C                 stop the current answer; again at the prompt to exit

${MODEL_HELP}
${SAMPLING_HELP}`;

/** @param {string[]} argv */
export async function run(argv) {
  const { values } = parseArgs({ args: argv, strict: true, options: { system: { type: 'string' }, ...MODEL_OPTIONS, ...SAMPLING_OPTIONS } });
  const options = samplingOptions(values);
  const interactive = Boolean(process.stdin.isTTY);
  const engine = await PLDR.load(values.model, {
    ...loadOptions(values), onProgress: values['no-progress'] ? undefined : progressBar(),
    onContextShift: ({ dropped }) => process.stderr.write(`\n[context full: dropped ${dropped} old tokens, G-cache kept]\n`),
  });
  const system = values.system ? [{ role: 'system', content: values.system }] : [];
  let messages = [...system];
  /** @type {AbortController|null} */
  let answering = null;
  let lastInterrupt = 0;
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  const onInterrupt = () => {
    if (answering) { answering.abort(); return; }
    if (Date.now() - lastInterrupt < 2000 || !interactive) { rl.close(); return; }
    lastInterrupt = Date.now();
    process.stdout.write('\n(press Ctrl-C again to exit)\n');
    rl.prompt();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  if (interactive) process.stdout.write(`${engine.name} — ${engine.model.gcacheMode} G-cache. Ctrl-C stops an answer; /reset, /stats.\n`);
  rl.setPrompt('> ');
  if (interactive) rl.prompt();
  try {
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/reset') { engine.reset(); messages = [...system]; process.stdout.write('(new conversation)\n'); }
      else if (text === '/stats') process.stdout.write(`[${describeStats(engine.stats()).join(' · ')}]\n`);
      else if (text) {
        messages.push({ role: 'user', content: text });
        answering = new AbortController();
        const run = engine.respond(messages, { ...options, signal: answering.signal });
        for await (const piece of run) process.stdout.write(piece.text);
        const result = await run.result;
        answering = null;
        messages.push({ role: 'assistant', content: result.text });
        process.stdout.write(result.finishReason === 'abort' ? ' [stopped]\n' : '\n');
        if (interactive) process.stderr.write(`[${describeStats(engine.stats()).join(' · ')}]\n`);
      }
      if (interactive) rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    engine.free();
  }
  return 0;
}
