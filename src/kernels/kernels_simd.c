/* kernels_simd.c — SIMD128 kernels (4 float lanes). Same results as kernels_ref.c up to the
 * order of float additions. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pldr.h"
#include "simd.h"
#include "../util/cold.h"

#define LOAD(p) wasm_v128_load(p)
#define MADD(acc, a, b) pk_madd(a, b, acc) /* acc + a·b, fused in the relaxed build */
#define MUL_ADD(acc, a, b) wasm_f32x4_add(wasm_f32x4_mul(a, b), acc) /* never fused */

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

/* one token, rows r0 + j·step (j < 4): the decode (matrix-vector) path. With step = rows/4 the
 * four rows are four memory streams far apart (see quant_quad). */
static void tile_4x1(float *Y, const float *X, const float *W, const float *bias, int r0, int step,
                     int t0, int rows, int cols) {
    const float *w0 = W + (size_t)r0 * cols, *w1 = w0 + (size_t)step * cols, *w2 = w1 + (size_t)step * cols,
                *w3 = w2 + (size_t)step * cols;
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
    for (int j = 0; j < 4; j++) {
        int r = r0 + j * step;
        Y[(size_t)t0 * rows + r] = s[j] + (bias ? bias[r] : 0.0f);
    }
}

/* Several tokens: 8 rows of W are packed k-major (panel[k][8]) once per call, then each token's
 * x[k] is broadcast against them, PANEL_T tokens x 8 rows at a time: no horizontal sums, and each
 * packed row serves every token. The sums run over chunks of PANEL_K values of k, then chunk by
 * chunk into a total: one running sum per output over all of k lost visibly more precision
 * (pldr-tiny's step logits with G from [END] went from 0.15 to 1.1 of the golden tolerance;
 * chunks of 32: 0.5, of 8: 0.14-0.27, as the 4-lane dot products of the original tiles). */
#define PANEL 8
#define PANEL_K 8
#define PANEL_T 2

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE void panel_tile(float *Y, const float *X, const float *panel, const float *bias, int r0,
                              int t0, int rows, int cols, const int T) {
    const float *x = X + (size_t)t0 * cols;
    v128_t tot[PANEL_T][2];
    for (int t = 0; t < T; t++) tot[t][0] = tot[t][1] = wasm_f32x4_splat(0.0f);
    for (int k0 = 0; k0 < cols; k0 += PANEL_K) {
        int k1 = k0 + PANEL_K < cols ? k0 + PANEL_K : cols;
        v128_t acc[PANEL_T][2];
        for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = wasm_f32x4_splat(0.0f);
        for (int k = k0; k < k1; k++) {
            v128_t p0 = LOAD(panel + (size_t)k * PANEL), p1 = LOAD(panel + (size_t)k * PANEL + 4);
            for (int t = 0; t < T; t++) {
                v128_t xs = wasm_v128_load32_splat(x + (size_t)t * cols + k);
                acc[t][0] = MADD(acc[t][0], xs, p0);
                acc[t][1] = MADD(acc[t][1], xs, p1);
            }
        }
        for (int t = 0; t < T; t++) {
            tot[t][0] = wasm_f32x4_add(tot[t][0], acc[t][0]);
            tot[t][1] = wasm_f32x4_add(tot[t][1], acc[t][1]);
        }
    }
    v128_t b0 = bias ? LOAD(bias + r0) : wasm_f32x4_splat(0.0f), b1 = bias ? LOAD(bias + r0 + 4) : b0;
    for (int t = 0; t < T; t++) {
        float *y = Y + (size_t)(t0 + t) * rows + r0;
        wasm_v128_store(y, wasm_f32x4_add(tot[t][0], b0));
        wasm_v128_store(y + 4, wasm_f32x4_add(tot[t][1], b1));
    }
}

/* panel[k][j] = W[j][k] for 8 rows: 4x4 blocks transposed in registers */
static void pack_panel(float *panel, const float *W, int cols) {
    int k = 0;
    for (; k + 4 <= cols; k += 4)
        for (int j = 0; j < PANEL; j += 4) {
            const float *w = W + (size_t)j * cols + k;
            v128_t a = LOAD(w), b = LOAD(w + cols), c = LOAD(w + 2 * (size_t)cols), d = LOAD(w + 3 * (size_t)cols);
            v128_t ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
            v128_t cd0 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), cd1 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
            float *o = panel + (size_t)k * PANEL + j;
            wasm_v128_store(o, wasm_i64x2_shuffle(ab0, cd0, 0, 2));
            wasm_v128_store(o + PANEL, wasm_i64x2_shuffle(ab0, cd0, 1, 3));
            wasm_v128_store(o + 2 * PANEL, wasm_i64x2_shuffle(ab1, cd1, 0, 2));
            wasm_v128_store(o + 3 * PANEL, wasm_i64x2_shuffle(ab1, cd1, 1, 3));
        }
    for (; k < cols; k++)
        for (int j = 0; j < PANEL; j++) panel[(size_t)k * PANEL + j] = W[(size_t)j * cols + k];
}

/* Rows [r0, r1) of Y [n][rows]. Which path computes a row depends only on where it lies among
 * the rows (a full panel of 8, a tile of 4, the rest), so a range starting at a multiple of
 * PK_SPLIT_ROWS computes its rows as the whole product does. */
_Static_assert(PK_SPLIT_ROWS % PANEL == 0 && PK_SPLIT_ROWS % 4 == 0, "split rows at whole panels and tiles");
_Static_assert(PK_SPLIT_TOKENS >= 8, "parts of a product of 8 tokens or more must take the panel path too");

static void matmul_f32(float *Y, const float *X, const float *W, const float *bias, int n, int rows,
                       int cols, int r0, int r1, pk_scratch *ws) {
    int r = r0;
    int panels = n >= 8 && r1 - r0 >= PANEL; /* below 8 tokens packing costs more than it saves */
    float *panel = panels ? pk_scratch_reserve(ws, (size_t)PANEL * cols * sizeof(float)) : NULL;
    if (panel) {
        for (; r + PANEL <= r1; r += PANEL) {
            pack_panel(panel, W + (size_t)r * cols, cols);
            int t = 0;
            for (; t + PANEL_T <= n; t += PANEL_T) panel_tile(Y, X, panel, bias, r, t, rows, cols, PANEL_T);
            for (; t < n; t++) panel_tile(Y, X, panel, bias, r, t, rows, cols, 1);
        }
    }
    if (n == 1) {
        int q = (r1 - r) / 4;
        for (int j = 0; j < q; j++) tile_4x1(Y, X, W, bias, r + j, q, 0, rows, cols);
        r += 4 * q;
    }
    for (; r + 4 <= r1; r += 4) {
        int t = 0;
        for (; t + 2 <= n; t += 2) tile_4x2(Y, X, W, bias, r, t, rows, cols);
        for (; t < n; t++) tile_4x1(Y, X, W, bias, r, 1, t, rows, cols);
    }
    for (; r < r1; r++)
        for (int t = 0; t < n; t++)
            Y[(size_t)t * rows + r] =
                pk_simd_dot(X + (size_t)t * cols, W + (size_t)r * cols, cols) + (bias ? bias[r] : 0.0f);
}

/* ---- q8_0 / q4_0 rows times quantized activations ----------------------------------------------
 *
 * The activations are quantized once per matrix product (pk_quantize_act's integers: pack_act
 * computes the same products and rounding, lane by lane) and each block of 32 gives an integer dot
 * product with the weights' codes, scaled by d_w·d_x. Both builds leave a block's integer sum in
 * four int32 lanes, lane j holding 256·Σ w_i x_i over the positions 4j..4j+3 and 16+4j..16+4j+3,
 * and then do the same float arithmetic on them (acc += float(lane)·(d_w·d_x/256), multiply then
 * add, never fused): the relaxed build gives the baseline's bits.
 *
 * SIMD128 has no int8 dot product; i32x4.dot_i16x8_s multiplies 8 pairs of int16 and adds them
 * in pairs. Each 16 bytes of weights become int16 lanes with at most one op per 8 weights, all
 * scaled by 256, and the activations are stored widened to int16 in the matching order, so a
 * block of 32 costs 4 dot products:
 *
 *   q8_0: an int16 lane of the weight bytes holds w[2k] (low byte) and w[2k+1] (high byte):
 *         lane << 8 = 256·w[2k] and lane & 0xff00 = 256·w[2k+1], both exact signed int16.
 *   q4_0: a lane holds the nibbles v[2k] (bits 0-3), v[2k+16] (4-7), v[2k+1] (8-11) and
 *         v[2k+17] (12-15): masks give v[2k], 16·v[2k+16], 256·v[2k+1], and >> 12 gives
 *         v[2k+17]; the activations carry the missing factor (256, 16, 1, 256). The weights'
 *         offset 8 is taken off once per block: Σ(v-8)x = Σvx - 8Σx.
 *
 * Relaxed (PK_RELAXED), q4_0, in one of two forms (pk_int8_dot_form; the same integer lanes,
 * so the same bits). Both multiply 16 int8 by 16 values of 0..127 — the nibbles are such values as
 * they are — on the activations as int8 in their natural order:
 *   PLDR_INT8_DOT_I32: i32x4.relaxed_dot_i8x16_i7x16_add_s adds each group of four products into a
 *     lane, 2 per block, started from -2Σx in every lane (the offset 8: a quarter of 8Σx per lane,
 *     as the baseline). One instruction where the CPU has an int8 dot product (Arm dotprod, x64
 *     AVX-VNNI); else V8 makes it pmaddubsw + pmaddwd + paddd (AVX-512 VNNI is not used).
 *   PLDR_INT8_DOT_PAIRS16: i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw on any x64) adds products
 *     in pairs into int16 lanes; a block's two halves (positions 0-15, 16-31) are added in int16
 *     (|pair| ≤ 2·127·15, so |sum| ≤ 7620: exact), then i32x4.extadd_pairwise_i16x8_s gives lane j
 *     the positions 4j..4j+3 and 16+4j..16+4j+3, the baseline's lanes, and -2Σx is added. On x64
 *     without AVX-VNNI: 110M q4 prefill in Chromium +6 to +17 % over the other form.
 * Then << 8, the factor 256. q8_0 keeps the int16 products in both builds: its codes need the sign
 * of one operand moved to the other (4 more ops per block and token) — the relaxed q8_0 kernel
 * measured no faster, so there is none.
 *
 * Either way |lane| < 2^26: no overflow. A row's loaded block is reused for up to 4 tokens. */

#define Q4_PAIRS16 2 /* q4 value of the kernels below: q4_0 through i16x8.relaxed_dot_i8x16_i7x16_s */
#define ACT_BYTES 64 /* one token's block of activations: 32 int16 (relaxed q4_0: 32 int8) */

typedef struct { /* block-major: the tokens of a block side by side, one pointer walks them all */
    unsigned char *qs; /* [nb][n][ACT_BYTES] activations in the order the dot products want */
    float *d;          /* [nb][n][4] d_x / 256, four times: a plain v128 load, which V8 multiplies */
    int32_t *corr;     /* [nb][n][4] q4_0: the offset's share of each lane (see above), else 0 */
    int nb, n;
} act_blocks;

/* The activation blocks of token t for format q4 (0: q8_0), pk_quantize_act's integers. */
static void pack_act(act_blocks *a, int t, const float *x, int cols, int q4) {
    int nb = a->nb, n = a->n;
    for (int b = 0; b < nb; b++) {
        float pad[PK_QBLOCK];
        const float *xb = x + b * PK_QBLOCK;
        if (cols - b * PK_QBLOCK < PK_QBLOCK) { /* the last block, zero-padded */
            int left = cols - b * PK_QBLOCK;
            for (int i = 0; i < PK_QBLOCK; i++) pad[i] = i < left ? xb[i] : 0.0f;
            xb = pad;
        }
        v128_t v[8], m = wasm_f32x4_splat(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = LOAD(xb + 4 * i);
            m = wasm_f32x4_pmax(m, wasm_f32x4_abs(v[i]));
        }
        m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
        m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
        float amax = wasm_f32x4_extract_lane(m, 0), id = amax > 0.0f ? 127.0f / amax : 0.0f;
        v128_t vid = wasm_f32x4_splat(id), lim = wasm_i32x4_splat(127), sum = wasm_i32x4_splat(0), q[8];
        for (int i = 0; i < 8; i++) {
            q[i] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(v[i], vid)));
            q[i] = wasm_i32x4_max(wasm_i32x4_min(q[i], lim), wasm_i32x4_neg(lim));
            sum = wasm_i32x4_add(sum, q[i]);
        }
        v128_t n0 = wasm_i16x8_narrow_i32x4(q[0], q[1]), n1 = wasm_i16x8_narrow_i32x4(q[2], q[3]);
        v128_t n2 = wasm_i16x8_narrow_i32x4(q[4], q[5]), n3 = wasm_i16x8_narrow_i32x4(q[6], q[7]);
        unsigned char *o = a->qs + ((size_t)b * n + t) * ACT_BYTES;
        sum = wasm_i32x4_add(sum, wasm_i32x4_shuffle(sum, sum, 2, 3, 0, 1));
        sum = wasm_i32x4_add(sum, wasm_i32x4_shuffle(sum, sum, 1, 0, 3, 2)); /* Σx in every lane */
        v128_t corr = wasm_i32x4_splat(0);
#if PK_RELAXED
        if (q4) {
            wasm_v128_store(o, wasm_i8x16_narrow_i16x8(n0, n1));
            wasm_v128_store(o + 16, wasm_i8x16_narrow_i16x8(n2, n3));
            corr = wasm_i32x4_neg(wasm_i32x4_shl(sum, 1)); /* -2Σx */
        } else
#endif
        {
            v128_t e0 = wasm_i16x8_shuffle(n0, n1, 0, 2, 4, 6, 8, 10, 12, 14), o0 = wasm_i16x8_shuffle(n0, n1, 1, 3, 5, 7, 9, 11, 13, 15);
            v128_t e1 = wasm_i16x8_shuffle(n2, n3, 0, 2, 4, 6, 8, 10, 12, 14), o1 = wasm_i16x8_shuffle(n2, n3, 1, 3, 5, 7, 9, 11, 13, 15);
            if (q4) { /* the factors the nibble masks leave out: 256, 1, 16, 256 */
                e0 = wasm_i16x8_shl(e0, 8);
                e1 = wasm_i16x8_shl(e1, 4);
                o1 = wasm_i16x8_shl(o1, 8);
                corr = wasm_i32x4_shl(sum, 9); /* 512·Σx */
            }
            wasm_v128_store(o, e0);
            wasm_v128_store(o + 16, o0);
            wasm_v128_store(o + 32, e1);
            wasm_v128_store(o + 48, o1);
        }
        size_t at = ((size_t)b * n + t) * 4;
        wasm_v128_store(a->d + at, wasm_f32x4_splat(amax / 127.0f * (1.0f / 256.0f)));
        wasm_v128_store(a->corr + at, corr);
    }
}

/* The nibble/byte masks, read through volatile once per row: V8 rematerialises a v128.const at
 * every use inside a loop (several instructions each); a value it cannot fold stays in a register. */
static volatile int16_t mask_values[5] = {(int16_t)0xff00, 0x000f, 0x0f00, 0x00f0, 0x0f0f};
typedef struct { v128_t hi8, n0, n2, n1, low4; } unpack_masks;

ALWAYS_INLINE unpack_masks load_masks(void) {
    return (unpack_masks){wasm_i16x8_splat(mask_values[0]), wasm_i16x8_splat(mask_values[1]),
                          wasm_i16x8_splat(mask_values[2]), wasm_i16x8_splat(mask_values[3]),
                          wasm_i16x8_splat(mask_values[4])};
}

typedef struct { v128_t v[4]; } wblock; /* int16 lanes, see above (relaxed q4_0: v[0], v[1] the nibbles 0-15, 16-31) */

ALWAYS_INLINE wblock load_block(const unsigned char *blk, const unpack_masks *m, const int q4) {
    wblock w;
    if (q4) {
        v128_t v = LOAD(((const block_q4_0 *)blk)->qs);
#if PK_RELAXED
        w.v[0] = wasm_v128_and(v, m->low4);
        w.v[1] = wasm_v128_and(wasm_u16x8_shr(v, 4), m->low4);
        w.v[2] = w.v[3] = w.v[0];
#else
        w.v[0] = wasm_v128_and(v, m->n0);
        w.v[1] = wasm_v128_and(v, m->n2);
        w.v[2] = wasm_v128_and(v, m->n1);
        w.v[3] = wasm_u16x8_shr(v, 12);
#endif
    } else {
        const block_q8_0 *b = (const block_q8_0 *)blk;
        v128_t lo = LOAD(b->qs), hi = LOAD(b->qs + 16);
        w.v[0] = wasm_i16x8_shl(lo, 8);
        w.v[1] = wasm_v128_and(lo, m->hi8);
        w.v[2] = wasm_i16x8_shl(hi, 8);
        w.v[3] = wasm_v128_and(hi, m->hi8);
    }
    return w;
}

/* 256·(lane sums), minus the q4_0 offset's share (corr) */
ALWAYS_INLINE v128_t block_isum(const wblock *w, const unsigned char *x, v128_t corr, const int q4) {
#if PK_RELAXED
    if (q4 == Q4_PAIRS16) { /* pair sums of 16-bit products (|.| ≤ 2·127·15), the two halves added in int16 */
        v128_t p = wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(LOAD(x), w->v[0]),
                                  wasm_i16x8_relaxed_dot_i8x16_i7x16(LOAD(x + 16), w->v[1]));
        return wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(p), corr), 8);
    }
    if (q4) {
        v128_t s = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(LOAD(x), w->v[0], corr);
        s = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(LOAD(x + 16), w->v[1], s);
        return wasm_i32x4_shl(s, 8);
    }
#endif
    const int16_t *xt = (const int16_t *)x;
    v128_t s = wasm_i32x4_dot_i16x8(w->v[0], LOAD(xt));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w->v[1], LOAD(xt + 8)));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w->v[2], LOAD(xt + 16)));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w->v[3], LOAD(xt + 24)));
    return q4 ? wasm_i32x4_sub(s, corr) : s;
}

/* Y for row r and tokens t0..t0+T-1 (T ≤ 4, a constant after inlining) */
ALWAYS_INLINE void quant_tile(float *Y, const act_blocks *a, const unsigned char *W, size_t row_bytes,
                              int rows, const float *bias, int r, int t0, const int T, const int q4) {
    const float *f16 = pk_f16_table();
    const size_t bsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    const int nb = a->nb, n = a->n;
    v128_t acc[4];
    for (int t = 0; t < T; t++) acc[t] = wasm_f32x4_splat(0.0f);
    const unsigned char *blk = W + (size_t)r * row_bytes;
    const unsigned char *x = a->qs + (size_t)t0 * ACT_BYTES;
    const float *xd = a->d + (size_t)t0 * 4;
    const int32_t *xc = a->corr + (size_t)t0 * 4;
    const unpack_masks masks = load_masks();
    for (int b = 0; b < nb; b++, blk += bsize, x += (size_t)n * ACT_BYTES, xd += (size_t)n * 4, xc += (size_t)n * 4) {
        uint16_t dh;
        memcpy(&dh, blk, sizeof dh);
        v128_t dw = wasm_v128_load32_splat(f16 + dh);
        wblock w = load_block(blk, &masks, q4);
        for (int t = 0; t < T; t++) {
            v128_t s = block_isum(&w, x + t * ACT_BYTES, q4 ? LOAD(xc + 4 * t) : wasm_i32x4_splat(0), q4);
            v128_t scale = wasm_f32x4_mul(dw, LOAD(xd + 4 * t)); /* d_w·d_x */
            acc[t] = MUL_ADD(acc[t], wasm_f32x4_convert_i32x4(s), scale);
        }
    }
    for (int t = 0; t < T; t++) Y[(size_t)(t0 + t) * rows + r] = pk_hsum(acc[t]) + (bias ? bias[r] : 0.0f);
}

/* One token (decode), rows r, r+q, r+2q, r+3q: four memory streams far apart. The hardware
 * prefetcher follows one stream per 4 KiB page, so rows side by side (one page) are fetched as
 * one broken stream, and a single row as one: measured on a 110 MB q8_0 matrix, 6 GMAC/s for one
 * row at a time, 12.8 for four quarters apart (the f32 tiles' rows are 3.5 KiB apart already). */
ALWAYS_INLINE void quant_quad(float *Y, const act_blocks *a, const unsigned char *W, size_t row_bytes,
                              const float *bias, int r, int q, const int q4) {
    const float *f16 = pk_f16_table();
    const size_t bsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    const int nb = a->nb;
    v128_t acc[4];
    const unsigned char *bp[4];
    for (int j = 0; j < 4; j++) { acc[j] = wasm_f32x4_splat(0.0f); bp[j] = W + (size_t)(r + j * q) * row_bytes; }
    const unsigned char *x = a->qs;
    const float *xd = a->d;
    const int32_t *xc = a->corr;
    const unpack_masks masks = load_masks();
    for (int b = 0; b < nb; b++, x += ACT_BYTES, xd += 4, xc += 4) {
        v128_t dx = LOAD(xd), corr = LOAD(xc);
        for (int j = 0; j < 4; j++) {
            const unsigned char *blk = bp[j] + (size_t)b * bsize;
            uint16_t h;
            memcpy(&h, blk, sizeof h);
            wblock w = load_block(blk, &masks, q4);
            v128_t s = block_isum(&w, x, corr, q4);
            acc[j] = MUL_ADD(acc[j], wasm_f32x4_convert_i32x4(s), wasm_f32x4_mul(wasm_v128_load32_splat(f16 + h), dx));
        }
    }
    for (int j = 0; j < 4; j++) Y[r + j * q] = pk_hsum(acc[j]) + (bias ? bias[r + j * q] : 0.0f);
}

/* Decode: quant_quad. Several tokens: one row at a time, tokens in tiles of 4, 2, 1, so a row's
 * unpacked block serves 4 tokens (each row is read once per chunk of tokens). Rows [r0, r1): every
 * path computes a row alike, so any range gives the rows the whole product gives. */
ALWAYS_INLINE void quant_rows_of(float *Y, const act_blocks *a, const pldr_matrix *W, const float *bias, int n,
                                 int r0, int r1, const int q4) {
    const unsigned char *w = W->data;
    int rows = W->rows;
    size_t row_bytes = pk_matrix_bytes(W->format, 1, W->cols);
    if (n == 1) {
        int q = (r1 - r0) / 4;
        for (int r = r0; r < r0 + q; r++) quant_quad(Y, a, w, row_bytes, bias, r, q, q4);
        for (int r = r0 + 4 * q; r < r1; r++) quant_tile(Y, a, w, row_bytes, rows, bias, r, 0, 1, q4);
        return;
    }
    for (int r = r0; r < r1; r++) {
        int t = 0;
        for (; t + 4 <= n; t += 4) quant_tile(Y, a, w, row_bytes, rows, bias, r, t, 4, q4);
        for (; t + 2 <= n; t += 2) quant_tile(Y, a, w, row_bytes, rows, bias, r, t, 2, q4);
        for (; t < n; t++) quant_tile(Y, a, w, row_bytes, rows, bias, r, t, 1, q4);
    }
}

static void quant_rows(float *Y, const act_blocks *a, const pldr_matrix *W, const float *bias, int n,
                       int r0, int r1, int q4) {
    if (!q4) quant_rows_of(Y, a, W, bias, n, r0, r1, 0);
    else if (PK_RELAXED && pk_int8_dot_form() == PLDR_INT8_DOT_PAIRS16) quant_rows_of(Y, a, W, bias, n, r0, r1, Q4_PAIRS16);
    else quant_rows_of(Y, a, W, bias, n, r0, r1, 1);
}

/* Activations of up to ACT_CHUNK tokens at a time, packed in the caller's work memory: each
 * weight row is then read once per chunk of tokens, not once per token. */
#define ACT_CHUNK 64

static size_t quant_scratch_bytes(const pldr_matrix *W, int n) {
    int nb = (W->cols + PK_QBLOCK - 1) / PK_QBLOCK, chunk = n < ACT_CHUNK ? n : ACT_CHUNK;
    size_t per_token = (size_t)nb * (ACT_BYTES + 4 * sizeof(float) + 4 * sizeof(int32_t));
    return (size_t)chunk * per_token + 64;
}

static void matmul_quant(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, int r0, int r1,
                         pk_scratch *ws) {
    int cols = W->cols, nb = (cols + PK_QBLOCK - 1) / PK_QBLOCK, q4 = W->format == PLDR_DTYPE_Q4_0;
    int chunk = n < ACT_CHUNK ? n : ACT_CHUNK;
    unsigned char *base = pk_scratch_reserve(ws, quant_scratch_bytes(W, n));
    if (!base) { /* no memory for the packed activations: the reference needs none */
        pk_ref_matmul_rows(Y, X, W, bias, n, r0, r1, NULL);
        return;
    }
    for (int t0 = 0; t0 < n; t0 += chunk) {
        int m = n - t0 < chunk ? n - t0 : chunk;
        act_blocks a = {.nb = nb, .n = m};
        a.qs = base;
        a.d = (float *)(base + (size_t)m * nb * ACT_BYTES);
        a.corr = (int32_t *)(a.d + (size_t)m * nb * 4);
        for (int t = 0; t < m; t++) pack_act(&a, t, X + (size_t)(t0 + t) * cols, cols, q4);
        quant_rows(Y + (size_t)t0 * W->rows, &a, W, bias, m, r0, r1, q4);
    }
}

void pk_simd_matrix_row(float *out, const pldr_matrix *W, int row) {
    if (W->format == PLDR_DTYPE_F32)
        memcpy(out, (const float *)W->data + (size_t)row * W->cols, (size_t)W->cols * sizeof(float));
    else
        pk_ref_matrix_row(out, W, row);
}

void pk_simd_matmul_rows(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, int r0, int r1,
                         pk_scratch *ws) {
    if (W->format == PLDR_DTYPE_F32)
        matmul_f32(Y, X, (const float *)W->data, bias, n, W->rows, W->cols, r0, r1, ws);
    else
        matmul_quant(Y, X, W, bias, n, r0, r1, ws);
}

void pk_simd_matmul(float *Y, const float *X, const pldr_matrix *W, const float *bias, int n, pk_scratch *ws) {
    pk_simd_matmul_rows(Y, X, W, bias, n, 0, W->rows, ws);
}

size_t pk_simd_matmul_scratch(const pldr_matrix *W, int n) {
    if (W->format != PLDR_DTYPE_F32) return quant_scratch_bytes(W, n);
    return n >= 8 ? (size_t)PANEL * W->cols * sizeof(float) : 0;
}

/* y = x · A: rows of A scaled and summed, 16 columns at a time in registers */
void pk_simd_vecmat(float *y, const float *x, const float *A, int n, int m) {
    int j = 0;
    for (; j + 16 <= m; j += 16) {
        v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i++) {
            const float *row = A + (size_t)i * m + j;
            v128_t xi = wasm_f32x4_splat(x[i]);
            a0 = MADD(a0, xi, LOAD(row));
            a1 = MADD(a1, xi, LOAD(row + 4));
            a2 = MADD(a2, xi, LOAD(row + 8));
            a3 = MADD(a3, xi, LOAD(row + 12));
        }
        wasm_v128_store(y + j, a0);
        wasm_v128_store(y + j + 4, a1);
        wasm_v128_store(y + j + 8, a2);
        wasm_v128_store(y + j + 12, a3);
    }
    for (; j + 4 <= m; j += 4) {
        v128_t a0 = wasm_f32x4_splat(0.0f);
        for (int i = 0; i < n; i++) a0 = MADD(a0, wasm_f32x4_splat(x[i]), LOAD(A + (size_t)i * m + j));
        wasm_v128_store(y + j, a0);
    }
    for (; j < m; j++) {
        float s = 0.0f;
        for (int i = 0; i < n; i++) s += x[i] * A[(size_t)i * m + j];
        y[j] = s;
    }
}

/* ---- binary16 rows (the f16 KV-cache) ------------------------------------------------------------
 *
 * SIMD128 has no half-precision conversion. A finite binary16 h, sign-extended to int32 s, becomes
 * its float in two integer operations and one exact multiply: (s << 13) & 0x8fffe000 holds the
 * sign at bit 31 and exponent and mantissa at bits 13..27, which as a float is h's value times
 * 2^-112 (for subnormal halves too); times 2^112 gives h. Infinity and NaN would come out finite,
 * hence these kernels' contract (pk_f32_to_f16_row reports them). */

static volatile uint32_t half_consts[2] = {0x8fffe000u, 0x77800000u}; /* the mask, 2^112 */
typedef struct { v128_t mask, scale; } half_k;

ALWAYS_INLINE half_k half_constants(void) {
    return (half_k){wasm_i32x4_splat((int32_t)half_consts[0]), wasm_i32x4_splat((int32_t)half_consts[1])};
}

/* the 8 halves of h as floats: lo (halves 0-3) and hi (4-7) */
ALWAYS_INLINE void halves_to_f32(v128_t h, const half_k *k, v128_t *lo, v128_t *hi) {
    v128_t a = wasm_i32x4_extend_low_i16x8(h), b = wasm_i32x4_extend_high_i16x8(h);
    *lo = wasm_f32x4_mul(wasm_v128_and(wasm_i32x4_shl(a, 13), k->mask), k->scale);
    *hi = wasm_f32x4_mul(wasm_v128_and(wasm_i32x4_shl(b, 13), k->mask), k->scale);
}

/* four sums of lanes into one vector: [Σa, Σb, Σc, Σd] */
ALWAYS_INLINE v128_t hsum4(v128_t a, v128_t b, v128_t c, v128_t d) {
    v128_t ab = wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), wasm_i32x4_shuffle(a, b, 2, 6, 3, 7));
    v128_t cd = wasm_f32x4_add(wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), wasm_i32x4_shuffle(c, d, 2, 6, 3, 7));
    return wasm_f32x4_add(wasm_i64x2_shuffle(ab, cd, 0, 2), wasm_i64x2_shuffle(ab, cd, 1, 3));
}

/* one row's dot product with x over cols = 8·k8 halves, two accumulators */
ALWAYS_INLINE v128_t half_row_dot(const float *x, const uint16_t *a, int k8, const half_k *k) {
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    for (int i = 0; i < k8; i++) {
        v128_t lo, hi;
        halves_to_f32(LOAD(a + 8 * i), k, &lo, &hi);
        s0 = MADD(s0, lo, LOAD(x + 8 * i));
        s1 = MADD(s1, hi, LOAD(x + 8 * i + 4));
    }
    return wasm_f32x4_add(s0, s1);
}

/* y = A·x: rows four at a time (keys of the KV-cache: 128 bytes each, side by side) */
void pk_simd_f16_matvec(float *y, const float *x, const uint16_t *A, int rows, int cols) {
    const half_k k = half_constants();
    const int k8 = cols / 8, tail = k8 * 8;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint16_t *a = A + (size_t)r * cols;
        v128_t s = hsum4(half_row_dot(x, a, k8, &k), half_row_dot(x, a + cols, k8, &k),
                         half_row_dot(x, a + 2 * (size_t)cols, k8, &k), half_row_dot(x, a + 3 * (size_t)cols, k8, &k));
        if (tail < cols) {
            const float *f16 = pk_f16_table();
            float t[4] = {0, 0, 0, 0};
            for (int j = 0; j < 4; j++) {
                NO_VECTORIZE
                for (int i = tail; i < cols; i++) t[j] += x[i] * f16[a[(size_t)j * cols + i]];
            }
            s = wasm_f32x4_add(s, wasm_v128_load(t));
        }
        wasm_v128_store(y + r, s);
    }
    for (; r < rows; r++) {
        const uint16_t *a = A + (size_t)r * cols;
        float s = pk_hsum(half_row_dot(x, a, k8, &k));
        const float *f16 = pk_f16_table();
        NO_VECTORIZE
        for (int i = tail; i < cols; i++) s += x[i] * f16[a[i]];
        y[r] = s;
    }
}

/* y = x·A: rows of A scaled and summed, 16 columns at a time in registers */
void pk_simd_f16_vecmat(float *y, const float *x, const uint16_t *A, int n, int m) {
    const half_k k = half_constants();
    int j = 0;
    for (; j + 16 <= m; j += 16) {
        v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i++) {
            const uint16_t *row = A + (size_t)i * m + j;
            v128_t xi = wasm_v128_load32_splat(x + i), l0, h0, l1, h1;
            halves_to_f32(LOAD(row), &k, &l0, &h0);
            halves_to_f32(LOAD(row + 8), &k, &l1, &h1);
            a0 = MADD(a0, xi, l0);
            a1 = MADD(a1, xi, h0);
            a2 = MADD(a2, xi, l1);
            a3 = MADD(a3, xi, h1);
        }
        wasm_v128_store(y + j, a0);
        wasm_v128_store(y + j + 4, a1);
        wasm_v128_store(y + j + 8, a2);
        wasm_v128_store(y + j + 12, a3);
    }
    if (j < m) {
        const float *f16 = pk_f16_table();
        for (int c = j; c < m; c++) y[c] = 0.0f;
        for (int i = 0; i < n; i++) {
            NO_VECTORIZE
            for (int c = j; c < m; c++) y[c] += x[i] * f16[A[(size_t)i * m + c]];
        }
    }
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

/* ---- exp, SiLU, softmax, LayerNorm ----------------------------------------------------------- */

/* e^x by range reduction x = n·ln2 + r, |r| ≤ ln2/2, and a degree-7 polynomial (Cephes' expf
 * coefficients): within 2 ulp of expf. x is clamped to [-87.3, 88.4] so 2^n stays a normal float:
 * below, the result is ~1e-38 where expf gives a subnormal or 0; above, ~2e38 where expf gives
 * inf — differences that vanish in 1 + e^x (SiLU) and in a softmax sum ≥ 1. The constants are
 * read once per call through volatile (V8 would rematerialise each v128.const in the loop). */
static volatile float exp_consts[11] = {88.3762626647949f, -87.3365447504019f, 1.44269504088896341f,
                                        0.693359375f, -2.12194440e-4f, 1.9875691500e-4f, 1.3981999507e-3f,
                                        8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
typedef struct { v128_t hi, lo, log2e, c1, c2, p[6], one; } exp_k;

ALWAYS_INLINE exp_k exp_constants(void) {
    exp_k k;
    k.hi = wasm_f32x4_splat(exp_consts[0]);
    k.lo = wasm_f32x4_splat(exp_consts[1]);
    k.log2e = wasm_f32x4_splat(exp_consts[2]);
    k.c1 = wasm_f32x4_splat(exp_consts[3]);
    k.c2 = wasm_f32x4_splat(exp_consts[4]);
    for (int i = 0; i < 6; i++) k.p[i] = wasm_f32x4_splat(exp_consts[5 + i]);
    k.one = wasm_f32x4_splat(exp_consts[10] * 2.0f);
    return k;
}

ALWAYS_INLINE v128_t exp4(v128_t x, const exp_k *k) {
    x = wasm_f32x4_pmax(wasm_f32x4_pmin(x, k->hi), k->lo); /* pmin/pmax: one instruction each on x64 */
    v128_t fx = wasm_f32x4_nearest(wasm_f32x4_mul(x, k->log2e));
    v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(x, wasm_f32x4_mul(fx, k->c1)), wasm_f32x4_mul(fx, k->c2));
    v128_t y = k->p[0];
    for (int i = 1; i < 6; i++) y = MADD(k->p[i], y, r);
    y = MADD(wasm_f32x4_add(r, k->one), y, wasm_f32x4_mul(r, r));
    v128_t pow2n = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(fx), wasm_i32x4_splat(127)), 23);
    return wasm_f32x4_mul(y, pow2n);
}

void pk_simd_silu_mul(float *a, const float *b, int n) {
    exp_k k = exp_constants();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        v128_t x = LOAD(a + i), e = exp4(wasm_f32x4_neg(x), &k);
        wasm_v128_store(a + i, wasm_f32x4_mul(wasm_f32x4_div(x, wasm_f32x4_add(k.one, e)), LOAD(b + i)));
    }
    for (; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

/* the sum of 4 float lanes accumulated in two double lanes */
ALWAYS_INLINE v128_t add_f64(v128_t acc, v128_t v) {
    return wasm_f64x2_add(acc, wasm_f64x2_add(wasm_f64x2_promote_low_f32x4(v),
                                              wasm_f64x2_promote_low_f32x4(wasm_i64x2_shuffle(v, v, 1, 0))));
}

static double hsum_f64(v128_t v) { return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1); }

/* as the reference: mean and variance summed in double, the normalisation in float */
void pk_simd_layernorm(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    v128_t s = wasm_f64x2_splat(0.0);
    int i = 0;
    for (; i + 4 <= n; i += 4) s = add_f64(s, LOAD(x + i));
    double mean = hsum_f64(s);
    for (; i < n; i++) mean += x[i];
    mean /= n;
    v128_t m2 = wasm_f64x2_splat(mean), v = wasm_f64x2_splat(0.0);
    for (i = 0; i + 4 <= n; i += 4) {
        v128_t xi = LOAD(x + i);
        v128_t d0 = wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(xi), m2);
        v128_t d1 = wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(wasm_i64x2_shuffle(xi, xi, 1, 0)), m2);
        v = wasm_f64x2_add(v, wasm_f64x2_add(wasm_f64x2_mul(d0, d0), wasm_f64x2_mul(d1, d1)));
    }
    double var = hsum_f64(v);
    for (; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
    v128_t vinv = wasm_f32x4_splat(inv), vm = wasm_f32x4_splat(m);
    for (i = 0; i + 4 <= n; i += 4)
        wasm_v128_store(y + i, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(LOAD(x + i), vm), vinv),
                                                             LOAD(g + i)), LOAD(b + i)));
    for (; i < n; i++) y[i] = (x[i] - m) * inv * g[i] + b[i];
}

void pk_simd_softmax(float *x, int n) {
    exp_k k = exp_constants();
    v128_t vmax = wasm_f32x4_splat(x[0]);
    int i = 0;
    for (; i + 4 <= n; i += 4) vmax = wasm_f32x4_pmax(vmax, LOAD(x + i));
    vmax = wasm_f32x4_pmax(vmax, wasm_i32x4_shuffle(vmax, vmax, 2, 3, 0, 1));
    vmax = wasm_f32x4_pmax(vmax, wasm_i32x4_shuffle(vmax, vmax, 1, 0, 3, 2));
    float max = wasm_f32x4_extract_lane(vmax, 0);
    for (; i < n; i++) if (x[i] > max) max = x[i];
    v128_t m = wasm_f32x4_splat(max), s = wasm_f64x2_splat(0.0);
    for (i = 0; i + 4 <= n; i += 4) {
        v128_t e = exp4(wasm_f32x4_sub(LOAD(x + i), m), &k);
        wasm_v128_store(x + i, e);
        s = add_f64(s, e);
    }
    double sum = hsum_f64(s);
    for (; i < n; i++) { x[i] = expf(x[i] - max); sum += x[i]; }
    v128_t inv = wasm_f32x4_splat((float)(1.0 / sum));
    for (i = 0; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_mul(LOAD(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / sum);
}
