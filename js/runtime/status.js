// C status codes (include/pldr.h pldr_status) as JavaScript errors.
import { EngineError } from '../errors.js';

/**
 * @param {import('./wasm.js').Runtime} rt @param {string} what @param {number} rc @param {string} message
 * @param {string} [tensor] the tensor the call was about: the C messages name it already
 */
export function engineError(rt, what, rc, message, tensor) {
  const err = new EngineError(rt.statusName(rc), what ? `${what}: ${message}` : message);
  if (tensor !== undefined) err.tensor = tensor;
  return err;
}
