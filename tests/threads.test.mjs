// include/pldr.h's thread-safety statement, checked natively: sessions of one model on four
// threads at once give exactly what they give one after another, also sharing one kernel pool
// (pldr_threads), and pools of 1-4 threads give the same bits, under ThreadSanitizer (any data
// race fails the run). tests/threads_test.c; built with make (build/threads-test). `make tsan`
// runs the other native tests on a ThreadSanitizer build too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { arch } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const BINARY = join(ROOT, 'build/threads-test');
const MODEL = join(ROOT, 'tests/fixtures/pldr-micro');
const cc = process.env.CC || 'gcc';
const skip = skipUnlessCI(spawnSync(cc, ['--version']).status === 0 ? false : `${cc} not found: cannot build build/threads-test`);

/** Runs the test binary; again without address-space randomisation if ThreadSanitizer cannot map
 * its shadow memory on this kernel (a known limit of high-entropy ASLR, not a finding). */
function runThreadsTest() {
  const r = spawnSync(BINARY, [MODEL], { encoding: 'utf8', timeout: 300_000 });
  if (!/unexpected memory mapping/.test(r.stderr ?? '')) return r;
  const machine = { x64: 'x86_64', arm64: 'aarch64' }[arch()] ?? arch();
  return spawnSync('setarch', [machine, '-R', BINARY, MODEL], { encoding: 'utf8', timeout: 300_000 });
}

test('sessions of one model on four threads, with and without a shared kernel pool: no data race (ThreadSanitizer), the same bits as one by one', { skip }, () => {
  const build = spawnSync('make', ['--no-print-directory', 'build/threads-test'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, `make build/threads-test failed:\n${build.stdout}${build.stderr}`);
  const r = runThreadsTest();
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stderr, /ThreadSanitizer/);
  assert.match(r.stdout, /^ok: sessions of one model on 4 threads .* with and without a kernel pool/m);
  assert.match(r.stdout, /pools of 1-4 threads give the same bits/);
});
