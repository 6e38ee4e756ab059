/* session.c — sessions: KV-cache, positions, G-cache modes (spec §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

int session_fail(pldr_session *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat_error(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    return code;
}

pldr_session_params pldr_session_default_params(void) { return (pldr_session_params){.context_length = 0}; }

static int owns_g(const pldr_session *s) {
    int mode = s->model->params.gcache_mode;
    return s->own_g || mode == PLDR_GCACHE_PROMPT || mode == PLDR_GCACHE_OFF;
}

/* The G (which = 0) or A_LM (which = 1) attention uses now, or NULL if not computed yet. */
static const float *current_g(const pldr_session *s, int which) {
    const pldr_model *m = s->model;
    if (owns_g(s)) return s->g_valid ? (which ? s->a_lm : s->g) : NULL;
    return m->g_valid ? (which ? m->a_cache : m->g_cache) : NULL;
}

static void *alloc_counted(size_t bytes, size_t *counter) {
    void *p = malloc(bytes ? bytes : 1);
    if (p) *counter += bytes;
    return p;
}

static pldr_session *session_create(pldr_model *m, int ctx, int own_g) {
    const pldr_hparams *hp = &m->hp;
    pldr_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->ctx = ctx;
    s->own_g = own_g;
    /* the KV-cache can exceed a 32-bit size_t (WebAssembly) for huge contexts: check in double */
    double kv_d = (double)hp->n_layers * hp->d_model * ctx * sizeof(float);
    if (kv_d > (double)(SIZE_MAX / 4)) {
        free(s);
        return NULL;
    }
    size_t kv = (size_t)kv_d, gn = g_count(hp) * sizeof(float);
    s->ids = alloc_counted((size_t)ctx * sizeof(int32_t), &s->scratch_bytes);
    s->k_cache = alloc_counted(kv, &s->kv_bytes);
    s->v_cache = alloc_counted(kv, &s->kv_bytes);
    s->logits = alloc_counted((size_t)hp->vocab * sizeof(float), &s->scratch_bytes);
    s->scores = alloc_counted((size_t)ctx * sizeof(float), &s->scratch_bytes);
    s->qg = alloc_counted((size_t)hp->head_dim * sizeof(float), &s->scratch_bytes);
    int ok = s->ids && s->k_cache && s->v_cache && s->logits && s->scores && s->qg;
    if (ok && owns_g(s)) {
        s->g = alloc_counted(gn, &s->scratch_bytes);
        s->a_lm = alloc_counted(gn, &s->scratch_bytes);
        ok = s->g && s->a_lm;
    }
    if (!ok) {
        pldr_session_free(s);
        return NULL;
    }
    return s;
}

pldr_session *pldr_session_new(pldr_model *m, const pldr_session_params *params) {
    if (!m) return NULL;
    if (m->stage != STAGE_READY) {
        model_fail(m, PLDR_ERR_STATE, "a session needs a finalized model (pldr_model_finalize)");
        return NULL;
    }
    int ctx = params ? params->context_length : 0;
    if (ctx == 0) ctx = m->hp.max_pos;
    if (ctx < 1 || ctx > m->hp.max_pos) {
        model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "context_length %d outside 1..%d (max_position_embeddings)", ctx, m->hp.max_pos);
        return NULL;
    }
    if (m->params.gcache_mode == PLDR_GCACHE_FIXED && !m->g_valid) {
        model_fail(m, PLDR_ERR_GCACHE, m->hp.custom_g != CUSTOM_G_NONE
                       ? "this model's G is predefined (custom_G_type) but decoder.past_G_values was not loaded: install G with pldr_model_set_gcache"
                       : "G-cache mode fixed but no G installed: call pldr_model_set_gcache or pldr_model_compute_gcache first");
        return NULL;
    }
    pldr_session *s = session_create(m, ctx, 0);
    if (!s) model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory for a session of context %d", ctx);
    return s;
}

void pldr_session_free(pldr_session *s) {
    if (!s) return;
    float *bufs[] = {s->k_cache, s->v_cache, s->g, s->a_lm, s->logits, s->x, s->xb, s->q, s->k, s->v,
                     s->att, s->hb, s->hb2, s->scores, s->qg, s->anet.a, s->anet.a_in, s->anet.h1,
                     s->anet.h2, s->anet.t, s->anet.z};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    pk_scratch_free(&s->kernel);
    free(s->ids);
    free(s);
}

const char *pldr_session_error(const pldr_session *s) { return s ? s->error : "no session (NULL)"; }

/* Per-position scratch for runs of up to n tokens (grown on demand, never past the context). */
static int ensure_scratch(pldr_session *s, int n) {
    if (n <= s->cap) return PLDR_OK;
    const pldr_hparams *hp = &s->model->hp;
    int cap = (n + 15) / 16 * 16;
    if (cap > s->ctx) cap = s->ctx;
    float **d_bufs[] = {&s->x, &s->xb, &s->q, &s->k, &s->v, &s->att};
    size_t bytes = 0; /* activations of cap positions */
    for (size_t i = 0; i < 6; i++) {
        free(*d_bufs[i]);
        *d_bufs[i] = alloc_counted((size_t)cap * hp->d_model * sizeof(float), &bytes);
    }
    free(s->hb);
    free(s->hb2);
    s->hb = alloc_counted((size_t)cap * hp->dff * sizeof(float), &bytes);
    s->hb2 = alloc_counted((size_t)cap * hp->dff * sizeof(float), &bytes);
    int ok = s->hb && s->hb2;
    for (size_t i = 0; i < 6; i++) ok = ok && *d_bufs[i];
    s->act_bytes = bytes;
    s->cap = ok ? cap : 0;
    if (!ok) return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory for activations of %d tokens", n);
    return PLDR_OK;
}

static int check_tokens(pldr_session *s, const int32_t *ids, int n) {
    int vocab = s->model->hp.vocab;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return session_fail(s, PLDR_ERR_TOKEN, "token id %d at index %d is outside the vocabulary [0, %d)", (int)ids[i], i, vocab);
    if (n > s->ctx - s->pos)
        return session_fail(s, PLDR_ERR_CONTEXT_OVERFLOW, "%d tokens at position %d exceed the context length %d",
                            n, s->pos, s->ctx);
    return PLDR_OK;
}

/* Mode off: the reference's no-cache path, a full pass over the whole history each time. */
static int run_full(pldr_session *s, const int32_t *ids, int n, float *all_logits) {
    int start = s->pos, total = start + n;
    int rc = ensure_scratch(s, total);
    if (!rc) rc = anet_scratch_alloc(s);
    if (rc) return rc;
    memcpy(s->ids + start, ids, (size_t)n * sizeof(int32_t));
    s->pos = 0;
    forward_args a = {.ids = s->ids, .n = total, .mask_pads = 1, .g = s->g, .a = s->a_lm,
                      .all_logits = all_logits, .logits_from = start};
    forward(s, &a);
    s->pos = total;
    s->g_valid = 1;
    s->model->anet_runs++;
    return PLDR_OK;
}

/* Modes first, prompt, fixed: new tokens only, G from the G-cache (computed here if not yet). */
static int run_cached(pldr_session *s, const int32_t *ids, int n, int mask_pads, float *all_logits) {
    pldr_model *m = s->model;
    int need_g = current_g(s, 0) == NULL;
    int rc = ensure_scratch(s, n);
    if (!rc && need_g) {
        if (m->hp.custom_g != CUSTOM_G_NONE)
            return session_fail(s, PLDR_ERR_GCACHE, "no G installed for this predefined-G model");
        rc = anet_scratch_alloc(s);
    }
    if (rc) return rc;
    forward_args a = {.ids = ids, .n = n, .mask_pads = mask_pads, .all_logits = all_logits};
    if (need_g) {
        a.g = owns_g(s) ? s->g : m->g_cache;
        a.a = owns_g(s) ? s->a_lm : m->a_cache;
    } else {
        s->g_active = current_g(s, 0);
        s->a_active = current_g(s, 1);
    }
    forward(s, &a);
    if (need_g) {
        if (owns_g(s)) s->g_valid = 1;
        else m->g_valid = 1;
        m->anet_runs++;
    }
    s->pos += n;
    return PLDR_OK;
}

static int run(pldr_session *s, const int32_t *ids, int n, int mask_pads, float *all_logits) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    if (!ids || n < 1) return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "no tokens to run (n = %d)", n);
    int rc = check_tokens(s, ids, n);
    if (rc) return rc;
    s->logits_valid = 0;
    if (s->model->params.gcache_mode == PLDR_GCACHE_OFF && !s->own_g) return run_full(s, ids, n, all_logits);
    return run_cached(s, ids, n, mask_pads, all_logits);
}

int pldr_session_prefill(pldr_session *s, const int32_t *ids, int n, float *all_logits) {
    return run(s, ids, n, 1, all_logits);
}

/* The reference's cached decode step applies no mask (spec §3). */
int pldr_session_decode(pldr_session *s, int32_t id) { return run(s, &id, 1, 0, NULL); }

const float *pldr_session_logits(const pldr_session *s) { return s && s->logits_valid ? s->logits : NULL; }

int pldr_session_rewind(pldr_session *s, int n) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    if (n < 0 || n > s->pos)
        return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "cannot rewind %d positions: the session holds %d", n, s->pos);
    s->pos -= n;
    if (n > 0) s->logits_valid = 0;
    if (s->pos == 0 && owns_g(s)) s->g_valid = 0;
    return PLDR_OK;
}

int pldr_session_position(const pldr_session *s) { return s ? s->pos : 0; }
int pldr_session_context_length(const pldr_session *s) { return s ? s->ctx : 0; }
const float *pldr_session_gcache(const pldr_session *s, int which) { return s ? current_g(s, which ? 1 : 0) : NULL; }
size_t pldr_session_kv_bytes(const pldr_session *s) { return s ? s->kv_bytes : 0; }
size_t pldr_session_scratch_bytes(const pldr_session *s) { return s ? s->scratch_bytes + s->act_bytes + s->anet_bytes + s->kernel.cap : 0; }

int pldr_model_compute_gcache(pldr_model *m, const int32_t *ids, int n) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_READY) return model_fail(m, PLDR_ERR_STATE, "compute_gcache needs a finalized model");
    if (m->hp.custom_g != CUSTOM_G_NONE)
        return model_fail(m, PLDR_ERR_GCACHE, "this model has a predefined G (custom_G_type): there is no A-net to compute G with");
    if (!ids || n < 1 || n > m->hp.max_pos)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "compute_gcache: %d tokens (expected 1..%d)", n, m->hp.max_pos);
    pldr_session *s = session_create(m, n, 1);
    if (!s) return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory computing G");
    int rc = pldr_session_prefill(s, ids, n, NULL);
    if (rc) {
        model_fail(m, rc, "%s", s->error);
    } else {
        size_t count = g_count(&m->hp);
        memcpy(m->g_cache, s->g, count * sizeof(float));
        memcpy(m->a_cache, s->a_lm, count * sizeof(float));
        m->g_valid = 1;
        m->params.gcache_mode = PLDR_GCACHE_FIXED;
    }
    pldr_session_free(s);
    return rc;
}
