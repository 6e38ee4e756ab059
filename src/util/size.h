/* size.h — sizes computed with overflow checks that hold for a 32-bit size_t (WebAssembly).
 *
 * Every byte or element count the library computes from hyperparameters, shapes or caller input
 * goes through these. size_mul / size_add clear *ok (and give 0) when the result does not fit a
 * size_t, so a chain of them needs one check at its end. The 64-bit forms saturate at UINT64_MAX
 * instead: for totals that are reported even when no size_t could hold them
 * (pldr_model_memory_needed says "needs 16 GiB", not "needs 0"). */
#ifndef PLDR_UTIL_SIZE_H
#define PLDR_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* a * b, or 0 with *ok cleared when that does not fit a size_t */
static inline size_t size_mul(size_t a, size_t b, int *ok) {
    if (b && a > SIZE_MAX / b) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

/* a + b, or 0 with *ok cleared when that does not fit a size_t */
static inline size_t size_add(size_t a, size_t b, int *ok) {
    if (a > SIZE_MAX - b) {
        *ok = 0;
        return 0;
    }
    return a + b;
}

/* a * b and a + b in 64 bits, UINT64_MAX when they do not fit (and once one is, every result
 * computed from it stays UINT64_MAX) */
static inline uint64_t u64_mul(uint64_t a, uint64_t b) {
    if (a == UINT64_MAX || b == UINT64_MAX) return a && b ? UINT64_MAX : 0;
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}
static inline uint64_t u64_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* v as a size_t, or 0 with *ok cleared when it does not fit one */
static inline size_t size_from_u64(uint64_t v, int *ok) {
    if (v > SIZE_MAX) {
        *ok = 0;
        return 0;
    }
    return (size_t)v;
}

#endif
