/* kvcache.c — the KV-cache (spec §3.1): keys and values stored as a run computes them, dropped by a
 * rewind, slid back by a context shift. */
#include <stdlib.h>
#include <string.h>

#include "session.h"

uint64_t kv_bytes(const pldr_hparams *hp, int ctx) {
    return u64_mul(u64_mul(u64_mul((uint64_t)hp->n_layers, (uint64_t)hp->d_model), (uint64_t)ctx), sizeof(float));
}

int kv_alloc(kv_cache *kv, const pldr_hparams *hp, int ctx) {
    int ok = 1;
    size_t bytes = size_from_u64(kv_bytes(hp, ctx), &ok), both = size_add(bytes, bytes, &ok);
    *kv = (kv_cache){.ctx = ctx};
    if (!ok) return PLDR_ERR_OUT_OF_MEMORY; /* more than a 32-bit size_t (WebAssembly) can hold */
    kv->k = malloc(bytes ? bytes : 1);
    kv->v = malloc(bytes ? bytes : 1);
    if (!kv->k || !kv->v) {
        kv_free(kv);
        return PLDR_ERR_OUT_OF_MEMORY;
    }
    kv->bytes = both;
    return PLDR_OK;
}

void kv_free(kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    *kv = (kv_cache){0};
}

static size_t head_offset(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return ((size_t)layer * hp->n_heads + head) * kv->ctx * hp->head_dim;
}

const float *kv_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return kv->k + head_offset(kv, hp, layer, head);
}

const float *kv_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return kv->v + head_offset(kv, hp, layer, head);
}

void kv_store(kv_cache *kv, const pldr_hparams *hp, int layer, int pos, const float *k, const float *v, int n) {
    int dk = hp->head_dim, D = hp->d_model;
    for (int h = 0; h < hp->n_heads; h++) {
        size_t base = head_offset(kv, hp, layer, h);
        for (int i = 0; i < n; i++) {
            size_t dst = base + (size_t)(pos + i) * dk;
            memcpy(kv->k + dst, k + (size_t)i * D + h * dk, dk * sizeof(float));
            memcpy(kv->v + dst, v + (size_t)i * D + h * dk, dk * sizeof(float));
        }
    }
}

static int check_no_run(pldr_session *s, const char *what) {
    if (!s->run.active) return PLDR_OK;
    return session_fail(s, PLDR_ERR_STATE, "%s: a stepped prefill is open (step it to the end or cancel it first)", what);
}

int pldr_session_rewind(pldr_session *s, int n) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    int rc = check_no_run(s, "rewind");
    if (rc) return rc;
    session_refresh(s);
    if (n < 0 || n > s->pos)
        return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "cannot rewind %d positions: the session holds %d", n, s->pos);
    s->pos -= n;
    if (n > 0) s->logits_valid = 0;
    if (s->pos == 0) gcache_forget(s);
    return PLDR_OK;
}

/* Context shift (spec §3.3): cached keys carry RoPE at their old positions; moving a key back by
 * n positions is a rotation by −n·θ_i of each pair (spec §2.2), so nothing is recomputed. */
int pldr_session_shift(pldr_session *s, int keep, int n_drop) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    int rc = check_no_run(s, "context shift");
    if (rc) return rc;
    session_refresh(s);
    if (keep < 0 || n_drop < 0 || keep > s->pos || n_drop > s->pos - keep) /* no int overflow */
        return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "cannot drop %d positions after the first %d: the session holds %d",
                            n_drop, keep, s->pos);
    if (n_drop == 0) return PLDR_OK;
    const pldr_hparams *hp = &s->model->hp;
    kv_cache *kv = &s->kv;
    int dk = hp->head_dim, moved = s->pos - keep - n_drop;
    for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++) {
        float *k = kv->k + (size_t)lh * kv->ctx * dk, *v = kv->v + (size_t)lh * kv->ctx * dk;
        memmove(k + (size_t)keep * dk, k + (size_t)(keep + n_drop) * dk, (size_t)moved * dk * sizeof(float));
        memmove(v + (size_t)keep * dk, v + (size_t)(keep + n_drop) * dk, (size_t)moved * dk * sizeof(float));
        for (int p = keep; p < keep + moved; p++) rope_rotate(s->model, k + (size_t)p * dk, 1, n_drop, -1.0f);
    }
    memmove(s->ids + keep, s->ids + keep + n_drop, (size_t)moved * sizeof(int32_t));
    s->pos -= n_drop;
    s->logits_valid = 0;
    return PLDR_OK;
}

size_t pldr_session_kv_bytes(const pldr_session *s) { return s ? s->kv.bytes : 0; }
