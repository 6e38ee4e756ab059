// A minimal protobuf wire-format reader: enough to walk the fields of a message and read
// varints, fixed32 floats and length-delimited bytes. Bounds-checked; every read advances.

/** wire type of int32/int64/uint/bool/enum fields */
export const WIRE_VARINT = 0;
/** wire type of fixed64/double fields */
export const WIRE_FIXED64 = 1;
/** wire type of string/bytes/embedded-message fields */
export const WIRE_BYTES = 2;
/** wire type of fixed32/float fields */
export const WIRE_FIXED32 = 5;

const scratch = new DataView(new ArrayBuffer(4));

/** Thrown on malformed wire data; `offset` is the byte where the problem was found. */
export class ProtobufError extends Error {
  /** @param {string} message @param {number} offset */
  constructor(message, offset) {
    super(`${message} at byte ${offset}`);
    this.name = 'ProtobufError';
    this.offset = offset;
  }
}

/** Cursor over one message: bytes[start..end) of a buffer. Offsets are positions in that buffer. */
export class ProtoReader {
  /** @param {Uint8Array} bytes @param {number} [start] @param {number} [end] */
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    /** number, wire type and start offset of the field that next() read */
    this.field = 0;
    this.wire = 0;
    this.offset = 0;
  }

  /**
   * Reads the next field's tag into `field`, `wire` and `offset`; then read or skip its value.
   * @returns {boolean} false at the end of the message
   */
  next() {
    if (this.pos >= this.end) return false;
    const offset = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8), wire = key % 8;
    if (field === 0) throw new ProtobufError('field number 0', offset);
    if (wire === 3 || wire === 4) throw new ProtobufError(`group wire type ${wire} (field ${field})`, offset);
    if (wire > 5) throw new ProtobufError(`invalid wire type ${wire} (field ${field})`, offset);
    this.field = field;
    this.wire = wire;
    this.offset = offset;
    return true;
  }

  /**
   * An unsigned varint as a Number (exact below 2^53). Ten-byte varints of negative int32 values
   * come back as large numbers; read those with int32().
   * @returns {number}
   */
  varint() {
    let value = 0, scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint', this.pos);
      const b = this.bytes[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new ProtobufError('varint longer than 10 bytes', this.pos);
  }

  /** @returns {number} a varint as a signed 32-bit value (protobuf int32/enum: its low 32 bits) */
  int32() {
    const start = this.pos;
    this.varint();
    let low = 0;
    for (let i = 0; i < 5 && start + i < this.pos; i++) low |= (this.bytes[start + i] & 0x7f) << (7 * i);
    return low | 0;
  }

  /** @returns {boolean} */
  bool() { return this.varint() !== 0; }

  /** @returns {number} a little-endian float32 */
  float32() {
    this.#need(4);
    for (let i = 0; i < 4; i++) scratch.setUint8(i, this.bytes[this.pos + i]);
    this.pos += 4;
    return scratch.getFloat32(0, true);
  }

  /**
   * Steps over a length-delimited value; its payload is bytes[returned start .. this.pos).
   * @returns {number} where the payload starts
   */
  payload() {
    const offset = this.pos;
    const n = this.varint();
    if (n > this.end - this.pos) throw new ProtobufError(`length ${n} runs past the end of the message`, offset);
    const start = this.pos;
    this.pos += n;
    return start;
  }

  /** @returns {Uint8Array} the payload of a length-delimited field (a view, not a copy) */
  bytesField() {
    const start = this.payload();
    return this.bytes.subarray(start, this.pos);
  }

  /** @returns {ProtoReader} a reader over an embedded message */
  message() {
    const start = this.payload();
    return new ProtoReader(this.bytes, start, this.pos);
  }

  /** Skips the value of a field of wire type `wire`. @param {number} wire */
  skip(wire) {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) { this.#need(8); this.pos += 8; }
    else if (wire === WIRE_BYTES) this.payload();
    else if (wire === WIRE_FIXED32) { this.#need(4); this.pos += 4; }
    else throw new ProtobufError(`cannot skip wire type ${wire}`, this.pos);
  }

  #need(n) {
    if (this.end - this.pos < n) throw new ProtobufError(`truncated ${n}-byte value`, this.pos);
  }
}
