// JS fuzzers of the loading side (tests/helpers/fuzz.mjs): the safetensors reader and the loader's
// readers of the index, manifest.json, config.json and tokenizer.model, each seeded from the real
// files. In `make test`: a short run per target with a fixed seed, and every input kept under
// tests/fixtures/fuzz/ (inputs that once failed) replayed. `make fuzz-js` runs each target for
// FUZZ_SECONDS (default 60) with a fresh seed and keeps what fails (FUZZ_SAVE=1).
//   FUZZ_SECONDS=5 FUZZ_SEED=123 node --test tests/fuzz-loading.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from './helpers/engines.mjs';
import { fuzz, targets } from './helpers/fuzz.mjs';

const FIXTURES = join(ROOT, 'tests/fixtures/fuzz');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 3);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 16016;
const SAVE = process.env.FUZZ_SAVE === '1';
/** Memory a run may add: inputs are at most a few MB and nothing may buffer what a file only claims. */
const RSS_BUDGET = 1536 << 20;

for (const target of targets()) {
  test(`fuzz ${target.name}: ${SECONDS} s from seed ${SEED}, every input loads or fails with a clean PldrError naming ${target.file}`, async (t) => {
    const before = process.memoryUsage().rss;
    const { executions, outcomes, failure } = await fuzz(target, { seconds: SECONDS, seed: SEED });
    t.diagnostic(`${target.name}: ${executions} executions, outcomes ${JSON.stringify(outcomes)}`);
    if (failure) {
      const name = `${target.name}-${createHash('sha256').update(failure.bytes).digest('hex').slice(0, 12)}.bin`;
      if (SAVE) {
        mkdirSync(FIXTURES, { recursive: true });
        writeFileSync(join(FIXTURES, name), failure.bytes);
      }
      assert.fail(`${target.name}: input ${SAVE ? `kept as tests/fixtures/fuzz/${name}` : `(FUZZ_SAVE=1 keeps it as ${name})`}, ` +
        `seed ${failure.seed}, path ${failure.path}: ${failure.error?.message ?? failure.error}`);
    }
    assert.ok(executions > 0);
    assert.ok(Object.keys(outcomes).length >= 2, `the mutations reach more than one outcome: ${JSON.stringify(outcomes)}`);
    assert.ok(process.memoryUsage().rss - before < RSS_BUDGET, 'memory stays bounded');
  });
}

test('every input kept in tests/fixtures/fuzz/ now loads or fails cleanly', async (t) => {
  const byName = new Map(targets().map((x) => [x.name, x]));
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.bin'));
  for (const file of files) {
    const target = byName.get(file.replace(/-[0-9a-f]{12}\.bin$/, ''));
    assert.ok(target, `${file}: no fuzz target of that name`);
    const bytes = readFileSync(join(FIXTURES, file));
    const chunkings = target.name === 'safetensors-reader'
      ? [{ sized: true }, { sized: false }, { sized: false, cuts: [0, 7, 8, 100] }] : [undefined];
    for (const options of chunkings) {
      const outcome = await target.run(bytes, options).catch((err) => assert.fail(`${file}: ${err.message}`));
      t.diagnostic(`${file}: ${outcome}`);
    }
  }
  assert.ok(files.length > 0, 'the kept inputs are there');
});
