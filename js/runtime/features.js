// Which of the runtime's modules (js/runtime/wasm-location.js) this engine should run — the one
// function that chooses, chooseVariant — from what it can do: threads (shared WebAssembly memory
// that workers can be given: Node, a cross-origin isolated page) and relaxed SIMD (feature tests
// by WebAssembly.validate of tiny hand-assembled modules, and for relaxed SIMD a run as well). A
// relaxed instruction may validate and still compute something else: Node 20's V8 (behind
// --experimental-wasm-relaxed-simd) returns twice the int8 dot product, which would silently
// corrupt every q8/q4 matrix product. The probe checks a dot product with negative and extreme
// operands, so such an engine gets the baseline module.

/** @typedef {keyof typeof import('./wasm-location.js').WASM_URLS} WasmVariant */

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** unsigned LEB128 @param {number} n */
const leb = (n) => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >>> 7)]);

/** A module of one function `p` () -> i32 with the given body (locals included). @param {number[]} body */
function moduleWith(body) {
  const code = [0x01, ...leb(body.length), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,       // type section: () -> i32
    0x03, 0x02, 0x01, 0x00,                         // function section: one function of type 0
    0x07, 0x05, 0x01, 0x01, 0x70, 0x00, 0x00,       // export section: "p" = function 0
    0x0a, ...leb(code.length), ...code,             // code section: one body
  ]);
}

const v128 = (/** @type {number[]} */ bytes) => [0xfd, 0x0c, ...bytes.map((b) => b & 0xff)];
const i32x4 = (v) => [...new Uint8Array(new Int32Array([v, v, v, v]).buffer)];
const f32x4 = (v) => [...new Uint8Array(new Float32Array([v, v, v, v]).buffer)];

const DOT_A = [-1, 2, -3, 4, 5, -6, 7, -8, 9, 10, 11, 12, 13, 14, 15, -128];
const DOT_B = [100, 50, 25, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 127];
/** lane 0 minus lane 3 of i32x4.relaxed_dot_i8x16_i7x16_add_s(DOT_A, DOT_B, 1000), plus lane 7 of
 * i16x8.relaxed_dot_i8x16_i7x16_s(DOT_A, DOT_B) (-128 · 127 + 15 · 11: the int8 operand's sign) */
const DOT_EXPECTED = (() => {
  const lane = (j) => 1000 + [0, 1, 2, 3].reduce((s, i) => s + DOT_A[4 * j + i] * DOT_B[4 * j + i], 0);
  return lane(0) - lane(3) + DOT_A[14] * DOT_B[14] + DOT_A[15] * DOT_B[15];
})();

/** relaxed SIMD: the dot products (0xfd 0x113, 0xfd 0x112) checked by running them, and f32x4.relaxed_madd (0xfd 0x105) */
const RELAXED_PROBE = moduleWith([
  0x01, 0x01, 0x7b,                                            // one local of type v128
  ...v128(DOT_A), ...v128(DOT_B), ...v128(i32x4(1000)),
  0xfd, 0x93, 0x02,                                            // i32x4.relaxed_dot_i8x16_i7x16_add_s
  0x22, 0x00, 0xfd, 0x1b, 0x00,                                // local.tee 0, i32x4.extract_lane 0
  0x20, 0x00, 0xfd, 0x1b, 0x03,                                // local.get 0, i32x4.extract_lane 3
  0x6b,                                                        // i32.sub
  ...v128(DOT_A), ...v128(DOT_B),
  0xfd, 0x92, 0x02,                                            // i16x8.relaxed_dot_i8x16_i7x16_s
  0xfd, 0x18, 0x07, 0x6a,                                      // i16x8.extract_lane_s 7, i32.add
  ...v128(f32x4(2)), ...v128(f32x4(3)), ...v128(f32x4(4)),
  0xfd, 0x85, 0x02, 0x1a,                                      // f32x4.relaxed_madd, drop
  0x0b,
]);

let relaxed = /** @type {boolean|undefined} */ (undefined);

/** Whether this engine runs relaxed SIMD, and runs it right (tested once, then cached). */
export function relaxedSimdWorks() {
  if (relaxed === undefined) {
    try {
      relaxed = WebAssembly.validate(RELAXED_PROBE)
        && new WebAssembly.Instance(new WebAssembly.Module(RELAXED_PROBE)).exports.p() === DOT_EXPECTED;
    } catch {
      relaxed = false; // e.g. a page whose Content-Security-Policy forbids compiling WebAssembly here
    }
  }
  return relaxed;
}

/**
 * Whether the threaded module can run here: WebAssembly shared memory — browsers lend it only to
 * cross-origin isolated pages, i.e. served with COOP and COEP headers (WebKitGTK creates it
 * without exposing the SharedArrayBuffer constructor: the memory itself is what is tried) — and
 * workers to run its threads (worker_threads in Node; Web Workers, nested in the engine's).
 * @returns {{threads: boolean, why: string}} why: the reason when threads is false, else ''
 */
export function detectFeatures() {
  if (!isNode && globalThis.crossOriginIsolated !== true) {
    return { threads: false, why: 'the page is not cross-origin isolated (it needs the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)' };
  }
  if (!isNode && typeof Worker !== 'function') return { threads: false, why: 'this context cannot start Web Workers' };
  let memory;
  try {
    memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    if (typeof Atomics !== 'object') throw new Error('no Atomics');
  } catch {
    return { threads: false, why: 'this JavaScript engine has no shared WebAssembly memory' };
  }
  if (!isNode && !canPostShared(memory)) {
    return { threads: false, why: 'this browser cannot pass shared WebAssembly memory to workers (DataCloneError)' };
  }
  return { threads: true, why: '' };
}

/** Whether a shared memory can be posted to another agent (WebKitGTK 2.50 creates one but refuses that). */
function canPostShared(memory) {
  const channel = new MessageChannel();
  try {
    channel.port1.postMessage(memory);
    return true;
  } catch {
    return false;
  } finally {
    channel.port1.close();
  }
}

/**
 * The module variant to run: a threaded build when threads are wanted (and detectFeatures()
 * allows them), else a single-thread one; the relaxed-SIMD kernels where relaxed SIMD works, else
 * the baseline. `relaxed: false` forces the baseline kernels.
 * @param {{threads?: boolean, relaxed?: boolean}} [wanted]
 * @returns {WasmVariant}
 */
export function chooseVariant(wanted = {}) {
  const useRelaxed = (wanted.relaxed ?? true) && relaxedSimdWorks();
  if (wanted.threads) return useRelaxed ? 'threads-relaxed' : 'threads';
  return useRelaxed ? 'relaxed' : 'simd128';
}

/** For tests: the probe module and the value its function returns on a correct engine. */
export const RELAXED_PROBE_MODULE = Object.freeze({ bytes: RELAXED_PROBE, expected: DOT_EXPECTED });

/** Logical processors of this machine (navigator.hardwareConcurrency, os.availableParallelism()). */
export async function logicalCores() {
  if (isNode) {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return Math.max(1, Number(globalThis.navigator?.hardwareConcurrency) || 1);
}

/** True on a browser's main (window) thread, where Atomics.wait is not allowed. */
export function onBrowserMainThread() {
  return !isNode && typeof window !== 'undefined' && typeof document !== 'undefined';
}
