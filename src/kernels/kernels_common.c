/* kernels_common.c — format helpers shared by both kernel sets. */
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pldr.h"

size_t pk_matrix_bytes(int format, int rows, int cols) {
    size_t blocks = (size_t)rows * (size_t)((cols + PK_QBLOCK - 1) / PK_QBLOCK);
    switch (format) {
    case PLDR_DTYPE_F32: return (size_t)rows * (size_t)cols * sizeof(float);
    case PLDR_DTYPE_Q8_0: return blocks * sizeof(block_q8_0);
    case PLDR_DTYPE_Q4_0: return blocks * sizeof(block_q4_0);
    default: return 0;
    }
}

void *pk_scratch_reserve(pk_scratch *ws, size_t bytes) {
    if (!ws) return NULL;
    if (bytes + 16 > ws->cap) {
        void *mem = malloc(bytes + 16);
        if (!mem) return NULL;
        free(ws->mem);
        ws->mem = mem;
        ws->cap = bytes + 16;
    }
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

/* ---- quantization (docs/FORMAT.md) ------------------------------------------------------------ */

static float block_value(const float *x, int cols, int i) { return i < cols ? x[i] : 0.0f; }

static float block_amax(const float *xb, int left) {
    float amax = 0.0f;
    for (int i = 0; i < PK_QBLOCK; i++) {
        float v = fabsf(block_value(xb, left, i));
        if (v > amax) amax = v;
    }
    return amax;
}

void pk_quantize_row_q8_0(const float *x, void *out, int cols) {
    block_q8_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        const float *xb = x + b * PK_QBLOCK;
        int left = cols - b * PK_QBLOCK;
        float amax = block_amax(xb, left);
        blk[b].d = pk_f32_to_f16(amax / 127.0f);
        float d = pk_f16_to_f32(blk[b].d), id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < PK_QBLOCK; i++) {
            float q = rintf(block_value(xb, left, i) * id); /* nearest, ties to even: one instruction */
            blk[b].qs[i] = (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : q);
        }
    }
}

/* Codes q of one q4_0 block for the scale d; returns the least-squares scale for those codes,
 * Σ x(q-8) / Σ (q-8)², and in *gain how much it lowers the squared error below Σx²
 * ((Σ x(q-8))² / Σ (q-8)²): the larger the gain, the better the codes. */
static float q4_codes(const float *x, float d, uint8_t q[PK_QBLOCK], float *gain) {
    float id = d != 0.0f ? 1.0f / d : 0.0f, num = 0.0f, den = 0.0f;
    for (int i = 0; i < PK_QBLOCK; i++) {
        float v = x[i] * id + 8.5f; /* round(x/d) + 8, ties up */
        v = v < 0.0f ? 0.0f : v > 15.0f ? 15.0f : v;
        q[i] = (uint8_t)v;
        float w = (float)q[i] - 8.0f;
        num += w * x[i];
        den += w * w;
    }
    *gain = den > 0.0f ? num * num / den : 0.0f;
    return den > 0.0f ? num / den : 0.0f;
}

/* q4_0 with the scale chosen per block to lower the error (the layout is fixed, the choice of d
 * is free, docs/FORMAT.md): codes for d = m/-8 (the reference's choice), m/-7 and m/7 (m the value
 * of largest magnitude), each with its least-squares scale; the best codes win and are rounded
 * once more with their own scale, unless the reference's are still better. Finer grids of
 * divisors lowered the weights' error further but not pldr-tiny's perplexity (+2.6 % over f32
 * with these three, +3.9 % with the reference's alone). tests/kernels_test.c checks the error
 * never exceeds the reference quantizer's. */
void pk_quantize_row_q4_0(const float *x, void *out, int cols) {
    static const float divisors[] = {-8.0f, -7.0f, 7.0f};
    block_q4_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        float xb[PK_QBLOCK];
        float amax = 0.0f, max = 0.0f; /* max: the value of largest magnitude, with its sign */
        for (int i = 0; i < PK_QBLOCK; i++) {
            xb[i] = block_value(x + b * PK_QBLOCK, cols - b * PK_QBLOCK, i);
            if (fabsf(xb[i]) > amax) { amax = fabsf(xb[i]); max = xb[i]; }
        }
        uint8_t q[PK_QBLOCK];
        float best_gain = -1.0f, best_d = 0.0f, gain;
        for (size_t c = 0; c < sizeof divisors / sizeof *divisors && amax > 0.0f; c++) {
            float d = q4_codes(xb, max / divisors[c], q, &gain);
            if (gain > best_gain) { best_gain = gain; best_d = d; }
        }
        /* the reference's codes and scale, kept unless the searched ones are better */
        uint16_t ref_d = pk_f32_to_f16(max / -8.0f), h = pk_f32_to_f16(best_d);
        uint8_t ref_q[PK_QBLOCK];
        q4_codes(xb, pk_f16_to_f32(ref_d), ref_q, &gain);
        q4_codes(xb, pk_f16_to_f32(h), q, &gain);
        float e_ref = 0.0f, e = 0.0f, dr = pk_f16_to_f32(ref_d), dh = pk_f16_to_f32(h);
        for (int i = 0; i < PK_QBLOCK; i++) {
            float a = dr * (float)(ref_q[i] - 8) - xb[i], c = dh * (float)(q[i] - 8) - xb[i];
            e_ref += a * a;
            e += c * c;
        }
        if (!(e < e_ref)) {
            h = ref_d;
            memcpy(q, ref_q, sizeof q);
        }
        blk[b].d = h;
        for (int j = 0; j < PK_QBLOCK / 2; j++) blk[b].qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
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
