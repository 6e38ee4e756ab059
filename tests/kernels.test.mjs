// The SIMD128 kernels against their scalar references (tests/kernels_test.c), on every build: the
// native binary (SIMD128 through SIMDe), the same C as a WASI program run here with node:wasi (real
// WebAssembly SIMD128, as in dist/pldr.wasm), and the relaxed-SIMD build of it (as in
// dist/pldr-relaxed.wasm) run in headless Chromium, since Node 20's V8 computes the relaxed dot
// product wrong. And the quantized products give the same bits in all three ("digest"). Builds
// what it needs with make; skips with a message when the toolchain is missing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_WASM, runWasi } from '../tools/testkit/wasi.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATIVE = join(ROOT, 'build/kernels-test');
const WASM = join(ROOT, 'build/kernels-test.wasm');
const RELAXED = 'build/kernels-test-relaxed.wasm';

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
const relaxedBuild = process.env.PLDR_SKIP_BROWSER === '1' ? { skip: 'PLDR_SKIP_BROWSER=1 (the relaxed build runs in Chromium)' }
  : build(RELAXED, process.env.RELAXED_CC || 'clang-19');

/** @type {Promise<Awaited<ReturnType<typeof import('../tools/testkit/chromium.mjs').openRepoPage>>>|null} */
let chromium = null;
after(async () => (await chromium)?.close());

/** Runs the relaxed build in Chromium. @param {string[]} args */
async function runRelaxed(args) {
  const { openRepoPage, runWasiInPage } = await import('../tools/testkit/chromium.mjs');
  chromium ??= openRepoPage();
  const { page } = await chromium;
  return runWasiInPage(page, RELAXED, args);
}

const digests = {};

test('kernels: SIMD128 (SIMDe, native) equals the scalar reference', { skip: nativeBuild.skip }, () => {
  assert.ok(!nativeBuild.error, nativeBuild.error ?? '');
  const r = spawnSync(NATIVE, [], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok: \d+ checks, 0 failures/m);
  digests.native = spawnSync(NATIVE, ['digest'], { encoding: 'utf8' }).stdout;
});

test('kernels: SIMD128 (WebAssembly under Node) equals the scalar reference', { skip: wasmBuild.skip }, async () => {
  assert.ok(!wasmBuild.error, wasmBuild.error ?? '');
  const { status, stdout, stderr } = await runWasi([], WASM);
  const out = stdout + stderr;
  assert.equal(status, 0, out);
  assert.match(out, /^ok: \d+ checks, 0 failures/m);
  digests.wasm = (await runWasi(['digest'], WASM)).stdout;
});

test('kernels: relaxed SIMD (WebAssembly in Chromium) equals the scalar reference', { skip: relaxedBuild.skip }, async () => {
  assert.ok(!relaxedBuild.error, relaxedBuild.error ?? '');
  const { status, stdout, stderr } = await runRelaxed([]);
  const out = stdout + stderr;
  assert.equal(status, 0, out);
  assert.match(out, /^ok: \d+ checks, 0 failures/m);
  digests.relaxed = (await runRelaxed(['digest'])).stdout;
});

test('kernels: the q8_0 and q4_0 products give the same bits in every build (integer dot products)', async (t) => {
  const builds = Object.keys(digests);
  if (builds.length < 2) return t.skip(`only ${builds.join('') || 'no'} build ran`);
  const first = digests[builds[0]];
  assert.match(first, /^digest q8_0 [0-9a-f]{16}\ndigest q4_0 [0-9a-f]{16}\n$/);
  for (const b of builds.slice(1)) assert.equal(digests[b], first, `${b} against ${builds[0]}`);
});

test('the WASI runner\'s default program is build/pldr-bench.wasm of this checkout (make bench runs it)', () => {
  assert.equal(BENCH_WASM, join(ROOT, 'build/pldr-bench.wasm'));
});
