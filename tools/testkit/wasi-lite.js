// The few WASI (preview1) calls the project's WASI programs make — arguments, writes to stdout and
// stderr, exit — as plain JavaScript, so that build/kernels-test*.wasm and build/pldr-bench*.wasm
// also run inside a browser page (node:wasi is Node's alone). Files cannot be opened: fd_read,
// fd_seek and fd_close answer EBADF. Loaded by tools/testkit/chromium.mjs into the page.

const ESUCCESS = 0, EBADF = 8;

class Exit {
  /** @param {number} code */
  constructor(code) { this.code = code; }
}

/**
 * Runs a WASI command module: its `_start` with `args` (args[0] is the program name).
 * @param {BufferSource|WebAssembly.Module} wasm @param {string[]} args
 * @param {{now?: () => number}} [options]
 * @returns {Promise<{status: number, stdout: string, stderr: string}>}
 */
export async function runWasiLite(wasm, args, options = {}) {
  const now = options.now ?? (() => performance.now());
  const encoder = new TextEncoder(), decoder = new TextDecoder();
  const argBytes = args.map((a) => encoder.encode(`${a}\0`));
  const out = { 1: [], 2: [] };
  /** @type {WebAssembly.Memory} */
  let memory;
  const view = () => new DataView(memory.buffer);
  const wasi = {
    args_sizes_get(argc, bufSize) {
      view().setUint32(argc, argBytes.length, true);
      view().setUint32(bufSize, argBytes.reduce((n, b) => n + b.length, 0), true);
      return ESUCCESS;
    },
    args_get(argv, buf) {
      const v = view(), u8 = new Uint8Array(memory.buffer);
      argBytes.forEach((b, i) => {
        v.setUint32(argv + 4 * i, buf, true);
        u8.set(b, buf);
        buf += b.length;
      });
      return ESUCCESS;
    },
    fd_write(fd, iovs, iovsLen, nwritten) {
      const v = view();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = v.getUint32(iovs + 8 * i, true), len = v.getUint32(iovs + 8 * i + 4, true);
        (out[fd] ?? out[2]).push(new Uint8Array(memory.buffer, ptr, len).slice());
        n += len;
      }
      v.setUint32(nwritten, n, true);
      return ESUCCESS;
    },
    fd_read: () => EBADF,
    fd_close: () => EBADF,
    fd_seek: () => EBADF,
    proc_exit(code) { throw new Exit(code); },
  };
  const imports = {
    wasi_snapshot_preview1: wasi,
    env: { emscripten_notify_memory_growth() {}, pldr_host_now_ms: now },
  };
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  const instance = await WebAssembly.instantiate(module, imports);
  memory = /** @type {WebAssembly.Memory} */ (instance.exports.memory);
  let status = 0;
  try {
    /** @type {Function} */ (instance.exports._start)();
  } catch (err) {
    if (!(err instanceof Exit)) throw err;
    status = err.code;
  }
  const text = (chunks) => chunks.map((c) => decoder.decode(c, { stream: true })).join('') + decoder.decode();
  return { status, stdout: text(out[1]), stderr: text(out[2]) };
}
