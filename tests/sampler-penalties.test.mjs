// The frequency and presence penalties of the sampler (OpenAI's definition, over the tokens
// generated so far) against a naive reference, alone and together with the repetition penalty,
// greedy and sampled; and their option checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random, Sampler } from '../js/generation/sampler.js';

/** logit_j − c_j·frequency − [c_j > 0]·presence, after the CTRL repetition penalty over `context` */
function referenceLogits(logits, context, generated, { repetitionPenalty = 1, frequencyPenalty = 0, presencePenalty = 0 }) {
  const x = Array.from(logits);
  for (const id of new Set(context)) x[id] = x[id] > 0 ? x[id] / repetitionPenalty : x[id] * repetitionPenalty;
  const counts = new Map();
  for (const id of generated) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, c] of counts) x[id] -= c * frequencyPenalty + (c > 0 ? presencePenalty : 0);
  return x;
}

const argmax = (x) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);

function randomLogits(random, vocab) {
  return Float32Array.from({ length: vocab }, () => (random.next() - 0.5) * 8);
}

test('greedy: each step is the argmax of the penalized logits, over thousands of random steps', () => {
  const random = new Random(7);
  let steps = 0, penalizedChoice = 0;
  for (let run = 0; run < 200; run++) {
    const vocab = 5 + Math.floor(random.next() * 60);
    const options = {
      frequencyPenalty: Math.round((random.next() * 4 - 2) * 100) / 100,
      presencePenalty: Math.round((random.next() * 4 - 2) * 100) / 100,
      repetitionPenalty: random.next() < 0.3 ? 1 + random.next() : 1,
    };
    const sampler = new Sampler({ temperature: 0, ...options });
    const prompt = Array.from({ length: 3 }, () => Math.floor(random.next() * vocab));
    const generated = [];
    // a small pool of logit vectors, so tokens come back and the counts matter
    const pool = Array.from({ length: 3 }, () => randomLogits(random, vocab));
    for (let step = 0; step < 25; step++) {
      const logits = pool[step % pool.length];
      const context = [...prompt, ...generated];
      const expected = argmax(referenceLogits(logits, context, generated, options));
      const id = sampler.sample(logits, context);
      assert.equal(id, expected, `run ${run} step ${step} ${JSON.stringify(options)}`);
      if (expected !== argmax(referenceLogits(logits, context, [], options))) penalizedChoice++;
      generated.push(id);
      steps++;
    }
  }
  assert.ok(penalizedChoice > steps / 10, `the penalties changed many choices (${penalizedChoice} of ${steps})`);
});

test('sampled: draws follow softmax of the penalized logits (temperature applied after the penalties)', () => {
  const logits = Float32Array.of(2, 1.5, 1, 0.5, 0);
  const drawn = new Map([[0, 3], [2, 1]]); // generated before: id 0 three times, id 2 once
  const options = { frequencyPenalty: 0.4, presencePenalty: 0.3, temperature: 0.7 };
  const x = referenceLogits(logits, [], [0, 0, 0, 2], options).map((v) => v / options.temperature);
  const max = Math.max(...x);
  const z = x.reduce((s, v) => s + Math.exp(v - max), 0);
  const expected = x.map((v) => Math.exp(v - max) / z);
  const counts = new Array(logits.length).fill(0);
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const sampler = new Sampler({ ...options, topK: 0, topP: 1, seed: i });
    sampler.drawn = new Map(drawn);
    counts[sampler.sample(logits)]++;
  }
  for (let id = 0; id < logits.length; id++) {
    const p = expected[id], seen = counts[id] / draws;
    const sigma = Math.sqrt((p * (1 - p)) / draws);
    assert.ok(Math.abs(seen - p) < 5 * sigma, `id ${id}: drawn ${seen.toFixed(4)}, expected ${p.toFixed(4)}`);
  }
});

test('the penalties count the tokens this sampler generated, not the prompt; 0 is off', () => {
  const logits = Float32Array.of(1, 0.9, 0.2);
  const sampler = new Sampler({ temperature: 0, presencePenalty: 0.5 });
  assert.equal(sampler.sample(logits, [0, 0, 0]), 0, 'the prompt holds id 0 three times: no penalty from it');
  assert.equal(sampler.sample(logits, [0, 0, 0, 0]), 1, 'after id 0 was generated once, 1.0 − 0.5 < 0.9');
  const off = new Sampler({ temperature: 0, frequencyPenalty: 0, presencePenalty: 0 });
  for (let i = 0; i < 5; i++) assert.equal(off.sample(logits), 0);
});

test('invalid penalties are refused with E_OPTION, naming the option and the range', () => {
  for (const [name, value] of [['frequencyPenalty', 2.5], ['presencePenalty', -3], ['frequencyPenalty', NaN], ['presencePenalty', '1']]) {
    assert.throws(() => new Sampler({ [name]: value }), (err) => err.code === 'E_OPTION' && err.message.includes(name), `${name} ${value}`);
  }
  assert.doesNotThrow(() => new Sampler({ frequencyPenalty: -2, presencePenalty: 2 }));
});
