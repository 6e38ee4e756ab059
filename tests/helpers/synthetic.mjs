// Deterministic synthetic PLDR-LLM weights for tests: the tensor names and shapes of
// docs/FORMAT.md filled from a seeded PRNG, scaled like trained weights so activations and the
// A-net stay finite.

import { configFor, prng } from '../../bench/synthetic.mjs';

export { configFor, prng };

/** @typedef {import('../../bench/synthetic.mjs').Shape} Shape */

/** [name, shape, kind] for every tensor. @param {Shape} s */
export function tensorList(s) {
  const dk = s.D / s.H;
  /** @type {[string, number[], string][]} */
  const out = [['decoder.embedding.weight', [s.V, s.D], 'embed'],
    ['decoder.layernorm1.weight', [s.D], 'ones'], ['decoder.layernorm1.bias', [s.D], 'small']];
  const linear = (p, o, i) => out.push([`${p}.weight`, [o, i], 'linear'], [`${p}.bias`, [o], 'small']);
  for (let l = 0; l < s.L; l++) {
    const p = `decoder.dec_layers.${l}`;
    for (const w of ['wq', 'wk', 'wv', 'dense']) linear(`${p}.mha1.${w}`, s.D, s.D);
    if (!s.customG) {
      for (const [n, kind] of [['Wlst', 'plgaW'], ['blst', 'small'], ['pwlst', 'power'], ['alst', 'plgaA'], ['balst', 'small']]) {
        out.push([`${p}.mha1.plgatt_layer.${n}`, [s.H, dk, dk], kind]);
      }
      out.push([`${p}.mha1.layernorm1.weight`, [dk], 'ones'], [`${p}.mha1.layernorm1.bias`, [dk], 'small']);
      for (let j = 0; j < s.nres; j++) {
        for (let k = 0; k < s.ndense; k++) {
          const g = `${p}.mha1.reslayerAs.${j}.denseAs.${k}`;
          linear(`${g}.gluw1`, s.Adff, dk); linear(`${g}.gluw2`, s.Adff, dk); linear(`${g}.gluw3`, dk, s.Adff);
        }
        out.push([`${p}.mha1.reslayerAs.${j}.layernormA.weight`, [dk], 'ones'],
          [`${p}.mha1.reslayerAs.${j}.layernormA.bias`, [dk], 'small']);
      }
    }
    linear(`${p}.ffn.gluw1`, s.dff, s.D); linear(`${p}.ffn.gluw2`, s.dff, s.D); linear(`${p}.ffn.gluw3`, s.D, s.dff);
    for (const n of ['layernorm1', 'layernorm2']) out.push([`${p}.${n}.weight`, [s.D], 'ones'], [`${p}.${n}.bias`, [s.D], 'small']);
  }
  out.push(['final_layer.weight', [s.V, s.D], 'linear'], ['final_layer.bias', [s.V], 'small']);
  return out;
}

/** Fills one tensor. @param {string} kind @param {number[]} shape @param {() => number} rand */
function fill(kind, shape, rand) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const fanIn = shape.length >= 2 ? shape[shape.length - 1] : 1;
  const uni = (scale) => { for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * scale; };
  switch (kind) {
    case 'ones': for (let i = 0; i < n; i++) data[i] = 1 + (rand() - 0.5) * 0.2; break;
    case 'small': uni(0.02); break;
    case 'embed': uni(1); break;
    case 'linear': uni(Math.sqrt(6 / (fanIn + shape[0]))); break;
    case 'plgaW': case 'plgaA': uni(Math.sqrt(3 / fanIn)); break;
    // positive powers: A_LM^P with P < 0 near A_LM ≈ 1e-9 would amplify float32 rounding enormously
    case 'power': for (let i = 0; i < n; i++) data[i] = 0.2 + rand() * 0.6; break;
    default: throw new Error(kind);
  }
  return data;
}

/**
 * All tensors of a synthetic model, in a stable order.
 * @param {Shape} s @param {number} [seed]
 * @returns {{name: string, shape: number[], data: Float32Array}[]}
 */
export function synthesize(s, seed = 1) {
  const rand = prng(seed);
  return tensorList(s).map(([name, shape, kind]) => ({ name, shape, data: fill(kind, shape, rand) }));
}

/** Streams synthetic tensors into an engine Model (js/engine.js) and finalizes it. */
export function uploadTensors(model, tensors) {
  for (const t of tensors) {
    const w = model.beginTensor({ name: t.name, dtype: 'F32', shape: t.shape });
    w.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    w.end();
  }
}
