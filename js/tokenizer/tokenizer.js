// SentencePiece unigram tokenizer in plain JavaScript, giving the ids and text of SentencePiece
// 0.1.97 exactly: the model protobuf, the precompiled normaliser (darts-clone trie + strings),
// whitespace rules, user-defined symbols, Viterbi over the pieces, byte fallback and decoding.
import { TokenizerError } from '../errors.js';
import { ByteTrie } from './byte-trie.js';
import { MODEL_TYPES, NORMALIZER_DEFAULTS, PieceType, TRAINER_DEFAULTS, parseModelProto, sniff } from './model-proto.js';
import { ProtobufError } from './protobuf.js';
import { Normalizer } from './normalizer.js';
import { ONE_CHAR_LEN, decodeByteRun } from './utf8.js';

export { PieceType } from './model-proto.js';

/** @typedef {import('./model-proto.js').TrainerSpec} TrainerSpec @typedef {import('./model-proto.js').NormalizerSpec} NormalizerSpec
 *  @typedef {import('./model-proto.js').PieceTable} PieceTable */
export { decodeByteRun, utf8CharLength } from './utf8.js';

const SPACE_SYMBOL = '\u2581';
const UNK_PENALTY = 10;
// unigram_model.cc starts max_score at FLT_MIN (the smallest normal float, not -FLT_MAX), so with
// all-negative scores a user-defined piece scores length * FLT_MIN - 0.1.
const FLT_MIN = 1.1754943508222875e-38;

const utf8 = new TextEncoder();
const lenientUtf8 = new TextDecoder('utf-8');

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
