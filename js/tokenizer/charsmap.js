// precompiled_charsmap: uint32 LE trie size, darts-clone double array (uint32 units), then the
// NUL-terminated replacement strings that the trie values point into.
import { TokenizerError } from '../errors.js';

export class CharsMap {
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
