// `pldr perplexity`: the paper's "scores unchanged" — mean NLL with G recomputed per window and
// with one fixed G — against golden.json → perplexity, and on a text the golden file does not
// hold against the float64 reference (tests/helpers/reference.mjs).
//
// How golden.json's figures read: perplexity.windows are 4 windows of 257 ids, each starting at
// the last id of the one before (one stream of 1025 ids; window = 256 predictions); a window is
// one full pass predicting ids 1..256 from the ids before them. mean_nll_full_pass: G computed
// from each window (the full pass); mean_nll_G_eos: G fixed from the empty prompt [END]. The
// mean is over all 1024 predictions.
//
// Tolerance: each logit of a float32 run is within TOL_FACTOR = 4 times the reference's own
// float32 error (ref32_vs_64_maxabs_logits, as tests/golden.test.mjs); NLL = logsumexp(z) − z_y,
// and logsumexp moves by at most max|Δz|, so a mean NLL moves by at most 2 × that. The windows
// are not golden cases: the largest ref32_vs_64_maxabs_logits of the cases stands in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../js/loading/loader.js';
import { SentencePieceTokenizer } from '../js/tokenizer/tokenizer.js';
import { windowsOf } from '../js/cli/perplexity.mjs';
import { ROOT } from './helpers/engines.mjs';
import { bytesToF32 } from './helpers/files.mjs';
import { referenceForward } from './helpers/reference.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const TOL_FACTOR = 4;
const TINY = join(ROOT, 'models/pldr-tiny');
const golden = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/golden/pldr-tiny/golden.json'), 'utf8'));
const NLL_TOL = 2 * TOL_FACTOR * Math.max(...golden.cases.map((c) => c.ref32_vs_64_maxabs_logits));
const tmp = mkdtempSync(join(tmpdir(), 'pldr-perplexity-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function runCli(args) {
  const r = spawnSync(process.execPath, [join(ROOT, 'js/cli.mjs'), 'perplexity', '--model', TINY, '--no-progress', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function json(args) {
  const r = runCli([...args, '--json']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

const close = (a, b, what) => assert.ok(Math.abs(a - b) <= NLL_TOL, `${what}: ${a} vs ${b} (tolerance ${NLL_TOL.toExponential(2)})`);

test('windows: n + 1 ids each, stride n, every id after the first predicted once', () => {
  const ids = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(windowsOf(ids, 4), [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]]);
  assert.deepEqual(windowsOf(ids, 9), [ids]);
  assert.deepEqual(windowsOf([5], 4), []);
  const { windows } = golden.perplexity;
  assert.deepEqual(windowsOf([windows[0][0], ...windows.flatMap((w) => w.slice(1))], golden.perplexity.window), windows);
});

test('pldr perplexity on golden.json\'s windows: per-window G and G fixed from [END] give its mean NLLs', () => {
  const { windows, window, mean_nll_full_pass, mean_nll_G_eos } = golden.perplexity;
  const file = join(tmp, 'golden-ids.json');
  writeFileSync(file, JSON.stringify([windows[0][0], ...windows.flatMap((w) => w.slice(1))]));
  const out = json(['--ids-file', file, '--window', String(window)]);
  assert.deepEqual([out.tokens, out.windows, out.predicted, out.window], [1025, 4, 1024, 256]);
  close(out.per_window.mean_nll, mean_nll_full_pass, 'G recomputed per window vs mean_nll_full_pass');
  assert.equal(out.fixed.gcache, 'empty');
  close(out.fixed.mean_nll, mean_nll_G_eos, 'G fixed from [END] vs mean_nll_G_eos');
  assert.equal(out.difference.mean_nll, out.fixed.mean_nll - out.per_window.mean_nll);
  assert.ok(Math.abs(out.per_window.perplexity - Math.exp(mean_nll_full_pass)) <= Math.exp(mean_nll_full_pass) * 2 * NLL_TOL);
  // the same ids as whitespace-separated text, and the human-readable report
  const plain = join(tmp, 'golden-ids.txt');
  writeFileSync(plain, JSON.parse(readFileSync(file, 'utf8')).join(' \n'));
  const text = runCli(['--ids-file', plain]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^1025 tokens: 4 windows of up to 256 predictions \(1024 in all\)\n/);
  assert.match(text.out, /G recomputed per window \(prompt\) +mean NLL 3\.9156\d\d +perplexity 50\.18/);
  assert.match(text.out, /G fixed from the empty prompt \[END\] \(empty\) +mean NLL 3\.9126\d\d/);
  assert.match(text.out, /difference \(fixed - per window\) +mean NLL -0\.0030\d\d +perplexity -0\.3\d\d %/);
});

/** pldr-tiny's weights as {shape, data} by name, for the float64 reference. */
async function tinyWeights() {
  const W = new Map();
  await loadModel(TINY, {
    configure() {}, finish() {}, abort() {},
    begin(info) {
      const chunks = [];
      return { write: (b) => chunks.push(b.slice()), end: () => W.set(info.name, { shape: info.shape, data: bytesToF32(Buffer.concat(chunks)) }) };
    },
  });
  return W;
}

/** float64 mean NLL of the windows; G: per layer per head, or null (each window's own). */
function referenceNll(config, W, windows, G) {
  let sum = 0, count = 0;
  for (const w of windows) {
    const input = w.slice(0, -1), V = config.vocab_size;
    const { logits } = referenceForward(config, W, input, { G });
    for (let t = 0; t < input.length; t++) {
      let max = -Infinity;
      for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]);
      let z = 0;
      for (let i = 0; i < V; i++) z += Math.exp(logits[t * V + i] - max);
      sum += max + Math.log(z) - logits[t * V + w[t + 1]];
      count++;
    }
  }
  return sum / count;
}

test('pldr perplexity on a text the golden file does not hold: every mode against the float64 reference', async () => {
  const text = 'Rain fell on the quiet harbour. The boats waited for the morning tide.';
  const file = join(tmp, 'harbour.txt');
  writeFileSync(file, text);
  const tokenizer = SentencePieceTokenizer.fromBytes(readFileSync(join(TINY, 'tokenizer.model')));
  const ids = tokenizer.encodePrompt(text);
  const n = 7, windows = windowsOf(ids, n);
  assert.ok(windows.length >= 2 && ids.length > 2 * n, `${ids.length} tokens`);
  const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  const W = await tinyWeights();
  const empty = json(['--file', file, '--window', String(n)]);
  const first = json(['--file', file, '--window', String(n), '--gcache', 'first']);
  const only = json(['--file', file, '--window', String(n), '--gcache', 'prompt']);
  assert.equal(empty.tokens, ids.length);
  assert.deepEqual(only.per_window, empty.per_window);
  assert.equal(only.fixed, undefined);
  close(empty.per_window.mean_nll, referenceNll(config, W, windows, null), 'per window');
  const gEos = referenceForward(config, W, [3]).G, gFirst = referenceForward(config, W, windows[0].slice(0, -1)).G;
  close(empty.fixed.mean_nll, referenceNll(config, W, windows, gEos), 'G fixed from [END]');
  assert.equal(first.fixed.gcache, 'first');
  close(first.fixed.mean_nll, referenceNll(config, W, windows, gFirst), 'G fixed from the first window');
  // the first window with its own G, per window or fixed, is the same pass
  assert.notEqual(first.fixed.mean_nll, empty.fixed.mean_nll);
});

test('pldr perplexity: a G-only model has only its fixed G; bad options and texts are refused', () => {
  const python = spawnSync('python3', ['--version']).status === 0;
  if (!skipUnlessCI(python ? false : 'python3 not installed')) {
    const dir = join(tmp, 'g-only');
    const r = spawnSync('python3', [join(ROOT, 'tools/convert'), TINY, dir, '--quiet', '--gcache', join(ROOT, 'tests/fixtures/golden/pldr-tiny', golden.G_eos.file)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const file = join(tmp, 'g-only-ids.json');
    const { windows, mean_nll_G_eos } = golden.perplexity;
    writeFileSync(file, JSON.stringify([windows[0][0], ...windows.flatMap((w) => w.slice(1))]));
    const cli = spawnSync(process.execPath, [join(ROOT, 'js/cli.mjs'), 'perplexity', '--model', dir, '--ids-file', file, '--json', '--no-progress'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout);
    assert.equal(out.per_window, undefined);
    assert.equal(out.fixed.gcache, 'fixed');
    close(out.fixed.mean_nll, mean_nll_G_eos, 'the G-only model carries G_eos');
  }
  const one = join(tmp, 'one.txt');
  writeFileSync(one, '[3]');
  writeFileSync(join(tmp, 'one-id.json'), '[3]');
  for (const [args, pattern] of [[[], /--file TEXT or --ids-file/], [['--file', one, '--ids-file', one], /exactly one/],
    [['--ids-file', join(tmp, 'one-id.json')], /at least 2 are needed/], [['--file', one, '--window', '0'], /--window 0/],
    [['--file', one, '--window', '2000'], /larger than the model's context/], [['--file', one, '--gcache', 'off'], /--gcache off/]]) {
    const r = runCli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, pattern, args.join(' '));
  }
  writeFileSync(join(tmp, 'bad.json'), '[5, 99999]');
  assert.match(runCli(['--ids-file', join(tmp, 'bad.json')]).err, /id 99999 at index 1 is outside the vocabulary/);
});
