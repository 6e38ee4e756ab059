// The Node command line: generate (ids and text, JSON, logits dump, G-cache modes), chat over a
// pipe, inspect, --help everywhere, and clear errors for bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';
import { maxDiff } from './helpers/numeric.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

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

// --- issue 12: commands at the chat prompt, typing while an answer streams, flags in messages,
// suggestions, plain-text tokenize, sizes in SI units, the model's name in the banner ----------

test('chat: /help and unknown slash commands are not sent to the model; //text is', () => {
  const r = pldr(['chat', '--greedy', '--max-tokens', '6'], 'Hello\n/help\n/stast\n/frobnicate now\n//slash\n/reset\n');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.match(r.out, /commands:\n {2}\/help {18}these commands\n/);
  assert.match(r.out, /unknown command \/stast — did you mean \/stats\?/);
  assert.match(r.out, /unknown command \/frobnicate \(\/help lists them; start a line with \/\/ to send it as text\)/);
  assert.equal(lines.at(-1), '(new conversation)');
  // two replies: "Hello" and "/slash"; the commands made none
  const replies = lines.filter((l) => !/^(commands:| {2}|unknown command|\(new conversation\))/.test(l));
  assert.equal(replies.length, 2, r.out);
});

test('flags, not API names, in messages; negative values are values; typos get a suggestion', () => {
  const neg = pldr(['generate', '--ids', '3', '--temperature', '-1']);
  assert.equal(neg.code, 1);
  assert.doesNotMatch(neg.err, /ambiguous/);
  assert.match(neg.err, /^pldr: invalid --temperature -1: must be ≥ 0/);
  assert.match(pldr(['generate', '--ids', '3', '--top-p', '7']).err, /invalid --top-p 7: must be in \(0, 1\]/);
  assert.match(pldr(['generate', '--ids', '3', '--frequency-penalty', '-3']).err, /invalid --frequency-penalty -3: must be in \[-2, 2\]/);
  assert.match(pldr(['generate', '--ids', '3', '--max-tokens', '-5']).err, /--max-tokens -5: expected at least 1/);
  assert.match(pldr(['generate', '--ids', '3', '--context', '5000']).err, /--context 5000 is larger than the model's context/);
  assert.doesNotMatch(pldr(['generate', '--ids', '3', '--top-p', '7']).err, /topP/);
  assert.match(pldr(['genrate']).err, /unknown command "genrate" — did you mean "generate"\?/);
  assert.match(pldr(['generate', '--ids', '3', '--tempreture', '1']).err, /unknown option --tempreture \(did you mean --temperature\?\)/);
  assert.match(pldr(['generate', '--ids']).err, /--ids needs a value/);
  // a negative value where one is allowed works
  const ok = pldr(['generate', '--ids', '3', '--max-tokens', '2', '--presence-penalty', '-0.5', '--json']);
  assert.equal(ok.code, 0, ok.err);
});

test('tokenize: plain text lines in, one id array per line out; --decode takes lines of ids', () => {
  const tokenizer = join(TINY, 'tokenizer.model');
  const json = JSON.parse(pldr(['tokenize', '--tokenizer', tokenizer], '["Hello world", "The Python language is"]').out);
  const lines = pldr(['tokenize', '--tokenizer', tokenizer], 'Hello world\r\nThe Python language is\n');
  assert.equal(lines.code, 0, lines.err);
  assert.deepEqual(lines.out.trim().split('\n').map((l) => JSON.parse(l)), json);
  const back = pldr(['tokenize', '--tokenizer', tokenizer, '--decode'], `${json[0].join(' ')}\n${json[1].join(', ')}\n`);
  assert.equal(back.out, 'Hello world\nThe Python language is\n');
  assert.match(pldr(['tokenize', '--decode'], 'x y\n').err, /line 1: "x y" is not token ids/);
  assert.deepEqual(JSON.parse(pldr(['tokenize', '--lines'], '["a"]\n').out), JSON.parse(pldr(['tokenize'], '["[\\"a\\"]"]').out)[0],
    '--lines reads JSON-looking text as text');
});

test('sizes are SI everywhere (MB = 10^6 bytes), as the page shows them', () => {
  const r = pldr(['inspect', TINY]);
  const shards = readdirSync(TINY).filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(TINY, f)).size, 0);
  assert.match(r.out, new RegExp(`files +4 shard\\(s\\), ${(shards / 1e6).toFixed(1)} MB`));
  assert.match(r.out, /decoder\.embedding\.weight +F32 +\[8000, 256\] +8\.19 MB/, '8000 × 256 × 4 bytes = 8.19 MB');
  assert.doesNotMatch(r.out, /KiB|MiB/);
});

const pythonMissing = skipUnlessCI(spawnSync('python3', ['--version']).status === 0 ? false : 'python3 not installed');

test('chat in a terminal: the banner names the model; keys typed while an answer streams stay out of it', { skip: pythonMissing }, () => {
  // a pseudo-terminal: the chat sees a TTY, as it does for a person
  const script = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp('node', ['node', ${JSON.stringify(CLI)}, 'chat', '--greedy', '--max-tokens', '300', '--repetition-penalty', '1', '--no-progress'])
out = b''
def read_until(done, seconds):
    global out
    end = time.time() + seconds
    while time.time() < end and not done():
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try: out += os.read(fd, 65536)
            except OSError: break
read_until(lambda: b'> ' in out, 60)
os.write(fd, b'Once upon a time, in a small village by the sea,\\r')
mark = len(out)
read_until(lambda: len(out) > mark + 120, 60)
os.write(fd, b'xyzzy')
read_until(lambda: out.count(b'> ') >= 2 and out.rstrip().endswith(b'xyzzy'), 90)
os.write(fd, b'\\x15/exit\\r')
read_until(lambda: False, 3)
sys.stdout.buffer.write(out)
`;
  const r = spawnSync('python3', ['-c', script], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  const screen = r.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
  assert.match(screen, /^pldr-tiny · weights f32 · G-cache first\. Ctrl-C stops an answer; \/help lists the commands\./m);
  const answer = screen.slice(screen.indexOf('by the sea,') + 11, screen.indexOf('[prefill'));
  assert.ok(answer.length > 200, `the answer streamed (${answer.length} characters)`);
  assert.doesNotMatch(answer, /xyzzy/, 'the keys typed meanwhile are not in the answer');
  assert.match(screen.slice(screen.indexOf('[prefill')), /\n> xyzzy/, 'they wait at the next prompt');
});
