// pldr tokenize: text lines (or a JSON array of strings) on stdin → ids on stdout, or back with --decode.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SentencePieceTokenizer } from '../tokenizer/tokenizer.js';
import { DEFAULT_MODEL, parseCommandLine } from './options.mjs';

/** usage text, printed for --help */
export const help = `usage: pldr tokenize [--tokenizer FILE|DIR] [--decode] [--prompt] [--pieces] [--lines] < input

Reads text on stdin and writes its token ids (plain SentencePiece encoding: no BOS/EOS):
  lines of text          one JSON array of ids per line        echo "Hello world" | pldr tokenize
  a JSON array of strings  one JSON array of id arrays         pldr tokenize <<< '["Hello", "world"]'
With --decode the other way: lines of ids (comma- or space-separated) become lines of text, a JSON
array of id arrays a JSON array of strings.
  --lines                read lines even when stdin holds JSON
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
  lines: { type: 'boolean', default: false },
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
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The input as JSON when it is a JSON array or object (and --lines is not given), else as lines.
 * @param {string} text @param {boolean} lines @returns {{json: unknown} | {lines: string[]}}
 */
function parseInput(text, lines) {
  if (!lines && /^\s*[[{]/.test(text)) {
    try {
      return { json: JSON.parse(text) };
    } catch { /* not JSON after all: text lines that start with "[" or "{" */ }
  }
  const list = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (list.at(-1) === '') list.pop();   // the newline that ends the last line
  return { lines: list };
}

/** "12, 345 6" → [12, 345, 6] @param {string} line @param {number} n */
function idsOfLine(line, n) {
  const parts = line.split(/[\s,]+/).filter(Boolean);
  if (!parts.every((p) => /^\d+$/.test(p))) throw new InputError(`line ${n}: "${line.slice(0, 60)}" is not token ids (numbers separated by commas or spaces)`);
  return parts.map(Number);
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
    const { values, positionals } = parseCommandLine(argv, OPTIONS, { allowPositionals: true });
    if (positionals.length) throw new InputError(`unexpected argument ${JSON.stringify(positionals[0])} (the input is read from stdin; see --help)`);
    const tok = await loadTokenizer(values.tokenizer);
    const input = parseInput(await readStdin(), values.lines);
    const encode = (text) => {
      const ids = values.prompt ? tok.encodePrompt(text) : tok.encode(text);
      return values.pieces ? ids.map((id) => tok.idToPiece(id)) : ids;
    };
    if ('json' in input) {
      checkInput(input.json, values.decode);
      const list = /** @type {any[]} */ (input.json);
      process.stdout.write(`${JSON.stringify(values.decode ? list.map((ids) => tok.decode(ids)) : list.map(encode))}\n`);
    } else {
      const out = input.lines.map((line, i) => (values.decode ? tok.decode(idsOfLine(line, i + 1)) : JSON.stringify(encode(line))));
      process.stdout.write(out.map((l) => `${l}\n`).join(''));
    }
    return 0;
  } catch (err) {
    process.stderr.write(`pldr tokenize: ${err.message}\n`);
    return 1;
  }
}
