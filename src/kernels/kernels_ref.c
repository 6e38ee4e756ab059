/* kernels_ref.c — portable scalar reference kernels: the definition the SIMD kernels are tested
 * against. Plain loops, one accumulator per output. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "pldr.h"

void pk_ref_matrix_row(float *out, const pldr_matrix *W, int row) {
    int cols = W->cols, nb = (cols + PK_QBLOCK - 1) / PK_QBLOCK;
    if (W->format == PLDR_DTYPE_F32) {
        const float *src = (const float *)W->data + (size_t)row * cols;
        for (int i = 0; i < cols; i++) out[i] = src[i];
    } else if (W->format == PLDR_DTYPE_Q8_0) {
        const block_q8_0 *blk = (const block_q8_0 *)W->data + (size_t)row * nb;
        for (int i = 0; i < cols; i++) {
            const block_q8_0 *b = &blk[i / PK_QBLOCK];
            out[i] = pk_f16_to_f32(b->d) * (float)b->qs[i % PK_QBLOCK];
        }
    } else {
        const block_q4_0 *blk = (const block_q4_0 *)W->data + (size_t)row * nb;
        for (int i = 0; i < cols; i++) {
            const block_q4_0 *b = &blk[i / PK_QBLOCK];
            int j = i % PK_QBLOCK;
            int q = j < 16 ? (b->qs[j] & 15) : (b->qs[j - 16] >> 4);
            out[i] = pk_f16_to_f32(b->d) * (float)(q - 8);
        }
    }
}

float pk_ref_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One weight of a quantized row as its integer code: q8_0 qs[i], q4_0 nibble - 8. */
static int weight_code(const pldr_matrix *W, const void *block, int i) {
    if (W->format == PLDR_DTYPE_Q8_0) return ((const block_q8_0 *)block)->qs[i];
    const block_q4_0 *b = block;
    return (i < 16 ? (b->qs[i] & 15) : (b->qs[i - 16] >> 4)) - 8;
}

/* Quantized rows: the activations are quantized too (pk_quantize_act) and each block's integer
 * dot product is scaled by both scales, y = Σ_b d_w·d_x·Σ_i w_i x_i: llama.cpp's q8_0/q4_0 dot. */
static void matmul_quant(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, int r0, int r1) {
    int rows = W->rows, cols = W->cols, nb = (cols + PK_QBLOCK - 1) / PK_QBLOCK;
    size_t block_bytes = W->format == PLDR_DTYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    int8_t q[nb * PK_QBLOCK];
    float d[nb];
    for (int t = 0; t < n; t++) {
        pk_quantize_act(X + (size_t)t * cols, q, d, cols);
        for (int r = r0; r < r1; r++) {
            const unsigned char *row = (const unsigned char *)W->data + (size_t)r * nb * block_bytes;
            float y = 0.0f;
            for (int b = 0; b < nb; b++) {
                const void *blk = row + (size_t)b * block_bytes;
                int32_t isum = 0;
                for (int i = 0; i < PK_QBLOCK; i++) isum += weight_code(W, blk, i) * q[b * PK_QBLOCK + i];
                uint16_t dw;
                memcpy(&dw, blk, sizeof dw);
                y += pk_f16_to_f32(dw) * d[b] * (float)isum;
            }
            Y[(size_t)t * rows + r] = y + (bias ? bias[r] : 0.0f);
        }
    }
}

void pk_ref_matmul_rows(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, int r0, int r1,
                        pk_scratch *ws) {
    (void)ws; /* the reference needs no work memory */
    if (W->format != PLDR_DTYPE_F32) {
        matmul_quant(Y, X, W, bias, n, r0, r1);
        return;
    }
    int rows = W->rows, cols = W->cols;
    for (int r = r0; r < r1; r++) {
        const float *row = (const float *)W->data + (size_t)r * cols;
        for (int t = 0; t < n; t++)
            Y[(size_t)t * rows + r] = pk_ref_dot(X + (size_t)t * cols, row, cols) + (bias ? bias[r] : 0.0f);
    }
}

void pk_ref_matmul(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, pk_scratch *ws) {
    pk_ref_matmul_rows(Y, X, W, bias, n, 0, W->rows, ws);
}

size_t pk_ref_matmul_scratch(const pldr_matrix *W, int n) {
    (void)W;
    (void)n;
    return 0;
}

void pk_ref_vecmat(float *y, const float *x, const float *A, int n, int m) {
    for (int j = 0; j < m; j++) y[j] = 0.0f;
    for (int i = 0; i < n; i++) pk_ref_axpy(y, x[i], A + (size_t)i * m, m);
}

void pk_ref_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void pk_ref_add(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void pk_ref_silu_mul(float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void pk_ref_layernorm(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
    for (int i = 0; i < n; i++) y[i] = (x[i] - m) * inv * g[i] + b[i];
}

void pk_ref_softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++) if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - max); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void pk_ref_f16_matvec(float *y, const float *x, const uint16_t *A, int rows, int cols) {
    const float *f16 = pk_f16_table();
    for (int r = 0; r < rows; r++) {
        const uint16_t *a = A + (size_t)r * cols;
        float s = 0.0f;
        for (int i = 0; i < cols; i++) s += x[i] * f16[a[i]];
        y[r] = s;
    }
}

void pk_ref_f16_vecmat(float *y, const float *x, const uint16_t *A, int n, int m) {
    const float *f16 = pk_f16_table();
    for (int j = 0; j < m; j++) y[j] = 0.0f;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) y[j] += x[i] * f16[A[(size_t)i * m + j]];
}
