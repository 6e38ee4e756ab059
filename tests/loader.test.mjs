// Loader tests: models/pldr-tiny from a directory and over HTTP (with injected faults), plus small
// synthetic safetensors files for every malformed case. Run: node --test tests/loader.test.mjs

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadModel } from '../js/loading/loader.js';
import { folderUrl } from '../js/loading/sources.js';
import { Sha256, sha256Hex } from '../js/loading/sha256.js';
import { SafetensorsReader } from '../js/loading/safetensors.js';
import { SentencePieceTokenizer } from '../js/tokenizer/tokenizer.js';
import { MAX_PIECES } from '../js/tokenizer/model-proto.js';
import { AbortError, LoadError } from '../js/errors.js';
import { startServer } from './helpers/http-server.mjs';
import { assertSameTensors, expectedTensors, fakeCacheStorage, recordingSink, rejectsWith } from './helpers/loading.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TINY = join(REPO, 'models/pldr-tiny');
const MICRO = join(REPO, 'tests/fixtures/pldr-micro');
const SHARD1 = 'model-00001-of-00004.safetensors';
const FAST = { retries: 2, retryDelayMs: 5 };

// --- helpers ----------------------------------------------------------------------------------

/**
 * Builds safetensors bytes. `tensors` entries give name/dtype/shape (data is random); pass
 * `header` to write an arbitrary header (for malformed cases) with `dataLength` bytes of data.
 */
function safetensors({ tensors = [], metadata, header, dataLength }) {
  let data;
  if (!header) {
    header = {};
    if (metadata) header.__metadata__ = metadata;
    let at = 0;
    const parts = [];
    for (const t of tensors) {
      const size = t.bytes ?? t.shape.reduce((a, b) => a * b, 1) * { F32: 4, F16: 2, BF16: 2, U8: 1, F64: 8 }[t.dtype];
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + size] };
      parts.push(randomBytes(size));
      at += size;
    }
    data = Buffer.concat(parts);
  } else {
    data = randomBytes(dataLength ?? 0);
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

let scratch;
let counter = 0;
/** Writes a model folder: {file: bytes|string|object} (objects are written as JSON). */
async function modelDir(files) {
  const dir = join(scratch, `m${counter++}`);
  await mkdir(dir);
  const all = { 'config.json': { hidden_size: 8 }, ...files };
  for (const [name, content] of Object.entries(all)) {
    if (content === undefined) continue;
    const bytes = Buffer.isBuffer(content) || typeof content === 'string' ? content : JSON.stringify(content);
    await writeFile(join(dir, name), bytes);
  }
  return dir;
}

function manifestFor(files) {
  return {
    format: 'pldr-web-1',
    files: Object.entries(files).map(([path, bytes]) => ({
      path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'),
    })),
  };
}

// --- fixtures shared by the tests -------------------------------------------------------------

let tinyTensors;
let server;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pldr-loader-'));
  tinyTensors = await expectedTensors(TINY);
  server = await startServer(TINY);
});
after(async () => {
  await server.close();
  await rm(scratch, { recursive: true, force: true });
});

/** A fetch that sets `fault` on `file` as soon as a Range request (a resume) is made. */
function faultOnRange(srv, file, fault) {
  return (url, init) => {
    if (init?.headers?.Range) srv.setFault(file, fault);
    return globalThis.fetch(url, init);
  };
}

/** A stream of the first `n` bytes of `body` that then closes without an error. */
function firstBytes(body, n) {
  const reader = body.getReader();
  let left = n;
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done || left <= 0) {
        reader.cancel().catch(() => {});
        return controller.close();
      }
      const part = value.subarray(0, left);
      left -= part.length;
      controller.enqueue(part);
    },
  });
}

function freshServer() {
  server.clearFaults();
  server.requests.length = 0;
  return server;
}

// --- sha256 -----------------------------------------------------------------------------------

test('sha256 matches node:crypto for lengths around block edges and any chunking', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 70001]) {
    const bytes = randomBytes(n);
    const want = createHash('sha256').update(bytes).digest('hex');
    assert.equal(sha256Hex(bytes), want, `one shot, ${n} bytes`);
    const h = new Sha256();
    for (let i = 0; i < n; i += 1 + (i % 97)) h.update(bytes.subarray(i, Math.min(n, i + 1 + (i % 97))));
    assert.equal(h.hex(), want, `chunked, ${n} bytes`);
  }
});

// --- whole model, directory and HTTP ----------------------------------------------------------

describe('pldr-tiny', () => {
  test('from a directory: every tensor, byte-exact, plus config, tokenizer and progress', async () => {
    const sink = recordingSink();
    const events = [];
    const started = Date.now();
    const result = await loadModel(TINY, sink, { onProgress: (p) => events.push(p) });
    const elapsed = Date.now() - started;
    assertSameTensors(sink, tinyTensors);
    assert.equal(sink.finished, 1);
    assert.equal(sink.aborted, 0);
    assert.equal(sink.config.hidden_size, 256);
    assert.deepEqual(result.config, sink.config);
    assert.deepEqual(Buffer.from(result.tokenizer), await readFile(join(TINY, 'tokenizer.model')));
    const read = ['config.json', 'tokenizer.model', 'model.safetensors.index.json',
      ...[1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`)];
    const sizes = await Promise.all(read.map((f) => stat(join(TINY, f)).then((s) => s.size)));
    const bytes = sizes.reduce((a, b) => a + b, 0);
    assert.equal(result.bytes, bytes);
    assert.deepEqual(result.files.map((f) => f.file).sort(), [...read].sort());
    const last = events.at(-1);
    assert.equal(last.loaded, bytes);
    assert.equal(last.total, bytes);
    assert.equal(last.fileLoaded, last.fileTotal);
    assert.equal(last.fromCache, false);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].loaded >= events[i - 1].loaded);
    assert.ok(events.length <= read.length + Math.ceil(elapsed / 50) + 1,
      `${events.length} progress calls in ${elapsed} ms`);
  });

  test('over HTTP gives the same tensors and an exact total from HEAD', async () => {
    const srv = freshServer();
    const sink = recordingSink();
    const events = [];
    const result = await loadModel(srv.url, sink, { onProgress: (p) => events.push(p) });
    assertSameTensors(sink, tinyTensors);
    assert.deepEqual(Buffer.from(result.tokenizer), await readFile(join(TINY, 'tokenizer.model')));
    assert.equal(events.at(-1).total, result.bytes);
    const shardTotal = events.find((e) => e.file === SHARD1).total;
    assert.equal(shardTotal, result.bytes, 'total known before the first shard');
    assert.ok(srv.requests.some((r) => r.method === 'HEAD'));
    assert.ok(!srv.requests.some((r) => r.file === 'model.safetensors'), 'index found first');
  });

  test('a connection dropped mid-shard resumes with Range, byte-identical', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { dropAt: 5_000_001, times: 1 });
    const sink = recordingSink();
    await loadModel(srv.url, sink, FAST);
    assertSameTensors(sink, tinyTensors);
    const resumed = srv.requests.filter((r) => r.file === SHARD1 && r.range);
    assert.equal(resumed.length, 1);
    assert.match(resumed[0].range, /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(resumed[0].range)[0]) > 0);
    assert.equal(resumed[0].status, 206);
  });

  test('a body that ends cleanly but short of Content-Length is resumed too', async () => {
    const srv = freshServer();
    let cut = false;
    const fetch = async (url, init) => {
      const response = await globalThis.fetch(url, init);
      if (cut || !String(url).endsWith(SHARD1) || init?.method === 'HEAD') return response;
      cut = true;
      return new Response(firstBytes(response.body, 3_000_000), { status: response.status, headers: response.headers });
    };
    const sink = recordingSink();
    await loadModel(srv.url, sink, { ...FAST, fetch });
    assertSameTensors(sink, tinyTensors);
    assert.deepEqual(srv.requests.filter((r) => r.file === SHARD1 && r.range).map((r) => r.range),
      ['bytes=3000000-']);
  });

  test('a 200 answer to a Range request is read from the start and skipped', async () => {
    const srv = freshServer();
    const shard2 = 'model-00002-of-00004.safetensors';
    srv.setFault(shard2, { dropAt: 4_000_000, times: 1 });
    const fetch = faultOnRange(srv, shard2, { ignoreRange: true });
    const sink = recordingSink();
    await loadModel(srv.url, sink, { ...FAST, fetch });
    assertSameTensors(sink, tinyTensors);
    const ranged = srv.requests.filter((r) => r.file === shard2 && r.range);
    assert.equal(ranged.length, 1);
    assert.equal(ranged[0].status, 200);
  });

  test('a drop at the same byte every time fails after the retries, naming the URL', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { dropAt: 1_000_000 });
    const sink = recordingSink();
    await rejectsWith(loadModel(srv.url, sink, FAST), 'E_NETWORK',
      { url: `${srv.url}${SHARD1}`, message: new RegExp(SHARD1) });
    assert.equal(srv.requests.filter((r) => r.file === SHARD1 && r.method === 'GET').length, 1 + FAST.retries);
    assert.equal(sink.aborted, 1);
  });

  test('a wrong Content-Range on resume is an error', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { dropAt: 2_000_000, times: 1 });
    const fetch = faultOnRange(srv, SHARD1, { badContentRange: true });
    await rejectsWith(loadModel(srv.url, recordingSink(), { ...FAST, fetch }), 'E_RANGE', { url: /00001/ });
  });

  test('5xx for ever fails after the retries with URL and status', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { status: 503 });
    const err = await rejectsWith(loadModel(srv.url, recordingSink(), FAST), 'E_NETWORK',
      { url: `${srv.url}${SHARD1}`, status: 503 });
    assert.match(err.message, /503/);
    assert.match(err.message, new RegExp(`${srv.url}${SHARD1}`));
    assert.equal(srv.requests.filter((r) => r.file === SHARD1 && r.method === 'GET').length, 1 + FAST.retries);
  });

  test('404 and 403 fail at once, naming the URL', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { status: 404 });
    const sink = recordingSink();
    const err = await rejectsWith(loadModel(srv.url, sink, FAST), 'E_NOT_FOUND',
      { url: `${srv.url}${SHARD1}`, status: 404, file: SHARD1 });
    assert.match(err.message, new RegExp(`${srv.url}${SHARD1}`));
    assert.equal(srv.requests.filter((r) => r.file === SHARD1 && r.method === 'GET').length, 1);
    assert.equal(sink.aborted, 1);

    freshServer().setFault('config.json', { status: 403 });
    await rejectsWith(loadModel(srv.url, recordingSink(), FAST), 'E_HTTP', { status: 403, url: /config\.json/ });
    assert.equal(srv.requests.filter((r) => r.file === 'config.json').length, 1);
  });

  test('corrupt header bytes: absurd length and broken JSON', async () => {
    const srv = freshServer();
    srv.setFault(SHARD1, { corrupt: { offset: 5, bytes: [0x7f] } });
    await rejectsWith(loadModel(srv.url, recordingSink(), FAST), 'E_HEADER_SIZE', { file: SHARD1 });
    freshServer().setFault(SHARD1, { corrupt: { offset: 8, bytes: [0x5b, 0x5b] } });
    await rejectsWith(loadModel(srv.url, recordingSink(), FAST), 'E_HEADER_JSON', { file: SHARD1 });
  });

  test('a truncated shard is reported before its data is streamed', async () => {
    const srv = freshServer();
    srv.setFault('model-00003-of-00004.safetensors', { truncate: 5_000_000 });
    const sink = recordingSink();
    await rejectsWith(loadModel(srv.url, sink, FAST), 'E_TRUNCATED',
      { file: 'model-00003-of-00004.safetensors' });
    assert.ok(![...sink.tensors.values()].some((t) => t.file === 'model-00003-of-00004.safetensors'));
  });

  test('abort while a shard is streaming rejects quickly with AbortError', async () => {
    const srv = freshServer();
    srv.setFault('model-00002-of-00004.safetensors', { stallAt: 100_000 });
    const controller = new AbortController();
    const sink = recordingSink({
      onBegin: (info) => {
        if (info.file === 'model-00002-of-00004.safetensors') setTimeout(() => controller.abort(), 30);
      },
    });
    const started = Date.now();
    const err = await loadModel(srv.url, sink, { signal: controller.signal }).then(() => null, (e) => e);
    assert.ok(err instanceof AbortError, `got ${err?.name}: ${err?.message}`);
    assert.equal(err.code, 'E_ABORTED');
    assert.ok(Date.now() - started < 2000);
    assert.equal(sink.aborted, 1);
    assert.equal(sink.finished, 0);
  });

  test('abort during retry backoff is prompt', async () => {
    const srv = freshServer();
    srv.setFault('config.json', { status: 500 });
    const sink = recordingSink();
    const started = Date.now();
    const err = await loadModel(srv.url, sink, {
      retries: 4, retryDelayMs: 20_000, signal: AbortSignal.timeout(100),
    }).then(() => null, (e) => e);
    assert.ok(err instanceof AbortError, `got ${err?.name}: ${err?.message}`);
    assert.ok(Date.now() - started < 2000);
    assert.equal(sink.aborted, 1);
  });

  test('an already aborted signal starts nothing', async () => {
    const srv = freshServer();
    const sink = recordingSink();
    await assert.rejects(loadModel(srv.url, sink, { signal: AbortSignal.abort() }), AbortError);
    assert.equal(srv.requests.length, 0);
    assert.equal(sink.aborted, 1);
  });

  test('abort from a directory load, mid-shard', async () => {
    const controller = new AbortController();
    let seen = 0;
    const sink = recordingSink({ onBegin: () => { if (++seen === 100) controller.abort(); } });
    await assert.rejects(loadModel(TINY, sink, { signal: controller.signal }), AbortError);
    assert.equal(sink.aborted, 1);
    assert.ok(sink.tensors.size <= 100, `${sink.tensors.size} tensors after the abort`);
    assert.equal(sink.finished, 0);
  });

  test('a sink that throws in begin fails the load naming the file and tensor', async () => {
    const name = 'decoder.dec_layers.2.ffn.gluw1.weight';
    const sink = recordingSink({ throwOn: name });
    const err = await rejectsWith(loadModel(TINY, sink), 'E_SINK',
      { tensor: name, file: tinyTensors.get(name).file });
    assert.match(err.message, /unexpected tensor/);
    assert.match(err.message, new RegExp(name.replaceAll('.', '\\.')));
    assert.ok(err.cause instanceof RangeError);
    assert.equal(sink.aborted, 1);
  });

  test('on-disk cache: the second load makes no request and gives the same tensors', async () => {
    const srv = freshServer();
    const cacheDir = join(scratch, 'cache-disk');
    await loadModel(srv.url, recordingSink(), { cacheDir });
    const first = srv.requests.length;
    assert.ok(first > 0);
    const sink = recordingSink();
    const events = [];
    const result = await loadModel(srv.url, sink, { cacheDir, onProgress: (p) => events.push(p) });
    assert.equal(srv.requests.length, first, 'no request on the second load');
    assertSameTensors(sink, tinyTensors);
    assert.ok(result.files.every((f) => f.fromCache));
    assert.ok(events.filter((e) => e.file === SHARD1).every((e) => e.fromCache));

    // A truncated cached copy is dropped and fetched again (and kept again).
    const bins = (await readdir(cacheDir)).filter((f) => f.endsWith('.bin'));
    const sizes = await Promise.all(bins.map((f) => stat(join(cacheDir, f)).then((s) => [f, s.size])));
    const [biggest] = sizes.sort((a, b) => b[1] - a[1])[0];
    await truncate(join(cacheDir, biggest), 1000);
    srv.requests.length = 0;
    const again = recordingSink();
    await loadModel(srv.url, again, { cacheDir });
    assertSameTensors(again, tinyTensors);
    assert.equal(srv.requests.length, 1, 'only the damaged file is fetched');
    srv.requests.length = 0;
    await loadModel(srv.url, recordingSink(), { cacheDir });
    assert.equal(srv.requests.length, 0);
  });

});

// --- the single-file layout and the browser Cache API store -----------------------------------

describe('pldr-micro (model.safetensors, no index)', () => {
  let microServer;
  before(async () => { microServer = await startServer(MICRO); });
  after(async () => { await microServer.close(); });

  test('directory and HTTP give the file\'s tensors', async () => {
    const want = await expectedTensors(MICRO);
    for (const [name, t] of want) if (t.file !== 'model.safetensors') want.delete(name);
    const fromDir = recordingSink();
    await loadModel(MICRO, fromDir);
    assertSameTensors(fromDir, want);
    const overHttp = recordingSink();
    const result = await loadModel(microServer.url.slice(0, -1), overHttp);   // no trailing '/'
    assertSameTensors(overHttp, want);
    assert.equal(result.tokenizer, null);
    const index = microServer.requests.find((r) => r.file === 'model.safetensors.index.json');
    assert.equal(index.status, 404);
  });

  test('Cache API store: second load from the cache, a damaged entry is replaced', async () => {
    microServer.requests.length = 0;
    const storage = fakeCacheStorage();
    const want = recordingSink();
    await loadModel(microServer.url, want, { cache: storage });
    const first = microServer.requests.length;
    const entries = storage.caches.get('pldr-models-v1');
    const modelKey = `${microServer.url}model.safetensors`;
    assert.ok(entries.has(modelKey));

    const sink = recordingSink();
    const events = [];
    await loadModel(microServer.url, sink, { cache: storage, onProgress: (p) => events.push(p) });
    assert.equal(microServer.requests.length, first, 'no request on the second load');
    assert.deepEqual(sink.tensors, want.tensors);
    assert.ok(events.find((e) => e.file === 'model.safetensors').fromCache);

    // Cut the stored copy short: the loader must notice, drop it and fetch the rest.
    const entry = entries.get(modelKey);
    entry.body = entry.body.slice(0, 100_000);
    const again = recordingSink();
    await loadModel(microServer.url, again, { cache: storage });
    assert.deepEqual(again.tensors, want.tensors);
    const refetch = microServer.requests.slice(first);
    assert.deepEqual(refetch.map((r) => [r.file, r.range, r.status]),
      [['model.safetensors', 'bytes=100000-', 206]]);
    assert.ok(!entries.has(modelKey), 'damaged copy deleted');
  });

  test('a stored copy that breaks off is completed only under its validator (If-Range); without one, E_READ and deleted', async () => {
    microServer.clearFaults();
    const storage = fakeCacheStorage();
    const want = recordingSink();
    await loadModel(microServer.url, want, { cache: storage });
    const entries = storage.caches.get('pldr-models-v1');
    const modelKey = `${microServer.url}model.safetensors`;
    const metaKey = `${modelKey}?pldr-cache-meta`;
    const meta = JSON.parse(Buffer.from(entries.get(metaKey).body).toString());
    assert.match(meta.validator?.etag ?? '', /^"/, 'the validator is stored with the copy');
    entries.get(modelKey).body = entries.get(modelKey).body.slice(0, 200_000);
    microServer.requests.length = 0;
    const resumed = recordingSink();
    await loadModel(microServer.url, resumed, { cache: storage });
    assert.deepEqual(resumed.tensors, want.tensors);
    assert.deepEqual(microServer.requests.map((r) => [r.range, r.ifRange, r.status]), [['bytes=200000-', meta.validator.etag, 206]]);

    await loadModel(microServer.url, recordingSink(), { cache: storage });   // stored again, whole
    const stored = JSON.parse(Buffer.from(entries.get(metaKey).body).toString());
    delete stored.validator;   // as a copy from a server without validators
    entries.set(metaKey, { ...entries.get(metaKey), body: Buffer.from(JSON.stringify(stored)) });
    entries.get(modelKey).body = entries.get(modelKey).body.slice(0, 200_000);
    await rejectsWith(loadModel(microServer.url, recordingSink(), { cache: storage }), 'E_READ',
      { file: 'model.safetensors', message: /stored copy ended at byte 200000 of \d+ .*load again/ });
    assert.ok(!entries.has(modelKey), 'deleted');
    const again = recordingSink();
    await loadModel(microServer.url, again, { cache: storage });
    assert.deepEqual(again.tensors, want.tensors);
  });

  test('5xx is retried: two 500s then success', async () => {
    microServer.clearFaults();
    microServer.requests.length = 0;
    microServer.setFault('config.json', { status: 500, times: 2 });
    const sink = recordingSink();
    await loadModel(microServer.url, sink, FAST);
    assert.equal(sink.finished, 1);
    assert.equal(microServer.requests.filter((r) => r.file === 'config.json').length, 3);
  });

  test('a failed load keeps no partial file in the cache', async () => {
    microServer.clearFaults();
    const cacheDir = join(scratch, 'cache-partial');
    microServer.setFault('model.safetensors', { dropAt: 1_000_000 });
    await rejectsWith(loadModel(microServer.url, recordingSink(), { ...FAST, cacheDir }), 'E_NETWORK');
    const kept = await readdir(cacheDir);
    assert.ok(!kept.some((f) => f.endsWith('.tmp')), `left ${kept}`);
    microServer.clearFaults();
    microServer.requests.length = 0;
    await loadModel(microServer.url, recordingSink(), { cacheDir });
    const gets = microServer.requests.filter((r) => r.file === 'model.safetensors' && r.method === 'GET');
    assert.deepEqual(gets.map((r) => [r.range, r.status]), [[null, 200]], 'fetched whole again');
    microServer.requests.length = 0;
    await loadModel(microServer.url, recordingSink(), { cacheDir });
    assert.equal(microServer.requests.length, 0, 'kept after the good load');
  });

  test('globalThis.caches is used by default, and not with cache: false', async () => {
    const storage = fakeCacheStorage();
    globalThis.caches = storage;
    try {
      await loadModel(microServer.url, recordingSink(), { cache: false });
      assert.equal(storage.caches.size, 0);
      await loadModel(microServer.url, recordingSink());
      assert.ok(storage.caches.get('pldr-models-v1').has(`${microServer.url}model.safetensors`));
    } finally {
      delete globalThis.caches;
    }
  });
});

// --- malformed files (synthetic) --------------------------------------------------------------

describe('malformed folders', () => {
  const ok = [
    { name: 'a', dtype: 'F32', shape: [4, 3] },
    { name: 'b', dtype: 'BF16', shape: [5] },
    { name: 'c', dtype: 'F16', shape: [0] },
  ];

  test('a good synthetic file loads, zero-size tensors included', async () => {
    const dir = await modelDir({ 'model.safetensors': safetensors({ tensors: ok }) });
    const sink = recordingSink();
    await loadModel(dir, sink);
    assert.deepEqual([...sink.tensors.keys()].sort(), ['a', 'b', 'c']);
    assert.equal(sink.tensors.get('c').byteLength, 0);
  });

  const cases = [
    ['overlapping offsets', 'E_OVERLAP', {
      header: {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
      }, dataLength: 24,
    }],
    ['a gap between tensors', 'E_OFFSETS', {
      header: {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [4], data_offsets: [20, 36] },
      }, dataLength: 36,
    }],
    ['bytes after the last tensor', 'E_OFFSETS', {
      header: { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, dataLength: 20,
    }],
    ['a truncated file', 'E_TRUNCATED', {
      header: { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, dataLength: 10,
    }],
    ['an unknown dtype', 'E_DTYPE', { tensors: [{ name: 'a', dtype: 'F64', shape: [2] }] }],
    ['shape × dtype ≠ span', 'E_SHAPE', {
      header: { a: { dtype: 'F32', shape: [5], data_offsets: [0, 16] } }, dataLength: 16,
    }],
    ['U8 without a pldr.quant entry', 'E_QUANT', { tensors: [{ name: 'w', dtype: 'U8', shape: [2, 34] }] }],
    ['a pldr.quant entry of the wrong size', 'E_QUANT', {
      tensors: [{ name: 'w', dtype: 'U8', shape: [2, 34] }],
      metadata: { 'pldr.quant': JSON.stringify({ w: { format: 'q4_0', shape: [2, 32] } }) },
    }],
  ];
  for (const [what, code, spec] of cases) {
    test(`${what} → ${code}`, async () => {
      const dir = await modelDir({ 'model.safetensors': safetensors(spec) });
      const sink = recordingSink();
      const err = await rejectsWith(loadModel(dir, sink), code, { file: 'model.safetensors' });
      assert.match(err.message, /model\.safetensors/);
      assert.equal(sink.aborted, 1);
    });
  }

  test('absurd and past-the-end header lengths → E_HEADER_SIZE', async () => {
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(2n ** 40n);
    const past = Buffer.alloc(16);
    past.writeBigUInt64LE(100n);
    for (const bytes of [huge, past]) {
      const dir = await modelDir({ 'model.safetensors': bytes });
      await rejectsWith(loadModel(dir, recordingSink()), 'E_HEADER_SIZE', { file: 'model.safetensors' });
    }
  });

  test('quantized U8 with a matching entry reaches the sink with its quant info', async () => {
    const quant = { w: { format: 'q8_0', shape: [3, 40] } };   // 2 blocks per row
    const dir = await modelDir({
      'model.safetensors': safetensors({
        tensors: [{ name: 'w', dtype: 'U8', shape: [3, 68] }, { name: 'b', dtype: 'F32', shape: [3] }],
        metadata: { 'pldr.quant': JSON.stringify(quant) },
      }),
    });
    const sink = recordingSink();
    await loadModel(dir, sink);
    assert.deepEqual(sink.tensors.get('w').quant, { format: 'q8_0', shape: [3, 40] });
    assert.equal(sink.tensors.get('b').quant, undefined);
  });

  test('index and shards disagree → E_TENSOR_MISSING / E_TENSOR_SHARD', async () => {
    const s1 = safetensors({ tensors: [ok[0]] });
    const s2 = safetensors({ tensors: [ok[1]] });
    const missing = await modelDir({
      's1.safetensors': s1, 's2.safetensors': s2,
      'model.safetensors.index.json': { weight_map: { a: 's1.safetensors', b: 's2.safetensors', z: 's2.safetensors' } },
    });
    await rejectsWith(loadModel(missing, recordingSink()), 'E_TENSOR_MISSING', { file: 's2.safetensors', tensor: 'z' });
    const moved = await modelDir({
      's1.safetensors': safetensors({ tensors: [ok[0], ok[2]] }), 's2.safetensors': s2,
      'model.safetensors.index.json': { weight_map: { a: 's1.safetensors', b: 's2.safetensors', c: 's2.safetensors' } },
    });
    await rejectsWith(loadModel(moved, recordingSink()), 'E_TENSOR_SHARD', { file: 's1.safetensors', tensor: 'c' });
    const escape = await modelDir({ 'model.safetensors.index.json': { weight_map: { a: '../x.safetensors' } } });
    await rejectsWith(loadModel(escape, recordingSink()), 'E_INDEX');
  });

  test('bad config.json → E_CONFIG; no weights at all → E_NOT_FOUND', async () => {
    const bad = await modelDir({ 'config.json': '{"hidden_size": ', 'model.safetensors': safetensors({ tensors: ok }) });
    await rejectsWith(loadModel(bad, recordingSink()), 'E_CONFIG', { file: 'config.json' });
    const none = await modelDir({});
    await rejectsWith(loadModel(none, recordingSink()), 'E_NOT_FOUND', { file: 'model.safetensors' });
  });

  test('manifest.json: verified files, then sha256 and size mismatches', async () => {
    const model = safetensors({ tensors: ok });
    const config = Buffer.from('{"hidden_size": 8}');
    const good = await modelDir({
      'config.json': config, 'model.safetensors': model,
      'manifest.json': manifestFor({ 'config.json': config, 'model.safetensors': model }),
    });
    const result = await loadModel(good, recordingSink());
    assert.equal(result.files.find((f) => f.file === 'model.safetensors').sha256,
      createHash('sha256').update(model).digest('hex'));

    const tampered = Buffer.from(model);
    tampered[tampered.length - 1] ^= 1;
    const badSha = await modelDir({
      'config.json': config, 'model.safetensors': tampered,
      'manifest.json': manifestFor({ 'config.json': config, 'model.safetensors': model }),
    });
    const sink = recordingSink();
    const err = await rejectsWith(loadModel(badSha, sink), 'E_CHECKSUM', { file: 'model.safetensors' });
    assert.match(err.message, /model\.safetensors/);
    assert.equal(sink.aborted, 1);

    const badSize = await modelDir({
      'config.json': config, 'model.safetensors': model,
      'manifest.json': manifestFor({ 'config.json': Buffer.from('{}'), 'model.safetensors': model }),
    });
    await rejectsWith(loadModel(badSize, recordingSink()), 'E_SIZE', { file: 'config.json' });
  });

  test('manifest + disk cache: verified copies reused, a copy failing verification refetched', async () => {
    const model = safetensors({ tensors: ok });
    const config = Buffer.from('{"hidden_size": 8}');
    const dir = await modelDir({
      'config.json': config, 'model.safetensors': model,
      'manifest.json': manifestFor({ 'config.json': config, 'model.safetensors': model }),
    });
    const srv = await startServer(dir);
    const cacheDir = join(scratch, 'cache-manifest');
    try {
      const first = recordingSink();
      await loadModel(srv.url, first, { cacheDir });
      const fetched = srv.requests.length;
      const sink = recordingSink();
      const result = await loadModel(srv.url, sink, { cacheDir });
      assert.equal(srv.requests.length, fetched);
      assert.deepEqual(sink.tensors, first.tensors);
      const shard = result.files.find((f) => f.file === 'model.safetensors');
      assert.ok(shard.fromCache);
      assert.equal(shard.sha256, createHash('sha256').update(model).digest('hex'));

      // A stored copy recorded with another sha256 fails verification: deleted, fetched again.
      for (const f of (await readdir(cacheDir)).filter((n) => n.endsWith('.json'))) {
        const record = JSON.parse(await readFile(join(cacheDir, f), 'utf8'));
        if (!record.key.endsWith('/model.safetensors')) continue;
        await writeFile(join(cacheDir, f), JSON.stringify({ ...record, sha256: '0'.repeat(64) }));
      }
      const again = recordingSink();
      const third = await loadModel(srv.url, again, { cacheDir });
      assert.deepEqual(again.tensors, first.tensors);
      assert.deepEqual(srv.requests.slice(fetched).map((r) => [r.method, r.file]), [['GET', 'model.safetensors']]);
      assert.equal(third.files.find((f) => f.file === 'model.safetensors').fromCache, false);
    } finally {
      await srv.close();
    }
  });

  test('a small file that does not parse is not cached: once the server is fixed, the next load works', async () => {
    const model = safetensors({ tensors: ok });
    const dir = await modelDir({ 'config.json': '<!doctype html><p>not found</p>', 'model.safetensors': model });
    const srv = await startServer(dir);
    const cacheDir = join(scratch, 'cache-unparsed');
    try {
      await rejectsWith(loadModel(srv.url, recordingSink(), { cacheDir }), 'E_CONFIG', { file: 'config.json' });
      await writeFile(join(dir, 'config.json'), '{"hidden_size": 8}');
      const sink = recordingSink();
      const result = await loadModel(srv.url, sink, { cacheDir });
      assert.deepEqual(result.config, { hidden_size: 8 });
      assert.equal(result.files.find((f) => f.file === 'config.json').fromCache, false);
    } finally {
      await srv.close();
    }
  });

  test('a manifest mismatch over HTTP with a cache keeps nothing', async () => {
    const model = safetensors({ tensors: ok });
    const tampered = Buffer.from(model);
    tampered[tampered.length - 1] ^= 1;
    const dir = await modelDir({
      'model.safetensors': tampered, 'manifest.json': manifestFor({ 'model.safetensors': model }),
    });
    const srv = await startServer(dir);
    try {
      const storage = fakeCacheStorage();
      await rejectsWith(loadModel(srv.url, recordingSink(), { cache: storage }), 'E_CHECKSUM',
        { file: 'model.safetensors' });
      assert.ok(!storage.caches.get('pldr-models-v1').has(`${srv.url}model.safetensors`));
    } finally {
      await srv.close();
    }
  });
});

// --- the reader on its own ------------------------------------------------------------------------

test('SafetensorsReader: a header that claims 100 MB of a file of unknown size costs the bytes received, not the claim', () => {
  const claim = Buffer.alloc(8);
  claim.writeBigUInt64LE(99_999_999n);
  const before = process.memoryUsage().arrayBuffers;
  const readers = [];
  for (let i = 0; i < 8; i++) {   // eight at once: 800 MB if the claim were allocated
    const reader = new SafetensorsReader('claims.safetensors', { fileSize: null, onTensor: () => ({ write() {}, end() {} }) });
    reader.push(claim);
    reader.push(Buffer.from('{"a": {"dtype": "F32", '));
    readers.push(reader);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 16 << 20, `${grown} bytes of ArrayBuffers for 8 × 31 bytes received`);
  const err = (() => { try { readers[0].end(); } catch (e) { return e; } })();
  assert.equal(err?.code, 'E_HEADER_SIZE');
  assert.match(err.message, /claims\.safetensors: header length 99999999 runs past the end of the file \(31 bytes\)/);
  const huge = Buffer.alloc(8);
  huge.writeBigUInt64LE(100_000_001n);
  const reader = new SafetensorsReader('huge.safetensors', { onTensor: () => ({ write() {}, end() {} }) });
  assert.throws(() => reader.push(huge), (e) => e.code === 'E_HEADER_SIZE' && /100000001 is more than the 100000000-byte limit/.test(e.message));
});

test('a shape dimension past int32 is E_SHAPE (the engine takes int32 shapes)', () => {
  const bytes = safetensors({ header: { a: { dtype: 'U8', shape: [2 ** 32 + 4, 0], data_offsets: [0, 0] } } });
  const reader = new SafetensorsReader('big.safetensors', { fileSize: bytes.length, onTensor: () => ({ write() {}, end() {} }) });
  assert.throws(() => reader.push(bytes), (e) => e.code === 'E_SHAPE' && /big\.safetensors: tensor "a": shape \[4294967300,0\]/.test(e.message));
});

test('network options out of range are E_OPTION before any request', async () => {
  const fetch = () => assert.fail('no request');
  for (const [name, value] of [['idleTimeoutMs', 0], ['idleTimeoutMs', 2 ** 31], ['idleTimeoutMs', NaN], ['retries', -1],
    ['retries', 1.5], ['retryDelayMs', -5], ['maxRetryAfterMs', Infinity], ['idleTimeoutMs', '100']]) {
    const err = await rejectsWith(loadModel('http://127.0.0.1:9/m/', recordingSink(), { fetch, [name]: value }), 'E_OPTION');
    assert.match(err.message, new RegExp(`invalid ${name}`));
  }
});

test('a tokenizer.model of more than 2^20 pieces is refused as such, not parsed into tables', () => {
  const piece = Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x61]);   // ModelProto.pieces { piece: "a" }
  const bytes = Buffer.concat(Array.from({ length: MAX_PIECES + 1 }, () => piece));
  assert.throws(() => SentencePieceTokenizer.fromBytes(bytes),
    (e) => e.code === 'E_TOKENIZER_FORMAT' && /more than 1048576 pieces/.test(e.message));
});

test('SafetensorsReader gives the same bytes for any chunking', () => {
  const bytes = safetensors({ tensors: [
    { name: 'x', dtype: 'F32', shape: [7, 3] }, { name: 'e', dtype: 'F32', shape: [0] },
    { name: 'y', dtype: 'F16', shape: [9] },
  ] });
  const run = (step) => {
    const seen = [];
    const reader = new SafetensorsReader('t.safetensors', {
      fileSize: bytes.length,
      onTensor: (info) => {
        const parts = [];
        return { write: (b) => parts.push(Buffer.from(b)), end: () => seen.push([info.name, Buffer.concat(parts).toString('hex')]) };
      },
    });
    for (let i = 0; i < bytes.length; i += step) reader.push(bytes.subarray(i, i + step));
    reader.end();
    return seen;
  };
  const whole = run(bytes.length);
  assert.deepEqual(whole.map(([name]) => name), ['x', 'e', 'y']);   // data_offsets order
  for (const step of [1, 3, 8, 13, 64]) assert.deepEqual(run(step), whole, `step ${step}`);
});

test('folderUrl: a folder gets its slash; a Hugging Face page as copied from the address bar becomes its resolve/ folder', () => {
  const cases = [
    ['https://example.com/models/tiny', 'https://example.com/models/tiny/'],
    ['https://huggingface.co/datasets/org/set', 'https://huggingface.co/datasets/org/set/'],
    ['https://huggingface.co/fromthesky/PLDR-LLM-v51-110M-1', 'https://huggingface.co/fromthesky/PLDR-LLM-v51-110M-1/resolve/main/'],
    ['https://huggingface.co/fromthesky/PLDR-LLM-v51-110M-1/tree/main', 'https://huggingface.co/fromthesky/PLDR-LLM-v51-110M-1/resolve/main/'],
    ['https://huggingface.co/org/name/tree/v2/web/q8', 'https://huggingface.co/org/name/resolve/v2/web/q8/'],
    ['https://huggingface.co/org/name/blob/main/config.json', 'https://huggingface.co/org/name/resolve/main/'],
    ['https://huggingface.co/org/name/resolve/main', 'https://huggingface.co/org/name/resolve/main/'],
    ['https://hf.co/org/name', 'https://hf.co/org/name/resolve/main/'],
  ];
  for (const [input, folder] of cases) assert.equal(folderUrl(input).href, folder, input);
});

