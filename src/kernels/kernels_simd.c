/* kernels_simd.c — SIMD128 kernels (4 float lanes). Same results as kernels_ref.c up to the
 * order of float additions. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "pldr.h"
#include "simd.h"

#define LOAD(p) wasm_v128_load(p)
#define MADD(acc, a, b) wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

float pk_simd_dot(const float *a, const float *b, int n) {
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = MADD(s0, LOAD(a + i), LOAD(b + i));
        s1 = MADD(s1, LOAD(a + i + 4), LOAD(b + i + 4));
    }
    for (; i + 4 <= n; i += 4) s0 = MADD(s0, LOAD(a + i), LOAD(b + i));
    float s = pk_hsum(wasm_f32x4_add(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- float32 matrix product: a 4-row x 2-token tile reuses each load several times ---------- */

/* y[t][r] for rows r0..r0+3 and tokens t0, t0+1 */
static void tile_4x2(float *Y, const float *X, const float *W, const float *bias, int r0, int t0,
                     int rows, int cols) {
    const float *w0 = W + (size_t)r0 * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    const float *x0 = X + (size_t)t0 * cols, *x1 = x0 + cols;
    v128_t a00 = wasm_f32x4_splat(0.0f), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
           a30 = a00, a31 = a00;
    int k = 0;
    for (; k + 4 <= cols; k += 4) {
        v128_t vx0 = LOAD(x0 + k), vx1 = LOAD(x1 + k);
        v128_t v = LOAD(w0 + k); a00 = MADD(a00, v, vx0); a01 = MADD(a01, v, vx1);
        v = LOAD(w1 + k); a10 = MADD(a10, v, vx0); a11 = MADD(a11, v, vx1);
        v = LOAD(w2 + k); a20 = MADD(a20, v, vx0); a21 = MADD(a21, v, vx1);
        v = LOAD(w3 + k); a30 = MADD(a30, v, vx0); a31 = MADD(a31, v, vx1);
    }
    float s[8] = {pk_hsum(a00), pk_hsum(a10), pk_hsum(a20), pk_hsum(a30),
                  pk_hsum(a01), pk_hsum(a11), pk_hsum(a21), pk_hsum(a31)};
    for (; k < cols; k++) {
        s[0] += w0[k] * x0[k]; s[1] += w1[k] * x0[k]; s[2] += w2[k] * x0[k]; s[3] += w3[k] * x0[k];
        s[4] += w0[k] * x1[k]; s[5] += w1[k] * x1[k]; s[6] += w2[k] * x1[k]; s[7] += w3[k] * x1[k];
    }
    for (int j = 0; j < 4; j++) {
        float b = bias ? bias[r0 + j] : 0.0f;
        Y[(size_t)t0 * rows + r0 + j] = s[j] + b;
        Y[(size_t)(t0 + 1) * rows + r0 + j] = s[4 + j] + b;
    }
}

/* one token, four rows: the decode (matrix-vector) path */
static void tile_4x1(float *Y, const float *X, const float *W, const float *bias, int r0, int t0,
                     int rows, int cols) {
    const float *w0 = W + (size_t)r0 * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    const float *x0 = X + (size_t)t0 * cols;
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int k = 0;
    for (; k + 4 <= cols; k += 4) {
        v128_t vx = LOAD(x0 + k);
        a0 = MADD(a0, LOAD(w0 + k), vx);
        a1 = MADD(a1, LOAD(w1 + k), vx);
        a2 = MADD(a2, LOAD(w2 + k), vx);
        a3 = MADD(a3, LOAD(w3 + k), vx);
    }
    float s[4] = {pk_hsum(a0), pk_hsum(a1), pk_hsum(a2), pk_hsum(a3)};
    for (; k < cols; k++) {
        s[0] += w0[k] * x0[k]; s[1] += w1[k] * x0[k]; s[2] += w2[k] * x0[k]; s[3] += w3[k] * x0[k];
    }
    for (int j = 0; j < 4; j++) Y[(size_t)t0 * rows + r0 + j] = s[j] + (bias ? bias[r0 + j] : 0.0f);
}

static void matmul_f32(float *Y, const float *X, const float *W, const float *bias, int n, int rows,
                       int cols) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        int t = 0;
        for (; t + 2 <= n; t += 2) tile_4x2(Y, X, W, bias, r, t, rows, cols);
        for (; t < n; t++) tile_4x1(Y, X, W, bias, r, t, rows, cols);
    }
    for (; r < rows; r++)
        for (int t = 0; t < n; t++)
            Y[(size_t)t * rows + r] =
                pk_simd_dot(X + (size_t)t * cols, W + (size_t)r * cols, cols) + (bias ? bias[r] : 0.0f);
}

void pk_simd_matrix_row(float *out, const pldr_matrix *W, int row) {
    if (W->format == PLDR_DTYPE_F32)
        memcpy(out, (const float *)W->data + (size_t)row * W->cols, (size_t)W->cols * sizeof(float));
    else
        pk_ref_matrix_row(out, W, row);
}

void pk_simd_matmul(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n) {
    if (W->format == PLDR_DTYPE_F32)
        matmul_f32(Y, X, (const float *)W->data, bias, n, W->rows, W->cols);
    else
        pk_ref_matmul(Y, X, W, bias, n);
}

/* ---- elementwise ------------------------------------------------------------------------------ */

void pk_simd_axpy(float *y, float a, const float *x, int n) {
    v128_t va = wasm_f32x4_splat(a);
    int i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, MADD(LOAD(y + i), va, LOAD(x + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

void pk_simd_add(float *y, const float *a, const float *b, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(LOAD(a + i), LOAD(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

void pk_simd_silu_mul(float *a, const float *b, int n) { pk_ref_silu_mul(a, b, n); }

void pk_simd_layernorm(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    pk_ref_layernorm(y, x, g, b, n, eps);
}

void pk_simd_softmax(float *x, int n) { pk_ref_softmax(x, n); }
