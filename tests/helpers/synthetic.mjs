// Deterministic synthetic PLDR-LLM weights for tests: the tensor names and shapes of
// docs/FORMAT.md filled from a seeded PRNG, scaled like trained weights so activations and the
// A-net stay finite.

import { configFor, prng, tensorList, uploadTensors } from '../../tools/testkit/synthetic.mjs';

export { configFor, prng, tensorList, uploadTensors };

/** @typedef {import('../../tools/testkit/synthetic.mjs').Shape} Shape */

/**
 * Fills one tensor for the tests: norms near 1 and small norm biases (not exactly 1 and 0, so a
 * mix-up of weight and bias shows), the rest as the benchmark's recipe.
 * @param {string} role @param {number[]} shape @param {() => number} rand
 */
function fill(role, shape, rand) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const fanIn = shape.length >= 2 ? shape[shape.length - 1] : 1;
  const uni = (scale) => { for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * scale; };
  switch (role) {
    case 'normWeight': for (let i = 0; i < n; i++) data[i] = 1 + (rand() - 0.5) * 0.2; break;
    case 'bias': case 'normBias': case 'plgaBias': uni(0.02); break;
    case 'embed': uni(1); break;
    case 'linear': uni(Math.sqrt(6 / (fanIn + shape[0]))); break;
    case 'plgaW': case 'plgaA': uni(Math.sqrt(3 / fanIn)); break;
    // positive powers: A_LM^P with P < 0 near A_LM ≈ 1e-9 would amplify float32 rounding enormously
    case 'power': for (let i = 0; i < n; i++) data[i] = 0.2 + rand() * 0.6; break;
    default: throw new Error(`unknown role ${role}`);
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
  return tensorList(s).map(([name, shape, role]) => ({ name, shape, data: fill(role, shape, rand) }));
}
