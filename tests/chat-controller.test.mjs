// The chat controller of the page and <pldr-chat>, in Node: over a client with PldrWorker's shape
// that runs the real engine in-process, it keeps the conversation the engine holds (two turns
// give the replies the engine gives), Stop, new conversations and model changes while a reply is
// written, superseded and cancelled loads, and errors (each an event, the conversation intact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ChatController } from '../js/browser/chat-controller.js';
import { Generation } from '../js/generation/generation.js';
import { PLDR } from '../js/pldr.js';
import { ROOT } from './helpers/engines.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
const GREEDY = { temperature: 0, maxTokens: 16 };
const LOOPING = 'Once upon a time, in a small village by the sea,';

/** PldrWorker's surface over an Engine in this process (the worker's own bookkeeping, in small). */
class InProcessClient extends EventTarget {
  /** @type {import('../js/pldr.js').Engine|null} */
  engine = null;
  loads = 0;

  // as the worker: the engine loaded before stays until the new one is ready (errors say modelKept)
  async load(source, { signal, onProgress, ...options } = {}) {
    this.loads++;
    const started = performance.now();
    let engine;
    try {
      engine = await PLDR.load(source, { ...options, signal, onProgress });
      if (signal?.aborted) { engine.free(); throw Object.assign(new Error('aborted'), { name: 'AbortError', code: 'E_ABORTED' }); }
    } catch (err) {
      throw Object.assign(err, { modelKept: this.engine !== null });
    }
    this.engine?.free();
    this.engine = engine;
    return { name: engine.name, source: String(source), bytes: engine.loadedBytes, fromCache: false, loadMs: performance.now() - started,
      contextLength: engine.contextLength, gcacheMode: engine.model.gcacheMode, quant: options.quant ?? 'f32', config: engine.config, stats: engine.stats() };
  }

  respond(messages, options) { return this.#stream((o) => this.engine.respond(messages, o), options); }
  generate(prompt, options) { return this.#stream((o) => this.engine.generate(prompt, o), options); }

  #stream(start, { signal, ...options } = {}) {
    const run = start(options);
    const engine = this.engine;
    return new Generation(async function* pieces(stop) {
      stop.addEventListener('abort', () => run.abort(), { once: true });
      let tokens = 0;
      for await (const piece of run) yield { ...piece, tokens: ++tokens };
      const result = await run.result;
      return { finishReason: result.finishReason, text: result.text, stats: engine.stats() };
    }, { signal });
  }

  async reset() { this.engine?.reset(); }
  terminate() { this.engine?.free(); this.engine = null; }
}

/** Records the controller's events as [type, detail]. */
function record(chat) {
  const events = [];
  for (const type of ['state', 'progress', 'load', 'cancel', 'turn', 'token', 'done', 'error']) {
    chat.addEventListener(type, (e) => events.push([type, /** @type {CustomEvent} */ (e).detail]));
  }
  return events;
}

const states = (events) => events.filter(([t]) => t === 'state').map(([, d]) => d.state);

test('two chat turns: the conversation the controller keeps gives the engine\'s own replies', async () => {
  const chat = new ChatController({ client: new InProcessClient() });
  const events = record(chat);
  const info = await chat.load(TINY);
  assert.equal(info.name, chat.model.name);
  assert.deepEqual(states(events), ['loading', 'ready']);
  assert.ok(events.some(([t, d]) => t === 'progress' && d.meter.fraction > 0), 'progress with the meter\'s reading');
  const first = await chat.send('Hello! What is your name?', { system: 'You are brief.', options: GREEDY });
  const second = await chat.send('Tell me about the sea.', { options: GREEDY });

  const reference = await PLDR.load(TINY);
  const messages = [{ role: 'system', content: 'You are brief.' }, { role: 'user', content: 'Hello! What is your name?' }];
  const r1 = await reference.respond(messages, GREEDY).result;
  messages.push({ role: 'assistant', content: r1.text }, { role: 'user', content: 'Tell me about the sea.' });
  const r2 = await reference.respond(messages, GREEDY).result;
  messages.push({ role: 'assistant', content: r2.text });
  assert.deepEqual([first.text, second.text], [r1.text, r2.text]);
  assert.deepEqual(chat.messages, messages);

  const done = events.filter(([t]) => t === 'done').map(([, d]) => d);
  assert.equal(done.length, 2);
  assert.equal(done[1].text, r2.text, 'the done event has the reply as streamed');
  const tokens = events.filter(([t]) => t === 'token').map(([, d]) => d);
  assert.equal(tokens.at(-1).text, r2.text, 'token events carry the reply so far');
  assert.deepEqual(states(events).slice(2), ['generating', 'ready', 'generating', 'ready']);
  // complete mode leaves the conversation alone
  await chat.send('The Python language is', { mode: 'complete', options: GREEDY });
  assert.deepEqual(chat.messages, messages);
  reference.free();
  chat.dispose();
});

test('stop() ends the reply at once; the partial reply joins the conversation; a new turn works', async () => {
  const chat = new ChatController({ client: new InProcessClient() });
  const events = record(chat);
  await chat.load(TINY);
  const stopAtFive = (e) => { if (/** @type {CustomEvent} */ (e).detail.tokens === 5) chat.stop(); };
  chat.addEventListener('token', stopAtFive);
  const result = await chat.send(LOOPING, { options: { temperature: 0, maxTokens: 300 } });
  chat.removeEventListener('token', stopAtFive);
  assert.equal(result.finishReason, 'abort');
  const [, done] = events.find(([t]) => t === 'done');
  assert.equal(done.stopped.tokensShown, 5);
  assert.ok(done.stopped.at <= performance.now());
  assert.ok(result.stats.completionTokens <= 6, `stopped within a token (${result.stats.completionTokens})`);
  assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant']);
  assert.equal(chat.messages[1].content, result.text);
  assert.equal(chat.state, 'ready');
  assert.notEqual((await chat.send('Hi', { options: GREEDY })).finishReason, 'abort');
  chat.dispose();
});

test('a new conversation or a new model while a reply is written: the old reply joins neither', async () => {
  const client = new InProcessClient();
  const chat = new ChatController({ client });
  await chat.load(TINY);
  let resetDone = null;
  const once = (e) => { if (/** @type {CustomEvent} */ (e).detail.tokens === 3 && !resetDone) resetDone = chat.reset(); };
  chat.addEventListener('token', once);
  const stopped = await chat.send(LOOPING, { options: { temperature: 0, maxTokens: 300 } });
  await resetDone;
  assert.equal(stopped.finishReason, 'abort');
  assert.deepEqual(chat.messages, [], 'the reply did not join the new conversation');
  chat.removeEventListener('token', once);

  let loading = null;
  chat.addEventListener('token', (e) => { if (/** @type {CustomEvent} */ (e).detail.tokens === 3 && !loading) loading = chat.load(TINY, { quant: 'q8' }); });
  const replaced = await chat.send(LOOPING, { options: { temperature: 0, maxTokens: 300 } });
  assert.equal(replaced.finishReason, 'abort');
  const info = await loading;
  assert.equal(info.quant, 'q8');
  assert.equal(chat.state, 'ready');
  assert.deepEqual(chat.messages, []);
  chat.dispose();
});

test('loads: a second load supersedes the first, cancelLoad() cancels, a failed load is an error event', async () => {
  const client = new InProcessClient();
  const chat = new ChatController({ client });
  const events = record(chat);
  const first = chat.load(TINY);
  const second = chat.load(TINY, { gcache: 'prompt' });
  assert.equal(await first, null, 'superseded: resolves with null');
  assert.equal((await second).gcacheMode, 'prompt');
  assert.equal(events.filter(([t]) => t === 'load').length, 1);
  assert.equal(chat.state, 'ready');

  // a cancelled or failed load leaves the model that was there, ready, with its conversation
  const loaded = chat.model;
  await chat.send('Hello!', { options: GREEDY });
  const conversation = chat.messages;
  const cancelled = chat.load(TINY);
  chat.cancelLoad();
  assert.equal(await cancelled, null);
  assert.equal(chat.state, 'ready');
  assert.equal(chat.model, loaded);
  assert.equal(events.findLast(([t]) => t === 'cancel')[1].kept, loaded);

  await assert.rejects(chat.load(join(ROOT, 'no-such-model')), { code: 'E_NOT_FOUND' });
  const [, failed] = events.findLast(([t]) => t === 'error');
  assert.deepEqual([failed.during, failed.error.code, failed.kept], ['load', 'E_NOT_FOUND', loaded]);
  assert.equal(chat.state, 'ready');
  assert.deepEqual(chat.messages, conversation);
  const next = await chat.send('And now?', { options: GREEDY });
  const reference = await PLDR.load(TINY);
  const expected = await reference.respond([...conversation, { role: 'user', content: 'And now?' }], GREEDY).result;
  assert.equal(next.text, expected.text, 'the old conversation goes on in the old engine');
  reference.free();

  // no model before: a failed load leaves none
  const fresh = new ChatController({ client: new InProcessClient() });
  await assert.rejects(fresh.load(join(ROOT, 'no-such-model')), { code: 'E_NOT_FOUND' });
  assert.equal(fresh.state, 'empty');
  await assert.rejects(fresh.send('Hi'), { code: 'E_NO_MODEL' });
  fresh.dispose();
  chat.dispose();
});

test('a reply that fails is an error event, leaves the conversation as it was, and the chat usable', async () => {
  const chat = new ChatController({ client: new InProcessClient() });
  const events = record(chat);
  await chat.load(TINY);
  await chat.send('Hello!', { options: GREEDY });
  const before = chat.messages;
  for (const options of [{ temperature: -1 }, { maxTokens: 0 }, { bogus: 1 }]) {
    await assert.rejects(chat.send('Again?', { options }), { code: 'E_OPTION' });
    const [, failed] = events.findLast(([t]) => t === 'error');
    assert.equal(failed.during, 'generate');
    assert.deepEqual(chat.messages, before, `the failed turn was taken back (${JSON.stringify(options)})`);
    assert.equal(chat.state, 'ready');
  }
  const running = chat.send(LOOPING, { options: { temperature: 0, maxTokens: 200 } });
  await assert.rejects(chat.send('Me too'), { code: 'E_BUSY' });
  chat.stop();
  await running;
  assert.equal((await chat.send('Are you there?', { options: GREEDY })).stats.completionTokens >= 0, true);
  chat.dispose();
});
