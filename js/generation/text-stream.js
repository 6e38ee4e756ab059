// Streaming detokeniser: fed one id at a time, it returns the text that id adds. Byte-fallback
// pieces are held until their UTF-8 character is complete or proven invalid, so no emitted
// piece ends in a broken character, and all the pieces plus flush() equal tokenizer.decode(ids).
// For a continuation of text already shown (a reply after a prompt), pass { afterText: true }:
// the first piece's leading '▁' is then a space, as it is inside decode(promptIds + ids).
import { decodeByteRun, utf8CharLength } from '../tokenizer/tokenizer.js';

/** Incremental decode of one id sequence: push(id) → new text; flush() → the rest. */
export class TextStream {
  /** @type {import('../tokenizer/tokenizer.js').SentencePieceTokenizer} */
  #tok;
  /** @type {number[]} bytes of byte pieces not yet emitted */
  #bytes = [];
  #atStart = true;
  #bosSpace = false;
  #emitted = false;
  /** @type {number[]|null} every id, kept only when the model has a denormalizer */
  #all = null;

  /**
   * @param {import('../tokenizer/tokenizer.js').SentencePieceTokenizer} tokenizer
   * @param {{afterText?: boolean}} [options] afterText: the ids continue a non-empty text, so no
   *   leading space is dropped (default false: the output is exactly decode(ids))
   */
  constructor(tokenizer, options = {}) {
    this.#tok = tokenizer;
    if (options.afterText) this.#emitted = true;
    // a denormalizer rewrites the whole text, so such a model streams everything at flush()
    if (tokenizer.denormalizer) this.#all = [];
  }

  /** @returns {boolean} whether bytes of an unfinished character are held back */
  get pending() { return this.#bytes.length > 0 || (this.#all !== null && this.#all.length > 0); }

  /**
   * Adds one id; returns the text it completes (possibly '').
   * @param {number} id
   * @returns {string}
   * @throws {import('../errors.js').TokenizerError} E_TOKENIZER_ID for an id outside the vocabulary
   */
  push(id) {
    const b = this.#tok.byteValue(id);
    if (this.#all) { this.#all.push(id); return ''; }
    if (b >= 0) {
      this.#bytes.push(b);
      return this.#note(this.#drain(false));
    }
    let text = this.#drain(true);
    // as in decode(): the start is passed once any text was written or a leading space consumed
    if (this.#bosSpace || this.#emitted || text.length > 0) this.#atStart = false;
    const piece = this.#tok.decodePiece(id, this.#atStart);
    this.#bosSpace = piece.bosSpace;
    text += piece.text;
    return this.#note(text);
  }

  /**
   * Ends the sequence: returns what is held back (bytes of an incomplete character become
   * U+FFFD each, as in decode). Pushing after flush() starts a new byte run, not a new text.
   * @returns {string}
   */
  flush() {
    if (this.#all) {
      const text = this.#tok.decode(this.#all);
      this.#all = [];
      return text;
    }
    return this.#note(this.#drain(true));
  }

  #note(text) {
    if (text.length > 0) this.#emitted = true;
    return text;
  }

  /** Emits the held bytes that form whole characters, or are invalid; `final` ends the run. */
  #drain(final) {
    const bytes = this.#bytes;
    let i = 0;
    while (i < bytes.length) {
      const n = utf8CharLength(bytes, i, bytes.length);
      if (n === 0 && !final) break;
      i += n > 0 ? n : 1;
    }
    if (i === 0) return '';
    const text = decodeByteRun(bytes, 0, i);
    bytes.splice(0, i);
    return text;
  }
}
