// The runtime against the reference implementation's golden outputs for pldr-tiny (trained) and
// pldr-micro (random weights; native config names; F32 and BF16 safetensors), on both builds.
//
// Tolerances: the golden files say how far the reference's own float32 run is from its float64
// run (ref32_vs_64_*). We allow TOL_FACTOR times that, per case: a float32 implementation that
// sums in another order lands at about the same distance (measured: ≤ 1.4× for G, < 1× for logits).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINES, ROOT, loadWasmModel, wasmEngine } from './helpers/engines.mjs';
import { maxAbs, maxDiff } from './helpers/numeric.mjs';
import { bytesToF32 } from './helpers/files.mjs';

const TOL_FACTOR = 4;
const TINY = join(ROOT, 'models/pldr-tiny');
const GOLD = join(ROOT, 'tests/fixtures/golden/pldr-tiny');
const MICRO = join(ROOT, 'tests/fixtures/pldr-micro');
const golden = JSON.parse(readFileSync(join(GOLD, 'golden.json'), 'utf8'));
import { readF32 } from './helpers/files.mjs';

function assertClose(actual, expected, tol, what) {
  const d = maxDiff(actual, expected);
  assert.ok(d <= tol, `${what}: max |difference| ${d.toExponential(2)} > tolerance ${tol.toExponential(2)}`);
}

after(() => Promise.all(ENGINES.map((e) => e.close?.())));

for (const engine of ENGINES) {
  const opts = { skip: engine.skip };

  for (const c of golden.cases) {
    test(`[${engine.name}] pldr-tiny "${c.name}": full-pass logits, G_LM and A_LM`, opts, async () => {
      const r = await engine.evaluate(TINY, c.ids);
      const ref = readF32(join(GOLD, c.logits_full.file));
      const logits = r.logits.subarray(r.logits.length - ref.length); // golden keeps the last row except for "python"
      assertClose(logits, ref, TOL_FACTOR * c.ref32_vs_64_maxabs_logits, 'logits');
      assertClose(r.G, readF32(join(GOLD, c.G_LM.file)), TOL_FACTOR * c.ref32_vs_64_maxabs_G, 'G_LM');
      assertClose(r.A, readF32(join(GOLD, c.A_LM.file)), TOL_FACTOR * c.ref32_vs_64_maxabs_G, 'A_LM');
    });

    const modes = [['first', 'greedy_kv_g', 'step_logits_kv_g'], ['prompt', 'greedy_kv_g', 'step_logits_kv_g'],
      ['off', 'greedy_nocache', null], ['empty', 'greedy_G_eos', 'step_logits_G_eos']];
    for (const [mode, key, stepsKey] of modes) {
      test(`[${engine.name}] pldr-tiny "${c.name}": greedy with G-cache mode ${mode} equals ${key}`, opts, async () => {
        const out = await engine.greedy(TINY, c.ids, c[key].length, mode);
        assert.deepEqual(out.ids, c[key]);
        if (!stepsKey) return;
        const ref = readF32(join(GOLD, c[stepsKey].file)), V = 8000;
        for (let i = 0; i < ref.length / V; i++) {
          assertClose(out.steps[i], ref.subarray(i * V, (i + 1) * V), TOL_FACTOR * c.ref32_vs_64_maxabs_logits, `${stepsKey}[${i}]`);
        }
      });
    }
  }

  test(`[${engine.name}] pldr-tiny: G computed from the empty prompt equals G_eos`, opts, async () => {
    const r = await engine.evaluate(TINY, [3]);
    const tol = TOL_FACTOR * golden.cases.find((c) => c.name === 'empty').ref32_vs_64_maxabs_G;
    assertClose(r.G, readF32(join(GOLD, golden.G_eos.file)), tol, 'G_eos');
    assertClose(r.A, readF32(join(GOLD, golden.A_LM_eos.file)), tol, 'A_LM_eos');
  });

  test(`[${engine.name}] pldr-tiny: held-out perplexity (full pass and G fixed from the empty prompt)`, opts, async () => {
    const { windows, mean_nll_full_pass, mean_nll_G_eos } = golden.perplexity;
    const gEos = join(GOLD, golden.G_eos.file);
    const nll = async (options) => {
      let sum = 0, count = 0;
      for (const w of windows) {
        const input = w.slice(0, -1), V = 8000;
        const { logits } = await engine.evaluate(TINY, input, options);
        for (let t = 0; t < input.length; t++) {
          const row = logits.subarray(t * V, (t + 1) * V);
          const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
          let z = 0;
          for (const v of row) z += Math.exp(v - max);
          sum += max + Math.log(z) - row[w[t + 1]];
          count++;
        }
      }
      return sum / count;
    };
    const full = await nll({}), eos = await nll({ gcacheFile: gEos });
    assert.ok(Math.abs(full - mean_nll_full_pass) <= 1e-4, `full pass mean NLL ${full} vs ${mean_nll_full_pass}`);
    assert.ok(Math.abs(eos - mean_nll_G_eos) <= 1e-4, `G_eos mean NLL ${eos} vs ${mean_nll_G_eos}`);
  });

  // pldr-micro has no ref32 figures: transport tiny's worst relative float32 error (logits, G).
  const worstRelative = (key, file) => Math.max(...golden.cases.map((c) => c[key] / maxAbs(readF32(join(GOLD, c[file].file)))));
  const relTol = TOL_FACTOR * worstRelative('ref32_vs_64_maxabs_logits', 'logits_full');
  const relTolG = TOL_FACTOR * worstRelative('ref32_vs_64_maxabs_G', 'G_LM');
  const microGolden = JSON.parse(readFileSync(join(MICRO, 'golden.json'), 'utf8'));
  for (const [variant, file, logitsKey] of [['F32', 'model.safetensors', 'logits'], ['BF16', 'model.bf16.safetensors', 'logits_bf16_weights']]) {
    test(`[${engine.name}] pldr-micro ${variant} safetensors, native config names: logits and G`, opts, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pldr-micro-'));
      try {
        cpSync(join(MICRO, 'config.json'), join(dir, 'config.json'));
        cpSync(join(MICRO, file), join(dir, 'model.safetensors'));
        for (const c of microGolden.cases) {
          const r = await engine.evaluate(dir, c.ids);
          const ref = readF32(join(MICRO, c[logitsKey]));
          assertClose(r.logits, ref, relTol * maxAbs(ref), `logits of ${c.ids.length} ids`);
          if (variant === 'F32') {
            const g = readF32(join(MICRO, c.G_LM));
            assertClose(r.G, g, relTolG * maxAbs(g), `G of ${c.ids.length} ids`);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test('the float64 test reference agrees with the golden files (it checks v52 and SDPA elsewhere)', { skip: !existsSync(MICRO) }, async () => {
  const { referenceForward } = await import('./helpers/reference.mjs');
  const { loadModel } = await import('../js/loading/loader.js');
  const W = new Map();
  const collect = {
    configure() {},
    begin(info) {
      const chunks = [];
      return { write: (b) => chunks.push(b.slice()), end: () => W.set(info.name, { shape: info.shape, data: bytesToF32(Buffer.concat(chunks)) }) };
    },
    finish() {}, abort() {},
  };
  const dir = mkdtempSync(join(tmpdir(), 'pldr-micro-'));
  cpSync(join(MICRO, 'config.json'), join(dir, 'config.json'));
  cpSync(join(MICRO, 'model.safetensors'), join(dir, 'model.safetensors'));
  await loadModel(dir, collect);
  rmSync(dir, { recursive: true, force: true });
  const micro = JSON.parse(readFileSync(join(MICRO, 'config.json'), 'utf8'));
  const config = { num_hidden_layers: micro.num_layers, hidden_size: micro.d_model, num_attention_heads: micro.num_heads,
    intermediate_size: micro.dff, A_dff: micro.A_dff, num_reslayerA: micro.num_reslayerA, num_denseA: micro.num_denseA,
    vocab_size: micro.input_vocab_size, layer_norm_eps: 1e-6 };
  const c = JSON.parse(readFileSync(join(MICRO, 'golden.json'), 'utf8')).cases[1];
  const ref = referenceForward(config, W, c.ids);
  const gold = readF32(join(MICRO, c.logits));
  assert.ok(maxDiff(ref.logits, gold) < 1e-4 * maxAbs(gold), `reference vs golden ${maxDiff(ref.logits, gold)}`);
});

test('[wasm] a model folder loads into a fresh engine twice with identical results', async () => {
  const a = await loadWasmModel(TINY), b = await loadWasmModel(TINY);
  assert.deepEqual(a.newSession().prefill([5, 6, 7]), b.newSession().prefill([5, 6, 7]));
  assert.equal(wasmEngine.name, 'wasm');
});
