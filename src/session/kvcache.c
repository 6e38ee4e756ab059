/* kvcache.c — the KV-cache (spec §3.1): keys and values stored as a run computes them, dropped by a
 * rewind, slid back by a context shift. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "../util/cold.h"

size_t kv_elem_bytes(int format) { return format == PLDR_KV_F16 ? sizeof(uint16_t) : sizeof(float); }

uint64_t kv_bytes(const pldr_hparams *hp, int ctx, int format) {
    return u64_mul(u64_mul(u64_mul((uint64_t)hp->n_layers, (uint64_t)hp->d_model), (uint64_t)ctx), kv_elem_bytes(format));
}

int kv_alloc(kv_cache *kv, const pldr_hparams *hp, int ctx, int format) {
    int ok = 1;
    size_t bytes = size_from_u64(kv_bytes(hp, ctx, format), &ok), both = size_add(bytes, bytes, &ok);
    *kv = (kv_cache){.ctx = ctx, .format = format};
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

void kv_clear(kv_cache *kv) { kv->nonfinite = 0; }

/* elements before head `head` of layer `layer`: [L][H][ctx][dk] */
static size_t head_offset(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return ((size_t)layer * hp->n_heads + head) * kv->ctx * hp->head_dim;
}

static float *keys_f32(const kv_cache *kv, size_t at) { return (float *)kv->k + at; }
static float *values_f32(const kv_cache *kv, size_t at) { return (float *)kv->v + at; }
static uint16_t *keys_f16(const kv_cache *kv, size_t at) { return (uint16_t *)kv->k + at; }
static uint16_t *values_f16(const kv_cache *kv, size_t at) { return (uint16_t *)kv->v + at; }

void *kv_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return (unsigned char *)kv->k + head_offset(kv, hp, layer, head) * kv_elem_bytes(kv->format);
}

void *kv_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head) {
    return (unsigned char *)kv->v + head_offset(kv, hp, layer, head) * kv_elem_bytes(kv->format);
}

/* binary16 with all exponent bits set: an infinity or a NaN */
COLD static int f16_nonfinite(const uint16_t *h, size_t n) {
    int any = 0;
    for (size_t i = 0; i < n; i++) any |= (h[i] & 0x7C00u) == 0x7C00u;
    return any;
}

COLD void kv_written(kv_cache *kv, const pldr_hparams *hp, int n) {
    kv->nonfinite = 0;
    if (kv->format != PLDR_KV_F16) return;
    size_t row = (size_t)n * hp->head_dim; /* [n][dk] of each layer and head */
    for (int l = 0; l < hp->n_layers; l++)
        for (int h = 0; h < hp->n_heads; h++)
            kv->nonfinite |= f16_nonfinite(kv_keys(kv, hp, l, h), row) | f16_nonfinite(kv_values(kv, hp, l, h), row);
}

void kv_store(kv_cache *kv, const pldr_hparams *hp, int layer, int pos, const float *k, const float *v, int n) {
    int dk = hp->head_dim, D = hp->d_model;
    for (int h = 0; h < hp->n_heads; h++) {
        size_t base = head_offset(kv, hp, layer, h);
        for (int i = 0; i < n; i++) {
            size_t dst = base + (size_t)(pos + i) * dk;
            const float *ki = k + (size_t)i * D + h * dk, *vi = v + (size_t)i * D + h * dk;
            if (kv->format == PLDR_KV_F16) {
                kv->nonfinite |= pk_f32_to_f16_row(keys_f16(kv, dst), ki, dk);
                kv->nonfinite |= pk_f32_to_f16_row(values_f16(kv, dst), vi, dk);
            } else {
                memcpy(keys_f32(kv, dst), ki, dk * sizeof(float));
                memcpy(values_f32(kv, dst), vi, dk * sizeof(float));
            }
        }
    }
}

/* The SIMD binary16 kernels take finite values; a cache that holds a NaN or infinity (a run whose
 * activations overflowed) is read with the exact reference kernels, so the NaN shows as it would
 * in float32. That is rare: those calls are compiled for size. */
COLD_CALL static void dot_keys_nonfinite(float *scores, const float *qg, const uint16_t *keys, int n, int dk) {
    pk_ref_f16_matvec(scores, qg, keys, n, dk);
}
COLD_CALL static void sum_values_nonfinite(float *out, const float *w, const uint16_t *values, int n, int dk) {
    pk_ref_f16_vecmat(out, w, values, n, dk);
}

void kv_dot_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head, const float *qg, int n,
                 float *scores, pk_scratch *ws) {
    int dk = hp->head_dim;
    size_t at = head_offset(kv, hp, layer, head);
    if (kv->format == PLDR_KV_F16) {
        if (kv->nonfinite) dot_keys_nonfinite(scores, qg, keys_f16(kv, at), n, dk);
        else pk_f16_matvec(scores, qg, keys_f16(kv, at), n, dk);
        return;
    }
    pldr_matrix keys = {keys_f32(kv, at), PLDR_DTYPE_F32, n, dk}; /* [n][dk] */
    pk_matmul(scores, qg, &keys, NULL, 1, ws);
}

void kv_sum_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head, const float *w, int n, float *out) {
    int dk = hp->head_dim;
    size_t at = head_offset(kv, hp, layer, head);
    if (kv->format == PLDR_KV_F16) {
        if (kv->nonfinite) sum_values_nonfinite(out, w, values_f16(kv, at), n, dk);
        else pk_f16_vecmat(out, w, values_f16(kv, at), n, dk);
        return;
    }
    pk_vecmat(out, w, values_f32(kv, at), n, dk);
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
    if (s->pos == 0) {
        kv_clear(&s->kv);
        gcache_forget(s);
    }
    return PLDR_OK;
}

/* A cached key moved back by n positions: rotated by −n·θ_i (spec §2.2), in float32; a binary16 key
 * is widened, rotated and rounded back (one more rounding, ≤ 2^-11 relative per element). */
COLD static void rotate_key(pldr_session *s, void *key, int n) {
    const pldr_hparams *hp = &s->model->hp;
    if (s->kv.format != PLDR_KV_F16) {
        rope_rotate(s->model, key, 1, n, -1.0f);
        return;
    }
    const float *f16 = pk_f16_table();
    uint16_t *h = key;
    float *row = pk_scratch_reserve(&s->work, (size_t)hp->head_dim * sizeof(float)); /* [dk], free between runs */
    if (!row) return; /* cannot happen: s->work holds attention's q·G [dk] since session_create */
    for (int i = 0; i < hp->head_dim; i++) row[i] = f16[h[i]];
    rope_rotate(s->model, row, 1, n, -1.0f);
    s->kv.nonfinite |= pk_f32_to_f16_row(h, row, hp->head_dim);
}

/* Context shift (spec §3.3): cached keys carry RoPE at their old positions; moving a key back by
 * n positions is a rotation by −n·θ_i of each pair (spec §2.2), so nothing is recomputed. */
COLD int pldr_session_shift(pldr_session *s, int keep, int n_drop) {
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
    size_t esz = kv_elem_bytes(kv->format);
    for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++) {
        size_t base = (size_t)lh * kv->ctx * dk;
        unsigned char *k = (unsigned char *)kv->k + base * esz, *v = (unsigned char *)kv->v + base * esz;
        memmove(k + (size_t)keep * dk * esz, k + (size_t)(keep + n_drop) * dk * esz, (size_t)moved * dk * esz);
        memmove(v + (size_t)keep * dk * esz, v + (size_t)(keep + n_drop) * dk * esz, (size_t)moved * dk * esz);
        for (int p = keep; p < keep + moved; p++) rotate_key(s, k + (size_t)p * dk * esz, n_drop);
    }
    memmove(s->ids + keep, s->ids + keep + n_drop, (size_t)moved * sizeof(int32_t));
    s->pos -= n_drop;
    s->logits_valid = 0;
    return PLDR_OK;
}

size_t pldr_session_kv_bytes(const pldr_session *s) { return s ? s->kv.bytes : 0; }
pldr_kv_format pldr_session_kv_format(const pldr_session *s) { return s ? (pldr_kv_format)s->kv.format : PLDR_KV_F32; }
