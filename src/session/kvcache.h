/* kvcache.h — the KV-cache (spec §3.1): per layer and head, the key (after RoPE) and value of every
 * position a session holds, as float32 or binary16 (pldr_kv_format); internal. Its operations —
 * store, the two products attention reads it with, rewind, shift — are kvcache.c. */
#ifndef PLDR_KVCACHE_H
#define PLDR_KVCACHE_H

#include "../model/model.h"

typedef struct {
    void *k;       /* [L][H][ctx][dk]  keys after RoPE, float or uint16_t (binary16) */
    void *v;       /* [L][H][ctx][dk]  values */
    int format;    /* pldr_kv_format */
    int ctx;       /* positions it holds */
    int nonfinite; /* binary16: a NaN or infinity was stored (read with the exact kernels) */
    size_t bytes;
} kv_cache;

/* Bytes of each of k and v for a context of ctx positions in format (pldr_kv_format), in 64 bits. */
uint64_t kv_bytes(const pldr_hparams *hp, int ctx, int format);

/* PLDR_OK, or PLDR_ERR_OUT_OF_MEMORY (also when the size does not fit a size_t) */
int kv_alloc(kv_cache *kv, const pldr_hparams *hp, int ctx, int format);
void kv_free(kv_cache *kv);

/* Bytes of one key or value element in format (pldr_kv_format): 4 or 2. */
size_t kv_elem_bytes(int format);

/* The cached keys / values of one layer and head: [ctx][dk] elements of kv_elem_bytes(kv->format). */
void *kv_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head);
void *kv_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head);

/* After positions 0..n-1 of every layer and head were written in place (a state import): notes
 * whether they hold a NaN or infinity (binary16 then reads with the exact kernels). */
void kv_written(kv_cache *kv, const pldr_hparams *hp, int n);

/* Keys and values k, v [n][D] of positions pos..pos+n-1 of one layer into the cache. */
void kv_store(kv_cache *kv, const pldr_hparams *hp, int layer, int pos, const float *k, const float *v, int n);

/* scores[t] = qg · k_t for the cached keys t < n of one layer and head (spec §2.5) */
void kv_dot_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head, const float *qg, int n,
                 float *scores, pk_scratch *ws);
/* out[dk] = Σ_t w[t] · v_t over the cached values t < n of one layer and head */
void kv_sum_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head, const float *w, int n, float *out);

/* Forgets what the cache held (its positions are free again). */
void kv_clear(kv_cache *kv);

#endif
