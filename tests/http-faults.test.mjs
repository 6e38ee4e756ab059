// HTTP fault suite: models/pldr-tiny served by a local node:http server that drops connections at
// random offsets, stalls, lies in Content-Length, answers Range with 200, fails with 5xx bursts
// (with and without Retry-After), changes a file mid-download (with and without manifest.json,
// with each kind of validator), redirects in a loop and gzips shards and config.json. Each case
// ends in a correct load (every tensor byte-identical to the files; the same greedy ids as a clean
// load for the engine cases) or a clear error naming the file, and no cache (the Node disk cache,
// the Cache API through an in-memory CacheStorage) ever keeps a file that is not, byte for byte,
// one version of it. Seeds are fixed. Run: node --test tests/http-faults.test.mjs

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadModel } from '../js/loading/loader.js';
import { browserStore } from '../js/loading/model-cache.js';
import { diskStore } from '../js/loading/source-node.js';
import { PLDR } from '../js/pldr.js';
import { TokenizerError } from '../js/errors.js';
import { prng } from '../tools/testkit/synthetic.mjs';
import { ROOT } from './helpers/engines.mjs';
import { startServer } from './helpers/http-server.mjs';
import { assertSameTensors, expectedTensors, fakeCacheStorage, recordingSink, rejectsWith } from './helpers/loading.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
const SHARDS = [1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`);
const SMALL = ['config.json', 'tokenizer.model', 'model.safetensors.index.json'];
const FILES = [...SMALL, ...SHARDS];
/** Quick retries; an idle timeout far above any wait of a healthy local request on a busy machine. */
const FAST = { retries: 3, retryDelayMs: 5, idleTimeoutMs: 10_000 };
/** For the stall cases: a stall costs 1 s, not 30 s (a slow healthy request just gets retried). */
const STALL = { idleTimeoutMs: 1000 };

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

let root;             // plain/ (no manifest) and manifest/ (with one), hard links of pldr-tiny
let server;
let tiny;             // expected tensors
let original;         // file → bytes
/** file → every sha256 the server has served for it (a kept copy must be one of them) */
const versions = new Map();
let scratchCount = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pldr-http-faults-'));
  original = new Map(await Promise.all(FILES.map(async (f) => [f, await readFile(join(TINY, f))])));
  for (const f of FILES) versions.set(f, new Set([sha(original.get(f))]));
  for (const dir of ['plain', 'manifest', 'plain/moved']) await mkdir(join(root, dir));
  await restoreFiles();
  const manifest = { format: 'pldr-web-1', files: FILES.map((path) => ({ path, size: original.get(path).length, sha256: sha(original.get(path)) })) };
  await writeFile(join(root, 'manifest/manifest.json'), JSON.stringify(manifest));
  versions.set('manifest.json', new Set([sha(JSON.stringify(manifest))]));
  await link(join(TINY, SHARDS[0]), join(root, 'plain/moved', SHARDS[0]));
  tiny = await expectedTensors(TINY);
  server = await startServer(root);
});
after(async () => {
  // the figures of docs/RELIABILITY.md
  console.log(`# http-faults: ${server?.stats.requests} requests served, ${server?.stats.faulted} of them with a fault`);
  await server?.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  server.clearFaults();
  server.requests.length = 0;
});

/** Puts the original files back (a test may have replaced one). */
async function restoreFiles() {
  for (const dir of ['plain', 'manifest']) {
    for (const f of FILES) {
      await rm(join(root, dir, f), { force: true });
      await link(join(TINY, f), join(root, dir, f));
    }
  }
}

/**
 * Replaces `file` in `dir` by a same-size other version (a new inode and mtime, so new validators):
 * 4096 data bytes differ, at byte `at` (default: the last ones).
 */
async function changeFile(dir, file, at) {
  const bytes = Buffer.from(original.get(file));
  at ??= bytes.length - 4096;
  for (let i = at; i < at + 4096; i++) bytes[i] ^= 0x5a;
  versions.get(file).add(sha(bytes));
  const temp = join(root, dir, `${file}.new`);
  await writeFile(temp, bytes);
  await rename(temp, join(root, dir, file));
  return bytes;
}

const url = (dir) => `${server.url}${dir}/`;
const requestsFor = (dir, file) => server.requests.filter((r) => r.file === `${dir}/${file}` && r.method === 'GET');

function newCacheDir() {
  return join(root, `cache-${scratchCount++}`);
}

/** What a disk cache keeps: [file, sha256] per kept file (absent markers left out). */
async function keptOnDisk(cacheDir) {
  const kept = [];
  for (const name of await readdir(cacheDir).catch(() => [])) {
    if (!name.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(join(cacheDir, name), 'utf8'));
    if (record.absent) continue;
    kept.push([record.key, sha(await readFile(join(cacheDir, name.replace(/\.json$/, '.bin'))))]);
  }
  return kept;
}

/** What a CacheStorage keeps: [url, sha256] per file that has its meta entry (what get() reads). */
function keptInCacheApi(storage) {
  const entries = storage.caches.get('pldr-models-v1') ?? new Map();
  const kept = [];
  for (const [key, entry] of entries) {
    if (key.endsWith('pldr-cache-meta')) continue;
    const meta = entries.get(`${key}?pldr-cache-meta`);
    if (meta && !JSON.parse(Buffer.from(meta.body).toString()).absent) kept.push([key, sha(entry.body)]);
  }
  return kept;
}

/** Every kept copy is, byte for byte, one version the server served of that file. */
function assertKeptGood(kept) {
  for (const [key, hash] of kept) {
    const file = key.split('/').at(-1);
    assert.ok(versions.get(file)?.has(hash), `the cache kept a bad ${key} (sha256 ${hash})`);
  }
}

/**
 * Loads `dir` with a disk cache (none with cache: false); returns the sink, the result or error,
 * and what the cache kept.
 */
async function loadWith(dir, options = {}) {
  const cacheDir = options.cache === false ? undefined : options.cacheDir ?? newCacheDir();
  const sink = recordingSink();
  const outcome = await loadModel(url(dir), sink, { ...FAST, cacheDir, ...options }).then(
    (result) => ({ result }), (err) => ({ err }));
  const kept = cacheDir ? await keptOnDisk(cacheDir) : [];
  assertKeptGood(kept);
  return { sink, ...outcome, kept, cacheDir };
}

function assertLoaded({ sink, err }) {
  assert.equal(err, undefined, err && `${err.code}: ${err.message}`);
  assertSameTensors(sink, tiny);
}

// --- drops, stalls, 200 to Range ------------------------------------------------------------------

describe('drops at random offsets', () => {
  const rand = prng(16);
  for (const validators of ['both', 'etag', 'last-modified', 'none']) {
    test(`validators ${validators}: two shards and a small file dropped once each → identical tensors, all kept`, async () => {
      const targets = [SHARDS[Math.floor(rand() * 4)], SHARDS[(Math.floor(rand() * 3) + 1) % 4], SMALL[Math.floor(rand() * 3)]];
      const at = new Map();
      for (const file of new Set(targets)) {
        const dropAt = 1 + Math.floor(rand() * (original.get(file).length - 2));
        at.set(file, dropAt);
        server.setFault(`plain/${file}`, { dropAt, times: 1, validators });
      }
      for (const file of FILES) if (!at.has(file)) server.setFault(`plain/${file}`, { validators });
      const run = await loadWith('plain');
      assertLoaded(run);
      for (const [file, dropAt] of at) {
        const gets = requestsFor('plain', file);
        assert.equal(gets.length, 2, `${file} dropped at ${dropAt}: ${JSON.stringify(gets)}`);
        // (a drop before the first byte arrived is a plain new request)
        if (validators === 'none') {
          assert.equal(gets[1].range, null, 'no validator: read again from byte 0 and checked');
        } else if (gets[1].range !== null) {
          assert.match(gets[1].range, /^bytes=\d+-$/);
          assert.ok(gets[1].ifRange, 'the resume carries If-Range');
          assert.equal(gets[1].status, 206);
        }
      }
      assert.equal(run.kept.length, FILES.length, 'every file kept');
    });
  }

  test('drops at 12 random offsets of one shard, each resumed (progress restores the retry budget)', async () => {
    const file = SHARDS[1];
    const offsets = Array.from({ length: 12 }, () => Math.floor(rand() * original.get(file).length)).sort((a, b) => a - b);
    let next = 0;
    const fetch = (u, init) => {
      if (String(u).endsWith(file) && init?.method !== 'HEAD' && next < offsets.length) {
        server.setFault(`plain/${file}`, { dropAt: offsets[next++], times: 1 });
      }
      return globalThis.fetch(u, init);
    };
    assertLoaded(await loadWith('plain', { fetch }));
    assert.ok(requestsFor('plain', file).length >= 2);
  });

  test('a 200 to a Range request (server ignores Range), same validator → read from the start and skipped', async () => {
    server.setFault(`plain/${SHARDS[2]}`, { dropAt: 3_000_000, times: 1 });
    const fetch = (u, init) => {
      if (init?.headers?.Range) server.setFault(`plain/${SHARDS[2]}`, { ignoreRange: true });
      return globalThis.fetch(u, init);
    };
    const run = await loadWith('plain', { fetch });
    assertLoaded(run);
    assert.deepEqual(requestsFor('plain', SHARDS[2]).map((r) => r.status), [200, 200]);
  });
});

describe('stalls', () => {
  test('a shard that stalls mid-body once: the idle timeout resumes it', async () => {
    server.setFault(`plain/${SHARDS[0]}`, { stallAt: 2_500_000, times: 1 });
    assertLoaded(await loadWith('plain', { ...STALL, cache: false }));
    assert.equal(requestsFor('plain', SHARDS[0])[1].range, 'bytes=2500000-');
  });

  test('a server that never answers (no headers) once: retried', async () => {
    server.setFault('plain/config.json', { stallHeaders: true, times: 1 });
    assertLoaded(await loadWith('plain', { ...STALL, cache: false }));
    assert.ok(requestsFor('plain', 'config.json').length >= 2);
  });

  test('a shard that stalls every time: E_NETWORK naming the file after the retries, in bounded time', async () => {
    server.setFault(`plain/${SHARDS[3]}`, { stallAt: 1_000_000 });
    const started = Date.now();
    const run = await loadWith('plain', { ...STALL, retries: 1 });
    const err = await rejectsWith(Promise.reject(run.err), 'E_NETWORK', { file: SHARDS[3], message: /stalled: no data for 1 s.* after 2 attempts/ });
    assert.match(err.message, new RegExp(SHARDS[3]));
    assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);   // 2 attempts of 1 s, not 2 × 300 s
    assert.ok(!run.kept.some(([key]) => key.endsWith(SHARDS[3])));
  });
});

// --- Content-Length, 5xx, Retry-After, redirects ------------------------------------------------------

describe('wrong Content-Length', () => {
  test('larger than the body, on a shard: E_TRUNCATED with the byte counts, not E_OFFSETS', async () => {
    server.setFault(`plain/${SHARDS[1]}`, { lengthDelta: 1000 });
    const run = await loadWith('plain');
    const size = original.get(SHARDS[1]).length;
    const err = await rejectsWith(Promise.reject(run.err), 'E_TRUNCATED', { file: SHARDS[1] });
    assert.match(err.message, new RegExp(`${size} of the ${size + 1000}`));
    assert.ok(!run.kept.some(([key]) => key.endsWith(SHARDS[1])));
  });

  test('larger than the body, on config.json: E_TRUNCATED, nothing kept', async () => {
    server.setFault('plain/config.json', { lengthDelta: 10 });
    const run = await loadWith('plain');
    await rejectsWith(Promise.reject(run.err), 'E_TRUNCATED', { file: 'config.json' });
    assert.ok(!run.kept.some(([key]) => key.endsWith('config.json')));
  });

  test('smaller than the body: the shard reads as truncated, config.json as broken JSON; nothing bad kept', async () => {
    server.setFault(`plain/${SHARDS[2]}`, { lengthDelta: -5000 });
    const shard = await loadWith('plain');
    const err = await rejectsWith(Promise.reject(shard.err), 'E_TRUNCATED', { file: SHARDS[2] });
    assert.match(err.message, /promises \d+ bytes but the file has \d+/);
    server.clearFaults();
    server.setFault('plain/config.json', { lengthDelta: -20 });
    const config = await loadWith('plain');
    await rejectsWith(Promise.reject(config.err), 'E_CONFIG', { file: 'config.json' });
    assert.ok(!config.kept.some(([key]) => key.endsWith('config.json')));
  });
});

describe('5xx, Retry-After, redirects', () => {
  test('a burst of 503s shorter than the retries: loads; longer: E_NETWORK with the status', async () => {
    server.setFault(`plain/${SHARDS[0]}`, { status: 503, times: 3 });
    server.setFault('plain/tokenizer.model', { status: 502, times: 2 });
    assertLoaded(await loadWith('plain'));
    server.clearFaults();
    server.setFault(`plain/${SHARDS[0]}`, { status: 500, times: 4 });
    const run = await loadWith('plain');
    await rejectsWith(Promise.reject(run.err), 'E_NETWORK', { status: 500, file: SHARDS[0] });
  });

  test('Retry-After (seconds and HTTP date) is waited for; one longer than maxRetryAfterMs fails at once', async () => {
    server.setFault('plain/config.json', { status: 429, times: 1, headers: { 'retry-after': '1' } });
    let started = Date.now();
    assertLoaded(await loadWith('plain'));
    assert.ok(Date.now() - started >= 900, `waited ${Date.now() - started} ms for Retry-After: 1`);

    // an HTTP date has whole seconds: 3 s ahead is at least 2 s ahead
    server.setFault('plain/config.json', { status: 503, times: 1, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } });
    started = Date.now();
    assertLoaded(await loadWith('plain', { cache: false }));
    assert.ok(Date.now() - started >= 900, `waited ${Date.now() - started} ms for a Retry-After date`);

    server.setFault('plain/config.json', { status: 503, headers: { 'retry-after': '3600' } });
    server.requests.length = 0;
    started = Date.now();
    const run = await loadWith('plain', { maxRetryAfterMs: 5000 });
    const err = await rejectsWith(Promise.reject(run.err), 'E_NETWORK', { status: 503, file: 'config.json' });
    assert.match(err.message, /retry after 3600 s.*5 s/);
    assert.ok(Date.now() - started < 3000);
    assert.equal(requestsFor('plain', 'config.json').length, 1, 'no retry for an hour-long Retry-After');
  });

  test('a redirect loop fails at once as E_HTTP; a redirect elsewhere is followed', async () => {
    server.setFault(`plain/${SHARDS[0]}`, { redirect: `plain/${SHARDS[0]}` });
    const loop = await loadWith('plain');
    const err = await rejectsWith(Promise.reject(loop.err), 'E_HTTP', { file: SHARDS[0], message: /redirect/ });
    assert.match(err.message, new RegExp(SHARDS[0]));
    assert.ok(requestsFor('plain', SHARDS[0]).length <= 21, 'not retried');
    server.clearFaults();
    server.setFault(`plain/${SHARDS[0]}`, { redirect: `plain/moved/${SHARDS[0]}` });
    assertLoaded(await loadWith('plain'));
  });
});

// --- files that change mid-download ------------------------------------------------------------

describe('a file changed between the drop and the resume', () => {
  after(restoreFiles);

  /** Replaces `file` (bytes changed at `at`) just before the request after its first GET goes out. */
  function changeOnResume(dir, file, at) {
    let changed = false;
    return async (u, init) => {
      if (!changed && String(u).endsWith(`${dir}/${file}`) && init?.method !== 'HEAD' && server.requests.some((r) => r.file === `${dir}/${file}` && r.method === 'GET')) {
        changed = true;
        await changeFile(dir, file, at);
      }
      return globalThis.fetch(u, init);
    };
  }

  for (const validators of ['both', 'etag', 'last-modified', 'none']) {
    test(`no manifest, validators ${validators}: E_CHANGED naming the file, never a spliced shard`, async () => {
      await restoreFiles();
      const file = SHARDS[0];
      server.setFault(`plain/${file}`, { dropAt: 6_000_000, times: 1, validators });
      // without a validator, only the bytes read again tell: change some of those
      const run = await loadWith('plain', { fetch: changeOnResume('plain', file, validators === 'none' ? 100_000 : undefined) });
      const err = await rejectsWith(Promise.reject(run.err), 'E_CHANGED', { file });
      assert.match(err.message, new RegExp(`${file}: the file changed on the server`));
      assert.ok(!run.kept.some(([key]) => key.endsWith(file)), 'the shard is not kept');
      // The next load reads the new version whole, and keeps it.
      server.clearFaults();
      const next = await loadWith('plain', { cacheDir: run.cacheDir });
      assert.equal(next.err, undefined);
      assert.ok(next.kept.some(([key, hash]) => key.endsWith(file) && hash !== sha(original.get(file))));
    });
  }

  test('no validator, the change past the bytes already read: the new version is read whole and checked, and kept', async () => {
    await restoreFiles();
    const file = SHARDS[0];
    server.setFault(`plain/${file}`, { dropAt: 6_000_000, times: 1, validators: 'none' });
    const run = await loadWith('plain', { fetch: changeOnResume('plain', file) });
    assert.equal(run.err, undefined, run.err?.message);
    const fresh = await readFile(join(root, 'plain', file));
    assert.ok(run.kept.some(([key, hash]) => key.endsWith(file) && hash === sha(fresh)), 'the new version, whole');
    assert.deepEqual(requestsFor('plain', file).map((r) => r.range), [null, null]);
  });

  test('a server that ignores If-Range (206 of the new version) is caught by the 206\'s ETag', async () => {
    await restoreFiles();
    const file = SHARDS[2];
    server.setFault(`plain/${file}`, { dropAt: 2_000_000, times: 1 });
    const fetch = changeOnResume('plain', file);
    const wrapped = (u, init) => {
      if (init?.headers?.Range) server.setFault(`plain/${file}`, { ignoreIfRange: true });
      return fetch(u, init);
    };
    const run = await loadWith('plain', { fetch: wrapped });
    await rejectsWith(Promise.reject(run.err), 'E_CHANGED', { file, message: /ETag/ });
  });

  test('with manifest.json: E_CHECKSUM (or E_CHANGED) naming the file, nothing of it kept (disk and Cache API)', async () => {
    await restoreFiles();
    const file = SHARDS[1];
    for (const validators of ['both', 'none']) {
      server.setFault(`manifest/${file}`, { dropAt: 4_000_000, times: 1, validators });
      const run = await loadWith('manifest', { fetch: changeOnResume('manifest', file) });
      // E_CHECKSUM once read whole, or E_CHANGED when a resumed part shows the new validator
      assert.ok(['E_CHECKSUM', 'E_CHANGED'].includes(run.err?.code), run.err?.message);
      await rejectsWith(Promise.reject(run.err), run.err.code, { file });
      assert.ok(!run.kept.some(([key]) => key.endsWith(file)));
      await restoreFiles();
      server.setFault(`manifest/${file}`, { dropAt: 4_000_000, times: 1, validators });
      const storage = fakeCacheStorage();
      const api = await loadModel(url('manifest'), recordingSink(), { ...FAST, cache: storage, fetch: changeOnResume('manifest', file) })
        .then(() => null, (e) => e);
      assert.ok(['E_CHECKSUM', 'E_CHANGED'].includes(api?.code), `${validators}: ${api?.message}`);
      assert.match(api.message, new RegExp(file));
      const kept = keptInCacheApi(storage);
      assertKeptGood(kept);
      assert.ok(!kept.some(([key]) => key.endsWith(file)));
      await restoreFiles();
    }
  });

  test('a small file that changed mid-read is read again from its start: the load succeeds', async () => {
    await restoreFiles();
    server.setFault('plain/tokenizer.model', { dropAt: 100_000, times: 1 });
    const fetch = async (u, init) => {
      if (String(u).endsWith('plain/tokenizer.model') && requestsFor('plain', 'tokenizer.model').length === 1) {
        // the same bytes as a new file: new ETag and Last-Modified, so the resume gets a 200
        const temp = join(root, 'plain/tokenizer.model.new');
        await writeFile(temp, original.get('tokenizer.model'));
        await rename(temp, join(root, 'plain/tokenizer.model'));
      }
      return globalThis.fetch(u, init);
    };
    const run = await loadWith('plain', { fetch });
    assertLoaded(run);
    assert.deepEqual(requestsFor('plain', 'tokenizer.model').map((r) => [r.status, r.range !== null]),
      [[200, false], [200, true], [200, false]], 'resume refused by If-Range, then read again whole');
    assert.deepEqual(Buffer.from(run.result.tokenizer), original.get('tokenizer.model'));
  });
});

// --- content codings ---------------------------------------------------------------------------

describe('gzip', () => {
  test('Content-Encoding: gzip on a shard and on config.json loads identical tensors', async () => {
    server.setFault(`plain/${SHARDS[3]}`, { gzip: true });
    server.setFault('plain/config.json', { gzip: true });
    const run = await loadWith('plain');
    assertLoaded(run);
    assert.equal(run.result.config.hidden_size, 256);
    assert.equal(run.kept.length, FILES.length, 'decoded files are kept, and read back identical');
    assertLoaded(await loadWith('plain', { cacheDir: run.cacheDir }));
  });

  test('a gzip shard dropped mid-body is read again from 0 (no Range into coded bytes) and checked', async () => {
    for (const validators of ['both', 'none']) {
      server.requests.length = 0;
      server.setFault(`plain/${SHARDS[0]}`, { gzip: true, dropAt: 1_500_000, times: 1, validators });
      assertLoaded(await loadWith('plain', { cache: false }));
      const gets = requestsFor('plain', SHARDS[0]);
      assert.deepEqual(gets.map((r) => r.range), [null, null], `validators ${validators}`);
    }
  });
});

// --- bad small files never cached ----------------------------------------------------------------

describe('bad small files are never kept', () => {
  const html = '<!doctype html><html><body><h1>Sign in to continue</h1></body></html>';

  for (const cache of ['disk', 'cache-api']) {
    test(`${cache}: an HTML page served with 200 as tokenizer.model, then a cut-off one; the next good load works`, async () => {
      const storage = fakeCacheStorage();
      const cacheOptions = cache === 'disk' ? { cacheDir: newCacheDir() } : { cache: storage };
      const kept = async () => (cache === 'disk' ? keptOnDisk(cacheOptions.cacheDir) : keptInCacheApi(storage));
      const bad = [{ body: html }, { truncate: 200_000 }];
      for (const fault of bad) {
        server.setFault('plain/tokenizer.model', fault);
        const err = await loadModel(url('plain'), recordingSink(), { ...FAST, ...cacheOptions }).then(() => null, (e) => e);
        assert.ok(err instanceof TokenizerError, `${err?.name}: ${err?.message}`);
        assert.equal(err.code, 'E_TOKENIZER_FORMAT');
        assert.match(err.message, /plain\/tokenizer\.model: /);
        const now = await kept();
        assertKeptGood(now);
        assert.ok(!now.some(([key]) => key.endsWith('tokenizer.model')), 'the bad tokenizer is not kept');
      }
      server.clearFaults();
      const sink = recordingSink();
      const result = await loadModel(url('plain'), sink, { ...FAST, ...cacheOptions });
      assertSameTensors(sink, tiny);
      assert.deepEqual(Buffer.from(result.tokenizer), original.get('tokenizer.model'));
      assert.equal(result.parsedTokenizer.pieces.length, 8000);
      assert.ok((await kept()).some(([key]) => key.endsWith('tokenizer.model')));
    });
  }

  for (const cache of ['disk', 'cache-api']) {
    test(`${cache}: a bad tokenizer.model kept by an older version is deleted and fetched again, in the same load`, async () => {
      const storage = fakeCacheStorage();
      const cacheDir = newCacheDir();
      const store = cache === 'disk' ? diskStore(cacheDir) : browserStore(storage);
      const writer = await store.writer(`${url('plain')}tokenizer.model`);
      await writer.write(Buffer.from(html));
      await writer.commit({ size: html.length });
      const sink = recordingSink();
      const result = await loadModel(url('plain'), sink, { ...FAST, ...(cache === 'disk' ? { cacheDir } : { cache: storage }) });
      assertSameTensors(sink, tiny);
      assert.deepEqual(Buffer.from(result.tokenizer), original.get('tokenizer.model'));
      assert.equal(requestsFor('plain', 'tokenizer.model').length, 1, 'fetched once, after the stored copy failed');
      const kept = cache === 'disk' ? await keptOnDisk(cacheDir) : keptInCacheApi(storage);
      assertKeptGood(kept);
      assert.ok(kept.some(([key]) => key.endsWith('tokenizer.model')), 'the good copy replaced it');
    });
  }

  test('a 3 GiB "tokenizer" by Content-Length fails before it is read; 80 MiB unannounced (gzip) stops at the limit', async () => {
    server.setFault('plain/tokenizer.model', { lengthDelta: 3 * 2 ** 30 });
    const announced = await loadWith('plain');
    await rejectsWith(Promise.reject(announced.err), 'E_TOO_LARGE', { file: 'tokenizer.model', message: /3221\d+ bytes, more than the 67108864 bytes \(64 MiB\)/ });
    server.setFault('plain/tokenizer.model', { gzip: true, body: Buffer.alloc(80 << 20) });
    const before = process.memoryUsage().rss;
    const streamed = await loadWith('plain');
    await rejectsWith(Promise.reject(streamed.err), 'E_TOO_LARGE', { file: 'tokenizer.model', message: /read so far/ });
    assert.ok(process.memoryUsage().rss - before < 400 << 20, 'memory stays near the limit');
    assert.ok(!streamed.kept.some(([key]) => key.endsWith('tokenizer.model')));
  });
});

// --- the engine: same greedy ids as a clean load ---------------------------------------------------

test('PLDR.load through drops, a stall and a gzip shard gives the greedy ids of a clean load', async () => {
  const greedy = async (options) => {
    const engine = await PLDR.load(url('plain'), { cache: false, ...FAST, ...options });
    try {
      const ids = [];
      for await (const piece of engine.generate('The Python language is', { maxTokens: 12, temperature: 0 })) ids.push(piece.id);
      return ids;
    } finally {
      engine.free();
    }
  };
  const clean = await greedy({});
  server.setFault(`plain/${SHARDS[0]}`, { dropAt: 7_777_777, times: 1 });
  server.setFault(`plain/${SHARDS[1]}`, { stallAt: 1_234_567, times: 1 });
  server.setFault(`plain/${SHARDS[2]}`, { gzip: true, dropAt: 500_000, times: 1, validators: 'none' });
  server.setFault('plain/tokenizer.model', { dropAt: 54_321, times: 1 });
  assert.deepEqual(await greedy(STALL), clean);
  assert.equal(clean.length, 12);
});
