/* forward.c — the math of a run (spec §1–§2), one step at a time; prefill.c says which step runs
 * when, gcache.c runs the A-net step. Rows are the run's tokens: row t sits at position
 * r->start + t. A function that is one part of the profile starts with PROFILE_SCOPE. */
#include <math.h>
#include <string.h>

#include "../threads/matmul.h"
#include "profile.h"
#include "session.h"

#define MASK_VALUE (-1e9f)

#ifdef PLDR_PROFILE
double pldr_profile_ms[PROF_N];
const char *const pldr_profile_names[PROF_N] = {"embed", "projections", "rope", "anet", "attention", "norms", "ffn", "head"};
const int pldr_profile_count = PROF_N;
#endif

static float *row(float *buf, int t, int width) { return buf + (size_t)t * width; }

static pldr_threads *pool_of(const pldr_session *s) { return s->model->threads; }

/* y_i [n][rows] = x [n][cols] · W_iᵀ + b_i for `count` products of the same x, their rows split
 * across the thread pool */
static void project(pldr_session *s, const float *x, int n, const par_product *p, int count) {
    PROFILE_SCOPE(PROF_PROJ);
    par_matmuls(pool_of(s), &s->kernel, x, n, p, count);
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

static size_t floats4(size_t n) { return (n + 3) / 4 * 4; }

size_t forward_work_bytes(const pldr_hparams *hp, int ctx) {
    int ok = 1; /* head_dim and ctx are bounded (hparams.c): floats4 cannot wrap */
    size_t bytes = size_mul(size_add(floats4((size_t)hp->head_dim), floats4((size_t)ctx), &ok), sizeof(float), &ok);
    return ok ? bytes : 0;
}

/* One query q at position p against the cached keys 0..p of one head (spec §2.5):
 * E[t] = (q·G)·k_t / sqrt(dk), pads masked in a full pass, softmax, Σ E[t] v_t. q·G is computed
 * once per head and query; the rest is linear in the cached length. qg [dk], scores [p+1]. */
static void attend_head(const pldr_session *s, const prefill_run *r, int layer, int h, const float *q, int p, float *out,
                        float *qg, float *scores) {
    const pldr_hparams *hp = &s->model->hp;
    int dk = hp->head_dim;
    const float *g = r->g + ((size_t)layer * hp->n_heads + h) * dk * dk;
    pk_vecmat(qg, q, g, dk, dk); /* q row times G */
    kv_dot_keys(&s->kv, hp, layer, h, qg, p + 1, scores, NULL); /* one token: no work memory */
    float scale = sqrtf((float)dk);
    for (int t = 0; t <= p; t++) {
        scores[t] /= scale;
        if (r->mask_pads && s->ids[t] == hp->pad_id) scores[t] += MASK_VALUE;
    }
    pk_softmax(scores, p + 1);
    kv_sum_values(&s->kv, hp, layer, h, scores, p + 1, out);
}

typedef struct {
    pldr_session *s;
    const prefill_run *r;
    int layer, t0, n;
} attention_job;

/* The (row, head) pairs [u0, u1): row u / H, head u % H, each pair one thread's, whole. */
static void attention_part(void *ctx, int u0, int u1, const pool_part *part) {
    const attention_job *j = ctx;
    const pldr_session *s = j->s;
    const pldr_hparams *hp = &s->model->hp;
    int D = hp->d_model, dk = hp->head_dim, H = hp->n_heads;
    float *qg = pk_scratch_reserve(part->work, forward_work_bytes(hp, s->ctx)); /* readied before the run */
    if (!qg) return;
    float *scores = qg + floats4((size_t)dk);
    for (int u = u0; u < u1; u++) {
        int i = u / H, h = u % H, t = j->t0 + i;
        attend_head(s, j->r, j->layer, h, row(s->q, t, D) + h * dk, j->r->start + t, row(s->att, i, D) + h * dk, qg, scores);
    }
}

/* s->att [n][D]: every head of rows t0.. attending over the KV-cache, the (row, head) pairs split
 * across the thread pool */
static void attention(pldr_session *s, const prefill_run *r, int layer, int t0, int n) {
    PROFILE_SCOPE(PROF_ATTN);
    const pldr_hparams *hp = &s->model->hp;
    attention_job j = {s, r, layer, t0, n};
    int pairs = n * hp->n_heads, keys = r->start + t0 + n;
    double macs = (double)pairs * hp->head_dim * (hp->head_dim + 2.0 * keys);
    pool_need need = {.units = pairs, .parts = pool_parts_worth(macs, pairs), .work_bytes = forward_work_bytes(hp, s->ctx)};
    pool_part alone = {&s->kernel, &s->work, 0};
    pool_run(pool_of(s), &alone, need, attention_part, &j);
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

/* s->xb [n][D] = W3(silu(W1 x + b1) ⊙ (W2 x + b2)) + b3: SwiGLU, D → dff → D (spec §1); the
 * products split across the thread pool (W1 and W2 together) */
static void ffn(pldr_session *s, const pldr_glu *f, const float *x, int n) {
    PROFILE_SCOPE(PROF_FFN);
    par_product up[2] = {{s->hb, &f->w1, f->b1}, {s->hb2, &f->w2, f->b2}};
    par_matmuls(pool_of(s), &s->kernel, x, n, up, 2);
    pk_silu_mul(s->hb, s->hb2, n * f->w1.rows);
    par_matmul(pool_of(s), &s->kernel, s->xb, s->hb, &f->w3, f->b3, n);
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
    par_product qkv[3] = {{q, &ly->wq, ly->bq}, {s->k, &ly->wk, ly->bk}, {s->v, &ly->wv, ly->bv}};
    project(s, x, n, qkv, 3);                                    // q, k, v = Linear(h)
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
    project(s, s->att, n, &(par_product){s->xb, &ly->wo, ly->bo}, 1); // a = dense(o)
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
    par_matmul(pool_of(s), &s->kernel, out, row(s->x, t0, m->hp.d_model), &m->head, m->head_b, n);
}
