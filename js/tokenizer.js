// SentencePiece unigram tokenizer in plain JavaScript, giving the ids and text of SentencePiece
// 0.1.97 exactly: the model protobuf, the precompiled normaliser (darts-clone trie + strings),
// whitespace rules, user-defined symbols, Viterbi over the pieces, byte fallback and decoding.
import { TokenizerError } from './errors.js';
import { ProtoReader, ProtobufError, WIRE_VARINT, WIRE_BYTES, WIRE_FIXED32 } from './protobuf.js';

/** Piece types of sentencepiece_model.proto. */
export const PieceType = Object.freeze({ NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 });
const MODEL_TYPES = ['', 'UNIGRAM', 'BPE', 'WORD', 'CHAR'];

const SPACE_SYMBOL = '\u2581';
const SPACE_BYTES = Uint8Array.of(0xe2, 0x96, 0x81);
const REPLACEMENT_BYTES = Uint8Array.of(0xef, 0xbf, 0xbd);
const UNK_PENALTY = 10;
// unigram_model.cc starts max_score at FLT_MIN (the smallest normal float, not -FLT_MAX), so with
// all-negative scores a user-defined piece scores length * FLT_MIN - 0.1.
const FLT_MIN = 1.1754943508222875e-38;

const utf8 = new TextEncoder();
const lenientUtf8 = new TextDecoder('utf-8');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @typedef {{strings: string[], scores: Float32Array, types: Uint8Array, pool: Uint8Array, offsets: Int32Array}} PieceTable
 *   the pieces of a model by id; the UTF-8 of piece i is pool[offsets[i] .. offsets[i + 1] - 1)
 * @typedef {{modelType: number, vocabSize: number, treatWhitespaceAsSuffix: boolean, splitDigits: boolean,
 *   byteFallback: boolean, userDefinedSymbols: string[], controlSymbols: string[], unkId: number, bosId: number,
 *   eosId: number, padId: number, unkPiece: string, bosPiece: string, eosPiece: string, padPiece: string,
 *   unkSurface: string, maxSentencepieceLength: number, allowWhitespaceOnlyPieces: boolean,
 *   splitByWhitespace: boolean, splitByNumber: boolean, splitByUnicodeScript: boolean}} TrainerSpec
 *   the trainer_spec fields that matter here (proto defaults where the file leaves them out)
 * @typedef {{name: string, precompiledCharsmap: Uint8Array, addDummyPrefix: boolean,
 *   removeExtraWhitespaces: boolean, escapeWhitespaces: boolean, normalizationRuleTsv: string}} NormalizerSpec
 */

// ---------------------------------------------------------------------------------------------
// Model file (sentencepiece_model.proto)

// field number → [name, kind]; kinds: s string, y bytes, b bool, i int32, f float; '[]' = repeated
const TRAINER_FIELDS = {
  3: ['modelType', 'i'], 4: ['vocabSize', 'i'], 20: ['maxSentencepieceLength', 'i'],
  21: ['splitByUnicodeScript', 'b'], 22: ['splitByWhitespace', 'b'], 23: ['splitByNumber', 'b'],
  24: ['treatWhitespaceAsSuffix', 'b'], 25: ['splitDigits', 'b'], 26: ['allowWhitespaceOnlyPieces', 'b'],
  30: ['controlSymbols', 's[]'], 31: ['userDefinedSymbols', 's[]'], 35: ['byteFallback', 'b'],
  40: ['unkId', 'i'], 41: ['bosId', 'i'], 42: ['eosId', 'i'], 43: ['padId', 'i'], 44: ['unkSurface', 's'],
  45: ['unkPiece', 's'], 46: ['bosPiece', 's'], 47: ['eosPiece', 's'], 48: ['padPiece', 's'],
};
const TRAINER_DEFAULTS = {
  modelType: 1, vocabSize: 8000, maxSentencepieceLength: 16, splitByUnicodeScript: true,
  splitByWhitespace: true, splitByNumber: true, treatWhitespaceAsSuffix: false, splitDigits: false,
  allowWhitespaceOnlyPieces: false, byteFallback: false, unkId: 0, bosId: 1, eosId: 2, padId: -1,
  unkSurface: ' \u2047 ', unkPiece: '<unk>', bosPiece: '<s>', eosPiece: '</s>', padPiece: '<pad>',
};
const NORMALIZER_FIELDS = {
  1: ['name', 's'], 2: ['precompiledCharsmap', 'y'], 3: ['addDummyPrefix', 'b'],
  4: ['removeExtraWhitespaces', 'b'], 5: ['escapeWhitespaces', 'b'], 6: ['normalizationRuleTsv', 's'],
};
const NORMALIZER_DEFAULTS = {
  name: '', precompiledCharsmap: new Uint8Array(0), addDummyPrefix: true, removeExtraWhitespaces: true,
  escapeWhitespaces: true, normalizationRuleTsv: '',
};
const WIRE_OF_KIND = { s: WIRE_BYTES, y: WIRE_BYTES, b: WIRE_VARINT, i: WIRE_VARINT, f: WIRE_FIXED32 };

/** Reads the fields named in `fields` into `into`; skips the others. */
function readMessage(reader, fields, into) {
  while (reader.next()) {
    const { field, wire, offset } = reader;
    const known = fields[field];
    if (!known) { reader.skip(wire); continue; }
    const [name, kind] = known;
    const scalar = kind[0];
    if (wire !== WIRE_OF_KIND[scalar]) throw new ProtobufError(`field ${name} (${field}) has wire type ${wire}`, offset);
    const value = scalar === 's' ? lenientUtf8.decode(reader.bytesField()) : scalar === 'y' ? reader.bytesField().slice()
      : scalar === 'b' ? reader.bool() : scalar === 'i' ? reader.int32() : reader.float32();
    if (kind.endsWith('[]')) (into[name] ??= []).push(value);
    else into[name] = value;
  }
  return into;
}

/** @param {Uint8Array} bytes */
function parseModelProto(bytes) {
  const reader = new ProtoReader(bytes);
  const found = { starts: [], ends: [], scores: [], types: [] };
  let trainer = null, normalizer = null, denormalizer = null;
  while (reader.next()) {
    const { field, wire, offset } = reader;
    if (field >= 1 && field <= 5 && wire !== WIRE_BYTES) {
      throw new ProtobufError(`ModelProto field ${field} has wire type ${wire}`, offset);
    }
    if (field === 1) readPiece(reader.message(), found);
    else if (field === 2) trainer = readMessage(reader.message(), TRAINER_FIELDS, trainer ?? {});
    else if (field === 3) normalizer = readMessage(reader.message(), NORMALIZER_FIELDS, normalizer ?? {});
    else if (field === 5) denormalizer = readMessage(reader.message(), NORMALIZER_FIELDS, denormalizer ?? {});
    else reader.skip(wire);
  }
  return { pieces: pieceTable(bytes, found), trainer, normalizer, denormalizer };
}

/** One ModelProto.SentencePiece: appends its byte range, score and type to `found`. */
function readPiece(reader, found) {
  let start = 0, end = 0, score = 0, type = PieceType.NORMAL;
  while (reader.next()) {
    const { field, wire, offset } = reader;
    if (field === 1 && wire === WIRE_BYTES) { start = reader.payload(); end = reader.pos; }
    else if (field === 2 && wire === WIRE_FIXED32) score = reader.float32();
    else if (field === 3 && wire === WIRE_VARINT) type = reader.int32();
    else if (field <= 3) throw new ProtobufError(`SentencePiece field ${field} has wire type ${wire}`, offset);
    else reader.skip(wire);
  }
  const id = found.starts.length;
  if (end === start) throw new TokenizerError('E_TOKENIZER_FORMAT', `bad SentencePiece model: piece ${id} is empty`);
  if (!(type >= 1 && type <= 6)) throw new TokenizerError('E_TOKENIZER_FORMAT', `bad SentencePiece model: piece ${id} has unknown type ${type}`);
  found.starts.push(start);
  found.ends.push(end);
  found.scores.push(score);
  found.types.push(type);
}

/** Packs the pieces' bytes into one NUL-separated pool and decodes them all in one go. */
function pieceTable(bytes, found) {
  const n = found.starts.length, offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + found.ends[i] - found.starts[i] + 1;
  const pool = new Uint8Array(offsets[n]);
  for (let i = 0; i < n; i++) pool.set(bytes.subarray(found.starts[i], found.ends[i]), offsets[i]);
  let strings = null;
  try {
    strings = strictUtf8.decode(pool).split('\0');
  } catch { /* an invalid piece, found below */ }
  if (strings?.length !== n + 1) {
    strings = [];
    for (let i = 0; i < n; i++) {
      const text = strictString(pool, offsets[i], offsets[i + 1] - 1);
      if (text === null) throw new TokenizerError('E_TOKENIZER_FORMAT', `bad SentencePiece model: piece ${i} is not valid UTF-8`);
      strings.push(text);
    }
  }
  strings.length = n;
  return { strings, scores: Float32Array.from(found.scores), types: Uint8Array.from(found.types), pool, offsets };
}

/** Describes what a non-model file looks like, for the error message. */
function sniff(bytes) {
  const head = lenientUtf8.decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('{') || head.startsWith('[')) return ' (it looks like JSON; a Hugging Face tokenizer.json is not supported)';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return ' (it looks like a zip archive)';
  return '';
}

// ---------------------------------------------------------------------------------------------
// Byte trie as a double array: the child of node s by byte c is t = base[s] + c when check[t] === s.

class ByteTrie {
  /** @param {PieceTable} table @param {number[]} ids the pieces to hold, distinct */
  constructor(table, ids) {
    const tree = new LinkedTrie(table, ids), da = new DoubleArrayBuilder();
    // breadth first: place each node's children, then theirs
    const queue = new Int32Array(tree.size), cellOf = new Int32Array(tree.size), labels = [];
    let tail = 1;
    da.value[0] = tree.value[0];
    for (let qi = 0; qi < tail; qi++) {
      const node = queue[qi];
      labels.length = 0;
      for (let k = tree.firstChild[node]; k > 0; k = tree.nextSibling[k]) labels.push(tree.label[k]);
      if (labels.length === 0) continue;
      const b = da.place(cellOf[qi], labels);
      for (let k = tree.firstChild[node]; k > 0; k = tree.nextSibling[k]) {
        queue[tail] = k;
        cellOf[tail++] = b + tree.label[k];
        da.value[b + tree.label[k]] = tree.value[k];
      }
    }
    da.grow(da.last + 257); // every base[s] + c lookup stays in bounds
    this.base = da.base;
    this.check = da.check;
    /** value (piece id) at each node, -1 where no key ends */
    this.value = da.value;
  }

  /** The longest key that is a prefix of bytes[pos..end): its length (0 = none). */
  longestPrefix(bytes, pos, end) {
    let node = 0, best = 0;
    for (let i = pos; i < end; i++) {
      const t = this.base[node] + bytes[i];
      if (this.check[t] !== node) break;
      node = t;
      if (this.value[node] >= 0) best = i - pos + 1;
    }
    return best;
  }
}

/**
 * A trie built by insertion: the input of the double-array layout. Children are linked lists
 * (to enumerate them) and an open-addressing hash of (node, byte) → child (to find them).
 */
class LinkedTrie {
  /** @param {PieceTable} table @param {number[]} ids */
  constructor({ pool, offsets }, ids) {
    const cap = offsets[offsets.length - 1] + 1;
    this.firstChild = new Int32Array(cap);
    this.nextSibling = new Int32Array(cap);
    this.label = new Uint8Array(cap);
    this.value = new Int32Array(cap).fill(-1);
    this.size = 1;
    let bits = 10;
    while (1 << bits < 2 * cap) bits++;
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.hashKey = new Int32Array(1 << bits).fill(-1);
    this.hashChild = new Int32Array(1 << bits);
    for (const id of ids) {
      let node = 0;
      for (let i = offsets[id]; i < offsets[id + 1] - 1; i++) node = this.#child(node, pool[i]);
      this.value[node] = id;
    }
  }

  #child(node, c) {
    const key = node * 256 + c;
    let h = Math.imul(key, 0x9e3779b1) >>> this.shift; // Fibonacci hashing: the top bits
    while (this.hashKey[h] !== -1) {
      if (this.hashKey[h] === key) return this.hashChild[h];
      h = (h + 1) & this.mask;
    }
    const k = this.size++;
    this.hashKey[h] = key;
    this.hashChild[h] = k;
    this.label[k] = c;
    this.nextSibling[k] = this.firstChild[node];
    this.firstChild[node] = k;
    return k;
  }
}

/** Cells of a double array being filled; free cells form a circular list through cell 0 (the root). */
class DoubleArrayBuilder {
  constructor() {
    this.cap = 0;
    this.base = new Int32Array(0);
    this.check = new Int32Array(0);
    this.value = new Int32Array(0);
    this.next = new Int32Array(0);
    this.prev = new Int32Array(0);
    this.last = 0;
    this.grow(1024);
    // the root, and cells 1…255 left unused so that every free cell p gives a base p - c ≥ 1
    this.check[0] = -2;
    for (let i = 1; i < 256; i++) this.#claim(i, -2);
  }

  grow(need) {
    if (need < this.cap) return;
    const old = this.cap;
    let cap = Math.max(old, 1024);
    while (cap <= need) cap *= 2;
    const widen = (a, fill) => { const b = new Int32Array(cap).fill(fill); b.set(a); return b; };
    this.base = widen(this.base, 0);
    this.check = widen(this.check, -1);
    this.value = widen(this.value, -1);
    this.next = widen(this.next, 0);
    this.prev = widen(this.prev, 0);
    const tail = old ? this.prev[0] : 0;
    for (let i = Math.max(old, 1); i < cap; i++) { this.prev[i] = i - 1; this.next[i] = i + 1; }
    this.prev[Math.max(old, 1)] = tail;
    this.next[tail] = Math.max(old, 1);
    this.next[cap - 1] = 0;
    this.prev[0] = cap - 1;
    this.cap = cap;
  }

  /** Picks a base for `node` with the cells of all its child `labels` free, and claims them. */
  place(node, labels) {
    const first = labels[0], n = labels.length;
    for (let p = this.next[0]; ; p = this.next[p]) {
      if (p + 257 > this.cap) this.grow(p + 257);
      const b = p - first, check = this.check;
      let j = 1;
      while (j < n && check[b + labels[j]] === -1) j++;
      if (j < n) continue;
      this.base[node] = b;
      for (const c of labels) this.#claim(b + c, node);
      return b;
    }
  }

  #claim(cell, parent) {
    this.check[cell] = parent;
    this.next[this.prev[cell]] = this.next[cell];
    this.prev[this.next[cell]] = this.prev[cell];
    this.last = Math.max(this.last, cell);
  }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 as SentencePiece reads it (string_util::DecodeUTF8): an invalid sequence consumes one byte.

/**
 * Length of the UTF-8 character at bytes[start] when bytes[start..end) holds it whole and valid;
 * -1 when it is invalid whatever follows (SentencePiece then takes one byte as U+FFFD); 0 when
 * it is a valid but incomplete prefix (more bytes could complete it).
 * @param {ArrayLike<number>} bytes @param {number} start @param {number} end @returns {number}
 */
export function utf8CharLength(bytes, start, end) {
  const b0 = bytes[start];
  if (b0 < 0x80) return 1;
  let n, min;
  if ((b0 & 0xe0) === 0xc0) { n = 2; min = 0x80; } else if ((b0 & 0xf0) === 0xe0) { n = 3; min = 0x800; } else if ((b0 & 0xf8) === 0xf0) { n = 4; min = 0x10000; } else return -1;
  const avail = Math.min(n, end - start);
  let cp = b0 & (0x7f >> n);
  for (let i = 1; i < avail; i++) {
    const b = bytes[start + i];
    if ((b & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (b & 0x3f);
  }
  // the code points the missing bytes could still give form the range [lo, hi]
  const missing = 6 * (n - avail);
  const lo = cp * 2 ** missing, hi = lo + 2 ** missing - 1;
  const possible = hi >= min && ((lo <= 0xd7ff) || (hi >= 0xe000 && lo <= 0x10ffff));
  if (!possible) return -1;
  return missing ? 0 : n;
}

/**
 * Text of a run of bytes as SentencePiece decodes byte pieces: each invalid byte is one U+FFFD.
 * @param {ArrayLike<number>} bytes @param {number} [start] @param {number} [end] @returns {string}
 */
export function decodeByteRun(bytes, start = 0, end = bytes.length) {
  let text = '';
  for (let i = start; i < end;) {
    const n = utf8CharLength(bytes, i, end);
    if (n <= 0) { text += '\ufffd'; i += 1; continue; }
    text += String.fromCodePoint(codePoint(bytes, i, n));
    i += n;
  }
  return text;
}

/** The code point of the valid n-byte UTF-8 character at bytes[i]. */
function codePoint(bytes, i, n) {
  let cp = n === 1 ? bytes[i] : bytes[i] & (0x7f >> n);
  for (let k = 1; k < n; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
  return cp;
}

/** Strict UTF-8 of bytes[start..end) to a string; null when invalid. */
function strictString(bytes, start, end) {
  let text = '';
  for (let i = start; i < end;) {
    const n = utf8CharLength(bytes, i, end);
    if (n <= 0) return null;
    text += String.fromCodePoint(codePoint(bytes, i, n));
    i += n;
  }
  return text;
}

// SentencePiece's OneCharLen: by the top 4 bits of the lead byte, never 0.
const ONE_CHAR_LEN = Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4);

// ---------------------------------------------------------------------------------------------
// precompiled_charsmap: uint32 LE trie size, darts-clone double array (uint32 units), then the
// NUL-terminated replacement strings that the trie values point into.

class CharsMap {
  /** @param {Uint8Array} blob */
  constructor(blob) {
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = blob.length > 4 ? view.getUint32(0, true) : -1;
    if (trieSize < 0 || trieSize + 4 > blob.length) {
      throw new TokenizerError('E_TOKENIZER_FORMAT', 'the normalizer\'s precompiled_charsmap is broken (bad trie size)');
    }
    this.units = new Uint32Array(trieSize >>> 2);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.strings = blob.slice(4 + trieSize);
    this.stringEnd = new Int32Array(this.strings.length + 1);
    let end = this.strings.length;
    this.stringEnd[end] = end;
    for (let i = end - 1; i >= 0; i--) {
      if (this.strings[i] === 0) end = i;
      this.stringEnd[i] = end;
    }
    /** offset of the replacement of the last match, in `strings` */
    this.matchValue = 0;
  }

  /**
   * The trie node reached by one byte c from the root: -1 when no rule starts with c, -2 when
   * the one-byte key c itself is a rule, else the node (rules only start with c + more bytes).
   * @param {number} c
   */
  afterFirstByte(c) {
    const units = this.units;
    if (units.length === 0) return -1;
    const id = unitOffset(units[0]) ^ c;
    if (id >= units.length || (units[id] & 0x800000ff) !== c) return -1;
    return (units[id] >>> 8) & 1 ? -2 : id ^ unitOffset(units[id]);
  }

  /** @returns {boolean} whether the trie has a transition by byte c from `node` */
  continues(node, c) {
    const id = node ^ c;
    return id < this.units.length && (this.units[id] & 0x800000ff) === c;
  }

  /**
   * Longest rule matching a prefix of bytes[pos..end) (darts-clone commonPrefixSearch; a unit is
   * offset:22|ext:1|leaf:1|label:8, a leaf unit holds the value in its low 31 bits).
   * @returns {number} the match length, 0 when no rule matches; sets matchValue
   */
  longestMatch(bytes, pos, end) {
    const units = this.units;
    if (units.length === 0) return 0;
    let id = unitOffset(units[0]), best = 0;
    for (let i = pos; i < end; i++) {
      const c = bytes[i];
      id ^= c;
      if (id >= units.length) break;
      const unit = units[id];
      if ((unit & 0x800000ff) !== c) break;
      id ^= unitOffset(unit);
      if ((unit >>> 8) & 1) {
        if (id >= units.length) break;
        best = i - pos + 1;
        this.matchValue = units[id] & 0x7fffffff;
      }
    }
    return best;
  }
}

function unitOffset(unit) {
  return (unit >>> 10) << ((unit & 512) >>> 6);
}

// ---------------------------------------------------------------------------------------------
// Normaliser (normalizer.cc Normalize / NormalizePrefix)

class ByteBuffer {
  constructor(capacity) {
    this.bytes = new Uint8Array(Math.max(16, capacity));
    this.length = 0;
  }

  pushRange(src, start, end) {
    const n = end - start;
    if (this.length + n > this.bytes.length) {
      const b = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      b.set(this.bytes.subarray(0, this.length));
      this.bytes = b;
    }
    for (let i = start; i < end; i++) this.bytes[this.length++] = src[i];
  }

  push(b) {
    if (this.length === this.bytes.length) this.pushRange([b], 0, 1);
    else this.bytes[this.length++] = b;
  }

  endsWith(suffix) {
    if (this.length < suffix.length) return false;
    for (let i = 0; i < suffix.length; i++) if (this.bytes[this.length - suffix.length + i] !== suffix[i]) return false;
    return true;
  }
}

class Normalizer {
  /**
   * @param {NormalizerSpec} spec @param {boolean} whitespaceAsSuffix
   * @param {ByteTrie|null} userSymbols user-defined symbols, copied through unnormalised
   */
  constructor(spec, whitespaceAsSuffix, userSymbols) {
    this.spec = spec;
    this.suffix = whitespaceAsSuffix;
    this.userSymbols = userSymbols;
    this.charsMap = spec.precompiledCharsmap.length ? new CharsMap(spec.precompiledCharsmap) : null;
    this.asciiRule = this.#asciiRules();
    // result of prefix(): the normalised bytes are src[start..end); `consumed` input bytes
    this.src = REPLACEMENT_BYTES;
    this.start = 0;
    this.end = 0;
    this.consumed = 0;
  }

  /** Normalises the first character (or rule, or user symbol) of input[pos..n). */
  prefix(input, pos, n) {
    if (this.userSymbols) {
      const len = this.userSymbols.longestPrefix(input, pos, n);
      if (len > 0) return this.#result(input, pos, pos + len, len);
    }
    if (this.charsMap) {
      const len = this.charsMap.longestMatch(input, pos, n);
      if (len > 0) {
        const cm = this.charsMap, v = Math.min(cm.matchValue, cm.strings.length);
        return this.#result(cm.strings, v, cm.stringEnd[v], len);
      }
    }
    const len = utf8CharLength(input, pos, n);
    if (len <= 0) return this.#result(REPLACEMENT_BYTES, 0, 3, 1);
    return this.#result(input, pos, pos + len, len);
  }

  #result(src, start, end, consumed) {
    this.src = src;
    this.start = start;
    this.end = end;
    this.consumed = consumed;
  }

  /**
   * Per ASCII byte: -1 when it always normalises to itself (no rule or user symbol starts with it),
   * a charsmap node when rules start with it plus more bytes, -2 when it needs the full prefix().
   */
  #asciiRules() {
    const rule = new Int32Array(128).fill(-1);
    for (let c = 0; c < 128; c++) {
      if (this.userSymbols && this.userSymbols.check[this.userSymbols.base[0] + c] === 0) rule[c] = -2;
      else if (this.charsMap) rule[c] = this.charsMap.afterFirstByte(c);
    }
    return rule;
  }

  /** Whether input[pos] (ASCII) normalises to itself, by the tables of #asciiRules. */
  #plainAscii(input, pos, n) {
    const rule = this.asciiRule[input[pos]];
    return rule === -1 || (rule >= 0 && (pos + 1 === n || !this.charsMap.continues(rule, input[pos + 1])));
  }

  #isSingleSpace() {
    return this.end - this.start === 1 && this.src[this.start] === 0x20;
  }

  /** @param {Uint8Array} input UTF-8 @returns {Uint8Array} normalised UTF-8 */
  normalize(input) {
    const n = input.length, spec = this.spec;
    let pos = 0;
    if (spec.removeExtraWhitespaces) {
      while (pos < n) {
        this.prefix(input, pos, n);
        if (!this.#isSingleSpace()) break;
        pos += this.consumed;
      }
    }
    if (pos >= n) return new Uint8Array(0);
    const out = new ByteBuffer(n + (n >> 1) + 8);
    const space = spec.escapeWhitespaces ? SPACE_BYTES : Uint8Array.of(0x20);
    if (!this.suffix && spec.addDummyPrefix) out.pushRange(space, 0, space.length);
    let prevSpace = spec.removeExtraWhitespaces;
    while (pos < n) {
      const c = input[pos];
      if (c < 0x80 && this.#plainAscii(input, pos, n)) {
        // the common case, the same as the general one below for a one-byte, unchanged character
        if (c !== 0x20) out.push(c);
        else if (!prevSpace) out.pushRange(space, 0, space.length);
        prevSpace = c === 0x20 && spec.removeExtraWhitespaces;
        pos++;
        continue;
      }
      this.prefix(input, pos, n);
      const src = this.src, end = this.end;
      let s = this.start;
      if (prevSpace) while (s < end && src[s] === 0x20) s++;
      if (s < end) {
        this.#append(out, src, s, end);
        prevSpace = src[end - 1] === 0x20;
      }
      pos += this.consumed;
      if (!spec.removeExtraWhitespaces) prevSpace = false;
    }
    if (spec.removeExtraWhitespaces) while (out.endsWith(space)) out.length -= space.length;
    if (this.suffix && spec.addDummyPrefix) out.pushRange(space, 0, space.length);
    return out.bytes.subarray(0, out.length);
  }

  #append(out, src, start, end) {
    if (!this.spec.escapeWhitespaces) return out.pushRange(src, start, end);
    let from = start;
    for (let i = start; i < end; i++) {
      if (src[i] !== 0x20) continue;
      out.pushRange(src, from, i);
      out.pushRange(SPACE_BYTES, 0, 3);
      from = i + 1;
    }
    out.pushRange(src, from, end);
  }
}

// ---------------------------------------------------------------------------------------------
// The tokenizer

/** SentencePiece unigram model: encode text to ids and decode ids to text, as SentencePiece does. */
export class SentencePieceTokenizer {
  /**
   * Parses a `tokenizer.model` (SentencePiece ModelProto).
   * @param {Uint8Array|ArrayBuffer} bytes
   * @returns {SentencePieceTokenizer}
   * @throws {TokenizerError} E_TOKENIZER_FORMAT when it is not a SentencePiece model,
   *   E_TOKENIZER_UNSUPPORTED for a model type other than unigram
   */
  static fromBytes(bytes) {
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array)) throw new TokenizerError('E_TOKENIZER_FORMAT', 'tokenizer model must be given as a Uint8Array or ArrayBuffer');
    if (bytes.length === 0) throw new TokenizerError('E_TOKENIZER_FORMAT', 'tokenizer model is empty (0 bytes): not a SentencePiece model');
    let proto;
    try {
      proto = parseModelProto(bytes);
    } catch (err) {
      if (!(err instanceof ProtobufError)) throw err;
      throw new TokenizerError('E_TOKENIZER_FORMAT', `not a SentencePiece model: protobuf ${err.message}${sniff(bytes)}`, { cause: err });
    }
    return new SentencePieceTokenizer(proto, bytes.length);
  }

  /** @private use fromBytes */
  constructor(proto, size) {
    const { pieces, trainer, normalizer, denormalizer } = proto;
    const where = `${size}-byte file`;
    if (pieces.strings.length === 0) throw new TokenizerError('E_TOKENIZER_FORMAT', `not a SentencePiece model: no pieces in the ${where}`);
    if (!trainer || !normalizer) {
      throw new TokenizerError('E_TOKENIZER_FORMAT', `SentencePiece model has no ${trainer ? 'normalizer_spec' : 'trainer_spec'} (truncated ${where}?)`);
    }
    /** @type {TrainerSpec} */
    this.trainerSpec = Object.freeze({ ...TRAINER_DEFAULTS, ...trainer });
    /** @type {NormalizerSpec} */
    this.normalizerSpec = Object.freeze({ ...NORMALIZER_DEFAULTS, ...normalizer });
    if (this.trainerSpec.modelType !== 1) {
      const name = MODEL_TYPES[this.trainerSpec.modelType] ?? `#${this.trainerSpec.modelType}`;
      throw new TokenizerError('E_TOKENIZER_UNSUPPORTED', `SentencePiece model type ${name} is not supported (only UNIGRAM)`);
    }
    /** @type {PieceTable} */
    this.table = pieces;
    /** @type {readonly string[]} piece strings by id */
    this.pieces = pieces.strings;
    this.scores = pieces.scores;
    this.kind = pieces.types;
    this.#indexPieces();
    this.#buildModel();
    this.normalizer = new Normalizer(this.normalizerSpec, this.trainerSpec.treatWhitespaceAsSuffix, this.userSymbols);
    this.denormalizer = denormalizer?.precompiledCharsmap?.length
      ? new Normalizer({ ...NORMALIZER_DEFAULTS, ...denormalizer }, false, null) : null;
    /** @type {(string|undefined)[]} decoded text of each piece, '▁' read as ' ' (filled on use) */
    this.surface = new Array(this.pieces.length);
  }

  /** Piece maps, special ids and byte pieces, with SentencePiece's checks (model_interface.cc). */
  #indexPieces() {
    const normal = new Map(), reserved = new Map(), user = new Map();
    this.byteOf = new Int16Array(this.pieces.length).fill(-1);
    this.idOfByte = new Int32Array(256).fill(-1);
    this.unkId = -1;
    this.pieces.forEach((piece, id) => {
      const type = this.kind[id];
      const map = type === PieceType.NORMAL || type === PieceType.USER_DEFINED || type === PieceType.UNUSED ? normal : reserved;
      if (map.has(piece)) throw this.#formatError(`piece ${JSON.stringify(piece)} is defined twice (ids ${map.get(piece)} and ${id})`);
      map.set(piece, id);
      if (type === PieceType.USER_DEFINED) user.set(piece, id);
      if (type === PieceType.UNKNOWN) {
        if (this.unkId >= 0) throw this.#formatError(`two UNKNOWN pieces (ids ${this.unkId} and ${id})`);
        this.unkId = id;
      }
      if (type === PieceType.BYTE) this.#indexBytePiece(piece, id);
    });
    if (this.unkId < 0) throw this.#formatError('no UNKNOWN piece');
    if (this.trainerSpec.byteFallback && this.idOfByte.includes(-1)) {
      throw this.#formatError('byte_fallback is on but the 256 byte pieces <0x00>…<0xFF> are not all there');
    }
    this.normalIds = normal;
    this.reservedIds = reserved;
    this.userSymbols = user.size ? new ByteTrie(this.table, [...user.values()]) : null;
    const special = (piece) => { const id = this.pieceToId(piece); return this.kind[id] === PieceType.CONTROL ? id : -1; };
    this.bosId = special(this.trainerSpec.bosPiece);
    this.eosId = special(this.trainerSpec.eosPiece);
    this.padId = special(this.trainerSpec.padPiece);
  }

  #indexBytePiece(piece, id) {
    if (!this.trainerSpec.byteFallback) throw this.#formatError(`byte piece ${piece} but byte_fallback is off`);
    const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
    if (!m) throw this.#formatError(`byte piece ${JSON.stringify(piece)} is not of the form <0xNN>`);
    const b = parseInt(m[1], 16);
    this.byteOf[id] = b;
    this.idOfByte[b] = id;
  }

  #formatError(what) {
    return new TokenizerError('E_TOKENIZER_FORMAT', `bad SentencePiece model: ${what}`);
  }

  /** The unigram lattice data: a trie of the NORMAL/USER_DEFINED/UNUSED pieces and their scores. */
  #buildModel() {
    let minScore = Infinity, maxScore = FLT_MIN;
    for (let id = 0; id < this.pieces.length; id++) {
      if (this.kind[id] !== PieceType.NORMAL) continue;
      minScore = Math.min(minScore, this.scores[id]);
      maxScore = Math.max(maxScore, this.scores[id]);
    }
    // UNUSED pieces are in SentencePiece's trie but never matched: leaving them out is the same
    const ids = [...this.normalIds.values()].filter((id) => this.kind[id] !== PieceType.UNUSED);
    if (ids.length === 0) throw this.#formatError('no NORMAL or USER_DEFINED pieces to encode with');
    this.trie = new ByteTrie(this.table, ids);
    if (minScore === Infinity) minScore = 3.4028234663852886e38; // FLT_MAX, as unigram_model.cc starts
    this.unkScore = Math.fround(minScore - UNK_PENALTY);
    // unigram_model.cc's `IsUserDefined ? length * max_score_ - 0.1 : score` is a double
    this.latticeScore = new Float64Array(this.pieces.length);
    for (const id of ids) {
      const length = this.table.offsets[id + 1] - 1 - this.table.offsets[id];
      this.latticeScore[id] = this.kind[id] === PieceType.USER_DEFINED ? Math.fround(length * maxScore) - 0.1 : this.scores[id];
    }
  }

  /** @returns {number} number of pieces (the vocabulary size) */
  get vocabSize() { return this.pieces.length; }

  /** @param {number} id @returns {string} the piece string of `id` (with '▁' for spaces) */
  idToPiece(id) {
    this.#checkId(id);
    return this.pieces[id];
  }

  /** @param {string} piece @returns {number} its id, or unkId when no piece is spelt so (as SentencePiece) */
  pieceToId(piece) {
    return this.reservedIds.get(piece) ?? this.normalIds.get(piece) ?? this.unkId;
  }

  /** @param {number} id @returns {number} PieceType of `id` */
  pieceType(id) { this.#checkId(id); return this.kind[id]; }
  /** @param {number} id @returns {number} score (log probability) of `id` */
  score(id) { this.#checkId(id); return this.scores[id]; }
  /** @param {number} id @returns {boolean} */
  isControl(id) { return this.pieceType(id) === PieceType.CONTROL; }
  /** @param {number} id @returns {boolean} */
  isUnknown(id) { return this.pieceType(id) === PieceType.UNKNOWN; }
  /** @param {number} id @returns {boolean} */
  isByte(id) { return this.pieceType(id) === PieceType.BYTE; }
  /** @param {number} id @returns {boolean} */
  isUserDefined(id) { return this.pieceType(id) === PieceType.USER_DEFINED; }

  /** @param {number} id @returns {number} the byte a <0xNN> piece stands for, -1 for other pieces */
  byteValue(id) { this.#checkId(id); return this.byteOf[id]; }

  #checkId(id) {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) {
      throw new TokenizerError('E_TOKENIZER_ID', `invalid token id ${String(id)}: expected an integer in 0…${this.pieces.length - 1}`);
    }
  }

  /**
   * The normalised form of `text` that the lattice is built on ('▁' for spaces, dummy prefix…).
   * @param {string|Uint8Array} text a string or raw UTF-8 bytes @returns {string}
   */
  normalize(text) {
    return lenientUtf8.decode(this.normalizer.normalize(toBytes(text)));
  }

  /**
   * Encodes text to ids exactly as SentencePiece's Encode (no BOS/EOS added).
   * @param {string|Uint8Array} text a string, or raw bytes (invalid UTF-8 becomes U+FFFD per byte)
   * @returns {number[]}
   */
  encode(text) {
    const norm = this.normalizer.normalize(toBytes(text));
    return this.#segmentsToIds(norm, this.#viterbi(norm));
  }

  /**
   * Encodes text to piece strings (byte-fallback pieces as <0xNN>).
   * @param {string|Uint8Array} text @returns {string[]}
   */
  encodeAsPieces(text) {
    return this.encode(text).map((id) => this.pieces[id]);
  }

  /**
   * Project prompt convention (spec §4): no BOS, no EOS; a prompt with no tokens is [eosId] ([END]).
   * @param {string} text @returns {number[]}
   */
  encodePrompt(text) {
    const ids = this.encode(text);
    if (ids.length > 0) return ids;
    if (this.eosId < 0) throw new TokenizerError('E_TOKENIZER', 'the empty prompt is [EOS], but this model has no EOS piece');
    return [this.eosId];
  }

  /**
   * Best segmentation of normalised bytes (unigram_model.cc EncodeOptimized), with its float32 and
   * double arithmetic, so that near-ties break the same way.
   * @returns {{starts: Int32Array, ids: Int32Array}} per end position: start and id of the best last piece
   */
  #viterbi(norm) {
    const n = norm.length, { base, check, value } = this.trie;
    const { best, starts, ids } = this.#lattice(n + 1);
    const score = this.latticeScore, unkScore = this.unkScore;
    for (let s = 0; s < n;) {
      const here = best[s];
      const charLen = Math.min(ONE_CHAR_LEN[norm[s] >> 4], n - s);
      let single = false;
      for (let k = s, node = 0; k < n;) {
        const t = base[node] + norm[k];
        if (check[t] !== node) break;
        node = t;
        k++;
        const id = value[node];
        if (id < 0) continue;
        // a double sum, compared unrounded, then stored as float: as in unigram_model.cc
        const cand = score[id] + here;
        if (starts[k] === -1 || cand > best[k]) { best[k] = cand; starts[k] = s; ids[k] = id; }
        if (k - s === charLen) single = true;
      }
      if (!single) {
        const k = s + charLen, cand = Math.fround(unkScore + here);
        if (starts[k] === -1 || cand > best[k]) { best[k] = cand; starts[k] = s; ids[k] = this.unkId; }
      }
      s += charLen;
    }
    return { starts, ids };
  }

  /** Scratch arrays of the Viterbi pass, reused between calls; starts[0..size) reset to -1. */
  #lattice(size) {
    let l = this.scratch;
    if (!l || l.starts.length < size) {
      const cap = Math.max(size, 2 * (l?.starts.length ?? 0), 1024);
      l = this.scratch = { best: new Float32Array(cap), starts: new Int32Array(cap), ids: new Int32Array(cap) };
    }
    l.best[0] = 0;
    l.starts.fill(-1, 0, size);
    return l;
  }

  /** Backtracks the best path; unknown pieces become byte pieces, or merge into one [UNK]. */
  #segmentsToIds(norm, { starts, ids }) {
    const path = [];
    for (let end = norm.length; end > 0; end = starts[end]) path.push(end);
    const out = [];
    let prevUnk = false;
    for (let i = path.length - 1; i >= 0; i--) {
      const end = path[i], start = starts[end], id = ids[end];
      const unk = id === this.unkId;
      if (unk && this.trainerSpec.byteFallback) {
        for (let b = start; b < end; b++) out.push(this.idOfByte[norm[b]]);
      } else if (!(unk && prevUnk)) {
        out.push(id);
      }
      prevUnk = unk;
    }
    return out;
  }

  /**
   * Text of one non-byte piece at its place in a decode (SentencePiece DecodeSentencePiece):
   * control pieces are empty, [UNK] is unk_surface, '▁' is a space, and while nothing has been
   * written yet (`atStart`) a leading '▁' is dropped.
   * @param {number} id @param {boolean} atStart
   * @returns {{text: string, bosSpace: boolean}} bosSpace: a leading space was consumed and
   *   counts as the start having been passed (only without remove_extra_whitespaces)
   */
  decodePiece(id, atStart) {
    const type = this.pieceType(id);
    if (type === PieceType.CONTROL) return { text: '', bosSpace: false };
    if (type === PieceType.UNKNOWN) return { text: this.trainerSpec.unkSurface, bosSpace: false };
    const spec = this.normalizerSpec;
    this.surface[id] ??= this.pieces[id].replaceAll(SPACE_SYMBOL, ' ');
    if (atStart && (spec.addDummyPrefix || spec.removeExtraWhitespaces) && this.pieces[id].startsWith(SPACE_SYMBOL)) {
      return { text: this.surface[id].slice(1), bosSpace: !spec.removeExtraWhitespaces };
    }
    return { text: this.surface[id], bosSpace: false };
  }

  /**
   * Decodes ids to text exactly as SentencePiece's Decode: control pieces vanish, runs of byte
   * pieces are read as UTF-8 (each invalid byte U+FFFD), '▁' → ' ', the leading space is dropped.
   * @param {Iterable<number>} ids
   * @returns {string}
   * @throws {TokenizerError} E_TOKENIZER_ID for an id outside the vocabulary
   */
  decode(ids) {
    let text = '', atStart = true, bosSpace = false;
    const run = [];
    for (const id of ids) {
      const b = this.byteValue(id);
      if (b >= 0) { run.push(b); continue; }
      if (run.length) { text += decodeByteRun(run); run.length = 0; }
      if (bosSpace || text.length > 0) atStart = false;
      const piece = this.decodePiece(id, atStart);
      text += piece.text;
      bosSpace = piece.bosSpace;
    }
    if (run.length) text += decodeByteRun(run);
    return this.denormalize(text);
  }

  /** Applies the model's denormalizer_spec, if it has one (most models do not). @param {string} text */
  denormalize(text) {
    if (!this.denormalizer) return text;
    return lenientUtf8.decode(this.denormalizer.normalize(utf8.encode(text)));
  }
}

function toBytes(text) {
  if (typeof text === 'string') return utf8.encode(text);
  if (text instanceof Uint8Array) return text;
  throw new TokenizerError('E_TOKENIZER_INPUT', `text to encode must be a string or a Uint8Array, got ${text === null ? 'null' : typeof text}`);
}
