// The instruction form of the relaxed module's q4_0 products, chosen by timing (pldr.h
// pldr_int8_dot): i32x4.relaxed_dot_i8x16_i7x16_add_s is one instruction where the CPU has an int8
// dot product (Arm dotprod, x64 AVX-VNNI) and three elsewhere (x64 without AVX-VNNI), where pair
// sums through i16x8.relaxed_dot_i8x16_i7x16_s are faster. The results are the same bits either
// way, so a wrong choice (a noisy moment) costs only speed.

/** @typedef {'i32' | 'pairs16'} Int8Dot */

const FORMS = /** @type {const} */ (['i32', 'pairs16']); // pldr_int8_dot values 0 and 1
const ITERS = 12;   // one timed probe: 12 products of 64 x 896 by 16 tokens, ~0.5-2 ms
const ROUNDS = 5;   // alternating, the fastest of each kept
const MARGIN = 0.95; // pairs16 only when faster by 5 %: i32 is what relaxed SIMD is for

/** @type {Int8Dot|undefined} the choice of this process or page: its CPU does not change */
let chosen;

/** Milliseconds of one probe of `form`, or null when the module cannot run it or has one form. */
function timeProbe(x, form, iters) {
  const t0 = performance.now();
  return x.pldr_int8_dot_probe(form, iters) === 0 ? performance.now() - t0 : null;
}

/** Whether the module has both forms (pldr_int8_dot_probe answers PLDR_IGNORED = 1 where not). */
const hasForms = (x) => typeof x.pldr_int8_dot_probe === 'function' && x.pldr_int8_dot_probe(0, 1) === 0;

/** The faster form on this CPU (timed once, then cached), or null when the probe fails. */
function measure(x) {
  for (const f of [0, 1, 0, 1]) if (timeProbe(x, f, 2) === null) return null; // lets the engine tier the kernels up
  const best = [Infinity, Infinity];
  for (let r = 0; r < ROUNDS; r++) {
    for (const f of [0, 1]) best[f] = Math.min(best[f], timeProbe(x, f, ITERS) ?? Infinity);
  }
  return best[1] < MARGIN * best[0] ? 'pairs16' : 'i32';
}

/**
 * Sets the faster form in a relaxed module's instance (exports x) and returns it; null for a
 * module without the choice (the baseline modules have one form: their probe runs nothing).
 * @param {Record<string, Function>} x
 * @returns {Int8Dot|null}
 */
export function tuneInt8Dot(x) {
  if (!hasForms(x)) return null;
  const form = chosen ?? measure(x);
  if (form === null) return null;
  chosen = form;
  x.pldr_set_int8_dot(FORMS.indexOf(form));
  return form;
}
