/* kernels.h — numeric kernels, apart from the model logic.
 *
 * Each kernel has a portable scalar reference (pk_ref_*, kernels_ref.c) and a WebAssembly SIMD128
 * version (pk_simd_*, kernels_simd.c; natively the same source compiles through SIMDe). Tests
 * compare the two. The model calls the pk_* names, bound at compile time: PLDR_SCALAR selects the
 * reference kernels.
 */
#ifndef PLDR_KERNELS_H
#define PLDR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* A weight matrix [rows][cols] in one of the storage formats (pldr_dtype: F32, Q8_0, Q4_0).
 * Quantized rows hold ceil(cols/32) blocks (docs/FORMAT.md). */
typedef struct pldr_matrix {
    const void *data;
    int32_t format;
    int32_t rows, cols;
} pldr_matrix;

#define PK_QBLOCK 32

typedef struct { uint16_t d; int8_t qs[PK_QBLOCK]; } block_q8_0;      /* x = d * qs[i] */
typedef struct { uint16_t d; uint8_t qs[PK_QBLOCK / 2]; } block_q4_0; /* x = d * (q - 8) */
_Static_assert(sizeof(block_q8_0) == sizeof(uint16_t) + PK_QBLOCK, "wrong q8_0 block size/padding");
_Static_assert(sizeof(block_q4_0) == sizeof(uint16_t) + PK_QBLOCK / 2, "wrong q4_0 block size/padding");

/* Bytes of a matrix [rows][cols] in `format`. */
size_t pk_matrix_bytes(int format, int rows, int cols);

/* IEEE half <-> float, bfloat16 -> float. */
float pk_f16_to_f32(uint16_t h);
uint16_t pk_f32_to_f16(float f);
float pk_bf16_to_f32(uint16_t h);

/* One row of cols floats into ceil(cols/32) blocks (the last zero-padded), as docs/FORMAT.md
 * defines them; PK_QUANT_NONFINITE for an Inf or NaN, PK_QUANT_RANGE for values whose block scale
 * exceeds binary16 (the blocks before it are written). */
enum { PK_QUANT_OK = 0, PK_QUANT_NONFINITE = 1, PK_QUANT_RANGE = 2 };
int pk_quantize_row_q8_0(const float *x, void *blocks, int cols);
int pk_quantize_row_q4_0(const float *x, void *blocks, int cols);

/* Activations for the integer dot products with q8_0/q4_0 rows: per block of 32 values (the last
 * zero-padded) q[i] = round(x[i] / d) in -127..127 with d = max|x| / 127 (round to nearest, ties
 * to even). The scalar kernels use it; the SIMD128 kernels pack the same integers themselves
 * (pack_act, in the lane order of their products). q: [ceil(cols/32) * 32], d: [ceil(cols/32)]. */
void pk_quantize_act(const float *x, int8_t *q, float *d, int cols);

/* The form of the relaxed build's q4_0 products (a pldr_int8_dot value, kernels_simd.c): the
 * instance's, atomic, PLDR_INT8_DOT_I32 until set. */
int pk_int8_dot_form(void);
void pk_set_int8_dot_form(int form);

/* pk_f16_to_f32 of every binary16 bit pattern (built once, thread-safely: kernels_common.c). */
const float *pk_f16_table(void);

/* dst[i] = src[i] as binary16, rounded to nearest even; finite values beyond binary16's range
 * saturate to ±65504 (never infinity). Returns 0 when every value was finite, 1 when one was NaN or
 * infinite (stored as binary16 NaN / infinity): the SIMD binary16 kernels below take only finite
 * values, so the caller then reads with the reference kernels. */
int pk_f32_to_f16_row(uint16_t *dst, const float *src, int n);

/* Work memory a caller lends the kernels (each session owns one): grown on demand, freed by its
 * owner with pk_scratch_free. Kernels given NULL, or refused memory, take a path that needs none. */
typedef struct pk_scratch {
    void *mem;
    size_t cap;
    int fixed;  /* never grown by pk_scratch_reserve: a pool thread's, which may not allocate */
} pk_scratch;

/* At least `bytes` of 16-byte-aligned memory from ws, or NULL (ws NULL, out of memory, or a fixed
 * ws too small). */
void *pk_scratch_reserve(pk_scratch *ws, size_t bytes);
/* Grows ws to hold pk_scratch_reserve(ws, bytes), fixed or not (its owner's thread only); 0 on
 * success, -1 when out of memory (ws unchanged). */
int pk_scratch_ensure(pk_scratch *ws, size_t bytes);
void pk_scratch_free(pk_scratch *ws);

/* Bytes of ws that a matrix product over rows of at most `cols` values may reserve, in either
 * kernel set, at most (a bound for what a session will hold). */
uint64_t pk_scratch_bound(int cols);

/* How threads split a matrix product (src/threads) without changing a bit of it: by rows of W,
 * at multiples of PK_SPLIT_ROWS (pk_matmul_rows), or by tokens, into parts of at least
 * PK_SPLIT_TOKENS tokens (any parts when the product has fewer). Each output is then computed
 * exactly as by one pk_matmul over everything (tests/kernels_test.c checks it). */
#define PK_SPLIT_ROWS 8
#define PK_SPLIT_TOKENS 8

#define PK_DECLARE(prefix)                                                                        \
    /* Y[n][rows] = X[n][cols] · Wᵀ + bias (bias may be NULL; Y must not overlap X). For         \
     * Q8_0/Q4_0, X is quantized per block (pk_quantize_act) and the products are integer       \
     * (llama.cpp's q8_0 dot). ws: work memory for packing (may be NULL). */                       \
    void prefix##matmul(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, \
                        pk_scratch *ws);                                                          \
    /* Only the rows [r0, r1) of W: Y[t][r0..r1) of the same Y [n][rows] (see PK_SPLIT_ROWS) */   \
    void prefix##matmul_rows(float *Y, const float *X, const pldr_matrix *W, const float *bias,   \
                             int n, int r0, int r1, pk_scratch *ws);                              \
    /* Bytes of ws a product of n tokens reserves (what a pool thread needs ready) */             \
    size_t prefix##matmul_scratch(const pldr_matrix *W, int n);                                   \
    /* out[cols] = row `row` of W, dequantized */                                                 \
    void prefix##matrix_row(float *out, const pldr_matrix *W, int row);                           \
    float prefix##dot(const float *a, const float *b, int n);                                     \
    /* y[m] = x[n] · A[n][m] (A row-major): a row vector times a matrix */                        \
    void prefix##vecmat(float *y, const float *x, const float *A, int n, int m);                  \
    /* y += a * x */                                                                              \
    void prefix##axpy(float *y, float a, const float *x, int n);                                  \
    /* y = a + b */                                                                               \
    void prefix##add(float *y, const float *a, const float *b, int n);                            \
    /* a = silu(a) ⊙ b */                                                                         \
    void prefix##silu_mul(float *a, const float *b, int n);                                       \
    /* y = (x - mean) / sqrt(var + eps) · g + b over n values (biased variance) */                \
    void prefix##layernorm(float *y, const float *x, const float *g, const float *b, int n,       \
                           float eps);                                                            \
    /* x = softmax(x) in place */                                                                 \
    void prefix##softmax(float *x, int n);                                                        \
    /* y[rows] = A[rows][cols] · x, A in binary16 (the SIMD kernel: finite values only) */        \
    void prefix##f16_matvec(float *y, const float *x, const uint16_t *A, int rows, int cols);     \
    /* y[m] = x[n] · A[n][m], A in binary16 (the SIMD kernel: finite values only) */              \
    void prefix##f16_vecmat(float *y, const float *x, const uint16_t *A, int n, int m);

PK_DECLARE(pk_ref_)
PK_DECLARE(pk_simd_)

#ifdef PLDR_SCALAR
#define PK(name) pk_ref_##name
#else
#define PK(name) pk_simd_##name
#endif

#define pk_matmul PK(matmul)
#define pk_matmul_rows PK(matmul_rows)
#define pk_matmul_scratch PK(matmul_scratch)
#define pk_matrix_row PK(matrix_row)
#define pk_dot PK(dot)
#define pk_vecmat PK(vecmat)
#define pk_axpy PK(axpy)
#define pk_add PK(add)
#define pk_silu_mul PK(silu_mul)
#define pk_layernorm PK(layernorm)
#define pk_softmax PK(softmax)
#define pk_f16_matvec PK(f16_matvec)
#define pk_f16_vecmat PK(f16_vecmat)

#endif /* PLDR_KERNELS_H */
