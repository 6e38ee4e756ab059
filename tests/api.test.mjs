// The JavaScript generation API on pldr-tiny: golden greedy text, seeded sampling, the generation
// handle (loop, result, abort), aborts and busy rejection, chat turns that reuse the KV-cache, the
// OpenAI-style facade, stats and the G-cache export/import, the sliding window, and option
// validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { ROOT } from './helpers/engines.mjs';

const TINY = join(ROOT, 'models/pldr-tiny');
const golden = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/golden/pldr-tiny/golden.json'), 'utf8'));

async function collect(iterable) {
  let text = '';
  for await (const piece of iterable) text += piece.text;
  return text;
}

test('greedy text equals the reference continuations of every golden prompt', async () => {
  const engine = await PLDR.load(TINY, { gcache: 'prompt' });
  for (const c of golden.cases) {
    assert.deepEqual(engine.encode(c.text), c.ids, `prompt ids of "${c.name}"`);
    const run = engine.generate(c.text, { temperature: 0, maxTokens: c.greedy_kv_g.length });
    const text = await collect(run);
    const result = await run.result;
    const ids = result.finishReason === 'eos' ? [...result.ids, 3] : result.ids;
    assert.deepEqual(ids, c.greedy_kv_g, `greedy ids of "${c.name}"`);
    assert.equal(engine.decode(result.ids), c.greedy_text, `greedy text of "${c.name}"`);
    assert.equal(text.trimStart(), c.greedy_text);
  }
  engine.free();
});

test('the same seed and options give the same text; another seed another text', async () => {
  const engine = await PLDR.load(TINY);
  const options = { temperature: 0.9, topK: 50, topP: 0.9, maxTokens: 24 };
  const a = await collect(engine.generate('Once upon a time', { ...options, seed: 42 }));
  const b = await collect(engine.generate('Once upon a time', { ...options, seed: 42 }));
  const c = await collect(engine.generate('Once upon a time', { ...options, seed: 43 }));
  assert.equal(a, b);
  assert.notEqual(a, c);
  engine.free();
});

test('two generators made before either starts do not mix: each answers its own prompt', async () => {
  const engine = await PLDR.load(TINY);
  const greedy = { maxTokens: 6, temperature: 0 };
  const alone = [await collect(engine.generate('The cat', greedy)), await collect(engine.generate('Zebra stripes are', greedy))];
  const a = engine.generate('The cat', greedy), b = engine.generate('Zebra stripes are', greedy);
  assert.deepEqual([await collect(a), await collect(b)], alone);
  engine.free();
});

test('a second generate while one runs is rejected; an abort leaves the engine consistent and usable', async () => {
  const engine = await PLDR.load(TINY);
  const controller = new AbortController();
  const run = engine.generate('The history of', { maxTokens: 200, temperature: 0.8, seed: 1, signal: controller.signal });
  let text = '', pieces = 0;
  for await (const piece of run) {
    text += piece.text;
    if (++pieces === 1) {
      assert.throws(() => engine.generate('x'), (err) => err.code === 'E_BUSY' && /already running/.test(err.message));
      assert.throws(() => engine.respond([{ role: 'user', content: 'x' }]), { code: 'E_BUSY' });
    }
    if (pieces === 2) controller.abort();
  }
  const result = await run.result;
  assert.equal(result.finishReason, 'abort');
  assert.equal(result.text, text);
  assert.equal(engine.stats().finishReason, 'abort');
  assert.ok(!engine.busy);
  const conv = engine.conversation;
  assert.equal(conv.ids.length, engine.encode('The history of').length + result.ids.length);
  assert.ok(engine.session.position <= conv.ids.length);
  const again = await collect(engine.generate('The history of', { maxTokens: 5, temperature: 0 }));
  assert.ok(again.length > 0);
  engine.free();
});

test('chat turns reuse the KV-cache: only the new message is prefilled', async () => {
  const engine = await PLDR.load(TINY);
  const messages = [{ role: 'system', content: 'A conversation about programming.' }, { role: 'user', content: 'What is Python?' }];
  const first = await collect(engine.respond(messages, { temperature: 0, maxTokens: 16 }));
  const s1 = engine.stats();
  assert.equal(s1.prefillTokens, s1.promptTokens, 'first turn: the whole prompt');
  messages.push({ role: 'assistant', content: first }, { role: 'user', content: 'And Tcl?' });
  await collect(engine.respond(messages, { temperature: 0, maxTokens: 16 }));
  const s2 = engine.stats();
  const newTokens = engine.encode('User: And Tcl?').length + engine.encode('Assistant:').length;
  const unfed = s1.finishReason === 'eos' ? 0 : 1; // the last sampled token of the reply
  assert.equal(s2.prefillTokens, newTokens + unfed);
  assert.ok(s2.promptTokens > 3 * s2.prefillTokens);
  assert.equal(engine.stats().gcacheRuns, 1, 'G computed once, on the first prompt');
  // an edited history reuses the shared prefix and prefills the rest
  const edited = [messages[0], { role: 'user', content: 'What is Tcl?' }];
  await collect(engine.respond(edited, { temperature: 0, maxTokens: 4 }));
  assert.ok(engine.stats().prefillTokens < engine.stats().promptTokens);
  engine.free();
});

test('OpenAI-style chat.completions.create: objects, streamed chunks, usage, validation', async () => {
  const engine = await PLDR.load(TINY);
  const messages = [{ role: 'user', content: 'Tell me about Python.' }];
  const reply = await engine.chat.completions.create({ messages, max_tokens: 12, temperature: 0 });
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.choices[0].message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(reply.choices[0].finish_reason));
  assert.equal(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens);
  const stream = await engine.chat.completions.create({ messages, max_tokens: 12, temperature: 0, stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id), true);
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), reply.choices[0].message.content);
  assert.equal(chunks.at(-1).choices[0].finish_reason, reply.choices[0].finish_reason);
  await assert.rejects(engine.chat.completions.create({ messages, logprobs: true }), /unsupported request field "logprobs"/);
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'robot', content: 'x' }] }), /messages\[0\]/);
  engine.free();
});

test('stats report speed, the one-off G time and memory; the G-cache exports and imports', async () => {
  const engine = await PLDR.load(TINY);
  await collect(engine.generate('Hello', { maxTokens: 8, temperature: 0 }));
  const s = engine.stats();
  assert.ok(s.prefillTokensPerSec > 0 && s.decodeTokensPerSec > 0);
  assert.ok(s.gcacheMs > 0 && s.gcacheRuns === 1 && s.gcacheComputedThisCall);
  assert.ok(s.prefillMs > s.gcacheMs, 'the prefill that computed G includes it');
  assert.ok(Math.abs(s.prefillTokensPerSec - s.prefillTokens * 1000 / (s.prefillMs - s.gcacheMs)) < 1e-6,
    'the prefill rate leaves out the one-off A-net run');
  assert.ok(s.memory.weights > 40e6 && s.memory.kvCache > 0 && s.memory.wasmTotal >= s.memory.weights);
  await collect(engine.generate('Another prompt', { maxTokens: 4 }));
  assert.equal(engine.stats().gcacheComputedThisCall, false, 'mode first: G is not computed again');
  const G = engine.gcache.export();
  assert.equal(G.length, 5 * 4 * 64 * 64);
  const other = await PLDR.load(TINY, { gcache: 'prompt' });
  other.gcache.import(G);
  assert.equal(other.stats().gcacheMode, 'fixed');
  const a = await collect(engine.generate('Python', { maxTokens: 8, temperature: 0 }));
  const b = await collect(other.generate('Python', { maxTokens: 8, temperature: 0 }));
  assert.equal(a, b, 'same G, same text');
  assert.equal(other.stats().gcacheRuns, 0);
  engine.free();
  other.free();
});

test('a long generation slides the context window instead of failing', async () => {
  const shifts = [];
  const engine = await PLDR.load(TINY, { contextLength: 48, onContextShift: (i) => shifts.push(i) });
  const { ids } = await engine.generate('The history of the', { maxTokens: 120, temperature: 0.8, seed: 5 }).result;
  assert.ok(ids.length > 48);
  assert.ok(shifts.length > 0 && engine.stats().contextShifts === shifts.length);
  engine.free();
});

test('a first chat turn longer than the context, with a system prompt, slides instead of failing', async () => {
  const engine = await PLDR.load(TINY, { contextLength: 48 });
  const system = 'You are a helpful assistant who answers questions about programming languages briefly.';
  const user = 'Tell me everything about the Python language, its history, its syntax, its libraries and its community. '.repeat(3);
  const reply = await collect(engine.respond([{ role: 'system', content: system }, { role: 'user', content: user }], { maxTokens: 8, temperature: 0 }));
  assert.equal(typeof reply, 'string');
  assert.ok(engine.stats().contextShifts > 0);
  engine.free();
});

test('a tensor whose shape disagrees with the config is named once, with file and shapes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-shape-'));
  try {
    const micro = join(ROOT, 'tests/fixtures/pldr-micro');
    const config = JSON.parse(readFileSync(join(micro, 'config.json'), 'utf8'));
    config.dff += 1;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    copyFileSync(join(micro, 'model.safetensors'), join(dir, 'model.safetensors'));
    const err = await PLDR.load(dir, { cache: false }).then(() => null, (e) => e);
    assert.equal(err?.code, 'E_SINK');
    const name = err.message.match(/tensor "?([\w.]+)"?/)[1];
    assert.equal(err.message.split(name).length - 1, 1, `named once: ${err.message}`);
    assert.match(err.message, /^model\.safetensors: .*shape \[\d+, \d+\] but the config needs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chat turns after a context shift prefill only their new tokens (the dropped span stays dropped)', async () => {
  const engine = await PLDR.load(TINY, { contextLength: 64 });
  const messages = [{ role: 'system', content: 'You are brief.' }];
  const turns = [];
  for (let turn = 0; turn < 8; turn++) {
    messages.push({ role: 'user', content: `Question number ${turn}: what is Python?` });
    messages.push({ role: 'assistant', content: await collect(engine.respond(messages, { maxTokens: 12, temperature: 0 })) });
    const s = engine.stats();
    turns.push({ prefilled: s.prefillTokens, shifts: s.contextShifts });
  }
  assert.ok(turns.at(-1).shifts >= 3, `the window slid (${JSON.stringify(turns)})`);
  const newTokens = turns[1].prefilled; // a turn before any shift: the user message and the template
  for (const t of turns.slice(2)) assert.ok(t.prefilled <= newTokens + 2, `each turn runs only its new tokens: ${JSON.stringify(turns)}`);
  for (let i = 1; i < turns.length; i++) assert.ok(turns[i].shifts - turns[i - 1].shifts <= 1, `one shift per turn at most: ${JSON.stringify(turns)}`);
  engine.free();
});

test('invalid options are rejected with the allowed values', async () => {
  await assert.rejects(PLDR.load(TINY, { gcache: 'sometimes' }), /first, prompt, off or empty/);
  await assert.rejects(PLDR.load(TINY, { quant: 'q2' }), /f32, q8, q4/);
  let progress = 0;
  await assert.rejects(PLDR.load(TINY, { contextLength: 5000, onProgress: (p) => { progress = p.loaded; } }),
    /contextLength 5000 is larger than the model's context \(max_position_embeddings 1024\)/);
  assert.ok(progress < 1e6, `refused before the shards were downloaded (${progress} bytes read)`);
  await assert.rejects(PLDR.load(join(ROOT, 'no-such-model')), (err) => err.code === 'E_NOT_FOUND' && /config\.json/.test(err.message));
  await assert.rejects(PLDR.load(join(TINY, 'config.json')), (err) => err.code === 'E_NOT_FOUND' && /a file, not a model folder/.test(err.message));
  const engine = await PLDR.load(TINY);
  assert.throws(() => engine.generate('x', { temperature: -1 }), /temperature/);
  assert.throws(() => engine.generate('x', { topP: 0 }), /topP/);
  assert.throws(() => engine.generate('x', { topK: 1.5 }), /topK/);
  assert.throws(() => engine.generate('x', { maxTokens: 0 }), /maxTokens/);
  assert.throws(() => engine.generate({ ids: [1, 99999] }), /outside the vocabulary/);
  assert.throws(() => engine.generate('x', { stop: 'END' }), /stop must be an array/);
  assert.ok(!engine.busy);
  engine.free();
});

test('the generation handle: result without a loop, abort(), leaving a loop early, read once', async () => {
  const engine = await PLDR.load(TINY);
  const greedy = { temperature: 0, maxTokens: 12 };
  const looped = engine.generate('The Python language is', greedy);
  const text = await collect(looped);
  const direct = await engine.generate('The Python language is', greedy).result; // runs without a loop
  assert.equal(direct.text, text);
  const viaLoop = await looped.result;
  assert.deepEqual([direct.ids, direct.finishReason], [viaLoop.ids, viaLoop.finishReason]);
  assert.equal(direct.promptTokens, engine.encode('The Python language is').length);
  assert.equal(direct.completionTokens, direct.ids.length);

  // abort() ends the run at the next token; the outcome says so
  const long = { temperature: 0, maxTokens: 200, repetitionPenalty: 1 };
  const aborted = engine.generate('Once upon a time, in a small village by the sea,', long);
  let pieces = 0;
  for await (const piece of aborted) if (++pieces === 3) aborted.abort();
  const r = await aborted.result;
  assert.equal(r.finishReason, 'abort');
  assert.ok(r.ids.length < 10, `stopped at once (${r.ids.length} tokens)`);

  // break: the run is aborted and finished by the time the loop is left
  const left = engine.generate('Once upon a time, in a small village by the sea,', long);
  let shown = '';
  for await (const piece of left) { shown += piece.text; if (shown.length > 10) break; }
  assert.ok(!engine.busy, 'the engine is idle again right after the loop');
  const rest = await left.result;
  assert.equal(rest.finishReason, 'abort');
  assert.equal(rest.text, shown, 'the conversation holds exactly what was shown');
  assert.equal(engine.conversation.ids.length, engine.encode('Once upon a time, in a small village by the sea,').length + rest.ids.length);

  // a handle is read once: by one loop, or through its result
  const once = engine.generate('Hello', greedy);
  await once.result;
  await assert.rejects(collect(once), (err) => err.code === 'E_STATE' && /already read by its result/.test(err.message));
  const twice = engine.generate('Hello', greedy);
  await collect(twice);
  await assert.rejects(collect(twice), { code: 'E_STATE' });

  // a caller's signal that fired before the start: the run ends at once, as aborted
  const early = new AbortController();
  early.abort();
  assert.equal((await engine.generate('Hello', { ...greedy, signal: early.signal }).result).finishReason, 'abort');
  assert.ok(!engine.busy);
  engine.free();
});

test('options that are not an object, unknown option names and ids outside the vocabulary are E_OPTION / E_TOKEN errors', async () => {
  const engine = await PLDR.load(TINY);
  const messages = [{ role: 'user', content: 'Hi' }];
  for (const bad of [null, 5, 'fast', [1]]) {
    assert.throws(() => engine.generate('x', bad), (err) => err.code === 'E_OPTION' && /options must be an object/.test(err.message), `generate options ${bad}`);
    assert.throws(() => engine.respond(messages, bad), { code: 'E_OPTION' }, `respond options ${bad}`);
  }
  await assert.rejects(PLDR.load(TINY, null), (err) => err.code === 'E_OPTION' && /load options must be an object/.test(err.message));
  assert.throws(() => engine.generate('x', { max_tokens: 5 }), (err) => err.code === 'E_OPTION' && /unknown option "max_tokens"/.test(err.message));
  assert.throws(() => engine.generate('x', { signal: 'stop' }), { code: 'E_OPTION', message: /signal must be an AbortSignal/ });
  assert.throws(() => engine.generate({ ids: [1, 99999] }), { code: 'E_TOKEN', message: /outside the vocabulary/ });
  assert.throws(() => engine.generate({ ids: [] }), { code: 'E_OPTION', message: /empty \(the empty prompt is \[3\]\)/ });
  assert.equal((await engine.generate('x', undefined).result).finishReason !== undefined, true, 'undefined options are the defaults');
  assert.ok(!engine.busy);
  engine.free();
});

test('OpenAI facade: frequency_penalty and presence_penalty are applied (as the engine\'s options), null means the default', async () => {
  const engine = await PLDR.load(TINY);
  // greedy, this prompt repeats itself ("the sager, and the sager, …"): a penalty on repeats changes the answer
  const messages = [{ role: 'user', content: 'Once upon a time, in a small village by the sea,' }];
  const base = { messages, max_tokens: 40, temperature: 0 };
  const content = async (req) => (await engine.chat.completions.create(req)).choices[0].message.content;
  const plain = await content(base);
  assert.equal(await content({ ...base, frequency_penalty: null, presence_penalty: null }), plain);
  for (const [field, option] of [['frequency_penalty', 'frequencyPenalty'], ['presence_penalty', 'presencePenalty']]) {
    const penalized = await content({ ...base, [field]: 1.5 });
    assert.notEqual(penalized, plain, `${field} changes a repetitive answer`);
    const direct = await engine.respond(messages, { maxTokens: 40, temperature: 0, [option]: 1.5 }).result;
    assert.equal(penalized, direct.text, `${field} is the engine's ${option}`);
    await assert.rejects(engine.chat.completions.create({ ...base, [field]: 3 }), { code: 'E_OPTION', message: new RegExp(`${option} 3: must be in \\[-2, 2\\]`) });
  }
  // streamed: a handle of chunks whose result is the whole completion
  const stream = await engine.chat.completions.create({ ...base, stream: true, presence_penalty: 1.5 });
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0].delta.content ?? '';
  const whole = await stream.result;
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.content, streamed);
  assert.equal(streamed, await content({ ...base, presence_penalty: 1.5 }));
  engine.free();
});
