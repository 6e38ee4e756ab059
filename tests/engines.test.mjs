// The same end-to-end checks in Chromium, Firefox and WebKit (tests/helpers/browser.mjs drives
// each): the chat page's greedy reply equals the Node engine's, Stop, a reload that loads every
// shard from the Cache API, offline under the service worker, readable errors, and the CDN embed —
// <pldr-chat> imported from a second origin (the packed npm files, served with CORS as an npm CDN
// serves them) on a page of the first, answering with its default model (pldr-web-tiny beside it).
// Each engine's greedy reply and decode speed go to tests/artifacts/engines.json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { startServer } from '../tools/serve.mjs';
import { ARTIFACTS, ENGINE_NAMES, ROOT, engineMissing, launch } from './helpers/browser.mjs';
import { packBoth, startCdn } from './helpers/packed.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const MODEL_DIR = join(ROOT, 'models/pldr-tiny');
const SHARD = /\.safetensors$/;
const LOAD_TIMEOUT = 120_000;
/** The page's sampling settings for a greedy reply, and the same options for the Node engine. */
const GREEDY = { temperature: 0, topK: 40, topP: 0.95, maxTokens: 24, repetitionPenalty: 1 };
const QUESTION = 'Hello! What is your name?';
const SPEED_PROMPT = 'The Python language is';
const SPEED_TOKENS = 128;
/** @type {Record<string, any>} per engine: what tests/artifacts/engines.json reports */
const report = {};

/** @type {import('../js/pldr.js').Engine} */
let node;
const expected = {};
let packed, scratch;

before(async () => {
  node = await PLDR.load(MODEL_DIR);
  expected.reply = await node.respond([{ role: 'user', content: QUESTION }], GREEDY).result.then((r) => r.text);
  // a fresh engine, as the page's fresh worker: G-cache mode 'first' keeps the G of its first prompt
  const fresh = await PLDR.load(MODEL_DIR);
  expected.speed = await fresh.generate(SPEED_PROMPT, { temperature: 0, maxTokens: SPEED_TOKENS }).result.then((r) => r.text);
  fresh.free();
  scratch = mkdtempSync(join(tmpdir(), 'pldr-engines-'));
  packed = packBoth();
});

after(() => {
  node?.free();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (packed) rmSync(packed.dir, { recursive: true, force: true });
  if (Object.keys(report).length) {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'engines.json'), `${JSON.stringify({
      model: 'pldr-tiny', question: QUESTION, greedy: GREEDY, speed: { prompt: SPEED_PROMPT, maxTokens: SPEED_TOKENS },
      tarball: packed && { file: packed.runtime.file.split('/').pop(), bytes: packed.runtime.size, files: packed.runtime.files.length },
      engines: report,
    }, null, 2)}\n`);
  }
});

/** A first-origin page that is not this repository: one module script from the CDN and one element. */
async function startEmbedSite(scriptUrl) {
  const html = `<!doctype html><meta charset="utf-8"><title>Someone's page</title>
<script type="module" src="${scriptUrl}"></script>
<h1>My page</h1>
<pldr-chat temperature="0" top-k="40" top-p="0.95" max-tokens="${GREEDY.maxTokens}" repetition-penalty="1"></pldr-chat>\n`;
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req.url);
    if (req.url !== '/') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${port}/`, requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

for (const engine of ENGINE_NAMES) {
  describe(`${engine}: the chat page and the CDN embed`, { skip: skipUnlessCI(engineMissing(engine)) }, () => {
    /** @type {Awaited<ReturnType<typeof startServer>>} */
    let server;
    /** @type {import('./helpers/browser.mjs').Driver} */
    let b;
    const seen = report[engine] = {};

    before(async () => {
      server = await startServer({ root: ROOT });
      b = await launch(engine);
      seen.version = b.version;
    });
    after(async () => {
      await b?.close();
      await server?.close();
    });

    const shardRequests = (from = 0) => server.requests.slice(from).filter((r) => SHARD.test(r.path));
    const fail = (message) => assert.fail(`${message}\n${b.log()}`);

    /** Waits until the page's model is ready; fails with what the page shows otherwise. */
    async function waitReady() {
      const state = await b.waitFor(() => ['ready', 'error'].includes(document.body.dataset.state) && document.body.dataset.state,
        null, { timeout: LOAD_TIMEOUT, what: 'the page to load the model' });
      if (state !== 'ready') fail(`the model did not load: ${await b.evaluate(() => document.getElementById('error')?.innerText)}`);
    }

    /** The page's sampling settings and mode, set as a person would leave them. */
    async function settings(values, mode) {
      await b.evaluate(([values, mode]) => {
        for (const [id, value] of Object.entries(values)) {
          const el = /** @type {HTMLInputElement} */ (document.getElementById(id));
          el.value = String(value);
          el.dispatchEvent(new Event('input', { bubbles: true }));
        }
        const radio = /** @type {HTMLInputElement} */ (document.querySelector(`input[name="mode"][value="${mode}"]`));
        radio.checked = true;
        radio.dispatchEvent(new Event('change', { bubbles: true }));
      }, [values, mode]);
    }

    /** Types `text`, presses Enter; resolves with the new reply's data once it is no longer streaming. */
    async function ask(text, { wait = true } = {}) {
      const index = await b.evaluate(() => document.querySelectorAll('.reply').length);
      await b.type('#input', text);
      await b.press('#input', 'Enter');
      await b.waitFor((i) => !!document.querySelectorAll('.reply')[i], index, { what: 'the reply to appear' });
      if (!wait) return index;
      return b.waitFor((i) => {
        const el = /** @type {HTMLElement} */ (document.querySelectorAll('.reply')[i]);
        return el.dataset.state !== 'streaming' && { ...el.dataset, text: el.querySelector('.text, .completion')?.textContent ?? '' };
      }, index, { timeout: 90_000, what: 'the reply to end' });
    }

    test('greedy: the page downloads pldr-tiny and replies as the Node engine does; decode speed in the worker', async () => {
      await b.goto(new URL('web/', server.url).href);
      await waitReady();
      assert.ok(shardRequests().length >= 4, 'the four shards came over the network');
      await settings(GREEDY, 'chat');
      const reply = await ask(QUESTION);
      assert.equal(reply.state, 'done', b.log());
      assert.equal(reply.text, expected.reply.trimStart(), 'the reply the Node engine gives');
      seen.greedyReply = reply.text;
      await b.screenshot('engines-greedy');

      // the same module, from the page, through the public worker client: a longer greedy run for tok/s
      const speed = await b.evaluate(async ([prompt, maxTokens]) => {
        const { PldrWorker } = await import('../js/browser/worker-client.js');
        const client = new PldrWorker();
        try {
          await client.load('../models/pldr-tiny/');
          const r = await client.generate(prompt, { temperature: 0, maxTokens }).result;
          return { text: r.text, decode: r.stats.decodeTokensPerSec, prefill: r.stats.prefillTokensPerSec, tokens: r.stats.completionTokens };
        } finally {
          client.terminate();
        }
      }, [SPEED_PROMPT, SPEED_TOKENS]);
      assert.equal(speed.text, expected.speed, `${SPEED_TOKENS} greedy tokens equal the Node engine's`);
      assert.ok(speed.decode > 0, `decode ${speed.decode} tok/s`);
      Object.assign(seen, { decodeTokensPerSec: Math.round(speed.decode), prefillTokensPerSec: Math.round(speed.prefill),
        speedTokens: speed.tokens, speedText: speed.text });
    });

    test('Stop ends a long answer at once and the page answers the next message', async () => {
      await settings({ ...GREEDY, maxTokens: 900 }, 'complete');
      const index = await ask('Once upon a time, in a small village by the sea,', { wait: false });
      await b.waitFor((i) => Number(/** @type {HTMLElement} */ (document.querySelectorAll('.reply')[i]).dataset.tokens) >= 30,
        index, { what: '30 tokens' });
      await b.click('#stop');
      const r = await b.waitFor((i) => {
        const el = /** @type {HTMLElement} */ (document.querySelectorAll('.reply')[i]);
        return el.dataset.state !== 'streaming' && { ...el.dataset };
      }, index, { timeout: 30_000, what: 'the reply to stop' });
      assert.equal(r.state, 'stopped');
      assert.equal(r.finish, 'abort');
      const total = Number(r.completionTokens), reached = Number(r.workerTokensAtStop);
      assert.ok(total < 900, `stopped mid-answer (${total} tokens)`);
      assert.ok(total - reached <= 2, `at most two tokens after Stop reached the worker (then ${reached}, in all ${total})`);
      await settings({ ...GREEDY, maxTokens: 8 }, 'chat');
      const next = await ask('Are you still there?');
      assert.equal(next.state, 'done');
    });

    test('a reload loads every shard from the Cache API: no shard request', async () => {
      await b.waitFor(() => navigator.serviceWorker.ready.then(() => true), null, { what: 'the service worker' });
      const mark = server.requests.length;
      await b.reload();
      await waitReady();
      assert.deepEqual(shardRequests(mark).map((r) => `${r.method} ${r.path}`), [], 'no request for a shard');
      assert.match(await b.evaluate(() => document.getElementById('model-info')?.innerText ?? ''), /from the browser cache/);
      seen.reloadShardRequests = shardRequests(mark).length;
    });

    test('offline: with the server stopped, the page, the engine and the model come from the caches', async () => {
      const port = server.port;
      await server.close();
      try {
        await b.reload();
        await waitReady();
        await b.click('#new-chat');   // the reload reopened the conversation on screen: start afresh
        await settings(GREEDY, 'chat');
        const reply = await ask(QUESTION);
        assert.equal(reply.state, 'done', b.log());
        assert.equal(reply.text, expected.reply.trimStart());
      } finally {
        server = await startServer({ root: ROOT, port });
      }
    });

    test('readable errors: no model at the address, and a damaged shard named', async () => {
      await b.goto(new URL('web/?model=/no/such/model/', server.url).href);
      const shown = await b.waitFor(() => {
        const el = document.getElementById('error');
        return el && !el.hidden && { code: el.dataset.code, title: document.getElementById('error-title')?.innerText };
      }, null, { timeout: 30_000, what: 'the error' });
      assert.deepEqual(shown, { code: 'E_NOT_FOUND', title: 'No model found at that address.' });

      const shard = 'model-00003-of-00004.safetensors';
      const dir = join(ARTIFACTS, 'models', `truncated-${engine}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      for (const file of readdirSync(MODEL_DIR)) if (file !== shard) symlinkSync(join(MODEL_DIR, file), join(dir, file));
      const bytes = readFileSync(join(MODEL_DIR, shard));
      writeFileSync(join(dir, shard), bytes.subarray(0, bytes.length - 1000));
      await b.goto(new URL(`web/?model=../tests/artifacts/models/truncated-${engine}/`, server.url).href);
      const damaged = await b.waitFor(() => {
        const el = document.getElementById('error');
        return el && !el.hidden && { code: el.dataset.code, title: document.getElementById('error-title')?.innerText };
      }, null, { timeout: LOAD_TIMEOUT, what: 'the error' });
      assert.deepEqual(damaged, { code: 'E_TRUNCATED', title: `The model file ${shard} is damaged or incomplete.` });
      await b.screenshot('engines-error');
    });

    test('CDN embed: <pldr-chat> from another origin (the packed files, CORS) answers on a page of the first', async () => {
      const cdn = await startCdn([packed.runtime, packed.model], join(scratch, `cdn-${engine}`));
      const site = await startEmbedSite(new URL('js/pldr-chat.js', cdn.packageUrl(packed.runtime)).href);
      try {
        await b.goto(site.url);
        const state = await b.waitFor(() => ['ready', 'error'].includes(document.querySelector('pldr-chat')?.dataset.state ?? '')
          && document.querySelector('pldr-chat')?.dataset.state, null, { timeout: LOAD_TIMEOUT, what: 'the element to load its model' });
        if (state !== 'ready') {
          fail(`the element did not load: ${await b.evaluate(() => document.querySelector('pldr-chat')?.shadowRoot?.querySelector('.error')?.textContent)}`);
        }
        const reply = await b.evaluate((q) => /** @type {any} */ (document.querySelector('pldr-chat')).ask(q), QUESTION);
        assert.equal(reply, expected.reply, 'the element answers as the Node engine does');
        const fromCdn = (what) => cdn.requests.filter((r) => what.test(r.path)).map((r) => r.path);
        // the module this engine gets (js/runtime/features.js): relaxed SIMD in Chromium and Firefox
        assert.ok(fromCdn(/\/npm\/pldr-web@[^/]+\/dist\/pldr(-relaxed|-threads|-threads-relaxed)?\.wasm$/).length > 0, 'the wasm came from the CDN, beside the element');
        assert.ok(fromCdn(/\/npm\/pldr-web-tiny@[^/]+\/model-00001-of-00004\.safetensors$/).length > 0,
          'the default model came from the pldr-web-tiny package on the CDN');
        assert.deepEqual(site.requests.filter((u) => u !== '/favicon.ico'), ['/'], 'the page\'s own origin served only the page');
        await b.screenshot('engines-embed');
      } finally {
        await site.close();
        await cdn.close();
      }
    });
  });
}
