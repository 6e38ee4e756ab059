// SIMD128 kernels against their scalar references (tests/kernels_test.c), on both builds: the
// native binary (SIMD128 through SIMDe) and the same C as a WASI program run here with node:wasi
// (real WebAssembly SIMD128, as in dist/pldr.wasm). Builds what it needs with make; skips with a
// message when the toolchain is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATIVE = join(ROOT, 'build/kernels-test');
const WASM = join(ROOT, 'build/kernels-test.wasm');

/** Builds one target; returns false (with the reason) when make cannot. */
function build(target) {
  const r = spawnSync('make', ['--no-print-directory', target], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? '' : `make ${target} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
}

const nativeSkip = build('build/kernels-test') || (existsSync(NATIVE) ? false : 'build/kernels-test missing');
const wasmSkip = build('build/kernels-test.wasm') || (existsSync(WASM) ? false : 'build/kernels-test.wasm missing');

test('kernels: SIMD128 (SIMDe, native) equals the scalar reference', { skip: nativeSkip }, () => {
  const r = spawnSync(NATIVE, [], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok: \d+ checks, 0 failures/m);
});

test('kernels: SIMD128 (WebAssembly under Node) equals the scalar reference', { skip: wasmSkip }, async () => {
  const { WASI } = await import('node:wasi');
  const chunks = [];
  const wasi = new WASI({ version: 'preview1', args: ['kernels-test'], env: {}, returnOnExit: true });
  const module = await WebAssembly.compile(readFileSync(WASM));
  let memory;
  const imports = { wasi_snapshot_preview1: { ...wasi.wasiImport }, env: { emscripten_notify_memory_growth() {} } };
  imports.wasi_snapshot_preview1.fd_write = (fd, iovs, iovsLen, nwritten) => {
    const view = new DataView(memory.buffer);
    let n = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = view.getUint32(iovs + 8 * i, true), len = view.getUint32(iovs + 8 * i + 4, true);
      chunks.push(Buffer.from(new Uint8Array(memory.buffer, ptr, len)));
      n += len;
    }
    view.setUint32(nwritten, n, true);
    return 0;
  };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory;
  const status = wasi.start(instance);
  const out = Buffer.concat(chunks).toString('utf8');
  assert.equal(status, 0, out);
  assert.match(out, /^ok: \d+ checks, 0 failures/m);
});
