// Damaged files nobody wrote by hand: deterministic random mutations of a real safetensors shard
// (header bytes, header numbers, the length prefix, truncation) and of a real tokenizer.model.
// Each one either loads, or fails with one of the runtime's errors (PldrError) whose one-line
// message names the file — never a TypeError/RangeError from inside, a crash or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { PldrError } from '../js/errors.js';
import { SentencePieceTokenizer } from '../js/tokenizer/tokenizer.js';
import { prng } from '../tools/testkit/synthetic.mjs';
import { ROOT } from './helpers/engines.mjs';

const MICRO = join(ROOT, 'tests/fixtures/pldr-micro');
const TOKENIZER = join(ROOT, 'models/pldr-tiny/tokenizer.model');

/** One damaged copy of a safetensors file. @param {Buffer} file @param {() => number} rand */
function damageSafetensors(file, rand) {
  const pick = (n) => Math.floor(rand() * n);
  const headerLength = Number(file.readBigUInt64LE(0));
  const kind = pick(4);
  if (kind === 0) return file.subarray(0, pick(file.length)); // truncated anywhere
  const out = Buffer.from(file);
  if (kind === 1) { // a few header bytes replaced by JSON-ish or random characters
    const chars = Buffer.from('0123456789[]{},":-eE. x\u00ff');
    for (let i = 1 + pick(4); i > 0; i--) out[8 + pick(headerLength)] = rand() < 0.8 ? chars[pick(chars.length)] : pick(256);
    return out;
  }
  if (kind === 2) { out[pick(8)] = pick(256); return out; } // the length prefix
  // a number of the header (a shape or an offset) replaced by an edge value
  const header = file.subarray(8, 8 + headerLength).toString('utf8');
  const numbers = [...header.matchAll(/\d+/g)];
  const m = numbers[pick(numbers.length)];
  const value = [0, 1, 2 ** 31 - 1, 2 ** 32, 2 ** 53, Number(m[0]) + 1, Number(m[0]) * 1000][pick(7)];
  const edited = Buffer.from(header.slice(0, m.index) + String(value) + header.slice(m.index + m[0].length));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(edited.length));
  return Buffer.concat([prefix, edited, file.subarray(8 + headerLength)]);
}

/** asserts err is the runtime's own error with a one-line message that names `file` */
function assertCleanError(err, file, label) {
  assert.ok(err instanceof PldrError, `${label}: ${err?.constructor?.name}: ${err?.message}\n${err?.stack}`);
  assert.ok(err.message.includes(file), `${label}: the message names ${file}: ${err.message}`);
  assert.ok(!err.message.includes('\n') && !/undefined|NaN/.test(err.message), `${label}: ${err.message}`);
}

test('150 damaged model.safetensors: each loads or fails with a clear LoadError naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-mutation-'));
  try {
    for (const f of ['config.json']) copyFileSync(join(MICRO, f), join(dir, f));
    const original = readFileSync(join(MICRO, 'model.safetensors'));
    const rand = prng(2026);
    const outcomes = { loaded: 0 };
    for (let i = 0; i < 150; i++) {
      writeFileSync(join(dir, 'model.safetensors'), damageSafetensors(original, rand));
      try {
        const engine = await PLDR.load(dir, { cache: false });
        try { // what loads runs: damage that passes every check is in the numbers, not the structure
          for await (const piece of engine.generate({ ids: [1, 2, 3] }, { maxTokens: 2, temperature: 0 })) assert.ok(piece.id >= 0);
          assert.match(engine.stats().finishReason, /^(eos|length)$/);
        } finally {
          engine.free();
        }
        outcomes.loaded++;
      } catch (err) {
        assertCleanError(err, 'model.safetensors', `mutation ${i}`);
        outcomes[err.code] = (outcomes[err.code] ?? 0) + 1;
      }
    }
    t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
    assert.ok(Object.keys(outcomes).length > 4, 'the mutations reach several kinds of error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('1000 damaged tokenizer.model: each parses and encodes, or fails with a TokenizerError', (t) => {
  const original = readFileSync(TOKENIZER);
  const rand = prng(7);
  const pick = (n) => Math.floor(rand() * n);
  const outcomes = { parsed: 0 };
  for (let i = 0; i < 1000; i++) {
    let bytes = Buffer.from(original);
    if (i % 3 === 0) bytes = bytes.subarray(0, pick(bytes.length));
    else for (let j = 1 + pick(8); j > 0; j--) bytes[pick(bytes.length)] = pick(256);
    try {
      const tok = SentencePieceTokenizer.fromBytes(bytes);
      tok.decode(tok.encode('Hello wörld 123 🙂\t[SEP] x'));
      outcomes.parsed++;
    } catch (err) {
      assert.ok(err instanceof PldrError, `mutation ${i}: ${err?.constructor?.name}: ${err?.message}`);
      outcomes[err.code] = (outcomes[err.code] ?? 0) + 1;
    }
  }
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.E_TOKENIZER_FORMAT > 100, 'most damage is detected');
});
