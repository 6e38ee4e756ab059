// safetensors, read as a stream: the 8-byte header length, the JSON header, then the data section
// cut into per-tensor byte runs in the order of their data_offsets (docs/FORMAT.md §safetensors).

import { LoadError } from '../errors.js';
import { oneLine, quote } from './messages.js';

/** A header longer than this is treated as corrupt rather than buffered (the limit of the
 * reference safetensors library). Below it, memory grows with the bytes received, never with the
 * length a file claims. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Largest dimension of a shape: the engine takes shapes as int32. */
const MAX_DIM = 2 ** 31 - 1;

// The dtype table of the C runtime (include/pldr.h "Formats", docs/FORMAT.md), which parses no
// header: tests/formats.test.mjs checks these equal pldr_dtype_name / _block_size / _block_bytes.

/** Bytes per element of the dtypes the runtime reads. BOOL only appears as the
 * decoder.past_G_values_status flags of predefined-G models (accepted, not used). */
export const DTYPE_BYTES = Object.freeze({ F32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1 });

/** Values per block and bytes per block of each quantized format (docs/FORMAT.md §Quantized tensors). */
export const QUANT_BLOCK_VALUES = 32;
export const QUANT_BLOCK_BYTES = Object.freeze({ q8_0: 34, q4_0: 18 });

/**
 * @typedef {{name: string, dtype: string, shape: number[], byteLength: number, file: string,
 *            quant?: {format: 'q8_0'|'q4_0', shape: number[]}}} TensorInfo
 * @typedef {{write(bytes: Uint8Array): void, end(): void}} TensorWriter
 * @typedef {{
 *   file: string,
 *   headerLength: number,        // N, the JSON header's byte length
 *   dataStart: number,           // 8 + N: file offset of the data section
 *   dataLength: number,          // bytes the tensors cover
 *   metadata: Record<string, string>,
 *   tensors: TensorInfo[],       // in data_offsets order, contiguous from 0
 * }} SafetensorsHeader
 */

/**
 * Validates a parsed-from-bytes header and lays out its tensors.
 * @param {Uint8Array} jsonBytes  the N header bytes
 * @param {{file: string, fileSize?: number|null}} where  fileSize enables the up-front size check
 *   (a file shorter than the header promises is E_TRUNCATED); bytes past the last tensor are
 *   reported by SafetensorsReader when they arrive, because a size from Content-Length may be
 *   larger than the body really is
 * @returns {SafetensorsHeader}
 */
export function parseHeader(jsonBytes, { file, fileSize = null }) {
  const json = decodeJson(jsonBytes, file);
  const metadata = readMetadata(json.__metadata__, file);
  const quant = readQuantMap(metadata, file);   // entries naming tensors of other shards are ignored
  const entries = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name !== '__metadata__') entries.push(readEntry(name, entry, file));
  }
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  const dataLength = checkContiguous(entries, file);
  const tensors = entries.map((e) => toTensorInfo(e, quant, file));
  const dataStart = 8 + jsonBytes.length;
  if (fileSize != null) checkFileSize(file, fileSize, dataStart, dataLength);
  return { file, headerLength: jsonBytes.length, dataStart, dataLength, metadata, tensors };
}

/**
 * Push-based reader: feed the file's bytes in order with push(), then call end(). Calls
 * onHeader once the header is parsed, then onTensor for each tensor in data order and routes
 * exactly byteLength bytes to the returned writer. Peak memory is the header plus nothing: data
 * chunks are handed on as subarray views of the pushed chunks, and the header is collected from
 * the bytes as they come (at most MAX_HEADER_BYTES), never allocated at the length it claims.
 */
export class SafetensorsReader {
  /**
   * @param {string} file  named in errors
   * @param {{fileSize?: number|null,
   *          onHeader?: (header: SafetensorsHeader) => void,
   *          onTensor: (info: TensorInfo) => TensorWriter}} options
   */
  constructor(file, { fileSize = null, onHeader = () => {}, onTensor }) {
    this.file = file;
    this.fileSize = fileSize;
    this.onHeader = onHeader;
    this.onTensor = onTensor;
    this.lengthBytes = new Uint8Array(8);
    this.filled = 0;              // bytes of lengthBytes, then of the header, collected so far
    this.headerLength = null;     // N once the 8 length bytes are in
    this.headerParts = [];        // the header's bytes so far, copies of pushed chunks
    /** @type {SafetensorsHeader|null} */
    this.header = null;
    this.index = 0;               // next tensor to begin / the one being written
    this.remaining = 0;           // bytes still owed to the current writer
    /** @type {TensorWriter|null} */
    this.writer = null;
    this.position = 0;            // bytes pushed so far
  }

  /** @param {Uint8Array} chunk */
  push(chunk) {
    let at = 0;
    this.position += chunk.length;
    if (!this.header) at = this.fillHeader(chunk);
    if (this.header) this.routeData(chunk, at);
  }

  /** Call after the last byte; throws E_TRUNCATED / E_HEADER_SIZE when bytes are missing. */
  end() {
    if (this.headerLength == null) {
      throw new LoadError('E_TRUNCATED',
        `${this.file}: file ends after ${this.filled} bytes, inside the 8-byte header length`,
        { file: this.file });
    }
    if (!this.header) {
      throw new LoadError('E_HEADER_SIZE',
        `${this.file}: header length ${this.headerLength} runs past the end of the file ` +
        `(${this.position} bytes)`, { file: this.file });
    }
    this.beginEmptyTensors();
    const { tensors } = this.header;
    if (this.index < tensors.length) {
      const t = tensors[this.index];
      throw new LoadError('E_TRUNCATED',
        `${this.file}: file truncated at byte ${this.position}: the header promises ` +
        `${this.header.dataStart + this.header.dataLength} bytes (tensor ${quote(t.name)} is incomplete)`,
        { file: this.file, tensor: t.name });
    }
  }

  /** @returns {number} bytes of chunk consumed */
  fillHeader(chunk) {
    let at = 0;
    if (this.headerLength == null) {
      at = Math.min(8 - this.filled, chunk.length);
      this.lengthBytes.set(chunk.subarray(0, at), this.filled);
      this.filled += at;
      if (this.filled < 8) return at;
      this.headerLength = this.readHeaderLength();
      this.filled = 0;
    }
    const take = Math.min(this.headerLength - this.filled, chunk.length - at);
    if (take > 0) this.headerParts.push(chunk.slice(at, at + take));
    this.filled += take;
    at += take;
    if (this.filled === this.headerLength) {
      const json = joinParts(this.headerParts, this.headerLength);
      this.headerParts = [];   // release the JSON; only its length matters now
      this.header = parseHeader(json, { file: this.file, fileSize: this.fileSize });
      this.onHeader(this.header);
    }
    return at;
  }

  readHeaderLength() {
    const view = new DataView(this.lengthBytes.buffer);
    const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    if (n > MAX_HEADER_BYTES) {
      throw new LoadError('E_HEADER_SIZE', `${this.file}: header length ${n} is more than the ` +
        `${MAX_HEADER_BYTES}-byte limit (corrupt file or not safetensors)`, { file: this.file });
    }
    if (n < 2) {
      throw new LoadError('E_HEADER_SIZE',
        `${this.file}: header length ${n} is too short for a JSON object (corrupt file or not safetensors)`,
        { file: this.file });
    }
    if (this.fileSize != null && 8 + n > this.fileSize) {
      throw new LoadError('E_HEADER_SIZE',
        `${this.file}: header length ${n} runs past the end of the file (${this.fileSize} bytes)`,
        { file: this.file });
    }
    return n;
  }

  routeData(chunk, at) {
    const { tensors } = this.header;
    while (true) {
      this.beginEmptyTensors();
      if (at >= chunk.length) return;
      if (this.index >= tensors.length) {
        throw new LoadError('E_OFFSETS', `${this.file}: bytes past the last tensor (the header covers ` +
          `${this.header.dataStart + this.header.dataLength} bytes)`, { file: this.file });
      }
      if (!this.writer) {
        this.writer = this.onTensor(tensors[this.index]);
        this.remaining = tensors[this.index].byteLength;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      this.writer.write(chunk.subarray(at, at + take));
      at += take;
      this.remaining -= take;
      if (this.remaining === 0) this.endTensor();
    }
  }

  /** Zero-byte tensors own no data, so they are begun and ended as soon as they come up. */
  beginEmptyTensors() {
    const { tensors } = this.header;
    while (!this.writer && this.index < tensors.length && tensors[this.index].byteLength === 0) {
      this.writer = this.onTensor(tensors[this.index]);
      this.endTensor();
    }
  }

  endTensor() {
    const writer = this.writer;
    this.writer = null;
    this.index++;
    writer.end();
  }
}

// --- header validation ------------------------------------------------------------------------

/** How deep JSON may nest (the top value is at depth 1): the native reader's limit too. */
export const MAX_JSON_DEPTH = 64;

function decodeJson(bytes, file) {
  let json;
  try {
    // ignoreBOM: a byte order mark stays in the text, where JSON.parse refuses it (as the other
    // readers do) instead of being dropped silently
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (err) {
    throw new LoadError('E_HEADER_JSON', `${file}: header is not valid JSON: ${oneLine(err.message)}`,
      { file, cause: err });
  }
  if (!isPlainObject(json)) {
    throw new LoadError('E_HEADER_JSON', `${file}: header is not a JSON object`, { file });
  }
  const why = jsonLimits(json);
  if (why) throw new LoadError('E_HEADER_JSON', `${file}: header ${why}`, { file });
  return json;
}

/**
 * What puts a parsed JSON value outside what every reader of docs/FORMAT.md accepts — nesting
 * deeper than MAX_JSON_DEPTH, or a string or key holding U+0000 (C strings cannot) — or null.
 * @param {unknown} value
 */
export function jsonLimits(value) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [v, depth] = /** @type {[unknown, number]} */ (stack.pop());
    if (depth > MAX_JSON_DEPTH) return `is nested deeper than ${MAX_JSON_DEPTH}`;
    if (typeof v === 'string' && v.includes('\0')) return 'holds a string with U+0000';
    if (v === null || typeof v !== 'object') continue;
    for (const [k, child] of Object.entries(v)) {
      if (k.includes('\0')) return 'holds a key with U+0000';
      stack.push([child, depth + 1]);
    }
  }
  return null;
}

function readMetadata(metadata, file) {
  if (metadata === undefined) return {};
  if (!isPlainObject(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw new LoadError('E_HEADER_JSON',
      `${file}: "__metadata__" must map strings to strings`, { file });
  }
  return metadata;
}

/** @returns {Map<string, {format: 'q8_0'|'q4_0', shape: number[]}>} */
function readQuantMap(metadata, file) {
  const map = new Map();
  if (metadata['pldr.quant'] === undefined) return map;
  let parsed;
  try {
    parsed = JSON.parse(metadata['pldr.quant']);
  } catch (err) {
    throw new LoadError('E_QUANT', `${file}: "pldr.quant" metadata is not valid JSON`,
      { file, cause: err });
  }
  if (!isPlainObject(parsed)) {
    throw new LoadError('E_QUANT', `${file}: "pldr.quant" metadata is not a JSON object`, { file });
  }
  const why = jsonLimits(parsed);
  if (why) throw new LoadError('E_QUANT', `${file}: "pldr.quant" metadata ${why}`, { file });
  for (const [name, q] of Object.entries(parsed)) {
    const ok = isPlainObject(q) && Object.hasOwn(QUANT_BLOCK_BYTES, q.format) &&
      Array.isArray(q.shape) && q.shape.length === 2 && q.shape.every(isDim) && q.shape[1] > 0;
    if (!ok) {
      throw new LoadError('E_QUANT', `${file}: tensor ${quote(name)}: "pldr.quant" entry must be ` +
        `{"format": "q8_0"|"q4_0", "shape": [rows, cols]}`, { file, tensor: name });
    }
    map.set(name, { format: q.format, shape: [...q.shape] });
  }
  return map;
}

function readEntry(name, entry, file) {
  const fail = (code, what) => new LoadError(code, `${file}: tensor ${quote(name)}: ${what}`,
    { file, tensor: name });
  if (!isPlainObject(entry)) throw fail('E_HEADER_JSON', 'header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw fail('E_HEADER_JSON', 'missing "dtype"');
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail('E_HEADER_JSON', '"shape" must be an array of non-negative integers');
  }
  if (shape.some((d) => d > MAX_DIM)) {   // the engine takes shapes as int32
    throw fail('E_SHAPE', `shape [${shape}] has a dimension larger than ${MAX_DIM}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail('E_OFFSETS', '"data_offsets" must be [begin, end] with non-negative integers');
  }
  if (offsets[1] < offsets[0]) throw fail('E_OFFSETS', `data_offsets [${offsets}] end before they begin`);
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw fail('E_DTYPE', `dtype ${quote(dtype)} is not supported (F32, F16, BF16, or quantized U8)`);
  }
  const elements = shape.reduce((n, d) => n * d, 1);
  const byteLength = offsets[1] - offsets[0];
  if (elements * DTYPE_BYTES[dtype] !== byteLength) {
    throw fail('E_SHAPE', `shape [${shape}] of ${dtype} needs ${elements * DTYPE_BYTES[dtype]} ` +
      `bytes but data_offsets [${offsets}] span ${byteLength}`);
  }
  return { name, dtype, shape: [...shape], begin: offsets[0], end: offsets[1] };
}

/** @returns {number} the data section's length implied by the offsets */
function checkContiguous(entries, file) {
  let end = 0;
  for (const e of entries) {
    if (e.begin < end) {
      throw new LoadError('E_OVERLAP', `${file}: tensor ${quote(e.name)} (bytes ${e.begin}-${e.end}) ` +
        `overlaps the tensor before it (which ends at ${end})`, { file, tensor: e.name });
    }
    if (e.begin > end) {
      throw new LoadError('E_OFFSETS', `${file}: gap of ${e.begin - end} bytes before tensor ` +
        `${quote(e.name)} in the data section`, { file, tensor: e.name });
    }
    end = e.end;
  }
  return end;
}

function toTensorInfo(e, quantMap, file) {
  /** @type {TensorInfo} */
  const info = { name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin, file };
  const quant = quantMap.get(e.name);
  if (e.dtype === 'U8' && !quant) {
    throw new LoadError('E_QUANT', `${file}: tensor ${quote(e.name)} is U8 but has no "pldr.quant" ` +
      'entry saying how it is quantized', { file, tensor: e.name });
  }
  if (quant) {
    const [rows, cols] = quant.shape;
    const rowBytes = Math.ceil(cols / QUANT_BLOCK_VALUES) * QUANT_BLOCK_BYTES[quant.format];
    if (e.dtype !== 'U8' || rows * rowBytes !== info.byteLength ||
        e.shape.length !== 2 || e.shape[0] !== rows || e.shape[1] !== rowBytes) {
      throw new LoadError('E_QUANT', `${file}: tensor ${quote(e.name)}: ${quant.format} of ` +
        `[${quant.shape}] is stored as U8 [${rows}, ${rowBytes}], but the header has ` +
        `${e.dtype} [${e.shape}] (${info.byteLength} bytes)`, { file, tensor: e.name });
    }
    info.quant = quant;
  }
  return info;
}

function checkFileSize(file, fileSize, dataStart, dataLength) {
  if (dataStart + dataLength > fileSize) {
    throw new LoadError('E_TRUNCATED', `${file}: file truncated: the header promises ` +
      `${dataStart + dataLength} bytes but the file has ${fileSize}`, { file });
  }
}

/** The collected parts as one array of `length` bytes. */
function joinParts(parts, length) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function isCount(x) {
  return Number.isSafeInteger(x) && x >= 0;
}

function isDim(x) {
  return isCount(x) && x <= MAX_DIM;
}

function isPlainObject(x) {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}
