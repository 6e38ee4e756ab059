/* forward.c — the forward pass over a run of tokens (spec §1–§3). */
#include <math.h>
#include <string.h>

#include "../platform.h"
#include "session.h"

#define MASK_VALUE (-1e9f)

/* Timing hooks for `pldr-native bench model --parts` (build/pldr-native-prof only: -DPLDR_PROFILE).
 * Milliseconds by part of the forward pass, summed over calls. */
#ifdef PLDR_PROFILE
enum { PROF_EMBED, PROF_PROJ, PROF_ROPE, PROF_ANET, PROF_ATTN, PROF_NORM, PROF_FFN, PROF_HEAD, PROF_N };
double pldr_profile_ms[PROF_N];
const char *const pldr_profile_names[PROF_N] = {"embed", "projections", "rope", "anet", "attention", "norms", "ffn", "head"};
const int pldr_profile_count = PROF_N;
static double prof_t;
#define PROF_START() (prof_t = pldr_now_ms())
#define PROF(part) do { double now_ = pldr_now_ms(); pldr_profile_ms[part] += now_ - prof_t; prof_t = now_; } while (0)
#else
#define PROF_START() ((void)0)
#define PROF(part) ((void)0)
#endif

static void embed(pldr_session *s, const int32_t *ids, int n) {
    const pldr_model *m = s->model;
    int D = m->hp.d_model;
    float scale = sqrtf((float)D); /* multiply after the lookup (spec §1) */
    for (int i = 0; i < n; i++) {
        float *x = s->x + (size_t)i * D;
        pk_matrix_row(x, &m->embedding, ids[i]);
        for (int j = 0; j < D; j++) x[j] *= scale;
        pk_layernorm(x, x, m->ln_in_g, m->ln_in_b, D, (float)m->hp.ln_eps);
    }
}

static void store_kv(pldr_session *s, int layer, int n) {
    const pldr_hparams *hp = &s->model->hp;
    int H = hp->n_heads, dk = hp->head_dim, D = hp->d_model;
    for (int h = 0; h < H; h++) {
        size_t base = ((size_t)layer * H + h) * s->ctx * dk;
        for (int i = 0; i < n; i++) {
            size_t dst = base + (size_t)(s->pos + i) * dk;
            memcpy(s->k_cache + dst, s->k + (size_t)i * D + h * dk, dk * sizeof(float));
            memcpy(s->v_cache + dst, s->v + (size_t)i * D + h * dk, dk * sizeof(float));
        }
    }
}

/* One query (row of q at position p) against cached keys 0..p of one head (spec §2.5):
 * E[t] = (q·G)·k_t / sqrt(dk), pads masked in a full pass, softmax, Σ E[t] v_t. q·G is computed
 * once per head and query; the rest is linear in the cached length. */
static void attend_head(pldr_session *s, int layer, int h, const float *q, int p, int mask_pads, float *out) {
    const pldr_hparams *hp = &s->model->hp;
    int dk = hp->head_dim;
    const float *g = s->g_active + ((size_t)layer * hp->n_heads + h) * dk * dk;
    pk_vecmat(s->qg, q, g, dk, dk); /* q row times G */
    size_t base = ((size_t)layer * hp->n_heads + h) * s->ctx * dk;
    const float *keys = s->k_cache + base, *values = s->v_cache + base;
    pldr_matrix k = {keys, PLDR_DTYPE_F32, p + 1, dk}; /* the cached keys as a matrix [p+1][dk] */
    pk_matmul(s->scores, s->qg, &k, NULL, 1, &s->kernel);
    float scale = sqrtf((float)dk);
    for (int t = 0; t <= p; t++) {
        s->scores[t] /= scale;
        if (mask_pads && s->ids[t] == hp->pad_id) s->scores[t] += MASK_VALUE;
    }
    pk_softmax(s->scores, p + 1);
    pk_vecmat(out, s->scores, values, p + 1, dk);
}

static void attention(pldr_session *s, int layer, int n, int mask_pads) {
    const pldr_hparams *hp = &s->model->hp;
    int D = hp->d_model, dk = hp->head_dim;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < hp->n_heads; h++)
            attend_head(s, layer, h, s->q + (size_t)i * D + h * dk, s->pos + i, mask_pads,
                        s->att + (size_t)i * D + h * dk);
}

/* x = LayerNorm(f + x) row by row */
static void residual_norm(float *x, float *f, const float *g, const float *b, int n, int D, float eps) {
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * D, *fi = f + (size_t)i * D;
        pk_add(fi, fi, xi, D);
        pk_layernorm(xi, fi, g, b, D, eps);
    }
}

static void layer_forward(pldr_session *s, const forward_args *a, int l) {
    pldr_model *m = s->model;
    const pldr_layer *ly = &m->layers[l];
    const pldr_hparams *hp = &m->hp;
    int n = a->n, D = hp->d_model;
    size_t gsize = (size_t)hp->n_heads * hp->head_dim * hp->head_dim;
    float eps = (float)hp->ln_eps;
    PROF_START();
    pk_matmul(s->q, s->x, &ly->wq, ly->bq, n, &s->kernel);
    pk_matmul(s->k, s->x, &ly->wk, ly->bk, n, &s->kernel);
    pk_matmul(s->v, s->x, &ly->wv, ly->bv, n, &s->kernel);
    PROF(PROF_PROJ);
    for (int i = 0; i < n; i++) {
        rope_apply(m, s->q + (size_t)i * D, s->pos + i);
        rope_apply(m, s->k + (size_t)i * D, s->pos + i);
    }
    PROF(PROF_ROPE);
    if (a->g) {
        double t0 = pldr_now_ms();
        anet_layer(m, ly, s->q, n, &s->anet, a->g + l * gsize, a->a + l * gsize);
        m->anet_ms += pldr_now_ms() - t0; /* the one-off cost of G that pldr_model_anet_ms reports */
    }
    PROF(PROF_ANET);
    store_kv(s, l, n);
    attention(s, l, n, a->mask_pads);
    PROF(PROF_ATTN);
    pk_matmul(s->xb, s->att, &ly->wo, ly->bo, n, &s->kernel);
    PROF(PROF_PROJ);
    residual_norm(s->x, s->xb, ly->ln1_g, ly->ln1_b, n, D, eps); /* post-LN (spec §1) */
    PROF(PROF_NORM);
    pk_matmul(s->hb, s->x, &ly->ffn.w1, ly->ffn.b1, n, &s->kernel);
    pk_matmul(s->hb2, s->x, &ly->ffn.w2, ly->ffn.b2, n, &s->kernel);
    pk_silu_mul(s->hb, s->hb2, n * hp->dff);
    pk_matmul(s->xb, s->hb, &ly->ffn.w3, ly->ffn.b3, n, &s->kernel);
    PROF(PROF_FFN);
    residual_norm(s->x, s->xb, ly->ln2_g, ly->ln2_b, n, D, eps);
    PROF(PROF_NORM);
}

int forward(pldr_session *s, const forward_args *a) {
    const pldr_model *m = s->model;
    int D = m->hp.d_model, V = m->hp.vocab;
    memmove(s->ids + s->pos, a->ids, (size_t)a->n * sizeof(int32_t));
    if (a->g) {
        s->g_active = a->g;
        s->a_active = a->a;
    }
    PROF_START();
    embed(s, a->ids, a->n);
    PROF(PROF_EMBED);
    for (int l = 0; l < m->hp.n_layers; l++) layer_forward(s, a, l);
    PROF_START();
    const float *last = s->x + (size_t)(a->n - 1) * D; /* no final norm (spec §1) */
    if (a->all_logits) {
        pk_matmul(a->all_logits, s->x + (size_t)a->logits_from * D, &m->head, m->head_b, a->n - a->logits_from, &s->kernel);
        memcpy(s->logits, a->all_logits + (size_t)(a->n - a->logits_from - 1) * V, (size_t)V * sizeof(float));
    } else {
        pk_matmul(s->logits, last, &m->head, m->head_b, 1, &s->kernel);
    }
    PROF(PROF_HEAD);
    s->logits_valid = 1;
    return PLDR_OK;
}
