// SIMD128 kernels against their scalar references (tests/kernels_test.c), on both builds: the
// native binary (SIMD128 through SIMDe) and the same C as a WASI program run here with node:wasi
// (real WebAssembly SIMD128, as in dist/pldr.wasm). Builds what it needs with make; skips with a
// message when the toolchain is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWasi } from '../tools/testkit/wasi.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATIVE = join(ROOT, 'build/kernels-test');
const WASM = join(ROOT, 'build/kernels-test.wasm');

/** True when `cmd --version` runs. */
const have = (cmd) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;

/** Builds one target; a build failure is a test failure, a missing compiler a skip. */
function build(target, compiler) {
  if (!have(compiler)) return { skip: skipUnlessCI(`${compiler} not found: cannot build ${target} (make setup installs the toolchain)`) };
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
  const { status, stdout, stderr } = await runWasi([], WASM);
  const out = stdout + stderr;
  assert.equal(status, 0, out);
  assert.match(out, /^ok: \d+ checks, 0 failures/m);
});
