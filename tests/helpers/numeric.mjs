// Comparisons of float arrays in tests.
import assert from 'node:assert/strict';

/** max |a[i] - b[i]| (the lengths must agree) */
export function maxDiff(a, b) {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a[i]| */
export function maxAbs(a) {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}
