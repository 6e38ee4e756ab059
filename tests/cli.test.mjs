// The Node command line: generate (ids and text, JSON, logits dump, G-cache modes), chat over a
// pipe, inspect, --help everywhere, and clear errors for bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';
import { maxDiff } from './helpers/numeric.mjs';

const CLI = join(ROOT, 'js/cli.mjs');
const TINY = join(ROOT, 'models/pldr-tiny');
const GOLD = join(ROOT, 'tests/fixtures/golden/pldr-tiny');
const golden = JSON.parse(readFileSync(join(GOLD, 'golden.json'), 'utf8'));

function pldr(args, input) {
  const r = spawnSync('node', [CLI, ...args], { encoding: 'utf8', input, timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

for (const [mode, key] of [['first', 'greedy_kv_g'], ['off', 'greedy_nocache'], ['empty', 'greedy_G_eos']]) {
  test(`generate --ids --greedy --gcache ${mode} --json prints the reference's ${key}`, () => {
    const c = golden.cases.find((x) => x.name === 'fortune');
    const r = pldr(['generate', '--model', TINY, '--ids', c.ids.join(','), '--max-tokens', String(c[key].length), '--greedy', '--gcache', mode, '--json']);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.deepEqual(out.prompt_ids, c.ids);
    assert.deepEqual(out.ids, c[key]);
    assert.equal(out.stop, 'length');
  });
}

test('generate stops at [END] and says so; --dump-logits writes the first step\'s logits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-cli-'));
  try {
    const c = golden.cases.find((x) => x.name === 'longdoc'); // greedy continuation is [END] at once
    const file = join(dir, 'logits.f32');
    const r = pldr(['generate', '--ids', c.ids.join(','), '--max-tokens', '5', '--greedy', '--json', '--dump-logits', file]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.deepEqual(out.ids, [3]);
    assert.equal(out.stop, 'eos');
    const ref = readF32(join(GOLD, c.step_logits_kv_g.file));
    assert.ok(maxDiff(readF32(file), ref) <= 4 * c.ref32_vs_64_maxabs_logits);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generate --prompt streams the prompt and its continuation', () => {
  const r = pldr(['generate', '--prompt', 'The Python language is', '--max-tokens', '8', '--greedy']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'The Python language is not intended to be used to be used\n'); // golden greedy_text, 8 tokens
});

test('chat over a pipe: one reply per line, the conversation kept', () => {
  const r = pldr(['chat', '--greedy', '--max-tokens', '12'], 'What is Python?\nAnd Tcl?\n');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.length > 0));
});

test('inspect: 0 and a summary for a good folder, 1 and the problems for a bad one', () => {
  const good = pldr(['inspect', TINY]);
  assert.equal(good.code, 0, good.err);
  assert.match(good.out, /parameters\s+11,111,332/);
  assert.match(good.out, /no problems found/);
  const bad = pldr(['inspect', join(ROOT, 'tests/fixtures/pldr-micro')]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /problem/);
  const empty = mkdtempSync(join(tmpdir(), 'pldr-empty-'));
  try {
    const none = pldr(['inspect', empty]);
    assert.equal(none.code, 1);
    assert.match(none.out, /config\.json is missing/);
    assert.doesNotMatch(none.out, /undefined/, 'no config: no made-up summary');
    // an index pointing out of the folder is reported, and the file out there is never read
    const inner = join(empty, 'model');
    mkdirSync(inner);
    writeFileSync(join(inner, 'config.json'), readFileSync(join(TINY, 'config.json')));
    writeFileSync(join(inner, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../secret.safetensors' } }));
    writeFileSync(join(empty, 'secret.safetensors'), 'private: do not read');
    const escape = pldr(['inspect', inner]);
    assert.equal(escape.code, 1);
    assert.match(escape.out, /maps to "\.\.\/secret\.safetensors", which is not a file name in the model folder/);
    assert.doesNotMatch(escape.out, /private/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('--help works for every command; bad options fail with a clear message', () => {
  const listed = [...pldr(['--help']).out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
  assert.deepEqual(listed, ['generate', 'chat', 'tokenize', 'inspect']);
  for (const cmd of listed) { // every command the usage lists exists
    const r = pldr([cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help`);
    assert.match(r.out, /usage/);
  }
  assert.equal(pldr(['--help']).code, 0);
  const unknown = pldr(['fly']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "fly"/);
  const both = pldr(['generate']);
  assert.equal(both.code, 1);
  assert.match(both.err, /--prompt TEXT or --ids LIST/);
  const badIds = pldr(['generate', '--ids', '1,x']);
  assert.match(badIds.err, /comma-separated token ids/);
  const badMode = pldr(['generate', '--ids', '3', '--gcache', 'never']);
  assert.match(badMode.err, /first, prompt, off or empty/);
  const badTemp = pldr(['generate', '--ids', '3', '--temperature', 'hot']);
  assert.match(badTemp.err, /--temperature hot: expected a number/);
  const missing = pldr(['generate', '--ids', '3', '--model', join(ROOT, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /config\.json/);
});
