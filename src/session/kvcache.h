/* kvcache.h — the KV-cache (spec §3.1): per layer and head, the key (after RoPE) and value of every
 * position a session holds; internal. Its operations — store, rewind, shift — are kvcache.c. */
#ifndef PLDR_KVCACHE_H
#define PLDR_KVCACHE_H

#include "../model/model.h"

typedef struct {
    float *k;      /* [L][H][ctx][dk]  keys after RoPE */
    float *v;      /* [L][H][ctx][dk]  values */
    int ctx;       /* positions it holds */
    size_t bytes;
} kv_cache;

/* Bytes of each of k and v for a context of ctx positions, in 64 bits. */
uint64_t kv_bytes(const pldr_hparams *hp, int ctx);

/* PLDR_OK, or PLDR_ERR_OUT_OF_MEMORY (also when the size does not fit a size_t) */
int kv_alloc(kv_cache *kv, const pldr_hparams *hp, int ctx);
void kv_free(kv_cache *kv);

/* Keys and values k, v [n][D] of positions pos..pos+n-1 of one layer into the cache. */
void kv_store(kv_cache *kv, const pldr_hparams *hp, int layer, int pos, const float *k, const float *v, int n);

/* The keys and values [ctx][dk] of one layer and head. */
const float *kv_keys(const kv_cache *kv, const pldr_hparams *hp, int layer, int head);
const float *kv_values(const kv_cache *kv, const pldr_hparams *hp, int layer, int head);

#endif
