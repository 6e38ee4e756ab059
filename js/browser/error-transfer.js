// Errors across postMessage: the worker sends plain objects (with their cause, one level) and the
// page turns them back into the matching PldrError subclass, code, C status and file included.
import { AbortError, EngineError, LoadError, PldrError, TokenizerError } from '../errors.js';

/**
 * @typedef {{name: string, code: string, message: string, statusName?: string, file?: string, url?: string,
 *   status?: number, tensor?: string, cause?: SerializedError}} SerializedError
 */

const OUT_OF_MEMORY = /out of memory|Array buffer allocation failed|Maximum memory size|could not allocate memory/i;

/**
 * An error as a plain object; one that is not a PldrError gets its code here (E_OUT_OF_MEMORY,
 * E_WASM or E_INTERNAL).
 * @param {unknown} err @param {boolean} [withCause] @returns {SerializedError}
 */
export function serializeError(err, withCause = true) {
  const e = /** @type {any} */ (err ?? {});
  const out = { name: String(e.name ?? 'Error'), code: e.code, message: String(e.message ?? e) };
  for (const key of ['statusName', 'file', 'url', 'status', 'tensor']) if (e[key] !== undefined) out[key] = e[key];
  if (typeof out.code !== 'string' || !out.code.startsWith('E_')) {
    out.code = OUT_OF_MEMORY.test(out.message) ? 'E_OUT_OF_MEMORY'
      : e.name === 'CompileError' || e.name === 'LinkError' ? 'E_WASM' : 'E_INTERNAL';
  }
  if (withCause && e.cause !== undefined) out.cause = serializeError(e.cause, false);
  return out;
}

/**
 * The PldrError a SerializedError stands for (an Error is returned as it is).
 * @param {unknown} e @returns {Error}
 */
export function toError(e) {
  if (e instanceof Error) return e;
  const o = /** @type {Partial<SerializedError>} */ (e ?? {});
  const message = String(o.message ?? 'unknown error');
  const code = typeof o.code === 'string' && o.code.startsWith('E_') ? o.code : 'E_INTERNAL';
  const options = o.cause ? { cause: toError(o.cause) } : undefined;
  let err;
  if (o.name === 'AbortError' || code === 'E_ABORTED') err = new AbortError(message, options);
  else if (o.name === 'LoadError') {
    err = new LoadError(code, message, { file: o.file, url: o.url, status: o.status, tensor: o.tensor, cause: options?.cause });
  } else if (o.name === 'EngineError') err = new EngineError(o.statusName ?? code, message, options);
  else if (o.name === 'TokenizerError') err = new TokenizerError(code, message, options);
  else {
    err = new PldrError(code, message, options);
    if (o.name && o.name !== 'PldrError' && o.name !== 'Error') err.name = o.name;
  }
  if (o.tensor !== undefined && o.name !== 'LoadError') /** @type {any} */ (err).tensor = o.tensor;
  return err;
}
