// Multi-threaded inference in a browser (issue 14): in headless Chromium, served cross-origin
// isolated by tools/serve.mjs (COOP/COEP), the threaded module runs its kernels' pool on module
// Web Workers nested in the engine's worker, and gives the bits Node's single thread gives — every
// weight format and G-cache mode, 2 and 3 threads; on the page's main thread too (where the caller
// spins instead of Atomics.wait); the engine worker (PldrWorker) and <pldr-chat threads> pick the
// option up; a page that is not cross-origin isolated gets the single-thread module and a note
// saying why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { startServer } from '../tools/serve.mjs';
import { ROOT, browserSkipReason, launchBrowser, watchPage } from './helpers/browser.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';
import { loadStats, runProbe } from './fixtures/threads/probe.mjs';

const skip = skipUnlessCI(browserSkipReason());
const TINY = join(ROOT, 'models/pldr-tiny');
const RUNS = ['f32', 'q8', 'q4'].flatMap((quant) => ['first', 'prompt', 'off', 'empty'].map((gcache) => ({ quant, gcache })));
const PAGE = 'tests/fixtures/threads/blank.html';

/** A proxy to `target` that drops the cross-origin isolation headers: a page served without them. */
async function withoutIsolation(target) {
  const server = http.createServer((req, res) => {
    const up = http.request(new URL(req.url, target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
      const headers = { ...r.headers };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      res.writeHead(r.statusCode, headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://localhost:${server.address().port}/`, close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }) };
}

describe('threads in headless Chromium', { skip }, () => {
  let server, browser, node;

  before(async () => {
    server = await startServer({ root: ROOT });
    browser = await launchBrowser();
    node = await runProbe(TINY, 1, RUNS); // the reference: Node, one thread
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens the blank page at base; runs fn in it with a watcher for the failure message. */
  async function inPage(base, fn) {
    const page = await browser.context.newPage();
    const watch = watchPage(page);
    try {
      await page.goto(new URL(PAGE, base).href);
      return await fn(page);
    } catch (err) {
      throw new Error(`${err.message}\n${watch.dump()}`);
    } finally {
      await page.close();
    }
  }

  /** Sends one request to tests/fixtures/threads/probe.mjs in a module worker of the page. */
  const inWorker = (page, request) => page.evaluate((req) => new Promise((resolve, reject) => {
    const w = new Worker('/tests/fixtures/threads/probe.mjs', { type: 'module' });
    w.onerror = (e) => reject(new Error(`probe worker: ${e.message}`));
    w.onmessage = ({ data }) => {
      if (data.loaded) return w.postMessage(req);
      w.terminate();
      if (data.error) reject(new Error(data.error)); else resolve(data);
    };
  }), request);

  for (const threads of [2, 3]) {
    test(`${threads} threads in a worker: the bits of Node's one thread, every weight format and G-cache mode`, async () => {
      const got = await inPage(server.url, (page) => inWorker(page, { threads, runs: RUNS }));
      assert.deepEqual(got.info, { threads, variant: 'threads', note: '', isolated: true });
      for (const { quant, gcache } of RUNS) {
        const what = `${quant} ${gcache}`;
        assert.deepEqual(got.results[what], node.results[what], `${threads} threads, ${what}`);
      }
    });
  }

  test("on the page's main thread (no Atomics.wait there): 2 threads, the same bits", async () => {
    const got = await inPage(server.url, (page) => page.evaluate(async () => {
      const { runProbe } = await import('/tests/fixtures/threads/probe.mjs');
      return runProbe(new URL('/models/pldr-tiny/', location.origin).href, 2, [{ quant: 'q8', gcache: 'prompt' }]);
    }));
    assert.equal(got.info.threads, 2, got.info.note);
    assert.deepEqual(got.results['q8 prompt'], node.results['q8 prompt']);
  });

  test('the engine worker (PldrWorker) and <pldr-chat threads="2"> run 2 threads, replying as Node does', async () => {
    const nodeStats = await loadStats(TINY, 1);
    const got = await inPage(server.url, (page) => page.evaluate(async () => {
      const { PldrWorker } = await import('/js/pldr.js');
      const client = new PldrWorker();
      const info = await client.load(new URL('/models/pldr-tiny/', location.origin), { threads: 2, cache: false });
      const reply = await client.generate('The Python language is', { temperature: 0, maxTokens: 8 }).result;
      client.terminate?.();
      await import('/js/pldr-chat.js');
      const el = document.createElement('pldr-chat');
      el.setAttribute('model', '/models/pldr-tiny/');
      el.setAttribute('threads', '2');
      const loaded = new Promise((resolve, reject) => {
        el.addEventListener('pldr-load', (e) => resolve(e.detail), { once: true });
        el.addEventListener('pldr-error', (e) => reject(new Error(e.detail.title)), { once: true });
      });
      document.body.append(el);
      const elementInfo = await loaded;
      return { threads: info.threads, statsThreads: reply.stats.threads, text: reply.text, elementThreads: elementInfo.threads };
    }));
    assert.deepEqual({ threads: got.threads, statsThreads: got.statsThreads, elementThreads: got.elementThreads },
      { threads: 2, statsThreads: 2, elementThreads: 2 });
    const engine = await (await import('../js/pldr.js')).PLDR.load(TINY, { threads: 1, cache: false });
    assert.equal(got.text, (await engine.generate('The Python language is', { temperature: 0, maxTokens: 8 }).result).text);
    engine.free();
    assert.equal(nodeStats.ids.length, 8);
  });

  test('a page without COOP/COEP: the single-thread module, the same reply, and a note saying why', async () => {
    const plain = await withoutIsolation(server.url);
    try {
      const got = await inPage(plain.url, (page) => inWorker(page, { kind: 'stats', threads: 2 }));
      assert.equal(got.threads, 1);
      assert.equal(got.variant, 'simd128');
      assert.match(got.note, /cross-origin isolated/);
      assert.deepEqual(got.ids, (await loadStats(TINY, 1)).ids);
    } finally {
      await plain.close();
    }
  });
});
