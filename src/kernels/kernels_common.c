/* kernels_common.c — format helpers shared by both kernel sets. */
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pldr.h"
#include "../util/size.h"

size_t pk_matrix_bytes(int format, int rows, int cols) {
    int ok = rows >= 0 && cols >= 0;
    size_t blocks = size_mul((size_t)rows, ((size_t)cols + PK_QBLOCK - 1) / PK_QBLOCK, &ok), bytes;
    switch (format) {
    case PLDR_DTYPE_F32: bytes = size_mul(size_mul((size_t)rows, (size_t)cols, &ok), sizeof(float), &ok); break;
    case PLDR_DTYPE_Q8_0: bytes = size_mul(blocks, sizeof(block_q8_0), &ok); break;
    case PLDR_DTYPE_Q4_0: bytes = size_mul(blocks, sizeof(block_q4_0), &ok); break;
    default: return 0;
    }
    return ok ? bytes : 0;
}

/* kernels_simd.c packs panels of 8 rows of W [8][cols] (float32) and up to 64 tokens of
 * activations at 96 bytes per block of 32 values (q8_0 / q4_0); kernels_ref.c reserves nothing. */
uint64_t pk_scratch_bound(int cols) {
    uint64_t panel = u64_mul(8 * sizeof(float), (uint64_t)cols);
    uint64_t acts = u64_add(u64_mul(64 * 96, ((uint64_t)cols + PK_QBLOCK - 1) / PK_QBLOCK), 64);
    return u64_add(panel > acts ? panel : acts, 16);
}

int pk_scratch_ensure(pk_scratch *ws, size_t bytes) {
    if (bytes > SIZE_MAX - 16) return -1;
    if (bytes + 16 <= ws->cap) return 0;
    void *mem = malloc(bytes + 16);
    if (!mem) return -1;
    free(ws->mem);
    ws->mem = mem;
    ws->cap = bytes + 16;
    return 0;
}

void *pk_scratch_reserve(pk_scratch *ws, size_t bytes) {
    if (!ws || bytes > SIZE_MAX - 16) return NULL;
    if (bytes + 16 > ws->cap && (ws->fixed || pk_scratch_ensure(ws, bytes))) return NULL;
    return (void *)(((uintptr_t)ws->mem + 15) & ~(uintptr_t)15);
}

void pk_scratch_free(pk_scratch *ws) {
    if (!ws) return;
    free(ws->mem);
    ws->mem = NULL;
    ws->cap = 0;
}

static float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float pk_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

float pk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t pk_f32_to_f16(float f) { /* round to nearest even */
    uint32_t x = bits_from_f32(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000u) { /* below 2^-14: subnormal half */
        float v = f32_from_bits(absx) * 16777216.0f; /* scale by 2^24: value in units of 2^-24 */
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t exp = ((absx >> 23) - 112) << 10;
    uint32_t man = (absx >> 13) & 0x3ff;
    uint32_t rest = absx & 0x1fff;
    uint32_t h = exp | man;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

int pk_f32_to_f16_row(uint16_t *dst, const float *src, int n) {
    int nonfinite = 0;
    for (int i = 0; i < n; i++) {
        float x = src[i];
        if (!isfinite(x)) nonfinite = 1;
        else if (x > 65504.0f) x = 65504.0f;
        else if (x < -65504.0f) x = -65504.0f;
        dst[i] = pk_f32_to_f16(x);
    }
    return nonfinite;
}

/* ---- quantization (docs/FORMAT.md "Quantized tensors") ---------------------------------------
 * tools/pldr_convert/quant.py writes the same bytes: every decision is float64 arithmetic in the
 * order written, one operation per statement (so no compiler fuses a multiply-add: gcc does not in
 * ISO C mode, clang only within one expression), codes are rint (ties to even) and scales are
 * rounded float64 → float32 → binary16. */

static float block_value(const float *x, int cols, int i) { return i < cols ? x[i] : 0.0f; }

static float block_amax(const float *xb, int left) {
    float amax = 0.0f;
    for (int i = 0; i < PK_QBLOCK; i++) {
        float v = fabsf(block_value(xb, left, i));
        if (v > amax) amax = v;
    }
    return amax;
}

/* One block of 32 values of a row (zeros past its end) in float; 1 when one of them is Inf or NaN. */
static int load_block(const float *x, int cols, int b, float xb[PK_QBLOCK]) {
    int bad = 0;
    for (int i = 0; i < PK_QBLOCK; i++) {
        xb[i] = block_value(x + b * PK_QBLOCK, cols - b * PK_QBLOCK, i);
        bad |= !isfinite(xb[i]);
    }
    return bad;
}

/* A block scale as stored: float64 → float32 → binary16, each rounded to nearest even. */
static uint16_t block_scale(double s) { return pk_f32_to_f16((float)s); }

static int is_infinite_f16(uint16_t h) { return (h & 0x7fff) == 0x7c00; }

int pk_quantize_row_q8_0(const float *x, void *out, int cols) {
    block_q8_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        float xb[PK_QBLOCK];
        if (load_block(x, cols, b, xb)) return PK_QUANT_NONFINITE;
        float amax = block_amax(xb, PK_QBLOCK);
        uint16_t h = block_scale((double)amax / 127.0);
        if (is_infinite_f16(h)) return PK_QUANT_RANGE;
        double d = pk_f16_to_f32(h);
        blk[b].d = h;
        for (int i = 0; i < PK_QBLOCK; i++) {
            double q = d != 0.0 ? rint((double)xb[i] / d) : 0.0;
            blk[b].qs[i] = (int8_t)(q > 127.0 ? 127 : q < -127.0 ? -127 : q);
        }
    }
    return PK_QUANT_OK;
}

/* Codes q of one q4_0 block for the stored scale h (q = clamp(rint(x / d), -8, 7), 0 when d = 0)
 * and their squared error Σ (d·q − x)², summed in index order. */
static double q4_codes(const float *xb, uint16_t h, int8_t q[PK_QBLOCK]) {
    double d = pk_f16_to_f32(h), e = 0.0;
    for (int i = 0; i < PK_QBLOCK; i++) {
        double v = d != 0.0 ? rint((double)xb[i] / d) : 0.0;
        v = v < -8.0 ? -8.0 : v > 7.0 ? 7.0 : v;
        q[i] = (int8_t)v;
        double t = d * v;
        t = t - (double)xb[i];
        t = t * t;
        e = e + t;
    }
    return e;
}

/* Divisors of m tried as the scale d = m / divisor, the reference's m / -8 first: the one whose
 * codes have the least squared error wins (the first on a tie), so no block is worse than the
 * reference's. On pldr-tiny's matrices the two beside it lower the squared error by 7 %. */
static const double Q4_DIVISORS[] = {-8.0, -8.5, -7.5};

int pk_quantize_row_q4_0(const float *x, void *out, int cols) {
    block_q4_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        float xb[PK_QBLOCK];
        if (load_block(x, cols, b, xb)) return PK_QUANT_NONFINITE;
        float mx = xb[0], mn = xb[0];
        for (int i = 1; i < PK_QBLOCK; i++) {
            if (xb[i] > mx) mx = xb[i];
            if (xb[i] < mn) mn = xb[i];
        }
        double m = mx >= -mn ? mx : mn; /* the value of largest magnitude (the positive on a tie) */
        int8_t q[PK_QBLOCK], best[PK_QBLOCK];
        uint16_t best_h = 0;
        double best_e = 0.0;
        for (size_t c = 0; c < sizeof Q4_DIVISORS / sizeof *Q4_DIVISORS; c++) {
            uint16_t h = block_scale(m / Q4_DIVISORS[c]);
            if (is_infinite_f16(h)) return PK_QUANT_RANGE;
            double e = q4_codes(xb, h, q);
            if (c == 0 || e < best_e) {
                best_e = e;
                best_h = h;
                memcpy(best, q, sizeof q);
            }
        }
        blk[b].d = best_h;
        for (int j = 0; j < PK_QBLOCK / 2; j++)
            blk[b].qs[j] = (uint8_t)((best[j] + 8) | (best[j + 16] + 8) << 4);
    }
    return PK_QUANT_OK;
}

/* ---- activations for the integer dot products ------------------------------------------------- */

void pk_quantize_act(const float *x, int8_t *q, float *d, int cols) {
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        const float *xb = x + b * PK_QBLOCK;
        int left = cols - b * PK_QBLOCK;
        float amax = block_amax(xb, left);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        d[b] = amax / 127.0f;
        for (int i = 0; i < PK_QBLOCK; i++) { /* rintf: to nearest, ties to even, as f32x4.nearest */
            float v = rintf(block_value(xb, left, i) * id);
            q[b * PK_QBLOCK + i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
        }
    }
}

/* Every binary16 value as float: one table read per block scale in the quantized kernels.
 * pldr_model_new builds it (so no forward pass writes it); a kernel used on its own builds it
 * on first use. Built once even when threads race to it: the first claims it, the others wait. */
enum { TABLE_EMPTY, TABLE_BUILDING, TABLE_READY };
static float f16_table[65536];
static atomic_int f16_table_state;

static void build_f16_table(void) {
    int expected = TABLE_EMPTY;
    if (atomic_compare_exchange_strong(&f16_table_state, &expected, TABLE_BUILDING)) {
        for (uint32_t h = 0; h < 65536; h++) f16_table[h] = pk_f16_to_f32((uint16_t)h);
        atomic_store_explicit(&f16_table_state, TABLE_READY, memory_order_release);
    }
    while (atomic_load_explicit(&f16_table_state, memory_order_acquire) != TABLE_READY) {
    }
}

const float *pk_f16_table(void) {
    if (atomic_load_explicit(&f16_table_state, memory_order_acquire) != TABLE_READY) build_f16_table();
    return f16_table;
}

/* pldr_int8_dot: a tuning of the instance, read by every q4_0 product (kernels_simd.c). */
static atomic_int int8_dot_form = PLDR_INT8_DOT_I32;

int pk_int8_dot_form(void) { return atomic_load_explicit(&int8_dot_form, memory_order_relaxed); }
void pk_set_int8_dot_form(int form) { atomic_store_explicit(&int8_dot_form, form, memory_order_relaxed); }
