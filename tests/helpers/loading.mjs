// Helpers shared by the loader tests (tests/loader.test.mjs, tests/http-faults.test.mjs): a sink
// that records every tensor's bytes by sha256, the expected tensors computed from the files
// without the loader's parser, and a minimal in-memory CacheStorage.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PldrError } from '../../js/errors.js';

/**
 * A sink that records every tensor (info + sha256 of its bytes) and checks the write protocol.
 * @param {{throwOn?: string, onBegin?: (info: object) => void}} [options]
 */
export function recordingSink({ throwOn, onBegin } = {}) {
  const sink = {
    config: null, tensors: new Map(), aborted: 0, finished: 0,
    configure(config) { sink.config = config; },
    begin(info) {
      onBegin?.(info);
      if (info.name === throwOn) throw new RangeError(`unexpected tensor ${info.name}`);
      assert.ok(!sink.tensors.has(info.name), `tensor ${info.name} begun twice`);
      const hash = createHash('sha256');
      let written = 0;
      let ended = false;
      return {
        write(bytes) {
          assert.ok(!ended, 'write after end');
          written += bytes.length;
          assert.ok(written <= info.byteLength, `${info.name}: more bytes than byteLength`);
          hash.update(bytes);
        },
        end() {
          assert.equal(written, info.byteLength, `${info.name}: byte count`);
          ended = true;
          sink.tensors.set(info.name, { ...info, sha256: hash.digest('hex') });
        },
      };
    },
    finish() { sink.finished++; },
    abort() { sink.aborted++; },
  };
  return sink;
}

/** Per-tensor info and sha256 computed straight from the files, without the loader's parser. */
export async function expectedTensors(dir) {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.safetensors'));
  const out = new Map();
  for (const file of names) {
    const buf = await readFile(join(dir, file));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const [b, end] = e.data_offsets;
      const sha256 = createHash('sha256').update(buf.subarray(8 + n + b, 8 + n + end)).digest('hex');
      out.set(name, { file, dtype: e.dtype, shape: e.shape, byteLength: end - b, sha256 });
    }
  }
  return out;
}

export function assertSameTensors(sink, expected) {
  assert.equal(sink.tensors.size, expected.size);
  for (const [name, want] of expected) {
    const got = sink.tensors.get(name);
    assert.ok(got, `missing tensor ${name}`);
    assert.deepEqual(
      { file: got.file, dtype: got.dtype, shape: got.shape, byteLength: got.byteLength, sha256: got.sha256 },
      want, name);
  }
}

/** Rejects unless the promise rejects with a LoadError of `code` (and the given fields). */
export async function rejectsWith(promise, code, fields = {}) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err, `expected a rejection with ${code}`);
  assert.ok(err instanceof PldrError, `expected a PldrError ${code}, got ${err?.name}: ${err?.message}`);
  assert.equal(err.code, code, err.message);
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof RegExp) assert.match(String(err[k]), v, `${k} of: ${err.message}`);
    else assert.equal(err[k], v, `${k} of: ${err.message}`);
  }
  return err;
}

/** A minimal in-memory CacheStorage with the Cache API's behaviour that the store relies on. */
export function fakeCacheStorage() {
  const caches = new Map();
  const key = (req) => String(req instanceof Request ? req.url : req);
  const open = (name) => {
    if (!caches.has(name)) caches.set(name, new Map());
    const entries = caches.get(name);
    return {
      entries,
      async match(req) {
        const hit = entries.get(key(req));
        return hit ? new Response(hit.body, { status: hit.status, headers: hit.headers }) : undefined;
      },
      async put(req, response) {
        const body = new Uint8Array(await response.arrayBuffer());   // rejects if the body errors
        entries.set(key(req), { body, status: response.status, headers: [...response.headers] });
      },
      async delete(req) { return entries.delete(key(req)); },
    };
  };
  return { caches, open: async (name) => open(name), delete: async (name) => caches.delete(name) };
}
