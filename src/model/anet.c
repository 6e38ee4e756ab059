/* anet.c — the deep net that produces G_LM (spec §2.3–2.4). Run once per G-cache: when, and for
 * whom, is the G-cache's policy (src/session/gcache.c). */
#include "anet.h"

#include <math.h>
#include <string.h>

/* A0 = Σ_s q_sᵀ q_s per head over all n positions, no causal mask (spec §2.3) */
static void metric_a0(float *a, const float *q, int n, int H, int dk) {
    int D = H * dk;
    memset(a, 0, (size_t)D * dk * sizeof(float));
    for (int s = 0; s < n; s++)
        for (int h = 0; h < H; h++) {
            const float *qh = q + (size_t)s * D + h * dk;
            float *ah = a + (size_t)h * dk * dk;
            for (int i = 0; i < dk; i++) pk_axpy(ah + i * dk, qh[i], qh, dk);
        }
}

static void layernorm_rows(float *y, const float *x, const float *g, const float *b, int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) pk_layernorm(y + (size_t)r * n, x + (size_t)r * n, g, b, n, eps);
}

/* x [rows][in] -> y [rows][out] through w3(silu(w1 x) ⊙ (w2 x)) */
static void glu_rows(float *y, const float *x, const pldr_glu *glu, int rows, float *h1, float *h2, pk_scratch *ws) {
    pk_matmul(h1, x, &glu->w1, glu->b1, rows, ws);
    pk_matmul(h2, x, &glu->w2, glu->b2, rows, ws);
    pk_silu_mul(h1, h2, rows * glu->w1.rows);
    pk_matmul(y, h1, &glu->w3, glu->b3, rows, ws);
}

static void transpose(float *t, const float *a, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
}

/* out = left · right + bias for dk×dk matrices (left on the LEFT, spec §2.4) */
static void left_product(float *out, const float *left, const float *right, const float *bias, int dk, float *t,
                         pk_scratch *kernel) {
    transpose(t, right, dk);
    pldr_matrix rt = {t, PLDR_DTYPE_F32, dk, dk};
    pk_matmul(out, left, &rt, NULL, dk, kernel);
    pk_add(out, out, bias, dk * dk);
}

/* Z = W·A + b_W; A_LM = Z ⊙ silu(Z) + 1e-9; A_P = A_LM^P; G = a·A_P + b_a (spec §2.4) */
static void energy_curvature(const pldr_layer *ly, int h, int dk, const float *a, anet_scratch *ws,
                             float *g, float *a_lm) {
    size_t off = (size_t)h * dk * dk;
    float *z = ws->z;
    left_product(z, ly->plga_w + off, a, ly->plga_b + off, dk, ws->t, ws->kernel);
    for (int i = 0; i < dk * dk; i++) {
        float zi = z[i], silu = zi / (1.0f + expf(-zi));
        a_lm[i] = zi * silu + 1e-9f;
        z[i] = powf(a_lm[i], ly->plga_p[off + i]);
    }
    left_product(g, ly->plga_a + off, z, ly->plga_ba + off, dk, ws->t, ws->kernel);
}

void anet_layer(const pldr_model *m, const pldr_layer *ly, const float *q, int n, anet_scratch *ws,
                float *g, float *a_lm) {
    const pldr_hparams *hp = &m->hp;
    int H = hp->n_heads, dk = hp->head_dim, rows = H * dk;
    float eps = (float)hp->ln_eps;
    metric_a0(ws->a_in, q, n, H, dk);
    layernorm_rows(ws->a, ws->a_in, ly->ln_a_g, ly->ln_a_b, rows, dk, eps);
    for (int j = 0; j < hp->n_reslayer_a; j++) {
        memcpy(ws->a_in, ws->a, (size_t)rows * dk * sizeof(float));
        for (int k = 0; k < hp->n_dense_a; k++)
            glu_rows(ws->a, ws->a, &ly->anet[j * hp->n_dense_a + k], rows, ws->h1, ws->h2, ws->kernel);
        pk_add(ws->a, ws->a, ws->a_in, rows * dk);
        layernorm_rows(ws->a, ws->a, ly->ln_res_g[j], ly->ln_res_b[j], rows, dk, eps);
    }
    for (int h = 0; h < H; h++) {
        size_t off = (size_t)h * dk * dk;
        energy_curvature(ly, h, dk, ws->a + off, ws, g + off, a_lm + off);
    }
}

/* Floats of the buffers of anet_scratch in order, each rounded up to 4 (16 bytes); 0 when a
 * size does not fit a size_t. */
static int scratch_floats(const pldr_hparams *hp, size_t floats[6]) {
    int ok = 1;
    size_t dk = (size_t)hp->head_dim, rows = size_mul((size_t)hp->n_heads, dk, &ok);
    size_t sizes[6] = {size_mul(rows, dk, &ok), size_mul(rows, dk, &ok), size_mul(rows, (size_t)hp->a_dff, &ok),
                       size_mul(rows, (size_t)hp->a_dff, &ok), size_mul(dk, dk, &ok), size_mul(dk, dk, &ok)};
    for (int i = 0; i < 6; i++) {
        if (sizes[i] > SIZE_MAX - 3) ok = 0;
        floats[i] = ok ? (sizes[i] + 3) / 4 * 4 : 0;
    }
    return ok;
}

size_t anet_scratch_bytes(const pldr_hparams *hp) {
    size_t floats[6], total = 0;
    int ok = scratch_floats(hp, floats);
    for (int i = 0; i < 6 && ok; i++) {
        if (floats[i] > SIZE_MAX - total) ok = 0;
        total += floats[i];
    }
    size_t bytes = size_mul(total, sizeof(float), &ok);
    return ok ? bytes : 0;
}

void anet_scratch_bind(anet_scratch *ws, const pldr_hparams *hp, void *mem, pk_scratch *kernel) {
    size_t floats[6];
    scratch_floats(hp, floats);
    float **bufs[6] = {&ws->a, &ws->a_in, &ws->h1, &ws->h2, &ws->t, &ws->z};
    float *p = mem;
    for (int i = 0; i < 6; i++) {
        *bufs[i] = p;
        p += floats[i];
    }
    ws->kernel = kernel;
}
