/* session.c — sessions: lifecycle, errors, scratch, and the state getters. A run is prefill.c,
 * its math forward.c, the KV-cache kvcache.c, the G-cache gcache.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

int session_fail(pldr_session *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat_error(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    s->status = code;
    return code;
}

pldr_session_params pldr_session_default_params(void) {
    return (pldr_session_params){.context_length = 0, .kv_format = PLDR_KV_F32};
}

pldr_session_params *pldr_session_default_params_by_ref(void) {
    pldr_session_params *p = malloc(sizeof *p);
    if (p) *p = pldr_session_default_params();
    return p;
}

void pldr_session_params_free(pldr_session_params *p) { free(p); }
size_t pldr_session_params_size(void) { return sizeof(pldr_session_params); }

/* n elements of size bytes (overflow-checked for a 32-bit size_t), counted into *counter; NULL
 * when out of memory. */
void *session_alloc(size_t n, size_t size, size_t *counter) {
    int ok = 1;
    size_t bytes = size_mul(n, size, &ok);
    void *p = ok ? malloc(bytes ? bytes : 1) : NULL;
    if (p) *counter += bytes;
    return p;
}

/* s->work for every kernel that takes buffers from it: attention, the A-net's per-head step. */
static int ensure_work(pldr_session *s) {
    size_t attention = forward_work_bytes(&s->model->hp, s->ctx), anet = anet_work_bytes(&s->model->hp);
    if (!attention || !anet) return PLDR_ERR_OUT_OF_MEMORY;
    return pk_scratch_ensure(&s->work, attention > anet ? attention : anet) ? PLDR_ERR_OUT_OF_MEMORY : PLDR_OK;
}

pldr_session *session_create(pldr_model *m, int ctx, int kv_format, int force_own) {
    const pldr_hparams *hp = &m->hp;
    pldr_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->ctx = ctx;
    s->gc.force_own = force_own;
    s->gc.epoch = model_gcache_epoch(m);
    s->ids = session_alloc((size_t)ctx, sizeof(int32_t), &s->scratch_bytes);
    s->logits = session_alloc((size_t)hp->vocab, sizeof(float), &s->scratch_bytes);
    if (kv_alloc(&s->kv, hp, ctx, kv_format) || !s->ids || !s->logits || ensure_work(s)) {
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
    int ctx = params ? params->context_length : 0, kv_format = params ? params->kv_format : PLDR_KV_F32;
    if (ctx == 0) ctx = m->hp.max_pos;
    if (ctx < 1 || ctx > m->hp.max_pos) {
        model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "context_length %d outside 1..%d (max_position_embeddings)", ctx, m->hp.max_pos);
        return NULL;
    }
    if (kv_format != PLDR_KV_F32 && kv_format != PLDR_KV_F16) {
        model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "kv_format %d is not one of f32 (0), f16 (1)", kv_format);
        return NULL;
    }
    if (m->params.gcache_mode == PLDR_GCACHE_FIXED && !model_gcache_ready(m)) {
        model_fail(m, PLDR_ERR_GCACHE, m->hp.custom_g != CUSTOM_G_NONE
                       ? "this model's G is predefined (custom_G_type) but decoder.past_G_values was not loaded: install G with pldr_model_set_gcache"
                       : "G-cache mode fixed but no G installed: call pldr_model_set_gcache or pldr_model_compute_gcache first");
        return NULL;
    }
    uint64_t needed = session_bytes_needed(m, ctx, kv_format);
    if (needed > SIZE_MAX) {
        model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "a session of context %d needs %.2f GiB (%llu bytes), more than %s (its KV-cache in %s)",
                   ctx, (double)needed / (1 << 30), (unsigned long long)needed,
                   sizeof(size_t) == 4 ? "the 4 GiB a 32-bit address space (WebAssembly) holds" : "this machine's address space",
                   kv_format == PLDR_KV_F16 ? "f16" : "f32");
        return NULL;
    }
    pldr_session *s = session_create(m, ctx, kv_format, 0);
    if (!s) model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory for a session of context %d", ctx);
    return s;
}

static void free_activations(pldr_session *s) {
    float *bufs[] = {s->x, s->q};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    s->x = s->q = NULL;
    s->cap = 0;
}

static void free_chunk_buffers(pldr_session *s) {
    float *bufs[] = {s->k, s->v, s->att, s->xb, s->hb, s->hb2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    s->k = s->v = s->att = s->xb = s->hb = s->hb2 = NULL;
    s->chunk_cap = 0;
}

void pldr_session_free(pldr_session *s) {
    if (!s) return;
    kv_free(&s->kv);
    gcache_free(&s->gc);
    free_activations(s);
    free_chunk_buffers(s);
    free(s->anet_mem);
    pk_scratch_free(&s->kernel);
    pk_scratch_free(&s->work);
    free(s->ids);
    free(s->logits);
    free(s);
}

const char *pldr_session_error(const pldr_session *s) { return s ? s->error : "no session (NULL)"; }
pldr_status pldr_session_status(const pldr_session *s) { return s ? s->status : PLDR_ERR_INVALID_ARGUMENT; }

void session_refresh(pldr_session *s) {
    if (!gcache_stale(s)) return;
    s->pos = 0;
    s->logits_valid = 0;
    kv_clear(&s->kv);
    gcache_forget(s);
    s->gc.epoch = model_gcache_epoch(s->model);
}

/* The chunk buffers: rows of one step, at most CHUNK_MAX_ROWS (and the context). */
static int ensure_chunk_buffers(pldr_session *s) {
    if (s->chunk_cap) return PLDR_OK;
    const pldr_hparams *hp = &s->model->hp;
    int rows = s->ctx < CHUNK_MAX_ROWS ? s->ctx : CHUNK_MAX_ROWS, ok = 1;
    size_t bytes = 0, d_elems = size_mul((size_t)rows, (size_t)hp->d_model, &ok);
    size_t f_elems = size_mul((size_t)rows, (size_t)hp->dff, &ok);
    if (!ok) return PLDR_ERR_OUT_OF_MEMORY;
    s->k = session_alloc(d_elems, sizeof(float), &bytes);
    s->v = session_alloc(d_elems, sizeof(float), &bytes);
    s->att = session_alloc(d_elems, sizeof(float), &bytes);
    s->xb = session_alloc(d_elems, sizeof(float), &bytes);
    s->hb = session_alloc(f_elems, sizeof(float), &bytes);
    s->hb2 = session_alloc(f_elems, sizeof(float), &bytes);
    if (!s->k || !s->v || !s->att || !s->xb || !s->hb || !s->hb2) {
        free_chunk_buffers(s);
        return PLDR_ERR_OUT_OF_MEMORY;
    }
    s->chunk_cap = rows;
    s->act_bytes += bytes;
    return PLDR_OK;
}

int session_ensure_scratch(pldr_session *s, int n) {
    if (ensure_chunk_buffers(s))
        return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the activations of a chunk of tokens");
    if (n <= s->cap) return PLDR_OK;
    const pldr_hparams *hp = &s->model->hp;
    int cap = (n + 15) / 16 * 16;
    if (cap > s->ctx) cap = s->ctx;
    int ok = 1;
    size_t bytes = 0, elems = size_mul((size_t)cap, (size_t)hp->d_model, &ok);
    float *x = ok ? session_alloc(elems, sizeof(float), &bytes) : NULL;
    float *q = ok ? session_alloc(elems, sizeof(float), &bytes) : NULL;
    if (!x || !q) { /* the old buffers stay: the session is unchanged */
        free(x);
        free(q);
        return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the activations of %d tokens", n);
    }
    size_t old_bytes = 2 * (size_t)s->cap * hp->d_model * sizeof(float); /* allocated before: fits */
    free_activations(s);
    s->x = x;
    s->q = q;
    s->cap = cap;
    s->act_bytes += bytes - old_bytes;
    return PLDR_OK;
}

const float *pldr_session_logits(const pldr_session *s) {
    return s && s->logits_valid && !gcache_stale(s) ? s->logits : NULL;
}

int pldr_session_position(const pldr_session *s) { return !s ? 0 : gcache_stale(s) ? 0 : s->pos; }
const int32_t *pldr_session_tokens(const pldr_session *s) { return pldr_session_position(s) > 0 ? s->ids : NULL; }
int pldr_session_context_length(const pldr_session *s) { return s ? s->ctx : 0; }

size_t pldr_session_scratch_bytes(const pldr_session *s) {
    return s ? s->scratch_bytes + s->act_bytes + s->anet_bytes + s->gc.bytes + s->kernel.cap + s->work.cap : 0;
}
