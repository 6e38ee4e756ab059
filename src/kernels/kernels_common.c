/* kernels_common.c — format helpers shared by both kernel sets. */
#include "kernels.h"

#include <math.h>
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

void pk_quantize_row_q8_0(const float *x, void *out, int cols) {
    block_q8_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        const float *xb = x + b * PK_QBLOCK;
        int left = cols - b * PK_QBLOCK;
        float amax = 0.0f;
        for (int i = 0; i < PK_QBLOCK; i++) {
            float v = fabsf(block_value(xb, left, i));
            if (v > amax) amax = v;
        }
        blk[b].d = pk_f32_to_f16(amax / 127.0f);
        float d = pk_f16_to_f32(blk[b].d), id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < PK_QBLOCK; i++) {
            float q = roundf(block_value(xb, left, i) * id);
            blk[b].qs[i] = (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : q);
        }
    }
}

void pk_quantize_row_q4_0(const float *x, void *out, int cols) {
    block_q4_0 *blk = out;
    for (int b = 0; b * PK_QBLOCK < cols; b++) {
        const float *xb = x + b * PK_QBLOCK;
        int left = cols - b * PK_QBLOCK;
        float amax = 0.0f, max = 0.0f; /* max: the value of largest magnitude, with its sign */
        for (int i = 0; i < PK_QBLOCK; i++) {
            float v = block_value(xb, left, i);
            if (fabsf(v) > amax) { amax = fabsf(v); max = v; }
        }
        blk[b].d = pk_f32_to_f16(max / -8.0f);
        float d = pk_f16_to_f32(blk[b].d), id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[PK_QBLOCK];
        for (int i = 0; i < PK_QBLOCK; i++) {
            float v = roundf(block_value(xb, left, i) * id) + 8.0f;
            q[i] = (uint8_t)(v < 0.0f ? 0 : v > 15.0f ? 15 : v);
        }
        for (int j = 0; j < PK_QBLOCK / 2; j++) blk[b].qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
}
