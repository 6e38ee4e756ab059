// The generation loop and conversation bookkeeping on a synthetic model, with a fake text stream
// (one letter per id) so stop strings, held-back text, aborts (also in the middle of a long
// prefill), prefix reuse and the sliding window are checked without a tokenizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { Conversation } from '../js/generation/conversation.js';
import { generateTokens } from '../js/generation/token-loop.js';
import { Sampler } from '../js/generation/sampler.js';
import { configFor, synthesize, uploadTensors } from './helpers/synthetic.mjs';
import { benchIds } from '../tools/testkit/synthetic.mjs';

const SHAPE = { L: 2, D: 32, H: 2, dff: 48, Adff: 8, nres: 1, ndense: 2, V: 64, ctx: 32 };
const rt = await createRuntime();
const model = Model.create(rt, { ...configFor(SHAPE), eos_token_id: 63 });
uploadTensors(model, synthesize(SHAPE, 3));
model.finalize();

/** one lowercase letter per id; ids 50..59 hold their letter back until the next id (like UTF-8 bytes) */
function letters() {
  let held = '';
  return {
    pending: false,
    push(id) {
      const ch = String.fromCharCode(97 + (id % 26));
      if (id >= 50 && id < 60) { held += ch; this.pending = true; return ''; }
      const out = held + ch;
      held = '';
      this.pending = false;
      return out;
    },
    flush() { const out = held; held = ''; this.pending = false; return out; },
  };
}

async function drain(gen) {
  const pieces = [];
  let step = await gen.next();
  while (!step.done) { pieces.push(step.value); step = await gen.next(); }
  return { pieces, result: step.value };
}

const greedy = () => new Sampler({ temperature: 0 });
const sampled = (seed) => new Sampler({ temperature: 1, seed });

test('only ids not yet in the cache are run; a changed suffix rewinds to the shared prefix', async () => {
  const conv = new Conversation(model.newSession({ contextLength: 32 }));
  conv.setIds([5, 6, 7]);
  await conv.sync();
  assert.equal(conv.prefilled, 3);
  conv.setIds([5, 6, 7, 8, 9]);
  await conv.sync();
  assert.equal(conv.prefilled, 2);
  conv.setIds([5, 6, 11]);
  assert.equal(conv.session.position, 2);
  const a = (await conv.sync()).slice();
  assert.equal(conv.prefilled, 1);
  const fresh = model.newSession({ contextLength: 32 });
  fresh.prefill([5, 6, 11]);
  assert.deepEqual(a, fresh.logits(), 'reused prefix gives the same logits as a fresh run');
});

test('pieces concatenate to the result text, ids match what was sampled, seeds reproduce', async () => {
  const conv0 = new Conversation(model.newSession());
  conv0.setIds([1, 2]);
  const a = await drain(generateTokens(conv0, { sampler: sampled(7), maxTokens: 20, eosId: 63, textStream: letters() }));
  assert.equal(a.pieces.map((p) => p.text).join(''), a.result.text);
  assert.deepEqual(conv0.ids.slice(2), a.result.ids);
  const conv1 = new Conversation(model.newSession());
  conv1.setIds([1, 2]);
  const b = await drain(generateTokens(conv1, { sampler: sampled(7), maxTokens: 20, eosId: 63, textStream: letters() }));
  assert.deepEqual(b.result.ids, a.result.ids);
});

test('a stop string ends generation; held-back text never leaks; history keeps only emitted tokens', async () => {
  const conv = new Conversation(model.newSession());
  conv.setIds([1, 2, 3]);
  const free = await drain(generateTokens(conv, { sampler: greedy(), maxTokens: 12, eosId: 63, textStream: letters() }));
  const text = free.result.text;
  assert.ok(text.length >= 6, `need some text, got "${text}"`);
  const stop = text.slice(3, 5);
  conv.setIds([1, 2, 3]);
  const stopped = await drain(generateTokens(conv, { sampler: greedy(), maxTokens: 12, eosId: 63, stop: [stop], textStream: letters() }));
  assert.equal(stopped.result.finishReason, 'stop');
  const cut = text.indexOf(stop);
  assert.equal(stopped.result.text, text.slice(0, cut));
  assert.equal(stopped.pieces.map((p) => p.text).join(''), text.slice(0, cut));
  assert.equal(conv.ids.length, 3 + stopped.result.ids.length);
  assert.ok(conv.session.position <= conv.ids.length);
});

test('a stop string inside a token that also completes held-back text: the text before the stop is kept', async () => {
  const conv = new Conversation(model.newSession());
  conv.setIds([1, 2]);
  const script = [10, 11, 12, 13];
  const words = { 10: 'Hello', 11: ' Use', 12: 's User:', 13: ' never' };
  const scripted = { sample: () => script.shift() };
  const textStream = { push: (id) => words[id], flush: () => '', pending: false };
  const r = await drain(generateTokens(conv, { sampler: /** @type {any} */ (scripted), maxTokens: 8, eosId: 63, stop: ['User:'], textStream }));
  assert.equal(r.result.finishReason, 'stop');
  assert.equal(r.pieces.map((p) => p.text).join(''), 'Hello Uses ');
  assert.equal(r.result.text, 'Hello Uses ');
});

test('abort mid-generation leaves history and cache at what was emitted, and the session usable', async () => {
  const conv = new Conversation(model.newSession());
  conv.setIds([4, 5]);
  const controller = new AbortController();
  const gen = generateTokens(conv, { sampler: sampled(3), maxTokens: 30, eosId: 999, signal: controller.signal, textStream: letters() });
  let emitted = '';
  for (let i = 0; i < 4; i++) emitted += (await gen.next()).value.text;
  controller.abort();
  const rest = await drain(gen);
  assert.equal(rest.result.finishReason, 'abort');
  emitted += rest.pieces.map((p) => p.text).join('');
  assert.equal(rest.result.text, emitted);
  assert.equal(conv.ids.length, 2 + rest.result.ids.length);
  assert.ok(conv.session.position <= conv.ids.length);
  const next = await drain(generateTokens(conv, { sampler: greedy(), maxTokens: 3, eosId: 63, textStream: letters() }));
  assert.ok(next.result.ids.length > 0);
});

test('when the context fills, the window slides (G-cache kept) instead of failing', async () => {
  const shifts = [];
  const conv = new Conversation(model.newSession({ contextLength: 16 }), { keepTokens: 2, onContextShift: (i) => shifts.push(i) });
  conv.setIds([9, 8, 7, 6]);
  const runsBefore = model.anetRuns;
  const out = await drain(generateTokens(conv, { sampler: sampled(11), maxTokens: 40, eosId: 999, textStream: letters() }));
  assert.equal(out.result.finishReason, 'length');
  assert.equal(out.result.ids.length, 40);
  assert.ok(shifts.length >= 2, 'slid at least twice');
  assert.deepEqual(conv.ids.slice(0, 2), [9, 8], 'keepTokens survive');
  assert.ok(conv.ids.length <= 16 && conv.session.position <= 16);
  assert.equal(model.anetRuns, runsBefore, 'no new G computation (mode first: computed once already)');
});

test('a prompt longer than the context is trimmed from the left, not an error', async () => {
  const conv = new Conversation(model.newSession({ contextLength: 8 }));
  conv.setIds(Array.from({ length: 20 }, (_, i) => i + 1));
  const out = await drain(generateTokens(conv, { sampler: greedy(), maxTokens: 2, eosId: 999, textStream: letters() }));
  assert.equal(out.result.ids.length, 2);
  assert.ok(conv.shifts >= 1);
});

// ---- Stop during a long prompt -----------------------------------------------------------------

const LONG = { L: 4, D: 128, H: 2, dff: 256, Adff: 16, nres: 1, ndense: 2, V: 64, ctx: 1100 };
const longModel = Model.create(rt, { ...configFor(LONG), eos_token_id: 63 });
uploadTensors(longModel, synthesize(LONG, 9));
longModel.finalize();
const LONG_PROMPT = benchIds(1000, 63, 5); // ids 4..62: never [END], never the pad id

/** Counts the prefill steps run on a session, and lets a test act after a given step. */
function countSteps(session, afterStep = () => {}) {
  const counter = { steps: 0 };
  const begin = session.beginPrefill.bind(session);
  session.beginPrefill = (ids, options) => {
    const run = begin(ids, options);
    const step = run.step.bind(run);
    run.step = (budget) => {
      const left = step(budget);
      counter.steps++;
      afterStep(counter.steps);
      return left;
    };
    return run;
  };
  return counter;
}

async function generateAfterPrompt(conv, signal) {
  return drain(generateTokens(conv, { sampler: greedy(), maxTokens: 6, eosId: 63, signal, textStream: letters() }));
}

test('an abort during a long prefill stops after that step; conversation and session stay as if it never ran', async () => {
  for (const gcache of ['first', 'prompt', 'off']) {
    const m = Model.create(rt, { ...configFor(LONG), eos_token_id: 63 }, { gcache });
    uploadTensors(m, synthesize(LONG, 9));
    m.finalize();
    const history = LONG_PROMPT.slice(0, 30);
    const conv = new Conversation(m.newSession());
    conv.setIds(history);
    await conv.sync();
    const controller = new AbortController();
    let abortedAt = -1;
    const counter = countSteps(conv.session, (k) => { if (k === 5) { controller.abort(); abortedAt = k; } });
    conv.setIds([...history, ...LONG_PROMPT.slice(30, 200)]);
    const runsBefore = m.anetRuns;
    const aborted = await generateAfterPrompt(conv, controller.signal);
    assert.equal(aborted.result.finishReason, 'abort', gcache);
    assert.deepEqual(aborted.result.ids, []);
    assert.equal(aborted.result.text, '');
    assert.equal(counter.steps, abortedAt, `mode ${gcache}: no step ran after the abort`);
    assert.equal(conv.session.position, history.length, 'the cache holds what it held before');
    assert.deepEqual(conv.ids, [...history, ...LONG_PROMPT.slice(30, 200)], 'the prompt stays, to be run');
    assert.equal(m.anetRuns, runsBefore);
    // the same generate again equals one in a conversation where the aborted one never happened
    const again = await generateAfterPrompt(conv);
    const twin = new Conversation(m.newSession());
    twin.setIds(history);
    await twin.sync();
    twin.setIds([...history, ...LONG_PROMPT.slice(30, 200)]);
    const clean = await generateAfterPrompt(twin);
    assert.deepEqual(again.result.ids, clean.result.ids, gcache);
    assert.equal(again.result.finishReason, clean.result.finishReason);
    assert.deepEqual(conv.session.logits(), twin.session.logits());
    m.free();
  }
});

test('Stop during a 1,000-token prompt: the prefill visits the event loop, so an abort from another task ends it early', async () => {
  const conv = new Conversation(longModel.newSession());
  conv.setIds(LONG_PROMPT);
  const controller = new AbortController();
  let stepsAtAbort = -1;
  const counter = countSteps(conv.session);
  const timer = setTimeout(() => { stepsAtAbort = counter.steps; controller.abort(); }, 30);
  const r = await generateAfterPrompt(conv, controller.signal);
  clearTimeout(timer);
  // one layer over 64 tokens is a step: 1 + 4 layers × 2 × 16 chunks + 1 = 130 steps in all
  assert.equal(r.result.finishReason, 'abort', `the whole prefill (${counter.steps} steps) ran before the abort at 30 ms`);
  assert.ok(stepsAtAbort >= 0 && counter.steps <= stepsAtAbort + 1, `${counter.steps - stepsAtAbort} steps after the abort`);
  assert.equal(conv.session.position, 0);
});
