// Reading float32 files in tests. A Buffer may be a view into a larger pooled ArrayBuffer, so
// copy exactly its bytes.
import { readFileSync } from 'node:fs';

/** @param {Uint8Array} bytes @returns {Float32Array} */
export function bytesToF32(bytes) {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** @param {string} path */
export const readF32 = (path) => bytesToF32(readFileSync(path));
