// The C fuzzers' kept inputs — tests/fixtures/fuzz-c/<target>/, every input that ever crashed a
// harness, tripped ASan/UBSan or broke a property (fixed since) — and their seeds, replayed
// through the libFuzzer harnesses (tests/fuzz/fuzz_*.c, make fuzz-build) natively and as 32-bit
// builds: none may fail again. The fuzzing itself is `make fuzz-c` (a short run in CI: .ci/run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const TARGETS = ['hparams', 'config', 'upload', 'session', 'safetensors', 'folder'];
const FIXTURES = join(ROOT, 'tests/fixtures/fuzz-c'), SEEDS = join(ROOT, 'build/fuzz/seeds');
const files = (dir) => (existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : []);

test('every kept input belongs to a harness', () => {
  for (const dir of readdirSync(FIXTURES)) assert.ok(TARGETS.includes(dir), `tests/fixtures/fuzz-c/${dir}: no harness tests/fuzz/fuzz_${dir}.c`);
  for (const t of TARGETS) assert.ok(existsSync(join(ROOT, `tests/fuzz/fuzz_${t}.c`)), t);
});

for (const arch of ['64', '32']) {
  for (const target of TARGETS) {
    const bin = join(ROOT, `build/fuzz/${arch}/fuzz-${target}`);
    const missing = existsSync(bin) ? false : `build/fuzz/${arch}/fuzz-${target} not built (make fuzz-build: clang, libFuzzer, gcc-multilib)`;
    test(`[${arch}-bit] fuzz_${target}: the kept inputs and the seeds replay without a failure`, { skip: skipUnlessCI(missing) }, () => {
      const inputs = [...files(join(FIXTURES, target)), ...files(join(SEEDS, target))];
      assert.ok(inputs.length > 0, 'something to replay');
      // given files, a libFuzzer binary runs each once and stops at the first failure; an input
      // kept for a hang replays under the timeout it was found with (make fuzz-c: FUZZ_TIMEOUT 10 s)
      const r = spawnSync(bin, ['-rss_limit_mb=2048', '-timeout=10', ...inputs], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000 });
      assert.equal(r.status, 0, `${r.stderr.split('\n').filter((l) => /ERROR|property|SUMMARY|Running:/.test(l)).slice(-6).join('\n')}`);
      assert.equal((r.stderr.match(/^Executed /gm) ?? []).length, inputs.length, 'every input ran');
    });
  }
}
