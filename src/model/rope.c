/* rope.c — rotary position embedding (spec §2.2). */
#include <math.h>
#include <stdlib.h>

#include "model.h"

uint64_t rope_table_bytes(const pldr_hparams *hp) {
    return u64_mul(u64_mul((uint64_t)hp->max_pos, (uint64_t)(hp->head_dim / 2)), sizeof(float));
}

/* θ_i = base^(-2i/dk) and the angle pos·θ_i are float32, as in the reference's table; linear
 * scaling (rope_scaling) divides θ_i by the factor in float32, as the port's inv_freq /= factor. */
int rope_build(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    int half = hp->head_dim / 2, ok = 1;
    size_t bytes = size_from_u64(rope_table_bytes(hp), &ok);
    m->rope_cos = ok ? malloc(bytes ? bytes : 1) : NULL;
    m->rope_sin = ok ? malloc(bytes ? bytes : 1) : NULL;
    if (!m->rope_cos || !m->rope_sin)
        return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the RoPE table (%d positions)", hp->max_pos);
    for (int i = 0; i < half; i++) {
        float theta = 1.0f / powf((float)hp->rope_theta, (float)(2 * i) / (float)hp->head_dim);
        if (hp->rope_type == ROPE_TYPE_LINEAR) theta /= (float)hp->rope_factor;
        for (int p = 0; p < hp->max_pos; p++) {
            float angle = (float)p * theta;
            m->rope_cos[(size_t)p * half + i] = (float)cos((double)angle);
            m->rope_sin[(size_t)p * half + i] = (float)sin((double)angle);
        }
    }
    m->bytes += 2 * bytes; /* both were allocated: fits */
    return PLDR_OK;
}

void rope_rotate(const pldr_model *m, float *x, int n_heads, int pos, float sign) {
    const pldr_hparams *hp = &m->hp;
    int dk = hp->head_dim, half = dk / 2;
    const float *c = m->rope_cos + (size_t)pos * half, *s = m->rope_sin + (size_t)pos * half;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * dk;
        for (int i = 0; i < half; i++) {
            int a = hp->rope_interleaved ? 2 * i : i;       /* v51: (x[2i], x[2i+1]) */
            int b = hp->rope_interleaved ? 2 * i + 1 : i + half; /* v52: (x[i], x[i+dk/2]) */
            float x0 = v[a], x1 = v[b], sn = sign * s[i];
            v[a] = x0 * c[i] - x1 * sn;
            v[b] = x1 * c[i] + x0 * sn;
        }
    }
}

void rope_apply(const pldr_model *m, float *x, int pos) { rope_rotate(m, x, m->hp.n_heads, pos, 1.0f); }
