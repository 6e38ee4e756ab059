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
export function strictString(bytes, start, end) {
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
export const ONE_CHAR_LEN = Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4);
