// Defaults agree: the API, the CLI and the chat page's form take theirs from js/defaults.js (the
// element sends only the attributes it has, so it gets the engine's: tests/browser.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LOAD, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_URL, DEFAULT_SAMPLING, GCACHE_MODES, PLDR, WEIGHT_FORMATS } from '../js/pldr.js';
import { WEIGHT_FORMATS as C_WEIGHT_FORMATS } from '../js/runtime/model.js';
import { ROOT } from './helpers/engines.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
/** Greedy, this prompt goes round in circles without ever reaching [END]. */
const LOOPING = 'Once upon a time, in a small village by the sea,';

test('the API: without options a generation stops at DEFAULT_MAX_TOKENS and samples with DEFAULT_SAMPLING', async () => {
  const engine = await PLDR.load(TINY);
  assert.equal(engine.model.gcacheMode, DEFAULT_LOAD.gcache);
  const greedy = await engine.generate(LOOPING, { temperature: 0 }).result;
  assert.equal(greedy.finishReason, 'length');
  assert.equal(greedy.completionTokens, DEFAULT_MAX_TOKENS);
  const implicit = await engine.generate(LOOPING, { seed: 11, maxTokens: 48 }).result;
  const explicit = await engine.generate(LOOPING, { ...DEFAULT_SAMPLING, seed: 11, maxTokens: 48 }).result;
  assert.deepEqual(implicit.ids, explicit.ids);
  const other = await engine.generate(LOOPING, { ...DEFAULT_SAMPLING, temperature: DEFAULT_SAMPLING.temperature + 0.5, seed: 11, maxTokens: 48 }).result;
  assert.notDeepEqual(other.ids, implicit.ids, 'the comparison can tell sampling settings apart');
  engine.free();
  assert.equal(fileURLToPath(DEFAULT_MODEL_URL).replace(/\/$/, ''), TINY);
  assert.deepEqual(WEIGHT_FORMATS, C_WEIGHT_FORMATS, 'the formats the C runtime numbers are the ones offered');
});

test('the CLI: its help states the defaults and a run without flags uses them', () => {
  const cli = (args) => spawnSync('node', [join(ROOT, 'js/cli.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
  const help = cli(['generate', '--help']).stdout;
  const stated = (flag) => help.match(new RegExp(`--${flag} .*\\(default ([^)]+)\\)`))?.[1];
  assert.equal(stated('max-tokens'), String(DEFAULT_MAX_TOKENS));
  for (const [flag, key] of [['temperature', 'temperature'], ['top-k', 'topK'], ['top-p', 'topP'], ['min-p', 'minP'],
    ['repetition-penalty', 'repetitionPenalty'], ['frequency-penalty', 'frequencyPenalty'], ['presence-penalty', 'presencePenalty']]) {
    assert.equal(stated(flag), String(DEFAULT_SAMPLING[key]), `--${flag}`);
  }
  assert.match(help, new RegExp(`--gcache MODE +${DEFAULT_LOAD.gcache} \\(default\\)`));
  for (const mode of GCACHE_MODES) assert.match(help, new RegExp(`^ +(--gcache MODE +)?${mode}( \\(default\\))?: `, 'm'), `--gcache ${mode}`);
  assert.match(help, new RegExp(`--quant FORMAT +${WEIGHT_FORMATS.map((f) => (f === DEFAULT_LOAD.quant ? `${f} \\(default\\)` : f)).join(' \\| ')}:`));

  const run = cli(['generate', '--prompt', LOOPING, '--greedy', '--json', '--no-progress']);
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.equal(out.ids.length, DEFAULT_MAX_TOKENS, 'no --max-tokens: the default');
  assert.equal(out.stats.gcacheMode, DEFAULT_LOAD.gcache);
});

test('the chat page: its form starts at the defaults and offers exactly the G-cache modes and weight formats', () => {
  const html = readFileSync(join(ROOT, 'web/index.html'), 'utf8');
  const value = (id) => html.match(new RegExp(`<input id="${id}"[^>]*\\bvalue="([^"]*)"`))?.[1];
  assert.equal(Number(value('temperature')), DEFAULT_SAMPLING.temperature);
  assert.equal(Number(html.match(/<output id="temperature-out"[^>]*>([^<]*)</)?.[1]), DEFAULT_SAMPLING.temperature);
  assert.equal(Number(value('topK')), DEFAULT_SAMPLING.topK);
  assert.equal(Number(value('topP')), DEFAULT_SAMPLING.topP);
  assert.equal(Number(value('maxTokens')), DEFAULT_MAX_TOKENS);
  assert.equal(Number(value('repetitionPenalty')), DEFAULT_SAMPLING.repetitionPenalty);
  const options = (id) => [...html.slice(html.indexOf(`<select id="${id}"`), html.indexOf('</select>', html.indexOf(`<select id="${id}"`)))
    .matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(options('gcache'), [...GCACHE_MODES]);
  assert.deepEqual(options('quant'), [...WEIGHT_FORMATS]);
  assert.equal(options('gcache')[0], DEFAULT_LOAD.gcache, 'the first option is what shows before any choice');
  assert.equal(options('quant')[0], DEFAULT_LOAD.quant);
});
