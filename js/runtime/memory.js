// Whether a model fits this runtime's memory, decided right after config.json — before any shard
// is downloaded and before the model allocates anything large. The C library says what the model
// and a session of it will allocate (Model.memoryNeeded, pldr_model_memory_needed); a WebAssembly
// module addresses at most 4 GiB, and a browser may grant less: a memory.grow that fails is the
// honest test of that, made on a separate memory that is dropped at once (its pages are never
// touched, so it costs no resident memory, and it is garbage when the probe returns).
import { EngineError } from '../errors.js';

/** 65536 pages of 64 KiB: the most a 32-bit WebAssembly memory holds (the module's MAXIMUM_MEMORY). */
export const WASM_MEMORY_MAX = 2 ** 32;
const PAGE = 65536;
const GIB = 2 ** 30;

/**
 * Whether this JavaScript engine grants a WebAssembly memory of `bytes`: one is created and grown
 * to that size, then dropped.
 * @param {number} bytes @returns {boolean}
 */
export function canGrantMemory(bytes) {
  const pages = Math.ceil(bytes / PAGE);
  if (!(pages <= WASM_MEMORY_MAX / PAGE)) return false;
  try {
    const probe = new WebAssembly.Memory({ initial: 1, maximum: Math.max(1, pages) });
    if (pages > 1) probe.grow(pages - 1);
    return true;
  } catch {
    return false; // RangeError: the engine would not grant it
  }
}

/** @param {number} bytes */
function gib(bytes) {
  return Number.isFinite(bytes) ? `${(bytes / GIB).toFixed(2)} GiB` : 'more than 2^64 bytes';
}

/**
 * Throws E_OUT_OF_MEMORY, naming the sizes, when `model` (configured, not yet allocated) and a
 * session of `contextLength` with its KV-cache in `kvCache` cannot fit: more than 4 GiB of
 * WebAssembly memory with what the module holds already (the threaded module: more than its
 * shared memory reserved; the pool's stacks are held already, each pool thread's work memory is
 * in `session`), or more than the engine grants (`probe`). The error carries `memory`:
 * {weights, session, total, limit}. `others` gives what the other weight formats would need, for
 * the message.
 * @param {import('./model.js').Model} model
 * @param {{contextLength?: number, quant?: string, kvCache?: import('./session.js').KvFormat,
 *   probe?: (bytes: number) => boolean, others?: () => Record<string, number>}} [options]
 */
export function checkModelMemory(model, { contextLength, quant = 'f32', kvCache = 'f32', probe = canGrantMemory, others } = {}) {
  const { weights, session } = model.memoryNeeded(contextLength, kvCache);
  const held = model.rt.x.memory.buffer.byteLength;
  const total = held + weights + session;
  const ctx = contextLength ?? model.contextMax;
  const limit = Math.min(WASM_MEMORY_MAX, model.rt.memoryLimit ?? WASM_MEMORY_MAX);
  const fits = total <= limit;
  if (fits && probe(total)) return { weights, session, total };
  const need = `this model needs ${gib(total)} of WebAssembly memory (weights ${gib(weights)} as ${quant}, ` +
    `a session of context ${ctx} (KV-cache ${kvCache}) ${gib(session)}, the module ${gib(held)})`;
  const why = fits ? `, but this browser would not grant that much (a test allocation of ${gib(total)} failed)`
    : limit < WASM_MEMORY_MAX ? `, more than the ${gib(limit)} this browser reserved for the threaded module's shared memory (threads: 1 has the full 4 GiB)`
      : ', more than the 4 GiB a WebAssembly module can address';
  const smaller = Object.entries(others?.() ?? {}).filter(([q, bytes]) => q !== quant && bytes + session + held < total)
    .map(([q, bytes]) => `${gib(bytes + session + held)} as ${q}`);
  const hint = smaller.length ? `; it would need ${smaller.join(', ')} (quant option)` : '';
  const shorter = ctx > 1 && session > weights / 4
    ? `; a shorter contextLength${kvCache === 'f32' ? " or kvCache 'f16'" : ''} needs less` : '';
  throw Object.assign(new EngineError('PLDR_ERR_OUT_OF_MEMORY', `${need}${why}${hint}${shorter}`),
    { memory: { weights, session, total, limit: fits ? total : limit } });
}
