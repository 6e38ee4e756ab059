// The native CLI's own input handling (src/cli/main.c): --ids and --gcache-file read without
// leaks or silent truncation, checked on the AddressSanitizer + UBSan build (LeakSanitizer reports
// what a failed path does not free).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const ASAN = join(ROOT, 'build/pldr-native-asan'), TINY = join(ROOT, 'models/pldr-tiny');
const skip = skipUnlessCI(existsSync(ASAN) ? false : 'build/pldr-native-asan not built (make native-asan)');
const tmp = mkdtempSync(join(tmpdir(), 'pldr-native-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function run(args) {
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' };
  return spawnSync(ASAN, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
}

function assertClean(r) {
  assert.equal(r.signal, null, r.stderr);
  assert.doesNotMatch(r.stderr, /LeakSanitizer|AddressSanitizer|runtime error/, 'a sanitizer report');
}

test('a --gcache-file whose length is not a multiple of 4 is refused, and its buffer freed', { skip }, () => {
  const bad = join(tmp, 'bad.f32');
  writeFileSync(bad, Buffer.alloc(4 * 5 + 1));
  const r = run(['generate', '--model', TINY, '--ids', '5,6', '--max-tokens', '1', '--gcache-file', bad]);
  assertClean(r);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read .*bad\.f32/);
});

test('--ids: a long list parses (sized by counting, nothing to grow); ids past int32 and junk are refused', { skip }, () => {
  const ids = Array.from({ length: 600 }, (_, i) => 4 + (i % 100));
  const ok = run(['generate', '--model', TINY, '--ids', ids.join(','), '--max-tokens', '1', '--greedy', '--json']);
  assertClean(ok);
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).prompt_ids, ids);
  for (const bad of ['4294967301', '5,-2147483649', '5,,6', '5;6', '']) {
    const r = run(['generate', '--model', TINY, '--ids', bad, '--max-tokens', '1']);
    assertClean(r);
    assert.equal(r.status, 2, `--ids ${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--ids must be a comma-separated list of token ids/);
  }
});

test('eval and generate with dumps run clean under the sanitizers', { skip }, () => {
  const logits = join(tmp, 'logits.f32'), steps = join(tmp, 'steps.f32');
  const e = run(['eval', '--model', TINY, '--ids', '5,6,7', '--gcache', 'prompt', '--logits', logits]);
  assertClean(e);
  assert.equal(e.status, 0, e.stderr);
  const g = run(['generate', '--model', TINY, '--ids', '5,6', '--max-tokens', '3', '--greedy', '--dump-step-logits', steps]);
  assertClean(g);
  assert.equal(g.status, 0, g.stderr);
});
