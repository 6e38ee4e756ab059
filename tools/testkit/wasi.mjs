// Runs build/pldr-bench.wasm — src/cli (the native CLI, bench included) compiled to WebAssembly
// as a WASI program with the flags of dist/pldr.wasm — under Node. Used for what the JS API does
// not expose: the streaming-read ceiling, single kernels, and the synthetic model driven from C.
//   node tools/testkit/wasi.mjs bench kernel --format q8 --rows 896 --cols 896
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';

export const BENCH_WASM = fileURLToPath(new URL('../../build/pldr-bench.wasm', import.meta.url));

/**
 * Runs a WASI program (by default build/pldr-bench.wasm) with `args` and returns its exit status
 * and output.
 * @param {string[]} args @param {string} [wasmPath]
 * @returns {Promise<{status: number, stdout: string, stderr: string}>}
 */
export async function runWasi(args, wasmPath = BENCH_WASM) {
  const wasi = new WASI({ version: 'preview1', args: ['program', ...args], env: {}, returnOnExit: true });
  const module = await WebAssembly.compile(readFileSync(wasmPath));
  const out = { 1: [], 2: [] };
  /** @type {WebAssembly.Memory} */
  let memory;
  const wasiImport = { ...wasi.wasiImport };
  wasiImport.fd_write = (fd, iovs, iovsLen, nwritten) => { // capture stdout and stderr
    const view = new DataView(memory.buffer);
    let n = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = view.getUint32(iovs + 8 * i, true), len = view.getUint32(iovs + 8 * i + 4, true);
      (out[fd] ?? out[2]).push(Buffer.from(new Uint8Array(memory.buffer, ptr, len)));
      n += len;
    }
    view.setUint32(nwritten, n, true);
    return 0;
  };
  const imports = {
    wasi_snapshot_preview1: wasiImport,
    env: { emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now() },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = /** @type {WebAssembly.Memory} */ (instance.exports.memory);
  const status = wasi.start(instance);
  return { status, stdout: Buffer.concat(out[1]).toString('utf8'), stderr: Buffer.concat(out[2]).toString('utf8') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await runWasi(process.argv.slice(2));
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.status;
}
