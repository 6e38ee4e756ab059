// The SentencePiece model file (sentencepiece_model.proto): trainer and normaliser specs and the
// piece table, read with js/tokenizer/protobuf.js.
import { TokenizerError } from '../errors.js';
import { ProtoReader, ProtobufError, WIRE_VARINT, WIRE_BYTES, WIRE_FIXED32 } from './protobuf.js';
import { strictString } from './utf8.js';

/** Piece types of sentencepiece_model.proto. */
export const PieceType = Object.freeze({ NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 });
export const MODEL_TYPES = ['', 'UNIGRAM', 'BPE', 'WORD', 'CHAR'];

/** Most pieces a model may have: 4× the largest real vocabularies (256 000); keeps the tables of a
 * hostile file of tiny pieces (5 bytes each) from growing to many times the file's size. */
export const MAX_PIECES = 1 << 20;

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

// field number → [name, kind]; kinds: s string, y bytes, b bool, i int32, f float; '[]' = repeated
const TRAINER_FIELDS = {
  3: ['modelType', 'i'], 4: ['vocabSize', 'i'], 20: ['maxSentencepieceLength', 'i'],
  21: ['splitByUnicodeScript', 'b'], 22: ['splitByWhitespace', 'b'], 23: ['splitByNumber', 'b'],
  24: ['treatWhitespaceAsSuffix', 'b'], 25: ['splitDigits', 'b'], 26: ['allowWhitespaceOnlyPieces', 'b'],
  30: ['controlSymbols', 's[]'], 31: ['userDefinedSymbols', 's[]'], 35: ['byteFallback', 'b'],
  40: ['unkId', 'i'], 41: ['bosId', 'i'], 42: ['eosId', 'i'], 43: ['padId', 'i'], 44: ['unkSurface', 's'],
  45: ['unkPiece', 's'], 46: ['bosPiece', 's'], 47: ['eosPiece', 's'], 48: ['padPiece', 's'],
};
export const TRAINER_DEFAULTS = {
  modelType: 1, vocabSize: 8000, maxSentencepieceLength: 16, splitByUnicodeScript: true,
  splitByWhitespace: true, splitByNumber: true, treatWhitespaceAsSuffix: false, splitDigits: false,
  allowWhitespaceOnlyPieces: false, byteFallback: false, unkId: 0, bosId: 1, eosId: 2, padId: -1,
  unkSurface: ' \u2047 ', unkPiece: '<unk>', bosPiece: '<s>', eosPiece: '</s>', padPiece: '<pad>',
};
const NORMALIZER_FIELDS = {
  1: ['name', 's'], 2: ['precompiledCharsmap', 'y'], 3: ['addDummyPrefix', 'b'],
  4: ['removeExtraWhitespaces', 'b'], 5: ['escapeWhitespaces', 'b'], 6: ['normalizationRuleTsv', 's'],
};
export const NORMALIZER_DEFAULTS = {
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
export function parseModelProto(bytes) {
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
  if (id >= MAX_PIECES) throw new TokenizerError('E_TOKENIZER_FORMAT', `bad SentencePiece model: more than ${MAX_PIECES} pieces`);
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
export function sniff(bytes) {
  const head = lenientUtf8.decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('{') || head.startsWith('[')) return ' (it looks like JSON; a Hugging Face tokenizer.json is not supported)';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return ' (it looks like a zip archive)';
  return '';
}
