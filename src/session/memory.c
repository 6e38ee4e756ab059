/* memory.c — the bytes a model and a session of it will allocate (pldr_model_memory_needed),
 * computed from the hyperparameters before anything large is allocated, so that a model that
 * cannot fit is refused before a byte of its weights is read. Each term is what session.c,
 * kvcache.c, gcache.c and the kernels allocate at most; tests/memory-needed.test.mjs holds the
 * totals against what sessions really hold. */
#include <math.h>

#include "session.h"

/* Whether a session of this model runs the A-net (and so holds a G-cache and its work space). */
static int session_computes_g(const pldr_model *m) {
    return m->hp.custom_g == CUSTOM_G_NONE && m->params.gcache_mode != PLDR_GCACHE_FIXED;
}

static uint64_t floats(uint64_t n) { return u64_mul(n, sizeof(float)); }

/* s->work (session.c ensure_work): attention's q·G and scores, the A-net's per-head buffers */
static uint64_t work_bytes(const pldr_hparams *hp, int ctx) {
    size_t attention = forward_work_bytes(hp, ctx), anet = anet_work_bytes(hp); /* 0: no size_t holds it */
    if (!attention || !anet) return UINT64_MAX;
    return u64_add(attention > anet ? attention : anet, 16); /* pk_scratch_ensure's alignment slack */
}

uint64_t session_bytes_needed(const pldr_model *m, int ctx, int kv_format) {
    const pldr_hparams *hp = &m->hp;
    uint64_t D = (uint64_t)hp->d_model, n = (uint64_t)ctx;
    uint64_t rows = ctx < CHUNK_MAX_ROWS ? n : CHUNK_MAX_ROWS;
    uint64_t fixed = floats(n + (uint64_t)hp->vocab);                               /* ids; logits */
    uint64_t kv = u64_mul(kv_bytes(hp, ctx, kv_format), 2);                       /* keys and values */
    uint64_t chunk = floats(u64_mul(rows, 4 * D + 2 * (uint64_t)hp->dff));          /* k, v, att, xb; hb, hb2 */
    uint64_t act = floats(u64_mul(2 * n, D));                                        /* x, q of every row */
    int widest = hp->d_model > hp->dff ? hp->d_model : hp->dff;
    if (hp->a_dff > widest) widest = hp->a_dff;
    uint64_t kernel = pk_scratch_bound(widest), work = work_bytes(hp, ctx);
    uint64_t total = u64_add(u64_add(fixed, kv), u64_add(u64_add(chunk, act), u64_add(kernel, work)));
    /* the pool's other threads each grow a kernel and a work memory of their own for its runs */
    int others = pldr_threads_count(m->threads) - 1;
    total = u64_add(total, u64_mul((uint64_t)others, u64_add(kernel, work)));
    if (session_computes_g(m)) {
        size_t anet = anet_scratch_bytes(hp);                                        /* 0: no size_t holds it */
        total = u64_add(total, u64_add(u64_mul(floats(g_count64(hp)), 4), anet ? anet : UINT64_MAX)); /* gcache.c */
    }
    return total;
}

int pldr_model_memory_needed(pldr_model *m, const pldr_session_params *params, double *weights, double *session) {
    if (!m || !weights || !session) return PLDR_ERR_INVALID_ARGUMENT;
    int temporary = m->stage == STAGE_NEW;
    pldr_hparams hp = m->hp;
    pldr_model_params mp = m->params;
    int rc = temporary ? model_build_table(m) : PLDR_OK;
    int ctx = params ? params->context_length : 0, kv_format = params ? params->kv_format : PLDR_KV_F32;
    if (!rc && ctx == 0) ctx = m->hp.max_pos;
    if (!rc && (ctx < 1 || ctx > m->hp.max_pos))
        rc = model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "context_length %d outside 1..%d (max_position_embeddings)", ctx, m->hp.max_pos);
    if (!rc && kv_format != PLDR_KV_F32 && kv_format != PLDR_KV_F16)
        rc = model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "kv_format %d is not one of f32 (0), f16 (1)", kv_format);
    if (!rc) {
        uint64_t w = model_bytes_needed(m), s = session_bytes_needed(m, ctx, kv_format);
        *weights = w == UINT64_MAX ? INFINITY : (double)w;
        *session = s == UINT64_MAX ? INFINITY : (double)s;
    }
    if (temporary) { /* the model is as it was: hyperparameters still settable, nothing allocated */
        tensors_free(m);
        m->hp = hp;
        m->params = mp;
    }
    return rc;
}
