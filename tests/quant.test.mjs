// Quality of the quantized weight formats on pldr-tiny: held-out perplexity on the golden windows
// (mean NLL of ids[1..256] from ids[0..255], one full pass per window, G from the window) must stay
// within 1 % of f32's for q8_0 and within 5 % for q4_0 — on the WebAssembly module (the product)
// and on the native build. bench/run.mjs reports the same numbers. Values no block can hold are
// refused, not stored as garbage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GOLDEN, TINY, meanNll, windowNll } from '../tools/testkit/quality.mjs';
import { configFor } from '../tools/testkit/synthetic.mjs';
import { createRuntime } from '../js/runtime/wasm.js';
import { Model } from '../js/runtime/model.js';
import { NATIVE } from './helpers/engines.mjs';
import { readF32 } from './helpers/files.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const TARGET = { q8: 0.01, q4: 0.05 };
const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')).perplexity;

/** The same mean NLL through `pldr-native eval --quant`. */
function nativeMeanNll(quant) {
  const tmp = mkdtempSync(join(tmpdir(), 'pldr-quant-'));
  try {
    let sum = 0, count = 0;
    for (const w of golden.windows) {
      const input = w.slice(0, -1), file = join(tmp, 'logits.f32');
      const r = spawnSync(NATIVE, ['eval', '--model', TINY, '--ids', input.join(','), '--gcache', 'prompt', '--quant', quant, '--logits', file], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      const logits = readF32(file), V = logits.length / input.length;
      sum += windowNll(logits, w, V);
      count += input.length;
    }
    return sum / count;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const engines = [
  { name: 'wasm', skip: false, nll: meanNll },
  { name: 'native', skip: skipUnlessCI(existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)'), nll: async (q) => nativeMeanNll(q) },
];

for (const engine of engines) {
  test(`[${engine.name}] pldr-tiny perplexity: q8 within 1 %, q4 within 5 % of f32`, { skip: engine.skip }, async () => {
    const f32 = await engine.nll('f32');
    // f32 itself is the reference's number (golden.json: mean_nll_full_pass)
    assert.ok(Math.abs(f32 - golden.mean_nll_full_pass) < 1e-4, `f32 mean NLL ${f32} vs golden ${golden.mean_nll_full_pass}`);
    for (const quant of /** @type {const} */ (['q8', 'q4'])) {
      const nll = await engine.nll(quant);
      const rise = Math.exp(nll - f32) - 1; // perplexity ratio - 1
      assert.ok(rise <= TARGET[quant], `${quant}: perplexity ${Math.exp(nll).toFixed(3)} is ${(100 * rise).toFixed(2)} % above f32's ${Math.exp(f32).toFixed(3)} (allowed ${100 * TARGET[quant]} %)`);
    }
  });
}

test('a matrix holding NaN or Inf is refused when quantized at load time, naming the tensor and the row; the tensor stays missing', async () => {
  const rt = await createRuntime();
  const shape = { L: 1, D: 32, H: 2, dff: 40, Adff: 8, nres: 1, ndense: 1, V: 50, ctx: 16 };
  const name = 'decoder.dec_layers.0.ffn.gluw1.weight';
  for (const [quant, bad] of [['q4', NaN], ['q8', -Infinity], ['q4', 3e38]]) {
    const model = Model.create(rt, configFor(shape), { quant });
    const data = new Float32Array(40 * 32).fill(0.01);
    data[7 * 32 + 5] = bad;
    const w = model.beginTensor({ name, dtype: 'F32', shape: [40, 32] });
    assert.throws(() => w.write(new Uint8Array(data.buffer)), (err) => err.statusName === 'PLDR_ERR_DTYPE' &&
      new RegExp(`tensor ${name}: row 7 holds (Inf or NaN|values too large for a float16 block scale); it cannot be stored as ${quant}_0`).test(err.message), `${quant} ${bad}`);
    assert.ok(model.missingTensors().includes(name), 'the failed tensor is still missing');
    model.free();
  }
});
