// SIMD128 kernels against their scalar references (tests/kernels_test.c), on both builds: the
// native binary (SIMD128 through SIMDe) and the same C as a WASI program run here with node:wasi
// (real WebAssembly SIMD128, as in dist/pldr.wasm). Builds what it needs with make; skips with a
// message when the toolchain is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATIVE = join(ROOT, 'build/kernels-test');
const WASM = join(ROOT, 'build/kernels-test.wasm');

/** True when `cmd --version` runs. */
const have = (cmd) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;

/** Builds one target; a build failure is a test failure, a missing compiler a skip. */
function build(target, compiler) {
  if (!have(compiler)) return { skip: `${compiler} not found: cannot build ${target} (make setup installs the toolchain)` };
  const r = spawnSync('make', ['--no-print-directory', target], { cwd: ROOT, encoding: 'utf8' });
  return { skip: false, error: r.status === 0 ? null : `make ${target} failed:\n${r.stdout}${r.stderr}` };
}

const nativeBuild = build('build/kernels-test', process.env.CC || 'gcc');
const wasmBuild = build('build/kernels-test.wasm', process.env.EMCC || 'emcc');

test('kernels: SIMD128 (SIMDe, native) equals the scalar reference', { skip: nativeBuild.skip }, () => {
  assert.ok(!nativeBuild.error, nativeBuild.error ?? '');
  const r = spawnSync(NATIVE, [], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok: \d+ checks, 0 failures/m);
});

test('kernels: SIMD128 (WebAssembly under Node) equals the scalar reference', { skip: wasmBuild.skip }, async () => {
  assert.ok(!wasmBuild.error, wasmBuild.error ?? '');
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
