/* gcache.c — the G-cache (spec §3.2), all of its policy in one place.
 *
 * G_LM is computed by the A-net (src/model/anet.c) from the queries of every position of a run,
 * layer by layer, during that run. Where the G a session attends with comes from:
 *
 *   first   the model's G-cache, published by the first run of any session that completes while
 *           the model has none (a run that began before, and completes after, keeps its own G)
 *   prompt  the session's own, computed by its first run (again after a rewind to position 0)
 *   off     the session's own, recomputed by every run over the whole sequence
 *   fixed   the model's, installed by pldr_model_set_gcache / _compute_gcache or predefined by
 *           the checkpoint (custom_G_type, model.c)
 *
 * A run computes G into the session's next_g / next_a and swaps it in (or publishes it) only when
 * it completes, so a cancelled run leaves every G as it was. Installing a G starts a new epoch of
 * the model's G-cache: a session whose positions were computed under an older epoch is stale and
 * is reset to position 0 at its next call (its getters already answer as if it were). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../platform.h"
#include "profile.h"
#include "session.h"

/* Whether this session's G is its own by mode (prompt, off, compute_gcache) rather than the model's. */
static int owns_g_by_mode(const pldr_session *s) {
    int mode = s->model->params.gcache_mode;
    return s->gc.force_own || mode == PLDR_GCACHE_PROMPT || mode == PLDR_GCACHE_OFF;
}

int gcache_stale(const pldr_session *s) { return s->gc.epoch != model_gcache_epoch(s->model); }

static int own_current(const pldr_session *s) { return s->gc.own_valid && !gcache_stale(s); }

const float *gcache_current(const pldr_session *s, int which) {
    if (own_current(s)) return which ? s->gc.a : s->gc.g;
    if (owns_g_by_mode(s)) return NULL; /* computed by its next run */
    return which ? model_gcache_a(s->model) : model_gcache_g(s->model);
}

static int alloc_own(pldr_session *s) {
    session_gcache *gc = &s->gc;
    if (gc->g) return PLDR_OK;
    size_t n = g_count(&s->model->hp);
    float **bufs[4] = {&gc->g, &gc->a, &gc->next_g, &gc->next_a};
    for (int i = 0; i < 4; i++) *bufs[i] = session_alloc(n, sizeof(float), &gc->bytes);
    if (gc->g && gc->a && gc->next_g && gc->next_a) return PLDR_OK;
    gcache_free(gc);
    return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the session's G-cache");
}

static int alloc_anet(pldr_session *s) {
    if (s->anet_mem) return PLDR_OK;
    size_t bytes = anet_scratch_bytes(&s->model->hp);
    s->anet_mem = bytes ? malloc(bytes) : NULL;
    if (!s->anet_mem) return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the A-net work space");
    anet_scratch_bind(&s->anet, &s->model->hp, s->anet_mem, &s->kernel, &s->work);
    s->anet_bytes = bytes;
    return PLDR_OK;
}

int gcache_plan(pldr_session *s, prefill_run *r) {
    pldr_model *m = s->model;
    int mode = m->params.gcache_mode;
    r->epoch = model_gcache_epoch(m);
    if (mode == PLDR_GCACHE_OFF && !s->gc.force_own) r->compute_g = 1;  /* every run: A0 over all */
    else if (s->gc.own_valid) r->compute_g = 0;                         /* prompt, or first's late run */
    else r->compute_g = owns_g_by_mode(s) || (mode == PLDR_GCACHE_FIRST && !model_gcache_ready(m));
    if (!r->compute_g) {
        r->g = s->gc.own_valid ? s->gc.g : model_gcache_g(m);
        if (!r->g) return session_fail(s, PLDR_ERR_GCACHE, "no G installed for this model (mode fixed)");
        return PLDR_OK;
    }
    if (m->hp.custom_g != CUSTOM_G_NONE)
        return session_fail(s, PLDR_ERR_GCACHE, "no G installed for this predefined-G model");
    int rc = alloc_own(s);
    if (!rc) rc = alloc_anet(s);
    if (rc) return rc;
    r->g_out = s->gc.next_g;
    r->a_out = s->gc.next_a;
    r->g = r->g_out;
    return PLDR_OK;
}

void gcache_layer(pldr_session *s, prefill_run *r, int l) {
    PROFILE_SCOPE(PROF_ANET);
    const pldr_model *m = s->model;
    size_t per_layer = (size_t)m->hp.n_heads * m->hp.head_dim * m->hp.head_dim;
    double t0 = pldr_now_ms();
    anet_layer(m, &m->layers[l], s->q, r->n, &s->anet, r->g_out + l * per_layer, r->a_out + l * per_layer);
    r->anet_ms += pldr_now_ms() - t0; /* the one-off cost of G that pldr_model_anet_ms reports */
}

static void swap(float **a, float **b) {
    float *t = *a;
    *a = *b;
    *b = t;
}

void gcache_commit(pldr_session *s, const prefill_run *r) {
    session_gcache *gc = &s->gc;
    gc->epoch = r->epoch;
    if (!r->compute_g) return;
    gc->last_anet_ms = r->anet_ms;
    if (!gc->uncounted) model_count_anet_run(s->model, r->anet_ms);
    if (!owns_g_by_mode(s) && model_gcache_publish(s->model, gc->next_g, gc->next_a)) return; /* mode first */
    swap(&gc->g, &gc->next_g);
    swap(&gc->a, &gc->next_a);
    gc->own_valid = 1;
}

void gcache_forget(pldr_session *s) { s->gc.own_valid = 0; }

int gcache_reserve(pldr_session *s) { return alloc_own(s); }

void gcache_adopt(pldr_session *s, const void *g, const void *a) {
    size_t bytes = g_count(&s->model->hp) * sizeof(float);
    memcpy(s->gc.g, g, bytes);
    memcpy(s->gc.a, a, bytes);
    s->gc.own_valid = 1;
}

void gcache_free(session_gcache *gc) {
    free(gc->g);
    free(gc->a);
    free(gc->next_g);
    free(gc->next_a);
    gc->g = gc->a = gc->next_g = gc->next_a = NULL;
    gc->own_valid = 0;
    gc->bytes = 0;
}

/* ---- the public functions of the G-cache ------------------------------------------------------ */

int pldr_model_set_gcache(pldr_model *m, const float *g, size_t count) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage == STAGE_NEW) return model_fail(m, PLDR_ERR_STATE, "set_gcache before pldr_model_alloc");
    size_t n = g_count(&m->hp);
    if (!g || count != n)
        return model_fail(m, PLDR_ERR_GCACHE, "G-cache of %zu floats, but this model needs [%d][%d][%d][%d] = %zu",
                          count, m->hp.n_layers, m->hp.n_heads, m->hp.head_dim, m->hp.head_dim, n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(g[i])) return model_fail(m, PLDR_ERR_GCACHE, "G-cache value %zu is not finite (%g)", i, (double)g[i]);
    model_gcache_install(m, g, NULL);
    return PLDR_OK;
}

/* A session of its own that has run ids (its G computed by the A-net), or NULL with the model's
 * error set: what pldr_model_compute_gcache installs and pldr_model_compute_g copies out. */
static pldr_session *run_anet(pldr_model *m, const int32_t *ids, int n, int uncounted, const char *what) {
    if (m->stage != STAGE_READY) return model_fail(m, PLDR_ERR_STATE, "%s needs a finalized model", what), NULL;
    if (m->hp.custom_g != CUSTOM_G_NONE) {
        model_fail(m, PLDR_ERR_GCACHE, "this model has a predefined G (custom_G_type): there is no A-net to compute G with");
        return NULL;
    }
    if (!ids || n < 1 || n > m->hp.max_pos) {
        model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "%s: %d tokens (expected 1..%d)", what, n, m->hp.max_pos);
        return NULL;
    }
    pldr_session *s = session_create(m, n, PLDR_KV_F32, 1);
    if (!s) return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory computing G"), NULL;
    s->gc.uncounted = uncounted;
    int rc = pldr_session_prefill(s, ids, n, NULL);
    if (!rc) return s;
    model_fail(m, rc, "%s", s->error);
    pldr_session_free(s);
    return NULL;
}

int pldr_model_compute_gcache(pldr_model *m, const int32_t *ids, int n) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    pldr_session *s = run_anet(m, ids, n, 0, "compute_gcache");
    if (!s) return m->status;
    model_gcache_install(m, s->gc.g, s->gc.a);
    pldr_session_free(s);
    return PLDR_OK;
}

int pldr_model_compute_g(pldr_model *m, const int32_t *ids, int n, float *g_out, float *a_out, size_t count,
                         double *anet_ms) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    size_t want = pldr_model_gcache_count(m);
    if (!g_out || count != want)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "compute_g: room for %zu floats, but G of this model is %zu", count, want);
    pldr_session *s = run_anet(m, ids, n, 1, "compute_g");
    if (!s) return m->status;
    memcpy(g_out, s->gc.g, want * sizeof(float));
    if (a_out) memcpy(a_out, s->gc.a, want * sizeof(float));
    if (anet_ms) *anet_ms = s->gc.last_anet_ms;
    pldr_session_free(s);
    return PLDR_OK;
}

const float *pldr_model_gcache(const pldr_model *m) { return m ? model_gcache_g(m) : NULL; }
size_t pldr_model_gcache_count(const pldr_model *m) { return m && m->stage != STAGE_NEW ? g_count(&m->hp) : 0; }

const float *pldr_session_gcache(const pldr_session *s, pldr_gcache_tensor which) {
    return s ? gcache_current(s, which == PLDR_GCACHE_A_LM) : NULL;
}
