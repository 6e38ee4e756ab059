// Multi-threaded inference in browsers (issue 14), in Chromium, Firefox and WebKit
// (tests/helpers/browser.mjs): served cross-origin isolated by tools/serve.mjs (COOP/COEP), a
// threaded module runs its kernels' pool on module Web Workers nested in the engine's worker, and
// gives the bits of one thread of the same kernels — every weight format and G-cache mode, 2 and 3
// threads: the relaxed-SIMD kernels (threads-relaxed against relaxed) where relaxed SIMD works,
// the baseline ones (threads, against Node's single thread) everywhere; on the page's main thread
// too (where the caller spins instead of Atomics.wait); the engine worker (PldrWorker), <pldr-chat
// threads> and the chat page's ?threads= pick the option up; a page that is not cross-origin
// isolated gets a single-thread module and a note saying why. WebKitGTK's MiniBrowser (2.50)
// creates shared WebAssembly memory on an isolated page but refuses to post it to a worker
// (DataCloneError): there the same checks expect one thread, the note, the same bits.
// An engine in a worker has its thread workers started by the page (js/runtime/thread-host.js):
// Firefox can block a worker forever in a nested `new Worker` right after a navigation, so the
// nested path (a worker starting its own threads) is checked in Chromium alone, and reloading a
// page whose engine runs threads is checked to answer every time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { startServer } from '../tools/serve.mjs';
import { ENGINE_NAMES, ROOT, engineMissing, launch } from './helpers/browser.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';
import { loadStats, runProbe } from './fixtures/threads/probe.mjs';

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

/** Node's single thread: the bits every browser run must give. */
let reference = null;
const nodeReference = async () => (reference ??= await runProbe(TINY, 1, RUNS));

/** Engines that can share WebAssembly memory with workers (see the header). */
const SHARES_MEMORY = { chromium: true, firefox: true, webkit: false };
const NO_SHARING = /cannot pass shared WebAssembly memory to workers/;

for (const engine of ENGINE_NAMES) {
  describe(`${engine}: threads`, { skip: skipUnlessCI(engineMissing(engine)) }, () => {
    let server, browser, node, one;
    const shares = SHARES_MEMORY[engine];
    /** What a runtime asked for `threads` threads reports in this engine, whose single thread runs `single`. */
    const expectInfo = (threads, info, single = one.info.variant) => {
      const threaded = single === 'relaxed' ? 'threads-relaxed' : 'threads';
      if (shares) return assert.deepEqual(info, { threads, variant: threaded, note: '', isolated: true });
      assert.deepEqual({ ...info, note: undefined }, { threads: 1, variant: single, note: undefined, isolated: true });
      assert.match(info.note, NO_SHARING);
    };

    before(async () => {
      node = await nodeReference();
      server = await startServer({ root: ROOT });
      browser = await launch(engine);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    /** Opens the blank page at base, then runs fn(arg) in it (a function of the page: no closures). */
    async function inPage(base, fn, arg) {
      await browser.goto(new URL(PAGE, base).href);
      try {
        return await browser.evaluate(fn, arg);
      } catch (err) {
        throw new Error(`${err.message}\n${browser.log()}`);
      }
    }
    /** In the page: one request to tests/fixtures/threads/probe.mjs in a module worker. */
    const inWorker = async (req) => (await import('/tests/fixtures/threads/probe.mjs')).inWorker(req);

    test('one thread in a worker: the module this engine chooses (relaxed SIMD where it works)', async () => {
      one = await inPage(server.url, inWorker, { threads: 1, runs: RUNS });
      assert.match(one.info.variant, /^(simd128|relaxed)$/);
      if (one.info.variant === 'simd128') assert.deepEqual(one.results, node.results, "the baseline kernels: Node's bits");
    });

    for (const threads of shares ? [2, 3] : [2]) { // (without sharing, 3 would repeat 2's single thread)
      test(`${threads} threads in a worker: the bits of one thread of the same kernels, every weight format and G-cache mode`, async () => {
        const got = await inPage(server.url, inWorker, { threads, runs: RUNS });
        expectInfo(threads, got.info);
        for (const { quant, gcache } of RUNS) {
          const what = `${quant} ${gcache}`;
          assert.deepEqual(got.results[what], one.results[what], `${threads} threads (${got.info.variant}), ${what}`);
        }
      });
    }

    test('threads started by the engine worker itself (nested workers), 2 threads: the same bits',
      { skip: engine !== 'chromium' && 'nested workers can hang after a navigation in Firefox; none share memory in WebKit' }, async () => {
        const got = await inPage(server.url, inWorker, { threads: 2, runs: RUNS.slice(4, 8), nested: true });
        expectInfo(2, got.info);
        for (const { quant, gcache } of RUNS.slice(4, 8)) assert.deepEqual(got.results[`${quant} ${gcache}`], one.results[`${quant} ${gcache}`]);
      });

    test("the threaded baseline module (variant threads), 2 threads: the bits of Node's one thread", { skip: !shares && 'no shared memory for workers here' }, async () => {
      const got = await inPage(server.url, inWorker, { threads: 2, runs: RUNS, variant: 'threads' });
      assert.deepEqual(got.info, { threads: 2, variant: 'threads', note: '', isolated: true });
      for (const { quant, gcache } of RUNS) assert.deepEqual(got.results[`${quant} ${gcache}`], node.results[`${quant} ${gcache}`], `${quant} ${gcache}`);
    });

    test("on the page's main thread (no Atomics.wait there): 2 threads, the same bits", async () => {
      const got = await inPage(server.url, async () => {
        const { runProbe } = await import('/tests/fixtures/threads/probe.mjs');
        return runProbe(new URL('/models/pldr-tiny/', location.origin).href, 2, [{ quant: 'q8', gcache: 'prompt' }]);
      });
      expectInfo(2, got.info);
      assert.deepEqual(got.results['q8 prompt'], one.results['q8 prompt']);
    });

    test('the engine worker (PldrWorker) and <pldr-chat threads="2"> run 2 threads, replying as Node does', async () => {
      const got = await inPage(server.url, async () => {
        const names = [];
        const PageWorker = Worker;
        globalThis.Worker = class extends PageWorker { constructor(url, o) { super(url, o); names.push(o?.name); } };
        const { PldrWorker } = await import('/js/pldr.js');
        const client = new PldrWorker();
        const info = await client.load(new URL('/models/pldr-tiny/', location.origin), { threads: 2, cache: false });
        const reply = await client.generate('The Python language is', { temperature: 0, maxTokens: 8 }).result;
        client.terminate();
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
        el.remove();
        globalThis.Worker = PageWorker;
        return { threads: info.threads, statsThreads: reply.stats.threads, text: reply.text, elementThreads: elementInfo.threads, names };
      });
      const n = shares ? 2 : 1;
      assert.deepEqual(got.names, shares ? ['pldr-engine', 'pldr-thread', 'pldr-engine', 'pldr-thread'] : ['pldr-engine', 'pldr-engine'],
        "the page starts the engine workers' threads");
      assert.deepEqual({ threads: got.threads, statsThreads: got.statsThreads, elementThreads: got.elementThreads },
        { threads: n, statsThreads: n, elementThreads: n });
      assert.deepEqual(got.text, (await loadStats(TINY, 1)).text);
    });

    test('a page whose engine worker runs 2 threads, reloaded 6 times: every load answers', async () => {
      const run = async () => {
        const { PldrWorker } = await import('/js/pldr.js');
        const client = new PldrWorker();
        const info = await client.load(new URL('/models/pldr-tiny/', location.origin), { threads: 2, cache: false });
        const reply = await client.generate('The Python language is', { temperature: 0, maxTokens: 4 }).result;
        return { threads: info.threads, text: reply.text };
      };
      const texts = [];
      for (let i = 0; i < 6; i++) { // no pause: the last page's workers are still shutting down
        await browser.goto(new URL(PAGE, server.url).href);
        let timer;
        const got = await Promise.race([browser.evaluate(run), new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`load ${i + 1} did not answer within 60 s`)), 60_000);
        })]).finally(() => clearTimeout(timer));
        assert.equal(got.threads, shares ? 2 : 1);
        texts.push(got.text);
      }
      assert.equal(new Set(texts).size, 1);
    });

    test('the chat page takes ?threads= and says how many threads run, and why not more', async () => {
      const shown = async (base) => {
        await browser.goto(new URL('web/?threads=2', base).href);
        return browser.evaluate(async () => {
          for (let i = 0; i < 600 && document.body.dataset.state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
          const info = document.getElementById('model-info');
          return { state: document.body.dataset.state, text: info.textContent, title: info.title };
        });
      };
      const isolated = await shown(server.url);
      assert.equal(isolated.state, 'ready');
      assert.match(isolated.text, shares ? / · 2 threads · / : / · 1 thread · /);
      if (!shares) assert.match(isolated.title, NO_SHARING);
      const plain = await withoutIsolation(server.url);
      try {
        const got = await shown(plain.url);
        assert.match(got.text, / · 1 thread · /);
        assert.match(got.title, /not cross-origin isolated/);
      } finally {
        await plain.close();
      }
    });

    test('a page without COOP/COEP: the single-thread module, the same reply, and a note saying why', async () => {
      const plain = await withoutIsolation(server.url);
      try {
        const got = await inPage(plain.url, inWorker, { kind: 'stats', threads: 2 });
        assert.equal(got.threads, 1);
        assert.equal(got.variant, one.info.variant, 'the single-thread module this engine chooses');
        assert.match(got.note, /cross-origin isolated/);
        assert.deepEqual(got.ids, (await loadStats(TINY, 1)).ids);
      } finally {
        await plain.close();
      }
    });
  });
}
