/* forward.c — the math of a run (spec §1–§2), one step at a time; prefill.c says which step runs
 * when, gcache.c runs the A-net step. Rows are the run's tokens: row t sits at position
 * r->start + t. A function that is one part of the profile starts with PROFILE_SCOPE. */
#include <math.h>
#include <string.h>

#include "profile.h"
#include "session.h"

#define MASK_VALUE (-1e9f)

#ifdef PLDR_PROFILE
double pldr_profile_ms[PROF_N];
const char *const pldr_profile_names[PROF_N] = {"embed", "projections", "rope", "anet", "attention", "norms", "ffn", "head"};
const int pldr_profile_count = PROF_N;
#endif

static float *row(float *buf, int t, int width) { return buf + (size_t)t * width; }

/* y [n][rows] = x [n][cols] · Wᵀ + b */
static void project(pldr_session *s, float *y, const float *x, const pldr_matrix *w, const float *b, int n) {
    PROFILE_SCOPE(PROF_PROJ);
    pk_matmul(y, x, w, b, n, &s->kernel);
}

/* RoPE on the head vectors of q and k, rows at positions pos.. (spec §2.2; not on v) */
static void rope_rows(const pldr_model *m, float *q, float *k, int pos, int n) {
    PROFILE_SCOPE(PROF_ROPE);
    int D = m->hp.d_model;
    for (int i = 0; i < n; i++) {
        rope_apply(m, row(q, i, D), pos + i);
        rope_apply(m, row(k, i, D), pos + i);
    }
}

/* One query q at position p against the cached keys 0..p of one head (spec §2.5):
 * E[t] = (q·G)·k_t / sqrt(dk), pads masked in a full pass, softmax, Σ E[t] v_t. q·G is computed
 * once per head and query; the rest is linear in the cached length. */
static void attend_head(pldr_session *s, const prefill_run *r, int layer, int h, const float *q, int p, float *out) {
    const pldr_hparams *hp = &s->model->hp;
    int dk = hp->head_dim;
    const float *g = r->g + ((size_t)layer * hp->n_heads + h) * dk * dk;
    pk_vecmat(s->qg, q, g, dk, dk); /* q row times G */
    kv_dot_keys(&s->kv, hp, layer, h, s->qg, p + 1, s->scores, &s->kernel);
    float scale = sqrtf((float)dk);
    for (int t = 0; t <= p; t++) {
        s->scores[t] /= scale;
        if (r->mask_pads && s->ids[t] == hp->pad_id) s->scores[t] += MASK_VALUE;
    }
    pk_softmax(s->scores, p + 1);
    kv_sum_values(&s->kv, hp, layer, h, s->scores, p + 1, out);
}

/* s->att [n][D]: every head of rows t0.. attending over the KV-cache */
static void attention(pldr_session *s, const prefill_run *r, int layer, int t0, int n) {
    PROFILE_SCOPE(PROF_ATTN);
    const pldr_hparams *hp = &s->model->hp;
    int D = hp->d_model, dk = hp->head_dim;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < hp->n_heads; h++)
            attend_head(s, r, layer, h, row(s->q, t0 + i, D) + h * dk, r->start + t0 + i, row(s->att, i, D) + h * dk);
}

/* x = LayerNorm(f + x) row by row (post-LN, spec §1) */
static void residual_norm(float *x, float *f, const float *g, const float *b, int n, int D, float eps) {
    PROFILE_SCOPE(PROF_NORM);
    for (int i = 0; i < n; i++) {
        float *xi = row(x, i, D), *fi = row(f, i, D);
        pk_add(fi, fi, xi, D);
        pk_layernorm(xi, fi, g, b, D, eps);
    }
}

/* s->xb [n][D] = W3(silu(W1 x + b1) ⊙ (W2 x + b2)) + b3: SwiGLU, D → dff → D (spec §1) */
static void ffn(pldr_session *s, const pldr_glu *f, const float *x, int n) {
    PROFILE_SCOPE(PROF_FFN);
    pk_matmul(s->hb, x, &f->w1, f->b1, n, &s->kernel);
    pk_matmul(s->hb2, x, &f->w2, f->b2, n, &s->kernel);
    pk_silu_mul(s->hb, s->hb2, n * f->w1.rows);
    pk_matmul(s->xb, s->hb, &f->w3, f->b3, n, &s->kernel);
}

/* ---- the steps ----------------------------------------------------------------------------------- */

/* h = LayerNorm_in(Embedding[x] · sqrt(D)) for every row: multiply after the lookup (spec §1) */
void forward_embed(pldr_session *s, const prefill_run *r) {
    PROFILE_SCOPE(PROF_EMBED);
    const pldr_model *m = s->model;
    int D = m->hp.d_model;
    float scale = sqrtf((float)D);
    for (int t = 0; t < r->n; t++) {
        float *x = row(s->x, t, D);
        pk_matrix_row(x, &m->embedding, s->ids[r->start + t]);
        for (int j = 0; j < D; j++) x[j] *= scale;
        pk_layernorm(x, x, m->ln_in_g, m->ln_in_b, D, (float)m->hp.ln_eps);
    }
}

/* Layer l, rows [t0, t0+n): queries (kept for the A-net and attention), keys and values into the
 * KV-cache (spec §2.1–2.2) */
void forward_qkv(pldr_session *s, const prefill_run *r, int l, int t0, int n) {
    const pldr_model *m = s->model;
    const pldr_layer *ly = &m->layers[l];
    int D = m->hp.d_model;
    float *x = row(s->x, t0, D), *q = row(s->q, t0, D);
    project(s, q, x, &ly->wq, ly->bq, n);                        // q, k, v = Linear(h)
    project(s, s->k, x, &ly->wk, ly->bk, n);
    project(s, s->v, x, &ly->wv, ly->bv, n);
    rope_rows(m, q, s->k, r->start + t0, n);                     // RoPE on q and k
    kv_store(&s->kv, &m->hp, l, r->start + t0, s->k, s->v, n);   // k, v into the KV-cache
}

/* Layer l, rows [t0, t0+n), once its keys, values and G_LM are there (spec §1, §2.5) */
void forward_attend(pldr_session *s, const prefill_run *r, int l, int t0, int n) {
    const pldr_model *m = s->model;
    const pldr_layer *ly = &m->layers[l];
    int D = m->hp.d_model;
    float eps = (float)m->hp.ln_eps, *x = row(s->x, t0, D);
    attention(s, r, l, t0, n);                                   // o = softmax((q·G)·kᵀ/√dk)·v per head
    project(s, s->xb, s->att, &ly->wo, ly->bo, n);               // a = dense(o)
    residual_norm(x, s->xb, ly->ln1_g, ly->ln1_b, n, D, eps);    // h1 = LayerNorm_l1(a + h)
    ffn(s, &ly->ffn, x, n);                                      // f = W3(silu(W1 h1) ⊙ W2 h1)
    residual_norm(x, s->xb, ly->ln2_g, ly->ln2_b, n, D, eps);    // h = LayerNorm_l2(f + h1)
}

/* Logits of rows [t0, t0+n): h · Wheadᵀ + b, no final norm (spec §1); into all_logits, or the
 * session's logits for the last row alone */
void forward_head(pldr_session *s, const prefill_run *r, int t0, int n) {
    PROFILE_SCOPE(PROF_HEAD);
    const pldr_model *m = s->model;
    float *out = r->all_logits ? row(r->all_logits, t0 - (r->n - r->n_new), m->hp.vocab) : s->logits;
    pk_matmul(out, row(s->x, t0, m->hp.d_model), &m->head, m->head_b, n, &s->kernel);
}
