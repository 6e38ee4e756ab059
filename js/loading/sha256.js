// Incremental SHA-256 (FIPS 180-4). WebCrypto's digest() needs the whole input at once, and a
// model shard must be hashed while it streams past, so the loader carries this small one.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/** Streaming SHA-256: `update()` any number of times, then `digest()` or `hex()` once. */
export class Sha256 {
  constructor() {
    this.state = new Int32Array(INITIAL);
    this.block = new Uint8Array(64);   // [64] pending input bytes
    this.blockLength = 0;
    this.length = 0;                   // total bytes hashed (2^53 is plenty)
    this.w = new Int32Array(64);       // [64] message schedule
    this.finished = false;
  }

  /** @param {Uint8Array} bytes */
  update(bytes) {
    if (this.finished) throw new Error('Sha256: update() after digest()');
    let i = 0;
    const n = bytes.length;
    this.length += n;
    if (this.blockLength > 0) {
      const take = Math.min(64 - this.blockLength, n);
      this.block.set(bytes.subarray(0, take), this.blockLength);
      this.blockLength += take;
      i = take;
      if (this.blockLength < 64) return this;
      compress(this.state, this.w, this.block, 0, 64);
      this.blockLength = 0;
    }
    const whole = i + ((n - i) & ~63);
    if (whole > i) compress(this.state, this.w, bytes, i, whole);
    i = whole;
    if (i < n) {
      this.block.set(bytes.subarray(i), 0);
      this.blockLength = n - i;
    }
    return this;
  }

  /** @returns {Uint8Array} the 32-byte digest */
  digest() {
    if (this.finished) throw new Error('Sha256: digest() called twice');
    const bits = this.length * 8;
    const tail = new Uint8Array(this.blockLength + 9 > 64 ? 128 : 64);
    tail.set(this.block.subarray(0, this.blockLength));
    tail[this.blockLength] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    compress(this.state, this.w, tail, 0, tail.length);
    this.finished = true;
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(i * 4, this.state[i]);
    return out;
  }

  /** @returns {string} the digest as 64 lowercase hex digits */
  hex() {
    return Array.from(this.digest(), (b) => b.toString(16).padStart(2, '0')).join('');
  }
}

/**
 * One-shot helper.
 * @param {Uint8Array} bytes
 * @returns {string} 64 lowercase hex digits
 */
export function sha256Hex(bytes) {
  return new Sha256().update(bytes).hex();
}

/**
 * Hashes the 64-byte blocks of p[at, end) into H.
 * @param {Int32Array} H  [8] state, updated in place
 * @param {Int32Array} w  [64] scratch
 * @param {Uint8Array} p
 * @param {number} at
 * @param {number} end    at + a multiple of 64
 */
function compress(H, w, p, at, end) {
  let h0 = H[0], h1 = H[1], h2 = H[2], h3 = H[3], h4 = H[4], h5 = H[5], h6 = H[6], h7 = H[7];
  for (; at < end; at += 64) {
    for (let t = 0, j = at; t < 16; t++, j += 4) {
      w[t] = (p[j] << 24) | (p[j + 1] << 16) | (p[j + 2] << 8) | p[j + 3];
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + S0 + maj) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5; H[6] = h6; H[7] = h7;
}
