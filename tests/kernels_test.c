/* kernels_test.c — every SIMD128 kernel against its scalar reference (src/kernels), on odd sizes
 * and tails: rows not a multiple of 4, cols not a multiple of 32 (2389, 170), n = 1..9 tokens,
 * every weight format, unaligned data, the extreme integer codes. Built natively (SIMDe), as a
 * WASI program (real SIMD128) and as a relaxed-SIMD WASI program (PK_RELAXED); tests/kernels.test.mjs
 * runs all three. Prints one line per failure and a summary; exit status 0 when everything passed.
 * `kernels-test digest` prints instead a hash of the bits of the quantized products, which must be
 * the same in every build: their arithmetic is integer, then the same float operations. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/kernels.h"
#include "../src/kernels/simd.h"
#include "pldr.h"

/* Float32 kernels that the relaxed build fuses (f32x4.relaxed_madd: y + a·x rounded once instead of
 * twice) are allowed one rounding of the result apart from the reference; elsewhere they are equal. */
static const double FUSED_ULP = PK_RELAXED ? 1.2e-7 : 0.0;
static int checks, failures;

static void fail(const char *what, const char *fmt, double a, double b, double tol) {
    failures++;
    if (failures <= 40) {
        printf("FAIL %s: ", what);
        printf(fmt, a, b, tol);
        printf("\n");
    }
}

/* |a - b| ≤ tol */
static void close_to(const char *what, double a, double b, double tol) {
    checks++;
    if (!(fabs(a - b) <= tol)) fail(what, "%.9g vs %.9g (tolerance %.3g)", a, b, tol);
}

static uint32_t rng = 12345;
static float urand(void) { /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

static float *floats(size_t n, float scale) {
    float *x = malloc(n * sizeof(float) + 64);
    for (size_t i = 0; i < n; i++) x[i] = urand() * scale;
    return x;
}

/* ---- format helpers ---------------------------------------------------------------------------- */

static void test_f16(void) {
    const float *tab = pk_f16_table();
    for (uint32_t h = 0; h < 65536; h++) {
        float a = tab[h], b = pk_f16_to_f32((uint16_t)h);
        checks++;
        if (memcmp(&a, &b, 4) && !(isnan(a) && isnan(b))) fail("f16 table", "%g vs %g %g", a, b, 0);
        if (!isnan(b) && pk_f32_to_f16(b) != h && !(h == 0x8000 && b == 0)) fail("f16 round trip", "%g %g %g", b, h, 0);
    }
}

static void test_quantize_act(void) {
    int sizes[] = {1, 5, 31, 32, 33, 64, 170, 2389};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int cols = sizes[s], nb = (cols + 31) / 32;
        float *x = floats((size_t)cols, 3.0f);
        if (cols > 40) x[37] = 0.0f;
        int8_t *q = malloc((size_t)nb * 32);
        float *d = malloc((size_t)nb * sizeof(float));
        pk_quantize_act(x, q, d, cols);
        for (int i = 0; i < nb * 32; i++) {
            float v = i < cols ? x[i] : 0.0f;
            close_to("quantize_act |x - d·q| ≤ d/2", v - d[i / 32] * q[i], 0.0, d[i / 32] * 0.5001 + 1e-12);
            checks++;
            if (q[i] < -127) fail("quantize_act range", "%g %g %g", q[i], 0, 0);
        }
        free(x); free(q); free(d);
    }
}

/* Σ over a q4_0/q8_0 row of squared dequantization errors */
static double row_error(const float *x, int cols, int format) {
    int nb = (cols + 31) / 32;
    float out[4096];
    unsigned char blocks[4096];
    pldr_matrix m = {blocks, format, 1, cols};
    if (format == PLDR_DTYPE_Q8_0) pk_quantize_row_q8_0(x, blocks, cols);
    else pk_quantize_row_q4_0(x, blocks, cols);
    pk_ref_matrix_row(out, &m, 0);
    double e = 0;
    for (int i = 0; i < cols; i++) e += (double)(out[i] - x[i]) * (out[i] - x[i]);
    (void)nb;
    return e;
}

/* the reference q4_0 quantizer of docs/FORMAT.md (d = m / -8): ours must never be worse */
static double row_error_q4_reference(const float *x, int cols) {
    double e = 0;
    for (int b = 0; b * 32 < cols; b++) {
        float amax = 0, mx = 0;
        for (int i = 0; i < 32 && b * 32 + i < cols; i++)
            if (fabsf(x[b * 32 + i]) > amax) { amax = fabsf(x[b * 32 + i]); mx = x[b * 32 + i]; }
        float d = pk_f16_to_f32(pk_f32_to_f16(mx / -8.0f)), id = d ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32 && b * 32 + i < cols; i++) {
            float v = roundf(x[b * 32 + i] * id) + 8.0f;
            v = v < 0 ? 0 : v > 15 ? 15 : v;
            double r = d * (v - 8.0f) - x[b * 32 + i];
            e += r * r;
        }
    }
    return e;
}

static void test_quantizers(void) {
    int sizes[] = {1, 17, 32, 45, 96, 170, 896, 2389};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int cols = sizes[s];
        for (int rep = 0; rep < 4; rep++) {
            float *x = floats((size_t)cols, rep == 3 ? 1e-6f : 0.05f);
            if (rep == 1) for (int i = 0; i < cols; i += 7) x[i] *= 10.0f; /* outliers */
            if (rep == 2) for (int i = 0; i < cols; i++) x[i] = x[i] > 0 ? 0.0f : x[i]; /* one-sided */
            double sq = 0;
            for (int i = 0; i < cols; i++) sq += (double)x[i] * x[i];
            if (rep != 3) /* (at 1e-6 the f16 scale itself underflows) */
                close_to("q8_0 error ≤ 1e-4 of the signal", row_error(x, cols, PLDR_DTYPE_Q8_0), 0.0, 1e-4 * sq + 1e-30);
            double ours = row_error(x, cols, PLDR_DTYPE_Q4_0), ref = row_error_q4_reference(x, cols);
            close_to("q4_0 error ≤ the reference quantizer's", ours > ref ? ours - ref : 0.0, 0.0, 1e-6 * ref + 1e-30);
            free(x);
        }
    }
}

/* ---- matrix products --------------------------------------------------------------------------- */

/* Magnitude bound for output (t, r): Σ |x||w| over the dequantized (or float) row. */
static double magnitude(const float *x, const float *wrow, int cols) {
    double m = 0;
    for (int i = 0; i < cols; i++) m += fabs((double)x[i] * wrow[i]);
    return m;
}

static void test_matmul_shape(int format, int rows, int cols, int n, int with_bias, int offset) {
    size_t wbytes = pk_matrix_bytes(format, rows, cols);
    unsigned char *wmem = malloc(wbytes + 64);
    unsigned char *wdata = wmem + offset; /* unaligned on purpose */
    float *wf = floats((size_t)rows * cols, 0.08f);
    for (int r = 0; r < rows; r++) {
        if (format == PLDR_DTYPE_F32) memcpy(wdata + (size_t)r * cols * 4, wf + (size_t)r * cols, (size_t)cols * 4);
        else if (format == PLDR_DTYPE_Q8_0) pk_quantize_row_q8_0(wf + (size_t)r * cols, wdata + pk_matrix_bytes(format, r, cols), cols);
        else pk_quantize_row_q4_0(wf + (size_t)r * cols, wdata + pk_matrix_bytes(format, r, cols), cols);
    }
    pldr_matrix W = {wdata, format, rows, cols};
    float *xmem = floats((size_t)n * cols + 1, 2.0f), *x = xmem + (offset & 1); /* unaligned floats too */
    float *bias = with_bias ? floats((size_t)rows, 0.5f) : NULL;
    float *y_ref = malloc((size_t)n * rows * sizeof(float)), *y_simd = malloc((size_t)n * rows * sizeof(float));
    pk_scratch ws = {0};
    pk_ref_matmul(y_ref, x, &W, bias, n, NULL);
    pk_simd_matmul(y_simd, x, &W, bias, n, &ws);
    pk_scratch_free(&ws);
    float *row = malloc((size_t)cols * sizeof(float)), *row2 = malloc((size_t)cols * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "matmul format %d rows %d cols %d n %d", format, rows, cols, n);
    for (int r = 0; r < rows; r++) {
        pk_ref_matrix_row(row, &W, r);
        pk_simd_matrix_row(row2, &W, r);
        for (int i = 0; i < cols; i++) {
            checks++;
            if (row[i] != row2[i]) { fail("matrix_row", "%g vs %g %g", row[i], row2[i], 0); break; }
        }
        for (int t = 0; t < n; t++) {
            /* quantized: the activations are quantized too, |error| ≤ (d_x/2)·Σ|w| per block */
            double mag = magnitude(x + (size_t)t * cols, row, cols) * 1.01 + (bias ? fabs(bias[r]) : 0.0);
            close_to(what, y_simd[(size_t)t * rows + r], y_ref[(size_t)t * rows + r], 2e-6 * mag + 1e-7);
        }
    }
    /* the reference itself against float math: a check of the quantized-activation definition */
    if (format != PLDR_DTYPE_F32) {
        for (int r = 0; r < rows; r++) {
            pk_ref_matrix_row(row, &W, r);
            for (int t = 0; t < n; t++) {
                const float *xt = x + (size_t)t * cols;
                int nb = (cols + 31) / 32;
                int8_t q[nb * 32];
                float d[nb];
                pk_quantize_act(xt, q, d, cols);
                double exact = bias ? bias[r] : 0.0, bound = 1e-5 * magnitude(xt, row, cols) + 1e-6;
                for (int i = 0; i < cols; i++) {
                    exact += (double)xt[i] * row[i];
                    bound += d[i / 32] * 0.5 * fabs(row[i]); /* |x - d·q| ≤ d/2 */
                }
                close_to("quantized matmul vs float math (activation quantization)", y_ref[(size_t)t * rows + r], exact, bound);
            }
        }
    }
    free(row); free(row2); free(wmem); free(wf); free(xmem); free(bias); free(y_ref); free(y_simd);
}

static void test_matmul(void) {
    const int shapes[][2] = {{1, 1}, {1, 32}, {3, 5}, {4, 31}, {4, 32}, {5, 33}, {6, 64}, {7, 96}, {9, 170},
                             {13, 2389}, {8, 896}, {170, 64}, {64, 170}, {2, 300}, {11, 47}};
    const int formats[3] = {PLDR_DTYPE_F32, PLDR_DTYPE_Q8_0, PLDR_DTYPE_Q4_0};
    for (int f = 0; f < 3; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int n = 1; n <= 9; n++)
                test_matmul_shape(formats[f], shapes[s][0], shapes[s][1], n, (n + (int)s) % 2, (int)(s % 3) * 2);
    for (int f = 0; f < 3; f++) test_matmul_shape(formats[f], 6, 96, 70, 1, 0); /* more tokens than a chunk */
}

/* ---- the splits threads make (PK_SPLIT_ROWS, PK_SPLIT_TOKENS): bitwise the whole product ------- */

typedef void (*matmul_rows_fn)(float *, const float *, const pldr_matrix *, const float *, int, int, int, pk_scratch *);

static void same_bits(const char *what, const float *a, const float *b, size_t n) {
    checks++;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) {
            fail(what, "element %.0f: %.9g %.9g", (double)i, a[i], b[i]);
            return;
        }
}

/* A cut of 0..units into `parts` increasing points (cuts[0] = 0, cuts[parts] = units); parts may
 * be empty. */
static void random_cuts(int *cuts, int parts, int units) {
    cuts[0] = 0;
    cuts[parts] = units;
    for (int p = 1; p < parts; p++) {
        rng = rng * 1664525u + 1013904223u;
        int c = (int)((rng >> 8) % (uint32_t)(units + 1));
        cuts[p] = c < cuts[p - 1] ? cuts[p - 1] : c;
    }
}

static void test_split_shape(int format, int rows, int cols, int n, int simd) {
    matmul_rows_fn rows_fn = simd ? pk_simd_matmul_rows : pk_ref_matmul_rows;
    size_t wbytes = pk_matrix_bytes(format, rows, cols);
    unsigned char *wdata = malloc(wbytes + 64);
    float *wf = floats((size_t)rows * cols, 0.08f);
    for (int r = 0; r < rows; r++) {
        if (format == PLDR_DTYPE_F32) memcpy(wdata + (size_t)r * cols * 4, wf + (size_t)r * cols, (size_t)cols * 4);
        else if (format == PLDR_DTYPE_Q8_0) pk_quantize_row_q8_0(wf + (size_t)r * cols, wdata + pk_matrix_bytes(format, r, cols), cols);
        else pk_quantize_row_q4_0(wf + (size_t)r * cols, wdata + pk_matrix_bytes(format, r, cols), cols);
    }
    pldr_matrix W = {wdata, format, rows, cols};
    float *x = floats((size_t)n * cols, 2.0f), *bias = floats((size_t)rows, 0.5f);
    size_t ny = (size_t)n * rows;
    float *whole = malloc(ny * sizeof(float)), *split = malloc(ny * sizeof(float));
    pk_scratch ws = {0}, part_ws[4] = {{0}};
    rows_fn(whole, x, &W, bias, n, 0, rows, &ws);
    char what[112];
    for (int parts = 2; parts <= 4; parts++) {
        /* by rows, at multiples of PK_SPLIT_ROWS (the last part ends at rows) */
        int cuts[5], blocks = (rows + PK_SPLIT_ROWS - 1) / PK_SPLIT_ROWS;
        random_cuts(cuts, parts, blocks);
        memset(split, 0xff, ny * sizeof(float));
        for (int p = 0; p < parts; p++) {
            int r0 = cuts[p] * PK_SPLIT_ROWS, r1 = cuts[p + 1] * PK_SPLIT_ROWS;
            if (r1 > rows) r1 = rows;
            if (r0 < r1) rows_fn(split, x, &W, bias, n, r0, r1, &part_ws[p]);
        }
        snprintf(what, sizeof what, "%s matmul split by rows: format %d rows %d cols %d n %d parts %d",
                 simd ? "simd" : "ref", format, rows, cols, n, parts);
        same_bits(what, whole, split, ny);
        /* by tokens: parts of at least PK_SPLIT_TOKENS, or any when n is smaller */
        int min = n >= PK_SPLIT_TOKENS ? PK_SPLIT_TOKENS : 1, slices = n / min;
        if (slices < parts) continue;
        random_cuts(cuts, parts, slices);
        memset(split, 0xff, ny * sizeof(float));
        for (int p = 0; p < parts; p++) {
            int t0 = cuts[p] == slices ? n : cuts[p] * min, t1 = cuts[p + 1] == slices ? n : cuts[p + 1] * min;
            if (t0 < t1) rows_fn(split + (size_t)t0 * rows, x + (size_t)t0 * cols, &W, bias, t1 - t0, 0, rows, &part_ws[p]);
        }
        snprintf(what, sizeof what, "%s matmul split by tokens: format %d rows %d cols %d n %d parts %d",
                 simd ? "simd" : "ref", format, rows, cols, n, parts);
        same_bits(what, whole, split, ny);
    }
    pk_scratch_free(&ws);
    for (int p = 0; p < 4; p++) pk_scratch_free(&part_ws[p]);
    free(wdata); free(wf); free(x); free(bias); free(whole); free(split);
}

static void test_matmul_split(void) {
    const int shapes[][2] = {{64, 64}, {170, 64}, {64, 170}, {45, 96}, {896, 33}, {101, 2389}, {13, 40}, {8, 8}};
    const int tokens[] = {1, 2, 3, 7, 8, 9, 16, 17, 24, 70, 133};
    const int formats[3] = {PLDR_DTYPE_F32, PLDR_DTYPE_Q8_0, PLDR_DTYPE_Q4_0};
    for (int simd = 0; simd < 2; simd++)
        for (int f = 0; f < 3; f++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                for (size_t t = 0; t < sizeof tokens / sizeof *tokens; t++) {
                    if (!simd && shapes[s][0] * shapes[s][1] * tokens[t] > 2000000) continue; /* the reference is slow */
                    test_split_shape(formats[f], shapes[s][0], shapes[s][1], tokens[t], simd);
                }
}

/* Extreme codes: q8_0 -128 and 127 weights against ±127 activations; all-15 and all-0 nibbles (the
 * relaxed build's 7-bit operand at its widest). n = 1 is the decode path (rows four at a time),
 * n = 3 and 5 the tiles. */
static void test_extremes_shape(int rows, int n, float *y_out) {
    enum { cols = 64, max_rows = 9, max_n = 5 };
    block_q8_0 q8[max_rows * 2];
    block_q4_0 q4[max_rows * 2];
    for (int r = 0; r < rows * 2; r++) {
        q8[r].d = pk_f32_to_f16(0.01f * (r + 1));
        q4[r].d = pk_f32_to_f16(-0.02f * (r + 1));
        for (int i = 0; i < 32; i++) /* some rows hold -128, the others stay within ±127 */
            q8[r].qs[i] = (int8_t)(r % 6 == 1 ? -128 : r % 6 == 0 ? ((i & 1) ? 127 : -128) : ((i & 1) ? 127 : -127));
        for (int i = 0; i < 16; i++) q4[r].qs[i] = (uint8_t)(r % 3 == 0 ? 0xff : r % 3 == 1 ? 0x00 : 0x0f);
    }
    float x[max_n * cols];
    for (int i = 0; i < n * cols; i++) x[i] = (i % 3 == 0) ? -5.0f : (i % 3 == 1 ? 5.0f : -5.0f + (float)(i % 2));
    for (int f = 0; f < 2; f++) {
        pldr_matrix W = {f ? (const void *)q4 : (const void *)q8, f ? PLDR_DTYPE_Q4_0 : PLDR_DTYPE_Q8_0, rows, cols};
        float a[max_n * max_rows], b[max_n * max_rows], row[cols];
        pk_scratch ws = {0};
        pk_ref_matmul(a, x, &W, NULL, n, NULL);
        pk_simd_matmul(b, x, &W, NULL, n, &ws);
        pk_scratch_free(&ws);
        for (int r = 0; r < rows; r++) {
            pk_ref_matrix_row(row, &W, r);
            for (int t = 0; t < n; t++)
                close_to("extreme codes", b[t * rows + r], a[t * rows + r], 2e-6 * magnitude(x + t * cols, row, cols) + 1e-7);
        }
        if (y_out) memcpy(y_out + (size_t)f * n * rows, b, (size_t)n * rows * sizeof(float));
    }
}

static void test_extremes(void) {
    const int shapes[][2] = {{5, 3}, {9, 1}, {8, 1}, {9, 5}, {3, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) test_extremes_shape(shapes[s][0], shapes[s][1], NULL);
}

/* ---- vector kernels ---------------------------------------------------------------------------- */

static void test_vectors(void) {
    for (int n = 1; n <= 70; n++) {
        float *a = floats((size_t)n + 1, 3.0f), *b = floats((size_t)n + 1, 3.0f), *g = floats((size_t)n, 1.0f);
        float *y1 = floats((size_t)n, 1.0f), *y2 = malloc((size_t)n * sizeof(float) + 4);
        double mag = 0;
        for (int i = 0; i < n; i++) mag += fabs((double)a[i] * b[i]);
        close_to("dot", pk_simd_dot(a + 1, b + 1, n - 1), pk_ref_dot(a + 1, b + 1, n - 1), 1e-6 * mag + 1e-7);
        memcpy(y2, y1, (size_t)n * sizeof(float));
        pk_ref_axpy(y1, 0.7f, a, n);
        pk_simd_axpy(y2, 0.7f, a, n);
        for (int i = 0; i < n; i++) close_to("axpy", y2[i], y1[i], FUSED_ULP * (fabs(y1[i]) + fabs(0.7 * a[i])));
        pk_ref_add(y1, a, b, n);
        pk_simd_add(y2, a, b, n);
        for (int i = 0; i < n; i++) close_to("add", y2[i], y1[i], 0);
        memcpy(y1, a, (size_t)n * sizeof(float));
        memcpy(y2, a, (size_t)n * sizeof(float));
        pk_ref_silu_mul(y1, b, n);
        pk_simd_silu_mul(y2, b, n);
        for (int i = 0; i < n; i++) close_to("silu_mul", y2[i], y1[i], 2e-6 * fabs(y1[i]) + 1e-7);
        pk_ref_layernorm(y1, a, g, b, n, 1e-6f);
        pk_simd_layernorm(y2, a, g, b, n, 1e-6f);
        for (int i = 0; i < n; i++) close_to("layernorm", y2[i], y1[i], 2e-5 * (fabs(g[i]) + fabs(b[i])) + 1e-6);
        memcpy(y1, a, (size_t)n * sizeof(float));
        memcpy(y2, a, (size_t)n * sizeof(float));
        if (n > 3) y1[3] = y2[3] = -1e9f; /* a masked position */
        pk_ref_softmax(y1, n);
        pk_simd_softmax(y2, n);
        for (int i = 0; i < n; i++) close_to("softmax", y2[i], y1[i], 2e-6 * y1[i] + 1e-9);
        for (int m = 1; m <= 70; m += 13) { /* vecmat: n rows of m */
            float *A = floats((size_t)n * m, 1.0f), *v1 = malloc((size_t)m * sizeof(float)), *v2 = malloc((size_t)m * sizeof(float));
            pk_ref_vecmat(v1, a, A, n, m);
            pk_simd_vecmat(v2, a, A, n, m);
            for (int j = 0; j < m; j++) {
                double mg = 0;
                for (int i = 0; i < n; i++) mg += fabs((double)a[i] * A[(size_t)i * m + j]);
                close_to("vecmat", v2[j], v1[j], 1e-6 * mg + 1e-7);
            }
            free(A); free(v1); free(v2);
        }
        free(a); free(b); free(g); free(y1); free(y2);
    }
}

/* exp over its whole range: SiLU of large |x| and a softmax with masked (-1e9) and far-apart values */
static void test_exp_range(void) {
    float x[64], b[64], y1[64], y2[64];
    for (int i = 0; i < 64; i++) {
        x[i] = (float)(i - 32) * 3.7f; /* -118 .. 115 */
        b[i] = 1.0f + 0.01f * i;
    }
    x[5] = 0.0f; x[6] = -88.5f; x[7] = 88.5f; x[8] = -87.0f; x[9] = 89.0f;
    memcpy(y1, x, sizeof x);
    memcpy(y2, x, sizeof x);
    pk_ref_silu_mul(y1, b, 64);
    pk_simd_silu_mul(y2, b, 64);
    for (int i = 0; i < 64; i++) close_to("silu_mul, wide range", y2[i], y1[i], 2e-6 * fabs(y1[i]) + 1e-30);
    for (int n = 5; n <= 64; n += 59) {
        for (int i = 0; i < n; i++) y1[i] = y2[i] = x[i] * 0.25f + (i % 3 == 0 ? -1e9f : 0.0f);
        pk_ref_softmax(y1, n);
        pk_simd_softmax(y2, n);
        for (int i = 0; i < n; i++) close_to("softmax, wide range", y2[i], y1[i], 2e-6 * y1[i] + 1e-30);
    }
}

/* ---- binary16 rows (the f16 KV-cache) ----------------------------------------------------------- */

static void test_f16_rows(void) {
    /* conversion: rounding to nearest even, saturation, the non-finite report */
    float in[8] = {1.0f, 65504.0f, 70000.0f, -1e30f, 6e-8f, -0.0f, 1.00048828125f, 3.0f};
    uint16_t h[8];
    checks++;
    if (pk_f32_to_f16_row(h, in, 8) != 0) fail("f32_to_f16_row finite", "%g %g %g", 0, 0, 0);
    const uint16_t want[8] = {0x3c00, 0x7bff, 0x7bff, 0xfbff, 0x0001, 0x8000, 0x3c00, 0x4200};
    for (int i = 0; i < 8; i++) close_to("f32_to_f16_row value", h[i], want[i], 0);
    float bad[3] = {1.0f, NAN, 2.0f}, inf[2] = {INFINITY, 0.0f};
    close_to("f32_to_f16_row NaN reported", pk_f32_to_f16_row(h, bad, 3), 1, 0);
    close_to("f32_to_f16_row NaN stored as NaN", isnan(pk_f16_to_f32(h[1])), 1, 0);
    close_to("f32_to_f16_row inf reported", pk_f32_to_f16_row(h, inf, 2), 1, 0);
    /* every finite half through the SIMD decoder: a row of one 1 against the values */
    uint16_t all[8];
    float one[8] = {1, 0, 0, 0, 0, 0, 0, 0}, y;
    for (uint32_t v = 0; v < 65536; v++) {
        if (((v >> 10) & 0x1f) == 0x1f) continue; /* inf, NaN: outside the SIMD kernels' contract */
        memset(all, 0, sizeof all);
        all[0] = (uint16_t)v;
        pk_simd_f16_matvec(&y, one, all, 1, 8);
        float e = pk_f16_to_f32((uint16_t)v);
        checks++;
        if (memcmp(&y, &e, 4) && !(y == 0 && e == 0)) fail("f16 decode", "%g vs %g %g", y, e, v);
    }
    /* the products on odd sizes: keys [rows][dk], values [n][m] */
    for (int cols = 1; cols <= 72; cols += (cols < 16 ? 1 : 7)) {
        for (int rows = 1; rows <= 13; rows += 3) {
            float *A = floats((size_t)rows * cols, 4.0f), *x = floats((size_t)cols, 2.0f);
            float *y1 = malloc((size_t)rows * sizeof(float)), *y2 = malloc((size_t)rows * sizeof(float));
            uint16_t *Ah = malloc((size_t)rows * cols * sizeof(uint16_t));
            pk_f32_to_f16_row(Ah, A, rows * cols);
            pk_ref_f16_matvec(y1, x, Ah, rows, cols);
            pk_simd_f16_matvec(y2, x, Ah, rows, cols);
            for (int r = 0; r < rows; r++) {
                double mag = 0;
                for (int i = 0; i < cols; i++) mag += fabs((double)x[i] * pk_f16_to_f32(Ah[(size_t)r * cols + i]));
                close_to("f16_matvec", y2[r], y1[r], 1e-6 * mag + 1e-7);
            }
            float *v1 = malloc((size_t)cols * sizeof(float)), *v2 = malloc((size_t)cols * sizeof(float));
            pk_ref_f16_vecmat(v1, x, Ah, rows > cols ? cols : rows, cols);
            pk_simd_f16_vecmat(v2, x, Ah, rows > cols ? cols : rows, cols);
            for (int j = 0; j < cols; j++) {
                double mag = 0;
                for (int i = 0; i < (rows > cols ? cols : rows); i++) mag += fabs((double)x[i] * pk_f16_to_f32(Ah[(size_t)i * cols + j]));
                close_to("f16_vecmat", v2[j], v1[j], 1e-6 * mag + 1e-7);
            }
            free(A); free(x); free(y1); free(y2); free(Ah); free(v1); free(v2);
        }
    }
}

/* ---- the bits of the quantized products ------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* One hash per format over pk_simd_matmul's outputs on fixed inputs: decode (n = 1), tiles, more
 * tokens than a chunk, tails, the extreme codes. */
static uint64_t digest_of(int f);

/* The q4_0 products give the same bits in both instruction forms of the relaxed build (pldr.h
 * pldr_int8_dot; the other builds have one form and ignore the setting). */
static int digest(void) {
    for (int f = 0; f < 2; f++) {
        uint64_t h = digest_of(f);
        if (f) {
            pk_set_int8_dot_form(PLDR_INT8_DOT_PAIRS16);
            uint64_t h16 = digest_of(f);
            pk_set_int8_dot_form(PLDR_INT8_DOT_I32);
            if (h16 != h) {
                printf("FAIL: q4_0 products differ between the int8 dot forms (%016llx, %016llx)\n",
                       (unsigned long long)h, (unsigned long long)h16);
                failures++;
            }
        }
        printf("digest %s %016llx\n", f ? "q4_0" : "q8_0", (unsigned long long)h);
    }
    return failures ? 1 : 0;
}

/* One hash of format f's (0: q8_0, 1: q4_0) products. */
static uint64_t digest_of(int f) {
    const int shapes[][3] = {{13, 2389, 1}, {64, 170, 1}, {9, 896, 2}, {6, 96, 3}, {7, 96, 4}, {11, 47, 9},
                             {8, 896, 16}, {6, 96, 70}, {5, 33, 5}, {896, 896, 1}, {40, 896, 64}};
    {
        int format = f ? PLDR_DTYPE_Q4_0 : PLDR_DTYPE_Q8_0;
        uint64_t h = 1469598103934665603ull;
        rng = 777;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int rows = shapes[s][0], cols = shapes[s][1], n = shapes[s][2];
            unsigned char *w = malloc(pk_matrix_bytes(format, rows, cols));
            float *wf = floats((size_t)cols, 0.08f), *x = floats((size_t)n * cols, 2.0f), *bias = floats((size_t)rows, 0.5f);
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < cols; i++) wf[i] = urand() * 0.08f;
                if (format == PLDR_DTYPE_Q8_0) pk_quantize_row_q8_0(wf, w + pk_matrix_bytes(format, r, cols), cols);
                else pk_quantize_row_q4_0(wf, w + pk_matrix_bytes(format, r, cols), cols);
            }
            pldr_matrix W = {w, format, rows, cols};
            float *y = malloc((size_t)n * rows * sizeof(float));
            pk_scratch ws = {0};
            pk_simd_matmul(y, x, &W, s % 2 ? bias : NULL, n, &ws);
            h = fnv(h, y, (size_t)n * rows * sizeof(float));
            pk_scratch_free(&ws);
            free(w); free(wf); free(x); free(bias); free(y);
        }
        const int ext[][2] = {{5, 3}, {9, 1}, {9, 5}};
        for (size_t s = 0; s < sizeof ext / sizeof *ext; s++) {
            float y[2 * 5 * 9];
            test_extremes_shape(ext[s][0], ext[s][1], y);
            h = fnv(h, y + (size_t)f * ext[s][0] * ext[s][1], (size_t)ext[s][0] * ext[s][1] * sizeof(float));
        }
        return h;
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "digest")) return digest();
    test_exp_range();
    test_f16();
    test_quantize_act();
    test_quantizers();
    test_matmul();
    test_matmul_split();
    test_extremes();
    test_vectors();
    test_f16_rows();
    printf("%s: %d checks, %d failures\n", failures ? "FAILED" : "ok", checks, failures);
    return failures ? 1 : 0;
}
