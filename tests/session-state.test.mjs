// A session's state saved and restored (include/pldr.h pldr_session_state_*, Session.exportState /
// importState, Engine.saveState / restoreState): a restored conversation's next reply is the one
// an uninterrupted session gives (greedy) in every G-cache mode and weight format, without the
// conversation being run again, with either KV-cache format (f16 states are saved as binary16,
// half the bytes); a state that is truncated, garbled, of another format, or made for another
// model, mode, G_LM or KV-cache format is refused with E_SESSION_STATE and changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { ROOT } from './helpers/engines.mjs';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { prng } from '../tools/testkit/synthetic.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
const GREEDY = { temperature: 0, maxTokens: 12 };
const TURNS = ['Hello! What is your name?', 'Tell me about the sea.', 'And the mountains?'];

/** A conversation of two turns, then what the third turn gives, in one engine without a break. */
async function uninterrupted(options) {
  const engine = await PLDR.load(TINY, options);
  const messages = [];
  for (const text of TURNS.slice(0, 2)) {
    messages.push({ role: 'user', content: text });
    messages.push({ role: 'assistant', content: (await engine.respond(messages, GREEDY).result).text });
  }
  const saved = engine.saveState();
  messages.push({ role: 'user', content: TURNS[2] });
  const next = await engine.respond(messages, GREEDY).result;
  engine.free();
  return { messages, saved, next };
}

for (const options of [{}, { gcache: 'prompt' }, { gcache: 'off' }, { gcache: 'empty' }, { quant: 'q8' }, { quant: 'q4', gcache: 'prompt' },
  { kvCache: 'f16' }, { kvCache: 'f16', quant: 'q8', gcache: 'prompt' }]) {
  test(`a restored conversation's next reply equals the uninterrupted one (${JSON.stringify(options)})`, async () => {
    const { messages, saved, next } = await uninterrupted(options);
    const fresh = await PLDR.load(TINY, options);
    try {
      fresh.restoreState(structuredClone(saved));   // as IndexedDB gives it back
      const reply = await fresh.respond(messages, GREEDY).result;
      assert.equal(reply.text, next.text);
      assert.deepEqual(reply.ids, next.ids);
      const prefilled = fresh.stats().prefillTokens;
      const turn = fresh.encode(`User: ${TURNS[2]}`).length + fresh.encode('Assistant:').length;
      // (mode off keeps no KV-cache: the C library runs the whole sequence again, as it always does there)
      assert.ok(prefilled <= turn + 1, `only the new turn was new (${prefilled} tokens prefilled, the turn has ${turn})`);
      if (!options.gcache) assert.equal(fresh.model.anetRuns, 0, 'mode first: the G came with the state, the A-net did not run');
    } finally {
      fresh.free();
    }
  });
}

test('states made for another model, mode or G_LM are refused, saying why, and change nothing', async () => {
  const { messages, saved } = await uninterrupted({});
  const check = async (options, pattern, prepare) => {
    const engine = await PLDR.load(TINY, options);
    try {
      await prepare?.(engine);
      const before = [engine.session.position, [...engine.session.tokens()]];
      assert.throws(() => engine.restoreState(saved), (err) => err.code === 'E_SESSION_STATE' && pattern.test(err.message), String(pattern));
      assert.deepEqual([engine.session.position, [...engine.session.tokens()]], before, 'unchanged');
      return await engine.respond(messages, GREEDY).result;   // still works
    } finally {
      engine.free();
    }
  };
  await check({ quant: 'q8' }, /another model \(its weights or hyperparameters differ\)/);
  await check({ gcache: 'prompt' }, /made in G-cache mode first; this model runs in mode prompt/);
  // mode first, but this model computed its G from another first prompt
  await check({}, /stale session state: it was computed under another G_LM/, (e) => e.generate('Once upon a time', GREEDY).result);
  // another shape altogether
  const rt = await createRuntime();
  const shape = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 2, V: 50, ctx: 16 };
  const model = Model.create(rt, configFor(shape));
  uploadTensors(model, synthesize(shape));
  model.finalize();
  const session = model.newSession();
  assert.throws(() => session.importState(saved.session), { code: 'E_SESSION_STATE', message: /another model: 5 layers/ });
  model.free();
});

test('a state holding more positions than the context is refused (E_CONTEXT)', async () => {
  const { saved } = await uninterrupted({});
  const small = await PLDR.load(TINY, { contextLength: 16 });
  try {
    assert.throws(() => small.restoreState(saved), { code: 'E_CONTEXT', message: /holds \d+ positions; this session's context is 16/ });
  } finally {
    small.free();
  }
});

test('truncated, garbled and foreign-format blobs are refused and leave the session as it was', async () => {
  const { messages, saved, next } = await uninterrupted({ gcache: 'prompt' });
  const engine = await PLDR.load(TINY, { gcache: 'prompt' });
  const rand = prng(12);
  const blob = saved.session;
  const refuse = (bytes, what) => {
    const before = [engine.session.position, [...engine.session.tokens()]];
    assert.throws(() => engine.session.importState(bytes), (err) => ['E_SESSION_STATE', 'E_CONTEXT'].includes(err.code), what);
    assert.deepEqual([engine.session.position, [...engine.session.tokens()]], before, `${what}: unchanged`);
  };
  try {
    await engine.respond([{ role: 'user', content: 'Hi' }], GREEDY).result;   // something to keep intact
    // every cut through the header, and cuts through the payload
    for (let n = 0; n < 96; n++) refuse(blob.subarray(0, n), `truncated to ${n} bytes`);
    for (let i = 0; i < 40; i++) { const n = 96 + Math.floor(rand() * (blob.length - 96)); refuse(blob.subarray(0, n), `truncated to ${n}`); }
    refuse(new Uint8Array([...blob, 0]), 'one byte more');
    // one flipped bit anywhere, a few flipped bytes, a run of zeros
    for (let i = 0; i < 250; i++) {
      const bytes = blob.slice();
      const at = i < 80 * 8 ? i >> 3 : Math.floor(rand() * bytes.length); // every header bit among the first
      bytes[at] ^= 1 << (i & 7);
      refuse(bytes, `bit ${i & 7} of byte ${at} flipped`);
    }
    // an empty session's state (no ids, no KV, no G: the header is all there is) likewise
    const empty = engine.model.newSession();
    const bare = empty.exportState();
    empty.free();
    for (let i = 0; i < 80 * 8; i++) {
      const bytes = bare.slice();
      bytes[i >> 3] ^= 1 << (i & 7);
      refuse(bytes, `an empty state's bit ${i & 7} of byte ${i >> 3} flipped`);
    }
    for (let i = 0; i < 30; i++) {
      const bytes = blob.slice();
      const at = Math.floor(rand() * (bytes.length - 64));
      bytes.fill(0, at, at + 1 + Math.floor(rand() * 64));
      refuse(bytes, `zeros at ${at}`);
    }
    // another format version or KV layout: the message says which formats
    const other = blob.slice();
    new DataView(other.buffer).setUint32(12, 3, true); // kv_format
    assert.throws(() => engine.session.importState(other), { code: 'E_SESSION_STATE', message: /format 1 \(KV layout 3\): this runtime reads format 1 \(KV layout 1 or 2\)/ });
    new DataView(other.buffer).setUint32(12, 2, true); // binary16: this session's cache is float32
    assert.throws(() => engine.session.importState(other), { code: 'E_SESSION_STATE', message: /KV-cache is binary16 \(f16\); this session stores keys and values as float32/ });
    assert.throws(() => engine.session.importState(new TextEncoder().encode(`{"not": "a state"}${' '.repeat(200)}`)), { code: 'E_SESSION_STATE', message: /not a session state/ });
    // engine level: parts that disagree, another format tag
    assert.throws(() => engine.restoreState({ ...saved, format: 'pldr-engine-state-0' }), { code: 'E_SESSION_STATE', message: /format "pldr-engine-state-0"/ });
    assert.throws(() => engine.restoreState({ ...saved, conversation: { ...saved.conversation, ids: saved.conversation.ids.map((id) => (id + 1) % 8000) } }),
      { code: 'E_SESSION_STATE', message: /disagree/ });
    assert.throws(() => engine.restoreState({ ...saved, segments: [{ role: 'user', content: 'x', ids: [99999] }] }), { code: 'E_SESSION_STATE' });
    // after all that, the real state still restores and gives the uninterrupted reply
    engine.restoreState(saved);
    assert.deepEqual((await engine.respond(messages, GREEDY).result).ids, next.ids);
  } finally {
    engine.free();
  }
});

test('a state survives a context shift: the dropped span stays dropped after the restore', async () => {
  const options = { contextLength: 96 };
  const a = await PLDR.load(TINY, options);
  const b = await PLDR.load(TINY, options);
  try {
    const messages = [];
    for (const text of ['Tell me a long story about the sea and its ships.', 'Go on, tell me more about the sailors.']) {
      messages.push({ role: 'user', content: text });
      messages.push({ role: 'assistant', content: (await a.respond(messages, { temperature: 0, maxTokens: 40 }).result).text });
    }
    assert.ok(a.conversation.shifts > 0, 'the window slid');
    b.restoreState(a.saveState());
    messages.push({ role: 'user', content: 'Why?' });
    const [ra, rb] = [await a.respond(messages, GREEDY).result, await b.respond(messages, GREEDY).result];
    assert.deepEqual(rb.ids, ra.ids);
    assert.equal(b.stats().prefillTokens, a.stats().prefillTokens, 'the same tokens ran in both');
  } finally {
    a.free();
    b.free();
  }
});

test('a state restores into a session of its own KV-cache format only; an f16 state holds half the KV bytes', async () => {
  const states = {}, engines = {};
  try {
    for (const kvCache of ['f32', 'f16']) {
      engines[kvCache] = await PLDR.load(TINY, { kvCache });
      await engines[kvCache].respond([{ role: 'user', content: TURNS[0] }], GREEDY).result;
      states[kvCache] = engines[kvCache].saveState();
    }
    const pos = engines.f32.session.position;
    assert.equal(engines.f16.session.position, pos, 'the same conversation');
    const kvBytes = 2 * 5 * 4 * pos * 64 * 4; // keys and values [L][H][pos][dk] as float32 (pldr-tiny)
    assert.equal(states.f32.session.length - states.f16.session.length, kvBytes / 2);
    for (const [into, from] of [['f32', 'f16'], ['f16', 'f32']]) {
      const e = engines[into];
      await e.generate('Once upon a time', GREEDY).result;   // something to keep intact
      const before = [e.session.position, [...e.session.tokens()]];
      const names = { f32: 'float32 \\(f32\\)', f16: 'binary16 \\(f16\\)' };
      assert.throws(() => e.restoreState(states[from]), { code: 'E_SESSION_STATE',
        message: new RegExp(`KV-cache is ${names[from]}; this session stores keys and values as ${names[into]}`) });
      assert.deepEqual([e.session.position, [...e.session.tokens()]], before, `${from} into ${into}: unchanged`);
      e.restoreState(states[into]);   // its own format still restores
      assert.equal(e.session.position, pos);
    }
  } finally {
    for (const e of Object.values(engines)) e.free();
  }
});

/** state.c's payload fingerprint (64-bit, four multiply-rotate lanes over 8-byte words), to make a blob that passes it. */
function payloadFingerprint(bytes, seed = 1n) {
  const M = (1n << 64n) - 1n, P1 = 0x9E3779B185EBCA87n, P2 = 0xC2B2AE3D27D4EB4Fn, P3 = 0x165667B19E3779F9n;
  const rotl = (x, r) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M;
  const mix = (acc, w) => (rotl((acc + w * P2) & M, 31) * P1) & M;
  const lane = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), groups = Math.floor(bytes.length / 32);
  for (let i = 0; i < groups; i++) for (let j = 0; j < 4; j++) lane[j] = mix(lane[j], view.getBigUint64(32 * i + 8 * j, true));
  for (let i = groups * 32; i < bytes.length; i++) lane[i & 3] = mix(lane[i & 3], BigInt(bytes[i]));
  let h = (rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18)) & M;
  for (let j = 0; j < 4; j++) h = (((h ^ mix(0n, lane[j])) * P1) + P3) & M;
  h ^= BigInt(bytes.length);
  h = ((h ^ (h >> 33n)) * P2) & M;
  h = ((h ^ (h >> 29n)) * P3) & M;
  return h ^ (h >> 32n);
}

test('an f16 state holding a NaN key reads it as NaN after the restore (the exact kernels), not as a finite stand-in', async () => {
  const shape = { L: 2, D: 64, H: 1, dff: 96, Adff: 32, nres: 2, ndense: 2, V: 64, ctx: 32 };
  const rt = await createRuntime();
  const model = Model.create(rt, configFor(shape), { gcache: 'first' });
  uploadTensors(model, synthesize(shape, 3));
  model.finalize();
  const a = model.newSession({ kvCache: 'f16' }), b = model.newSession({ kvCache: 'f16' });
  a.prefill([5, 6, 7]);
  const blob = a.exportState(), view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  assert.equal(blob.length, 80 + 3 * 4 + 2 * shape.L * 3 * shape.D * 2 + 2 * shape.L * 64 * 64 * 4, 'header, ids, binary16 K and V, G and A');
  assert.equal(payloadFingerprint(blob.subarray(80)), view.getBigUint64(32, true), 'the fingerprint as state.c computes it');
  view.setUint16(80 + 3 * 4, 0x7E00, true); // layer 0's first key element at position 0: a binary16 NaN
  view.setBigUint64(32, payloadFingerprint(blob.subarray(80)), true);
  b.importState(blob);
  assert.ok(b.decode(8).some(Number.isNaN), 'the restored NaN key gives NaN logits');
  assert.ok(a.decode(8).every(Number.isFinite), 'the session it came from (no NaN) stays finite');
  model.free();
});
