#!/usr/bin/env node
// Node command line for the PLDR-LLM runtime. Each subcommand lives in js/cli/<name>.mjs
// and exports `run(argv: string[]): Promise<number>` (the exit code) and `help: string`.

const COMMANDS = {
  generate: 'Generate text or token ids from a prompt',
  chat: 'Interactive terminal chat',
  tokenize: 'Encode strings to ids (or --decode ids to strings) with a SentencePiece model',
  inspect: 'List the tensors, dtypes and config of a model folder and report problems',
  invariance: 'How far G_LM of each prompt is from G_LM of the empty prompt (the paper\'s deductive outputs)',
  perplexity: 'Mean NLL and perplexity of a text with G recomputed per window vs one fixed G',
};

function usage() {
  const lines = Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(10)} ${what}`);
  return `usage: pldr <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    `Run "pldr <command> --help" for the options of a command.\n`;
}

async function main(argv) {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    const { closest } = await import('./cli/suggest.mjs');
    const guess = closest(name, Object.keys(COMMANDS));
    process.stderr.write(`pldr: unknown command "${name}"${guess ? ` — did you mean "${guess}"?` : ''}\n\n${usage()}`);
    return 2;
  }
  const command = await import(`./cli/${name}.mjs`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  return command.run(rest);
}

// `pldr ... | head`: a closed pipe ends the program quietly, as other Unix tools do
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  async (err) => {
    let message = String(err && err.message ? err.message : err);
    if (err?.code === 'E_OPTION') message = (await import('./cli/options.mjs')).withFlags(message); // flags, not API names
    process.stderr.write(`pldr: ${message}\n`);
    process.exitCode = 1;
  },
);
