/* forward.c — the forward pass over a run of tokens (spec §1–§3). */
#include <math.h>
#include <string.h>

#include "session.h"

#define MASK_VALUE (-1e9f)

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
 * E[t] = (q·G)·k_t / sqrt(dk), pads masked in a full pass, softmax, Σ E[t] v_t. */
static void attend_head(pldr_session *s, int layer, int h, const float *q, int p, int mask_pads, float *out) {
    const pldr_hparams *hp = &s->model->hp;
    int dk = hp->head_dim;
    const float *g = s->g_active + ((size_t)layer * hp->n_heads + h) * dk * dk;
    memset(s->qg, 0, dk * sizeof(float));
    for (int i = 0; i < dk; i++) pk_axpy(s->qg, q[i], g + (size_t)i * dk, dk); /* q row times G */
    size_t base = ((size_t)layer * hp->n_heads + h) * s->ctx * dk;
    const float *keys = s->k_cache + base, *values = s->v_cache + base;
    float scale = sqrtf((float)dk);
    for (int t = 0; t <= p; t++) {
        s->scores[t] = pk_dot(s->qg, keys + (size_t)t * dk, dk) / scale;
        if (mask_pads && s->ids[t] == hp->pad_id) s->scores[t] += MASK_VALUE;
    }
    pk_softmax(s->scores, p + 1);
    memset(out, 0, dk * sizeof(float));
    for (int t = 0; t <= p; t++) pk_axpy(out, s->scores[t], values + (size_t)t * dk, dk);
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
    pk_matmul(s->q, s->x, &ly->wq, ly->bq, n);
    pk_matmul(s->k, s->x, &ly->wk, ly->bk, n);
    pk_matmul(s->v, s->x, &ly->wv, ly->bv, n);
    for (int i = 0; i < n; i++) {
        rope_apply(m, s->q + (size_t)i * D, s->pos + i);
        rope_apply(m, s->k + (size_t)i * D, s->pos + i);
    }
    if (a->g) anet_layer(m, ly, s->q, n, &s->anet, a->g + l * gsize, a->a + l * gsize);
    store_kv(s, l, n);
    attention(s, l, n, a->mask_pads);
    pk_matmul(s->xb, s->att, &ly->wo, ly->bo, n);
    residual_norm(s->x, s->xb, ly->ln1_g, ly->ln1_b, n, D, eps); /* post-LN (spec §1) */
    pk_matmul(s->hb, s->x, &ly->ffn.w1, ly->ffn.b1, n);
    pk_matmul(s->hb2, s->x, &ly->ffn.w2, ly->ffn.b2, n);
    pk_silu_mul(s->hb, s->hb2, n * hp->dff);
    pk_matmul(s->xb, s->hb, &ly->ffn.w3, ly->ffn.b3, n);
    residual_norm(s->x, s->xb, ly->ln2_g, ly->ln2_b, n, D, eps);
}

int forward(pldr_session *s, const forward_args *a) {
    const pldr_model *m = s->model;
    int D = m->hp.d_model, V = m->hp.vocab;
    memmove(s->ids + s->pos, a->ids, (size_t)a->n * sizeof(int32_t));
    if (a->g) {
        s->g_active = a->g;
        s->a_active = a->a;
    }
    embed(s, a->ids, a->n);
    for (int l = 0; l < m->hp.n_layers; l++) layer_forward(s, a, l);
    const float *last = s->x + (size_t)(a->n - 1) * D; /* no final norm (spec §1) */
    if (a->all_logits) {
        pk_matmul(a->all_logits, s->x + (size_t)a->logits_from * D, &m->head, m->head_b, a->n - a->logits_from);
        memcpy(s->logits, a->all_logits + (size_t)(a->n - a->logits_from - 1) * V, (size_t)V * sizeof(float));
    } else {
        pk_matmul(s->logits, last, &m->head, m->head_b, 1);
    }
    s->logits_valid = 1;
    return PLDR_OK;
}
