// pldr chat: an interactive terminal chat. Tokens stream as they come; the conversation (and its
// KV-cache) is kept across turns; Ctrl-C stops the current answer, a second Ctrl-C exits. Lines
// that start with "/" are commands (/help lists them); what is typed while an answer streams is
// not echoed into it, but kept for the next prompt. With stdin not a terminal, each input line
// is one user message (scripts, tests).
import { basename, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { PLDR } from '../pldr.js';
import { describeStats, modelLabel } from '../ui/stats-text.js';
import { progressBar } from './progress.mjs';
import { closest } from './suggest.mjs';
import { MODEL_HELP, MODEL_OPTIONS, SAMPLING_HELP, SAMPLING_OPTIONS, loadOptions, parseCommandLine, samplingOptions } from './options.mjs';

/** The commands typed at the prompt. */
const COMMANDS = {
  '/help': 'these commands',
  '/reset': 'start a new conversation (the G-cache stays)',
  '/stats': 'speed and memory of the last answer',
  '/system TEXT': 'set the system message (a new conversation starts); /system alone removes it',
  '/exit': 'leave (so does Ctrl-D, or Ctrl-C twice)',
};
const COMMAND_HELP = Object.entries(COMMANDS).map(([c, what]) => `  ${c.padEnd(22)} ${what}`).join('\n') +
  '\n  //text                 send a message that starts with "/"';

export const help = `usage: pldr chat [options]

Chat with a PLDR-LLM in the terminal. These are base models: the conversation is rendered with a
plain template ("User: …" / "Assistant: …").
  --system TEXT          a system message at the start of the conversation
  Ctrl-C                 stop the current answer; again at the prompt to exit

Typed at the prompt:
${COMMAND_HELP}

${MODEL_HELP}
${SAMPLING_HELP}`;

/**
 * The terminal as readline sees it: its echo of what is typed can be muted while an answer
 * streams, so that keystrokes do not land in the middle of the answer.
 * @param {NodeJS.WriteStream} tty
 */
function mutableScreen(tty) {
  const screen = /** @type {Writable & {muted: boolean, columns?: number, rows?: number, isTTY?: boolean}} */ (new Writable({
    write(chunk, encoding, done) {
      if (!screen.muted) tty.write(chunk);
      done();
    },
  }));
  screen.muted = false;
  screen.isTTY = tty.isTTY;
  Object.defineProperty(screen, 'columns', { get: () => tty.columns });
  Object.defineProperty(screen, 'rows', { get: () => tty.rows });
  tty.on('resize', () => screen.emit('resize'));
  return screen;
}

/** @param {string[]} argv */
export async function run(argv) {
  const { values } = parseCommandLine(argv, { system: { type: 'string' }, ...MODEL_OPTIONS, ...SAMPLING_OPTIONS });
  const options = samplingOptions(values);
  const interactive = Boolean(process.stdin.isTTY);
  const engine = await PLDR.load(values.model, {
    ...loadOptions(values), onProgress: values['no-progress'] ? undefined : progressBar(),
    onContextShift: ({ dropped }) => process.stderr.write(`\n[context full: dropped ${dropped} old tokens, G-cache kept]\n`),
  });
  let system = values.system ? [{ role: 'system', content: values.system }] : [];
  let messages = [...system];
  /** @type {AbortController|null} */
  let answering = null;
  let lastInterrupt = 0;
  const screen = interactive ? mutableScreen(process.stdout) : null;
  const rl = createInterface({ input: process.stdin, output: screen ?? undefined, terminal: interactive });
  /** lines sent (Enter) while an answer streamed: echoed when their turn comes */
  const typedAhead = [];
  rl.on('line', (line) => { if (screen?.muted) typedAhead.push(line); });
  const onInterrupt = () => {
    if (answering) { answering.abort(); return; }
    if (Date.now() - lastInterrupt < 2000 || !interactive) { rl.close(); return; }
    lastInterrupt = Date.now();
    process.stdout.write('\n(press Ctrl-C again to exit)\n');
    rl.prompt();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  const say = (text) => process.stdout.write(`${text}\n`);
  if (interactive) {
    const label = /^[a-z]+:\/\//i.test(values.model) ? modelLabel({ source: values.model, name: engine.name }) : basename(resolve(values.model));
    say(`${label} · weights ${values.quant} · G-cache ${engine.model.gcacheMode}. Ctrl-C stops an answer; /help lists the commands.`);
  }
  rl.setPrompt('> ');
  if (interactive) rl.prompt();

  /** A line that starts with "/": runs it; false when it is not a command (//text is text). */
  const command = (text) => {
    if (!text.startsWith('/') || text.startsWith('//')) return false;
    const name = text.split(/\s+/)[0];
    const argument = text.slice(name.length).trim();
    if (name === '/help') say(`commands:\n${COMMAND_HELP}`);
    else if (name === '/reset' || name === '/new') { engine.reset(); messages = [...system]; say('(new conversation)'); }
    else if (name === '/stats') say(`[${describeStats(engine.stats()).join(' · ')}]`);
    else if (name === '/system') {
      system = argument ? [{ role: 'system', content: argument }] : [];
      engine.reset();
      messages = [...system];
      say(argument ? '(system message set: new conversation)' : '(no system message: new conversation)');
    } else if (name === '/exit' || name === '/quit') rl.close();
    else {
      const guess = closest(name, Object.keys(COMMANDS).map((c) => c.split(' ')[0]).concat('/quit', '/new'));
      say(`unknown command ${name}${guess ? ` — did you mean ${guess}?` : ''} (/help lists them; start a line with // to send it as text)`);
    }
    return true;
  };

  try {
    for await (const line of rl) {
      if (typedAhead[0] === line) { typedAhead.shift(); process.stdout.write(`> ${line}\n`); }
      const text = line.trim();
      if (command(text)) { if (interactive) rl.prompt(); continue; }
      if (text) {
        messages.push({ role: 'user', content: text.startsWith('//') ? text.slice(1) : text });
        answering = new AbortController();
        if (screen) screen.muted = true;
        try {
          const run = engine.respond(messages, { ...options, signal: answering.signal });
          for await (const piece of run) process.stdout.write(piece.text);
          const result = await run.result;
          messages.push({ role: 'assistant', content: result.text });
          process.stdout.write(result.finishReason === 'abort' ? ' [stopped]\n' : '\n');
        } catch (err) {
          messages.pop();   // the engine did not keep the failed turn either
          throw err;
        } finally {
          answering = null;
          if (screen) screen.muted = false;
        }
        if (interactive) process.stderr.write(`[${describeStats(engine.stats()).join(' · ')}]\n`);
      }
      if (interactive) rl.prompt(true);   // with what was typed meanwhile
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    engine.free();
  }
  return 0;
}
