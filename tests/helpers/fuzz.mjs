// JS fuzz targets for the loading side: the safetensors reader, and the loader's readers of
// model.safetensors.index.json, manifest.json, config.json and tokenizer.model. Inputs are
// fast-check mutations of real files (tests/fixtures, models/pldr-tiny): byte edits (flips,
// interesting values, inserts, deletes, copies, truncation) and edits that know the format
// (numbers and strings of a safetensors header, its length prefix, protobuf varints, JSON nodes
// replaced by edge values or nested 100 000 deep). The property of every target: the input
// loads, or fails with a PldrError whose one-line message names the file; never another error
// (a TypeError or RangeError from inside), a hang or unbounded memory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';

import { PldrError } from '../../js/errors.js';
import { INDEX_FILE, loadModel } from '../../js/loading/loader.js';
import { SafetensorsReader } from '../../js/loading/safetensors.js';
import { ROOT } from './engines.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
const MICRO = join(ROOT, 'tests/fixtures/pldr-micro');
const read = (...parts) => readFileSync(join(...parts));

// --- mutations ------------------------------------------------------------------------------------

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x30, 0x39, 0x22, 0x5b, 0x5d, 0x7b, 0x7d, 0x2c, 0x3a, 0x2d, 0x5c, 0x0a];

/** Edits any byte string: the generic half of every target's mutations. */
const byteEdit = fc.oneof(
  fc.record({ op: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('byte'), at: fc.nat(), value: fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('truncate'), at: fc.nat() }),
  fc.record({ op: fc.constant('delete'), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('insert'), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('copy'), from: fc.nat(), to: fc.nat(), length: fc.integer({ min: 1, max: 512 }) }),
);

/** @param {Buffer} b @returns {Buffer} */
function applyByteEdit(b, e) {
  if (b.length === 0) return e.op === 'insert' ? Buffer.from(e.bytes) : b;
  const at = e.at % b.length;
  switch (e.op) {
    case 'flip': b[at] ^= 1 << e.bit; return b;
    case 'byte': b[at] = e.value; return b;
    case 'truncate': return b.subarray(0, at);
    case 'delete': return Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)]);
    case 'insert': return Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
    case 'copy': {
      const from = e.from % b.length;
      const part = Buffer.from(b.subarray(from, from + e.length));
      return Buffer.concat([b.subarray(0, e.to % b.length), part, b.subarray(e.to % b.length)]);
    }
    default: throw new Error(`unknown edit ${e.op}`);
  }
}

const EDGE_NUMBERS = ['0', '1', '-1', '2', '3', '31', '32', '2147483647', '2147483648', '4294967295', '4294967296',
  '9007199254740991', '9007199254740993', '18446744073709551616', '1e308', '1e309', '0.5', '-0', '1e2', '65536'];
const EDGE_STRINGS = ['F32', 'F16', 'BF16', 'U8', 'BOOL', 'F64', 'I32', '', '__metadata__', 'pldr.quant', 'q8_0', 'q4_0',
  'dtype', 'shape', 'data_offsets', '__proto__', 'constructor', '\\u0000', '\\ud800', 'x'.repeat(300)];

/** Edits of a safetensors file that keep it looking like one (the length prefix follows the header). */
const safetensorsEdit = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('number'), index: fc.nat(), value: fc.constantFrom(...EDGE_NUMBERS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('string'), index: fc.nat(), value: fc.constantFrom(...EDGE_STRINGS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('prefix'), value: fc.constantFrom(0n, 1n, 2n, 7n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 99_999_999n, 100_000_001n, 2n ** 64n - 1n), relative: fc.integer({ min: -3, max: 3 }), useRelative: fc.boolean() }) },
  { weight: 4, arbitrary: byteEdit },
);

function applySafetensorsEdit(b, e) {
  if (e.op !== 'number' && e.op !== 'string' && e.op !== 'prefix') return applyByteEdit(b, e);
  if (b.length < 8) return b;
  const n = Number(b.readBigUInt64LE(0));
  if (e.op === 'prefix') {
    const out = Buffer.from(b);
    const value = e.useRelative ? BigInt.asUintN(64, b.readBigUInt64LE(0) + BigInt(e.relative)) : e.value;
    out.writeBigUInt64LE(value);
    return out;
  }
  if (n > b.length - 8) return b;
  const header = b.subarray(8, 8 + n).toString('latin1');
  const pattern = e.op === 'number' ? /-?\d+(\.\d+)?([eE][-+]?\d+)?/g : /"(?:[^"\\]|\\.)*"/g;
  const matches = [...header.matchAll(pattern)];
  if (matches.length === 0) return b;
  const m = matches[e.index % matches.length];
  const value = e.op === 'number' ? e.value : `"${e.value}"`;
  const edited = Buffer.from(header.slice(0, m.index) + value + header.slice(m.index + m[0].length), 'latin1');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(edited.length));
  return Buffer.concat([prefix, edited, b.subarray(8 + n)]);
}

/** Protobuf: a varint written over the bytes at `at` (lengths and tags that lie), plus byte edits. */
const protobufEdit = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('varint'), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 5, 127, 128, 255, 16383, 2 ** 21, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 35, 2 ** 53 - 1) }) },
  { weight: 3, arbitrary: byteEdit },
);

function applyProtobufEdit(b, e) {
  if (e.op !== 'varint') return applyByteEdit(b, e);
  if (b.length === 0) return b;
  const bytes = [];
  for (let v = e.value; ; v = Math.floor(v / 128)) {
    if (v < 128) { bytes.push(v); break; }
    bytes.push((v % 128) | 0x80);
  }
  const out = Buffer.from(b);
  const at = e.at % b.length;
  for (let i = 0; i < bytes.length && at + i < out.length; i++) out[at + i] = bytes[i];
  return out;
}

const EDGE_JSON = [null, true, false, 0, -1, 0.5, 2 ** 31, 2 ** 53, 1e308, '', '.', '..', '../x.safetensors', 'a/b.safetensors',
  'a\\b', 'model.safetensors', 'x'.repeat(10_000), [], {}, [1, 2], { path: 'config.json' }, 'F32'];

/** JSON: a node replaced (by an edge value, any JSON value, or nesting 100 000 deep), a key deleted, or bytes edited. */
const jsonEdit = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('replace'), index: fc.nat(), value: fc.oneof(fc.constantFrom(...EDGE_JSON), fc.jsonValue({ maxDepth: 3 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep'), index: fc.nat(), depth: fc.constantFrom(10, 1000, 100_000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteKey'), index: fc.nat() }) },
  { weight: 2, arbitrary: byteEdit },
);

const DEEP = '"\u0000pldr-fuzz-deep\u0000"';

function applyJsonEdit(b, e) {
  if (e.op !== 'replace' && e.op !== 'deep' && e.op !== 'deleteKey') return applyByteEdit(b, e);
  let root;
  try {
    root = JSON.parse(b.toString('utf8'));
  } catch {
    return b;   // an earlier edit broke the JSON: only byte edits apply now
  }
  const holder = { root };
  const slots = [];   // [parent, key] of the nodes, breadth first, the first 100 000 down to depth 100
  for (let level = [[holder, 'root']], depth = 0; level.length && depth < 100 && slots.length < 100_000; depth++) {
    const next = [];
    for (const [parent, key] of level) {
      slots.push([parent, key]);
      const v = parent[key];
      if (v && typeof v === 'object') for (const k of Object.keys(v)) next.push([v, k]);
    }
    level = next;
  }
  const [parent, key] = slots[e.index % slots.length];
  if (e.op === 'deleteKey') {
    if (parent !== holder) delete parent[key];
  } else {
    parent[key] = e.op === 'deep' ? DEEP : e.value;
  }
  let text;
  try {
    text = JSON.stringify(holder.root);
  } catch {
    return b;   // nested too deep to write back: keep the input as it was
  }
  if (e.op === 'deep') text = text.replace(JSON.stringify(DEEP), `${'['.repeat(e.depth)}${']'.repeat(e.depth)}`);
  return Buffer.from(text);
}

/** An input: which seed, then 1–8 edits in order. */
function mutations(seeds, edit) {
  return fc.record({ seed: fc.nat({ max: seeds.length - 1 }), edits: fc.array(edit, { minLength: 1, maxLength: 8 }) });
}

// --- the property -----------------------------------------------------------------------------

/** Fails unless `err` is the runtime's own error with a one-line message naming `file`. */
export function assertCleanError(err, file) {
  assert.ok(err instanceof PldrError, `not a PldrError: ${err?.constructor?.name}: ${err?.message}\n${err?.stack}`);
  assert.ok(err.message.includes(file), `the message does not name ${file}: ${err.message}`);
  assert.ok(!err.message.includes('\n'), `a message of several lines: ${err.message}`);
  assert.ok(!/\bundefined\b|\bNaN\b/.test(err.message), `a message with undefined/NaN: ${err.message}`);
}

/** Writes `bytes` to the reader in chunks whose sizes come from `cuts` (a cycle). */
function pushInChunks(reader, bytes, cuts) {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = cuts.length ? 1 + (cuts[i % cuts.length] % 65536) : bytes.length;
    reader.push(bytes.subarray(at, at + n));
    at += n;
  }
  reader.end();
}

/** A sink for the loader targets: checks the write protocol, keeps nothing. */
function countingSink() {
  return {
    configure() {},
    begin(info) {
      let written = 0;
      return {
        write(bytes) {
          written += bytes.length;
          assert.ok(written <= info.byteLength, `${info.name}: more bytes than byteLength`);
        },
        end() { assert.equal(written, info.byteLength, `${info.name}: byte count`); },
      };
    },
    finish() {},
    abort() {},
  };
}

const BASE = 'http://fuzz.invalid/model/';

/** Loads an in-memory folder through the real loader (HTTP path: a fetch that serves `files`). */
async function loadFolder(files) {
  const fetch = async (url, init) => {
    const bytes = files[String(url).slice(BASE.length)];
    if (!bytes) return new Response(null, { status: 404 });
    const headers = { 'content-length': String(bytes.length), etag: '"fuzz"' };
    return new Response(init?.method === 'HEAD' ? null : bytes, { status: 200, headers });
  };
  return loadModel(BASE, countingSink(), { fetch, cache: false, retries: 0 });
}

// --- seeds ------------------------------------------------------------------------------------

function safetensorsBytes(header, data) {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

/** A small quantized file (q8_0 and q4_0 U8 tensors with their "pldr.quant" entries), for E_QUANT paths. */
function quantizedSeed() {
  const quant = { w8: { format: 'q8_0', shape: [3, 40] }, w4: { format: 'q4_0', shape: [2, 64] } };
  return safetensorsBytes({
    __metadata__: { 'pldr.quant': JSON.stringify(quant) },
    w8: { dtype: 'U8', shape: [3, 68], data_offsets: [0, 204] },
    w4: { dtype: 'U8', shape: [2, 36], data_offsets: [204, 276] },
    b: { dtype: 'F32', shape: [3], data_offsets: [276, 288] },
  }, Buffer.alloc(288, 7));
}

/** Header-only shards (every tensor F32 [0]) that agree with the real pldr-tiny index. */
function stubShards(index) {
  const byShard = new Map();
  for (const [name, shard] of Object.entries(JSON.parse(index.toString()).weight_map)) {
    if (!byShard.has(shard)) byShard.set(shard, {});
    byShard.get(shard)[name] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
  }
  return Object.fromEntries([...byShard].map(([shard, header]) => [shard, safetensorsBytes(header, Buffer.alloc(0))]));
}

function manifestOf(files) {
  return Buffer.from(JSON.stringify({
    format: 'pldr-web-1',
    files: Object.entries(files).map(([path, bytes]) => ({ path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })),
  }));
}

/**
 * @typedef {{name: string, file: string, seeds: Buffer[], arbitrary: fc.Arbitrary<any>,
 *   mutate(input: any): Buffer, run(bytes: Buffer, input?: any): Promise<string>}} Target
 *   run: resolves with the outcome ('ok' or the error code) when the property holds, else throws
 */

/** @returns {Target[]} */
export function targets() {
  const config = read(TINY, 'config.json');
  const tokenizer = read(TINY, 'tokenizer.model');
  const index = read(TINY, INDEX_FILE);
  const micro = read(MICRO, 'model.safetensors');
  const smallShard = quantizedSeed();
  const shards = stubShards(index);
  const outcome = async (promise, file) => {
    try {
      await promise;
      return 'ok';
    } catch (err) {
      assertCleanError(err, file);
      // in memory nothing can fail to read: E_READ here is the loader's wrapper of an unexpected error
      assert.notEqual(err.code, 'E_READ', `an unexpected error inside: ${err.message}\n${err.cause?.stack ?? ''}`);
      return err.code;
    }
  };
  const folder = (file, bytes) => ({ 'config.json': config, 'model.safetensors': smallShard, [file]: bytes });
  const safetensorsSeeds = [micro, read(MICRO, 'model.bf16.safetensors'), smallShard,
    read(TINY, 'model-00004-of-00004.safetensors').subarray(0, 400_000)];   // cut: its data runs short
  return [
    {
      name: 'safetensors-reader', file: 'model.safetensors', seeds: safetensorsSeeds,
      arbitrary: fc.record({
        input: mutations(safetensorsSeeds, safetensorsEdit),
        cuts: fc.array(fc.nat(), { maxLength: 6 }), sized: fc.boolean(),
      }),
      mutate: ({ input }) => input.edits.reduce(applySafetensorsEdit, Buffer.from(safetensorsSeeds[input.seed])),
      async run(bytes, { cuts = [], sized = true } = {}) {
        const sink = countingSink();
        const reader = new SafetensorsReader('model.safetensors', {
          fileSize: sized ? bytes.length : null, onTensor: (info) => sink.begin(info),
        });
        return outcome(Promise.resolve().then(() => pushInChunks(reader, bytes, cuts)), 'model.safetensors');
      },
    },
    {
      name: 'index', file: INDEX_FILE, seeds: [index],
      arbitrary: fc.record({ input: mutations([index], jsonEdit) }),
      mutate: ({ input }) => input.edits.reduce(applyJsonEdit, Buffer.from(index)),
      run: (bytes) => outcome(loadFolder({ 'config.json': config, ...shards, [INDEX_FILE]: bytes }), INDEX_FILE),
    },
    {
      name: 'manifest', file: 'manifest.json', seeds: [manifestOf({ 'config.json': config, 'model.safetensors': smallShard })],
      get arbitrary() { return fc.record({ input: mutations(this.seeds, jsonEdit) }); },
      mutate(input) { return input.input.edits.reduce(applyJsonEdit, Buffer.from(this.seeds[0])); },
      run: (bytes) => outcome(loadFolder(folder('manifest.json', bytes)), 'manifest.json'),
    },
    {
      name: 'config', file: 'config.json', seeds: [config],
      arbitrary: fc.record({ input: mutations([config], jsonEdit) }),
      mutate: ({ input }) => input.edits.reduce(applyJsonEdit, Buffer.from(config)),
      run: (bytes) => outcome(loadFolder(folder('config.json', bytes)), 'config.json'),
    },
    {
      name: 'tokenizer', file: 'tokenizer.model', seeds: [tokenizer],
      arbitrary: fc.record({ input: mutations([tokenizer], protobufEdit) }),
      mutate: ({ input }) => input.edits.reduce(applyProtobufEdit, Buffer.from(tokenizer)),
      async run(bytes) {
        return outcome(loadFolder(folder('tokenizer.model', bytes)).then(({ parsedTokenizer: tok }) => {
          tok.decode(tok.encode('Hello wörld 123 🙂\t[SEP] x ▁▁'));   // what parses must also work
        }), 'tokenizer.model');
      },
    },
  ];
}

/**
 * Runs one target for `seconds` (fast-check, seeded).
 * @param {Target} target
 * @returns {Promise<{executions: number, outcomes: Record<string, number>, failure: null|{bytes: Buffer, error: unknown, seed: number, path: string}}>}
 */
export async function fuzz(target, { seconds, seed }) {
  const outcomes = {};
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    const result = await target.run(target.mutate(input), input);
    outcomes[result] = (outcomes[result] ?? 0) + 1;
  });
  const details = await fc.check(property, {
    seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000,
    markInterruptAsFailure: false, timeout: 20_000,   // a hang fails the input
  });
  const failure = details.failed ? {
    bytes: target.mutate(details.counterexample[0]), error: details.errorInstance,
    seed: details.seed, path: details.counterexamplePath,
  } : null;
  return { executions: details.numRuns, outcomes, failure };
}
