/* simd.h — WebAssembly SIMD128 intrinsics: the real ones under Emscripten, SIMDe's portable
 * implementation (SSE/AVX underneath) in the native build, so both builds run the same source. */
#ifndef PLDR_SIMD_H
#define PLDR_SIMD_H
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/wasm/simd128.h>
#endif

static inline float pk_hsum(v128_t v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
#endif
