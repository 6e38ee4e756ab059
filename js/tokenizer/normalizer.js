// Normaliser (normalizer.cc Normalize / NormalizePrefix)
import { CharsMap } from './charsmap.js';
import { utf8CharLength } from './utf8.js';

/** @typedef {import('./model-proto.js').NormalizerSpec} NormalizerSpec @typedef {import('./byte-trie.js').ByteTrie} ByteTrie */

export const SPACE_BYTES = Uint8Array.of(0xe2, 0x96, 0x81);
const REPLACEMENT_BYTES = Uint8Array.of(0xef, 0xbf, 0xbd);

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

export class Normalizer {
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
