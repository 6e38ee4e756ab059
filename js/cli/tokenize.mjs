// pldr tokenize: JSON array of strings on stdin → JSON array of id arrays on stdout (or back with --decode).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SentencePieceTokenizer } from '../tokenizer/tokenizer.js';
import { DEFAULT_MODEL } from './options.mjs';

/** usage text, printed for --help */
export const help = `usage: pldr tokenize [--tokenizer FILE|DIR] [--decode] [--prompt] [--pieces] < input.json

Reads a JSON array of strings on stdin and writes a JSON array of id arrays (plain SentencePiece
encoding: no BOS/EOS). With --decode, reads a JSON array of id arrays and writes an array of strings.
  --tokenizer FILE|DIR   a SentencePiece tokenizer.model, or a model folder holding one
                         (default: the embedded pldr-tiny model's)
  --decode               ids to text instead of text to ids
  --prompt               encode as a prompt: an empty result becomes [END] (the project convention)
  --pieces               write piece strings (e.g. "▁the", "<0xE6>") instead of ids
Exit code 1 with a message on stderr when the input or the tokenizer file is bad.
`;

const OPTIONS = {
  tokenizer: { type: 'string', default: join(DEFAULT_MODEL, 'tokenizer.model') },
  decode: { type: 'boolean', default: false },
  prompt: { type: 'boolean', default: false },
  pieces: { type: 'boolean', default: false },
};

class InputError extends Error {}

/** @param {string} path @returns {Promise<SentencePieceTokenizer>} */
async function loadTokenizer(path) {
  const file = (await stat(path)).isDirectory() ? join(path, 'tokenizer.model') : path;
  try {
    return SentencePieceTokenizer.fromBytes(await readFile(file));
  } catch (err) {
    throw new InputError(`${file}: ${err.message}`);
  }
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`stdin is not JSON: ${err.message}`);
  }
}

/** @param {unknown} input @param {boolean} decode */
function checkInput(input, decode) {
  const want = decode ? 'an array of id arrays' : 'an array of strings';
  if (!Array.isArray(input)) throw new InputError(`stdin must hold ${want}`);
  input.forEach((item, i) => {
    const ok = decode ? Array.isArray(item) && item.every(Number.isInteger) : typeof item === 'string';
    if (!ok) throw new InputError(`item ${i} is ${JSON.stringify(item)?.slice(0, 60)}: stdin must hold ${want}`);
  });
}

/**
 * @param {string[]} argv
 * @returns {Promise<number>} exit code
 */
export async function run(argv) {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    if (positionals.length) throw new InputError(`unexpected argument ${JSON.stringify(positionals[0])} (the input is read from stdin; see --help)`);
    const tok = await loadTokenizer(values.tokenizer);
    const input = await readStdin();
    checkInput(input, values.decode);
    const output = values.decode
      ? input.map((ids) => tok.decode(ids))
      : input.map((text) => {
        const ids = values.prompt ? tok.encodePrompt(text) : tok.encode(text);
        return values.pieces ? ids.map((id) => tok.idToPiece(id)) : ids;
      });
    process.stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`pldr tokenize: ${err.message}\n`);
    return 1;
  }
}
