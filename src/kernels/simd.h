/* simd.h — WebAssembly SIMD128 intrinsics: the real ones under Emscripten (and clang-19 for the
 * relaxed variant), SIMDe's portable implementation (SSE/AVX underneath) in the native build, so
 * all builds run the same source.
 *
 * PK_RELAXED is 1 in the relaxed-SIMD build (-mrelaxed-simd, dist/pldr-relaxed.wasm): the kernels
 * then use the relaxed int8 dot products for q4_0 (integer, so the same bits as the baseline; two
 * forms, chosen at run time: pk_int8_dot_form) and f32x4.relaxed_madd for float32 (fused where the CPU has FMA: the last
 * bits may differ from the baseline's multiply-then-add). */
#ifndef PLDR_SIMD_H
#define PLDR_SIMD_H
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/wasm/simd128.h>
#endif

#if defined(__wasm_relaxed_simd__)
#define PK_RELAXED 1
#else
#define PK_RELAXED 0
#endif

/* a·b + c, fused in the relaxed build */
static inline v128_t pk_madd(v128_t a, v128_t b, v128_t c) {
#if PK_RELAXED
    return wasm_f32x4_relaxed_madd(a, b, c);
#else
    return wasm_f32x4_add(wasm_f32x4_mul(a, b), c);
#endif
}

static inline float pk_hsum(v128_t v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
#endif
