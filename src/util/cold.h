/* cold.h — for code that runs rarely (a session state saved or restored, a context shift, a
 * KV-cache that holds a NaN): COLD compiles a function for size, not speed, so that the module
 * stays small; NO_VECTORIZE keeps a loop scalar and unrolled once where size matters more. */
#ifndef PLDR_UTIL_COLD_H
#define PLDR_UTIL_COLD_H

#if defined(__clang__)
#define COLD __attribute__((minsize))
#define NO_VECTORIZE _Pragma("clang loop vectorize(disable) unroll(disable)")
#else
#define COLD __attribute__((cold))
#define NO_VECTORIZE
#endif

/* COLD, and never inlined into a hot caller (where it would be compiled for speed) */
#define COLD_CALL COLD __attribute__((noinline))

#endif
