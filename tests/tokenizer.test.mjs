// js/tokenizer/tokenizer.js against real SentencePiece (cases.json: text → ids and ids → text as
// sentencepiece 0.1.97 computes them; random.json: strings from tools/tokenizer_cases.py — random
// code points, whitespace runs, scripts and emoji — as sentencepiece 0.2.2 encodes them), the streaming detokeniser, the prompt conventions, bad
// model files, small synthetic models for the options the real ones leave off, and the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { SentencePieceTokenizer, PieceType, decodeByteRun, utf8CharLength } from '../js/tokenizer/tokenizer.js';
import { TextStream } from '../js/generation/text-stream.js';
import { TokenizerError } from '../js/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'tests/fixtures/tokenizers');
const NAMES = ['pldr-32k', 'pldr-tiny'];

const models = Object.fromEntries(NAMES.map((name) => {
  const bytes = readFileSync(join(FIXTURES, name, 'tokenizer.model'));
  const read = (file) => JSON.parse(readFileSync(join(FIXTURES, name, file), 'utf8')).cases;
  return [name, { bytes, cases: read('cases.json'), random: read('random.json'), tok: SentencePieceTokenizer.fromBytes(bytes) }];
}));

/** mulberry32: a small seeded PRNG, so failures reproduce */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** the first `limit` cases where f(case) is not true, for a readable failure */
function failures(cases, f, limit = 5) {
  const bad = [];
  for (const c of cases) if (!f(c) && bad.length < limit) bad.push(c);
  return bad;
}

// --- exactness against SentencePiece -----------------------------------------------------------

for (const name of NAMES) {
  for (const set of ['cases', 'random']) {
    test(`${name}: encode gives SentencePiece's ids for every case of ${set}.json`, (t) => {
      const { tok, [set]: cases } = models[name];
      assert.ok(cases.length > 1000, 'the fixture holds the full case list');
      let pass = 0;
      const bad = [];
      for (const c of cases) {
        const ids = tok.encode(c.text);
        if (ids.length === c.ids.length && ids.every((id, i) => id === c.ids[i])) pass++;
        else if (bad.length < 5) bad.push({ text: c.text.slice(0, 80), got: ids.slice(0, 40), want: c.ids.slice(0, 40) });
      }
      t.diagnostic(`encode exact: ${pass}/${cases.length}`);
      assert.deepEqual(bad, []);
      assert.equal(pass, cases.length);
    });

    test(`${name}: decode gives SentencePiece's text for every case of ${set}.json`, (t) => {
      const { tok, [set]: cases } = models[name];
      const bad = failures(cases, (c) => tok.decode(c.ids) === c.decoded);
      t.diagnostic(`decode exact: ${cases.length - bad.length}/${cases.length}`);
      assert.deepEqual(bad.map((c) => ({ ids: c.ids.slice(0, 20), got: tok.decode(c.ids), want: c.decoded })), []);
    });
  }

  test(`${name}: the cases cover byte fallback, normalisation and whitespace`, () => {
    const { tok, cases } = models[name];
    assert.ok(cases.some((c) => c.ids.some((id) => tok.isByte(id))), 'some case uses byte pieces');
    assert.ok(cases.some((c) => c.decoded !== c.text.trim()), 'some case is changed by normalisation');
    assert.deepEqual(tok.encode(''), cases.find((c) => c.text === '').ids);
  });
}

test('pldr-tiny: [SEP] and [CLS] are matched in raw text, [END] is not', () => {
  const { tok, cases } = models['pldr-tiny'];
  const c = cases.find((x) => x.text.includes('[SEP]'));
  assert.ok(c.ids.includes(4) && c.ids.includes(5));
  assert.deepEqual(tok.encode('x[SEP]y').filter((id) => id === 4), [4]);
  assert.ok(!tok.encode('[END]').includes(3), 'a CONTROL piece is never produced from text');
});

test('special ids and piece lookup follow the spec (§4)', () => {
  for (const name of NAMES) {
    const { tok } = models[name];
    assert.deepEqual([tok.padId, tok.unkId, tok.bosId, tok.eosId], [0, 1, 2, 3]);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((id) => tok.idToPiece(id)), ['[PAD]', '[UNK]', '[START]', '[END]', '[SEP]', '[CLS]']);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((id) => tok.pieceType(id)),
      [PieceType.CONTROL, PieceType.UNKNOWN, PieceType.CONTROL, PieceType.CONTROL, PieceType.USER_DEFINED, PieceType.USER_DEFINED]);
    assert.equal(tok.idToPiece(6), '<0x00>');
    assert.equal(tok.idToPiece(261), '<0xFF>');
    assert.equal(tok.byteValue(6 + 0xe6), 0xe6);
    assert.equal(tok.byteValue(300), -1);
    assert.equal(tok.pieceToId('▁the'), tok.encode('the')[0]);
    assert.equal(tok.pieceToId('no such piece'), tok.unkId);
    for (let id = 0; id < tok.vocabSize; id += 97) assert.equal(tok.pieceToId(tok.idToPiece(id)), id);
  }
  assert.equal(models['pldr-32k'].tok.vocabSize, 32000);
  assert.equal(models['pldr-tiny'].tok.vocabSize, 8000);
  assert.equal(models['pldr-32k'].tok.trainerSpec.splitDigits, true);
  assert.equal(models['pldr-32k'].tok.normalizerSpec.name, 'nmt_nfkc');
});

test('decode: ids outside the vocabulary are a TokenizerError', () => {
  const { tok } = models['pldr-tiny'];
  for (const bad of [-1, 8000, 1.5, NaN, '7', null]) {
    assert.throws(() => tok.decode([270, bad]), (err) => err instanceof TokenizerError && err.code === 'E_TOKENIZER_ID' && /invalid token id/.test(err.message));
  }
  assert.throws(() => tok.encode(42), (err) => err instanceof TokenizerError && err.code === 'E_TOKENIZER_INPUT');
});

// --- UTF-8 handling as SentencePiece does it ---------------------------------------------------

test('byte pieces decode like SentencePiece: one U+FFFD per invalid byte', () => {
  const { tok } = models['pldr-tiny'];
  const b = (...bytes) => bytes.map((x) => tok.idOfByte[x]);
  assert.equal(tok.decode(b(0xe6, 0x9d, 0xb1)), '東');
  assert.equal(tok.decode(b(0xf0, 0x9f, 0x98, 0x80)), '😀');
  assert.equal(tok.decode(b(0xe2, 0x82)), '\ufffd\ufffd', 'a truncated character is one U+FFFD per byte (TextDecoder would give one)');
  assert.equal(tok.decode(b(0xc0, 0x80)), '\ufffd\ufffd', 'overlong');
  assert.equal(tok.decode(b(0xed, 0xa0, 0x80)), '\ufffd\ufffd\ufffd', 'surrogate');
  assert.equal(tok.decode(b(0xf4, 0x90, 0x80, 0x80)), '\ufffd'.repeat(4), 'beyond U+10FFFF');
  assert.equal(tok.decode([...b(0xe6, 0x9d), tok.pieceToId('▁the'), 0xb1 + 6]), '\ufffd\ufffd the\ufffd', 'a normal piece ends a byte run');
  assert.equal(decodeByteRun([0x41, 0xef, 0xbf, 0xbd, 0xff]), 'A\ufffd\ufffd');
});

/** SentencePiece's string_util::DecodeUTF8, written out plainly: length of a valid character, else -1 */
function referenceCharLength(b) {
  const trail = (x) => x !== undefined && (x & 0xc0) === 0x80;
  const valid = (cp) => cp < 0xd800 || (cp >= 0xe000 && cp <= 0x10ffff);
  if (b[0] < 0x80) return 1;
  if (b.length >= 2 && (b[0] & 0xe0) === 0xc0) {
    const cp = ((b[0] & 0x1f) << 6) | (b[1] & 0x3f);
    return trail(b[1]) && cp >= 0x80 && valid(cp) ? 2 : -1;
  }
  if (b.length >= 3 && (b[0] & 0xf0) === 0xe0) {
    const cp = ((b[0] & 0x0f) << 12) | ((b[1] & 0x3f) << 6) | (b[2] & 0x3f);
    return trail(b[1]) && trail(b[2]) && cp >= 0x800 && valid(cp) ? 3 : -1;
  }
  if (b.length >= 4 && (b[0] & 0xf8) === 0xf0) {
    const cp = ((b[0] & 0x07) << 18) | ((b[1] & 0x3f) << 12) | ((b[2] & 0x3f) << 6) | (b[3] & 0x3f);
    return trail(b[1]) && trail(b[2]) && trail(b[3]) && cp >= 0x10000 && valid(cp) ? 4 : -1;
  }
  return -1;
}

test('utf8CharLength matches DecodeUTF8, and calls a prefix incomplete only if it can still be valid', () => {
  const tails = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
  const final = (b) => { const n = utf8CharLength(b, 0, b.length); return n === 0 ? -1 : n; };
  const need = (b0) => (b0 >= 0xf0 ? 4 : 3);
  const completions = (b) => (b.length >= need(b[0]) ? [b] : tails.flatMap((t) => completions([...b, t])));
  let checked = 0;
  for (let b0 = 0; b0 < 256; b0++) {
    for (let b1 = 0; b1 < 256; b1++) {
      const seqs = b0 >= 0xe0 && b0 < 0xf8 ? completions([b0, b1]) : [[b0, b1]];
      for (const seq of seqs) {
        for (let len = 1; len <= seq.length; len++) {
          const b = seq.slice(0, len);
          if (final(b) !== referenceCharLength(b)) assert.fail(`bytes ${b.map((x) => x.toString(16))}: ${final(b)}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 100000);
  // incomplete (0) only when some completion is valid; invalid (-1) only when none is
  const prefixes = [...Array(256).keys()].flatMap((b0) => [[b0], ...[...Array(256).keys()].map((b1) => [b0, b1])]);
  for (const b0 of [0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5]) for (const t of tails) for (const u of tails) prefixes.push([b0, t, u]);
  for (const prefix of prefixes) {
    const n = utf8CharLength(prefix, 0, prefix.length), want = (prefix[0] & 0xe0) === 0xc0 ? 2 : (prefix[0] & 0xf0) === 0xe0 ? 3 : 4;
    if (n > 0 || prefix.length >= want) continue;
    // non-trail bytes can only make a sequence invalid, so trail bytes at the range edges suffice
    const grow = (b) => (b.length === want ? [b] : [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf].flatMap((t) => grow([...b, t])));
    const canBeValid = grow(prefix).some((c) => referenceCharLength(c) === want);
    assert.equal(n === 0, canBeValid, `prefix ${prefix.map((x) => x.toString(16))}`);
  }
});

test('encode: each invalid UTF-8 byte becomes a U+FFFD that is not normalised further', () => {
  const { tok } = models['pldr-32k'];
  // nmt_nfkc maps a real U+FFFD to a space; SentencePiece's stand-in for a bad byte skips the rules
  assert.equal(tok.normalize('a\ufffdb'), '▁a▁b');
  assert.equal(tok.normalize(Uint8Array.of(0x61, 0xff, 0x62)), '▁a\ufffdb');
  assert.equal(tok.normalize(Uint8Array.of(0x61, 0xe2, 0x82, 0x62)), '▁a\ufffd\ufffdb', 'one per byte of a truncated character');
  assert.deepEqual(tok.encodeAsPieces(Uint8Array.of(0x61, 0xff, 0x62)), ['▁a', '<0xEF>', '<0xBF>', '<0xBD>', 'b']);
  assert.deepEqual(tok.encode('a\ud800b'), tok.encode('a\ufffdb'), 'a lone surrogate is encoded as U+FFFD (TextEncoder)');
  assert.deepEqual(tok.encode(new TextEncoder().encode('naïve café')), tok.encode('naïve café'));
});

// --- streaming detokeniser ---------------------------------------------------------------------

/** pushes ids one by one; returns the emitted pieces (the last from flush) */
function stream(tok, ids) {
  const s = new TextStream(tok);
  const pieces = ids.map((id) => s.push(id));
  pieces.push(s.flush());
  assert.equal(s.pending, false);
  return pieces;
}

for (const name of NAMES) {
  test(`${name}: streaming every case's ids gives decode(ids), in well-formed pieces`, () => {
    const { tok, cases } = models[name];
    for (const c of cases) {
      const pieces = stream(tok, c.ids);
      assert.equal(pieces.join(''), c.decoded, JSON.stringify(c.text.slice(0, 60)));
      for (const p of pieces) assert.ok(p.isWellFormed(), `piece ${JSON.stringify(p)} splits a character`);
    }
  });
}

test('streaming: byte pieces are held until their character is complete or proven invalid', () => {
  const { tok } = models['pldr-tiny'];
  const s = new TextStream(tok);
  const byte = (x) => tok.idOfByte[x];
  assert.equal(s.push(tok.pieceToId('▁the')), 'the', 'the leading space of the first piece is dropped');
  assert.equal(s.push(byte(0xe6)), '');
  assert.equal(s.pending, true);
  assert.equal(s.push(byte(0x9d)), '');
  assert.equal(s.push(byte(0xb1)), '東');
  assert.equal(s.pending, false);
  assert.equal(s.push(byte(0xe0)), '');
  assert.equal(s.push(byte(0x80)), '\ufffd\ufffd', 'E0 80 can never become valid: emitted at once');
  assert.equal(s.push(byte(0xf0)), '');
  assert.equal(s.push(byte(0x9f)), '');
  assert.equal(s.push(tok.pieceToId('▁the')), '\ufffd\ufffd the', 'a normal piece ends the byte run');
  assert.equal(s.push(byte(0xc3)), '');
  assert.equal(s.flush(), '\ufffd', 'flush ends an incomplete character');
});

test('streaming: afterText continues a text, keeping the first leading space', () => {
  const { tok } = models['pldr-32k'];
  const prompt = tok.encode('The Python language is'), reply = tok.encode('a programming language, 東京 😀');
  const s = new TextStream(tok, { afterText: true });
  const text = reply.map((id) => s.push(id)).join('') + s.flush();
  assert.equal(text, ' a programming language, 東京 😀');
  assert.equal(tok.decode(prompt) + text, tok.decode([...prompt, ...reply]));
  assert.equal(stream(tok, reply).join(''), 'a programming language, 東京 😀', 'by default the output is decode(ids)');
});

test('streaming: random mixtures of byte, control and normal pieces match decode', () => {
  const random = prng(7);
  for (const name of NAMES) {
    const { tok } = models[name];
    const utf8Lead = [0xc3, 0xe6, 0xf0, 0xed, 0xe0, 0xf4, 0xc0, 0xff];
    for (let round = 0; round < 400; round++) {
      const ids = [];
      const n = 1 + Math.floor(random() * 12);
      for (let i = 0; i < n; i++) {
        const r = random();
        if (r < 0.15) ids.push(tok.idOfByte[utf8Lead[Math.floor(random() * utf8Lead.length)]]);
        else if (r < 0.5) ids.push(tok.idOfByte[0x80 + Math.floor(random() * 64)]);
        else if (r < 0.6) ids.push(Math.floor(random() * 6));
        else if (r < 0.7) ids.push(tok.pieceToId('▁'));
        else ids.push(262 + Math.floor(random() * (tok.vocabSize - 262)));
      }
      const pieces = stream(tok, ids);
      assert.equal(pieces.join(''), tok.decode(ids), JSON.stringify(ids));
      for (const p of pieces) assert.ok(p.isWellFormed());
    }
  }
});

// --- prompt conventions (spec §4) --------------------------------------------------------------

test('prompts: no BOS/EOS; the empty prompt is [END] = [3]', () => {
  for (const name of NAMES) {
    const { tok } = models[name];
    assert.deepEqual(tok.encode(''), [], 'plain SentencePiece: the empty string has no ids');
    assert.deepEqual(tok.encodePrompt(''), [3]);
    assert.deepEqual(tok.encodePrompt('  \t\n'), [3], 'a prompt that normalises to nothing is empty too');
    const text = 'The Python language is';
    assert.deepEqual(tok.encodePrompt(text), tok.encode(text));
    assert.ok(!tok.encodePrompt(text).includes(2) && !tok.encodePrompt(text).includes(3));
  }
});

const GOLDEN = join(ROOT, 'tests/fixtures/golden/pldr-tiny/golden.json');
test('prompts: the golden pldr-tiny prompts encode to the reference ids', () => {
  const { tok } = models['pldr-tiny'];
  const { cases } = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  assert.ok(cases.length > 0);
  for (const c of cases) assert.deepEqual(tok.encodePrompt(c.text), c.ids, c.name);
});

// --- bad files ---------------------------------------------------------------------------------

/** asserts that loading `bytes` fails with a TokenizerError whose message matches `pattern` */
function rejects(bytes, pattern = /./, code = 'E_TOKENIZER_FORMAT') {
  assert.throws(() => SentencePieceTokenizer.fromBytes(bytes), (err) => {
    assert.ok(err instanceof TokenizerError, `${err?.name}: ${err?.message}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test('bad files: empty, JSON, random bytes, zip', { timeout: 20000 }, () => {
  rejects(new Uint8Array(0), /empty/);
  rejects(readFileSync(join(FIXTURES, 'pldr-tiny/cases.json')), /not a SentencePiece model.*JSON/);
  rejects(new TextEncoder().encode('{"model": {"type": "BPE"}}'), /JSON/);
  rejects(Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0), /SentencePiece/);
  const random = prng(1);
  for (const size of [1, 2, 3, 7, 64, 1000, 65536]) {
    for (let k = 0; k < 20; k++) rejects(Uint8Array.from({ length: size }, () => Math.floor(random() * 256)));
  }
  assert.throws(() => SentencePieceTokenizer.fromBytes('tokenizer.model'), TokenizerError);
});

test('bad files: every truncation of a real model is rejected', { timeout: 60000 }, () => {
  const { bytes } = models['pldr-tiny'];
  // the ends of top-level fields: a cut there is still valid protobuf, only parts are missing
  const ends = [];
  for (let pos = 0; pos < bytes.length;) {
    let len = 0, shift = 0, b;
    pos++; // tag (one byte for fields 1…15)
    do { b = bytes[pos++]; len += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    pos += len;
    ends.push(pos);
  }
  assert.equal(ends.at(-1), bytes.length);
  const cuts = [1, 2, 5, 17, 100, 4096, bytes.length >> 1, bytes.length - 1, ...ends.slice(-4, -1), ends[0], ends[261]];
  for (const cut of cuts) rejects(bytes.subarray(0, cut));
  const random = prng(3);
  for (let k = 0; k < 30; k++) rejects(bytes.subarray(0, Math.floor(random() * bytes.length)));
});

test('bad files: an ArrayBuffer is accepted like a Uint8Array', () => {
  const { bytes, tok } = models['pldr-tiny'];
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  assert.deepEqual(SentencePieceTokenizer.fromBytes(copy).encode('hello world'), tok.encode('hello world'));
});

// --- synthetic models: options the real models leave at their defaults ------------------------

const enc = new TextEncoder();
function varint(n) {
  const out = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
/** protobuf message from [field, value] pairs: number/boolean → varint, {f32} → fixed32, string/bytes/array → length-delimited */
function message(fields) {
  const out = [];
  for (const [no, v] of fields) {
    if (typeof v === 'number' || typeof v === 'boolean') out.push(...varint(no * 8), ...varint(Number(v)));
    else if (v?.f32 !== undefined) out.push(...varint(no * 8 + 5), ...new Uint8Array(Float32Array.of(v.f32).buffer));
    else {
      const body = typeof v === 'string' ? enc.encode(v) : Array.isArray(v) ? message(v) : v;
      out.push(...varint(no * 8 + 2), ...varint(body.length));
      for (const b of body) out.push(b);
    }
  }
  return Uint8Array.from(out);
}
const piece = (text, score, type = 1) => [1, [[1, text], [2, { f32: score }], [3, type]]];
const BASE_PIECES = [
  piece('<unk>', 0, 2), piece('<s>', 0, 3), piece('</s>', 0, 3), piece('▁', -2), piece('a', -1), piece('b', -1),
  piece('ab', -1.5), piece('▁ab', -1.2), piece('[X]', 0, 4), piece('zz', 0, 5), piece('z', -3),
];
/** a small unigram model; `trainer`/`normalizer` add fields to those specs */
function synthetic({ pieces = BASE_PIECES, trainer = [], normalizer = [] } = {}) {
  return message([...pieces, [2, [[3, 1], ...trainer]], [3, [[1, 'identity'], ...normalizer]]]);
}
const ids = (tok, ...pieces) => pieces.map((p) => tok.pieceToId(p));

test('synthetic: Viterbi picks the best path; UNUSED pieces are never used; user symbols win', () => {
  const tok = SentencePieceTokenizer.fromBytes(synthetic());
  assert.deepEqual(tok.encode('ab'), ids(tok, '▁ab'));
  assert.deepEqual(tok.encode('bab'), ids(tok, '▁', 'b', 'ab'));
  assert.deepEqual(tok.encode('zz'), ids(tok, '▁', 'z', 'z'), 'zz is UNUSED (score 0) and must not be chosen');
  assert.deepEqual(tok.encode('a[X]b'), ids(tok, '▁', 'a', '[X]', 'b'));
  assert.deepEqual([tok.unkId, tok.bosId, tok.eosId, tok.padId], [0, 1, 2, -1]);
});

test('synthetic: without byte fallback, a run of unknown characters is one [UNK]', () => {
  const tok = SentencePieceTokenizer.fromBytes(synthetic());
  assert.deepEqual(tok.encode('a€€b'), [...ids(tok, '▁', 'a'), 0, ...ids(tok, 'b')]);
  assert.deepEqual(tok.encode('a€ €b'), [...ids(tok, '▁', 'a'), 0, ...ids(tok, '▁'), 0, ...ids(tok, 'b')]);
  assert.equal(tok.decode(tok.encode('a€€b')), 'a ⁇ b', 'an [UNK] decodes to the unk_surface');
  assert.deepEqual(tok.encodePrompt(''), [2], 'the empty prompt is the EOS piece of the model');
});

test('synthetic: whitespace options of the normalizer spec', () => {
  const norm = (opts, text) => SentencePieceTokenizer.fromBytes(synthetic(opts)).normalize(text);
  assert.equal(norm({}, '  a  b '), '▁a▁b');
  assert.equal(norm({ normalizer: [[4, false]] }, '  a  b '), '▁▁▁a▁▁b▁', 'remove_extra_whitespaces off');
  assert.equal(norm({ normalizer: [[3, false]] }, '  a  b '), 'a▁b', 'add_dummy_prefix off');
  assert.equal(norm({ normalizer: [[5, false]] }, 'a b'), ' a b', 'escape_whitespaces off');
  assert.equal(norm({ trainer: [[24, true]] }, 'a b'), 'a▁b▁', 'treat_whitespace_as_suffix');
  assert.equal(norm({}, 'a ▁'), '▁a', 'trailing ▁ are removed like spaces');
  const tok = SentencePieceTokenizer.fromBytes(synthetic({ normalizer: [[4, false]] }));
  assert.equal(tok.decode(ids(tok, '▁', '▁', 'a')), ' a', 'only one leading space is dropped without remove_extra_whitespaces');
});

test('synthetic: a denormalizer_spec rewrites decoded text, in decode and at the end of a stream', () => {
  const charsmap = models['pldr-tiny'].tok.normalizerSpec.precompiledCharsmap;
  const denormalizer = [[1, 'nfkc'], [2, charsmap], [3, false], [4, false], [5, false]];
  const bytes = message([...BASE_PIECES, piece('\ufb01', -1), piece('▁\u2460', -1), [2, [[3, 1]]], [3, [[1, 'identity']]], [5, denormalizer]]);
  const tok = SentencePieceTokenizer.fromBytes(bytes);
  assert.equal(tok.normalize('\ufb01'), '▁\ufb01', 'the identity normalizer leaves the ligature');
  const got = tok.encode('a\ufb01 \u2460');
  assert.deepEqual(got, ids(tok, '▁', 'a', '\ufb01', '▁\u2460'));
  assert.equal(tok.decode(got), 'afi 1', 'NFKC applied to the decoded text');
  const s = new TextStream(tok);
  assert.deepEqual(got.map((id) => s.push(id)), ['', '', '', '']);
  assert.equal(s.pending, true);
  assert.equal(s.flush(), 'afi 1');
});

test('synthetic: byte fallback and bad piece tables', () => {
  const bytePieces = Array.from({ length: 256 }, (_, b) => piece(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, 6));
  const tok = SentencePieceTokenizer.fromBytes(synthetic({ pieces: [...BASE_PIECES, ...bytePieces], trainer: [[35, true]] }));
  assert.deepEqual(tok.encode('a€'), [...ids(tok, '▁', 'a', '<0xE2>', '<0x82>', '<0xAC>')]);
  assert.equal(tok.decode(tok.encode('a€b')), 'a€b');
  rejects(synthetic({ pieces: [...BASE_PIECES, ...bytePieces] }), /byte_fallback is off/);
  rejects(synthetic({ pieces: [...BASE_PIECES, ...bytePieces.slice(1)], trainer: [[35, true]] }), /256 byte pieces/);
  rejects(synthetic({ pieces: BASE_PIECES.slice(1) }), /no UNKNOWN piece/);
  rejects(synthetic({ pieces: [...BASE_PIECES, piece('a', -5)] }), /"a" is defined twice/);
  rejects(synthetic({ pieces: [...BASE_PIECES, piece('', -5)] }), /empty/);
  rejects(synthetic({ pieces: [...BASE_PIECES, [1, [[1, Uint8Array.of(0xff)], [3, 1]]]] }), /not valid UTF-8/);
  rejects(synthetic({ pieces: [...BASE_PIECES, piece('q', -5, 9)] }), /unknown type 9/);
  rejects(synthetic({ trainer: [[3, 2]] }), /BPE is not supported/, 'E_TOKENIZER_UNSUPPORTED');
  rejects(message(BASE_PIECES), /no trainer_spec/);
  rejects(message([...BASE_PIECES, [2, [[3, 1]]]]), /no normalizer_spec/);
  rejects(synthetic({ normalizer: [[2, Uint8Array.of(9, 0, 0, 0, 1)]] }), /precompiled_charsmap is broken/);
  rejects(message([[1, [[2, 5]]]]), /wire type/);
});

// --- command line ------------------------------------------------------------------------------

function cli(args, input) {
  return spawnSync(process.execPath, [join(ROOT, 'js/cli.mjs'), 'tokenize', ...args], { input, encoding: 'utf8' });
}

test('cli: encodes and decodes JSON arrays like the library', () => {
  const { tok, cases } = models['pldr-32k'];
  const some = cases.filter((_, i) => i % 40 === 0);
  const model = join(FIXTURES, 'pldr-32k/tokenizer.model');
  const r = cli(['--tokenizer', model], JSON.stringify(some.map((c) => c.text)));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), some.map((c) => c.ids));
  const d = cli(['--tokenizer', model, '--decode'], JSON.stringify(some.map((c) => c.ids)));
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(JSON.parse(d.stdout), some.map((c) => c.decoded));
  const p = cli(['--tokenizer', join(FIXTURES, 'pldr-32k'), '--prompt', '--pieces'], '["", "the"]');
  assert.equal(p.status, 0, p.stderr);
  assert.deepEqual(JSON.parse(p.stdout), [['[END]'], [tok.idToPiece(tok.encode('the')[0])]]);
});

test('cli: bad input exits 1 with a message on stderr', () => {
  const model = join(FIXTURES, 'pldr-tiny/tokenizer.model');
  const cases = [
    // (text that is not JSON is read as lines of text: tests/cli.test.mjs)
    [['--tokenizer', model, '--decode'], 'not ids', /line 1: "not ids" is not token ids/],
    [['--tokenizer', model], '{"text": "a"}', /array of strings/],
    [['--tokenizer', model], '["a", 3]', /item 1/],
    [['--tokenizer', model, '--decode'], '[["a"]]', /array of id arrays/],
    [['--tokenizer', model, '--decode'], '[[1, 99999]]', /invalid token id 99999/],
    [['--tokenizer', join(FIXTURES, 'pldr-tiny/cases.json')], '[]', /not a SentencePiece model/],
    [['--tokenizer', join(FIXTURES, 'no-such-file')], '[]', /no-such-file/],
    [['--tokenizer', model, '--bogus'], '[]', /bogus/],
  ];
  for (const [args, input, pattern] of cases) {
    const r = cli(args, input);
    assert.equal(r.status, 1, `${args.join(' ')} < ${input}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
  }
});
