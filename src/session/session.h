/* session.h — a session: position, token history, KV-cache (kvcache.h), its side of the G-cache
 * (gcache.h), the run in progress and the scratch it runs in; internal.
 *
 *   session.c  lifecycle, errors, scratch, getters
 *   prefill.c  a run (prefill or decode) as a list of steps: begin / step / cancel
 *   forward.c  the math of those steps (spec §1–§2)
 *   kvcache.c  the KV-cache: store, rewind, shift
 *   gcache.c   the G-cache policy and the A-net step
 *   state.c    the session's state as bytes: export, import */
#ifndef PLDR_SESSION_H
#define PLDR_SESSION_H

#include "../model/anet.h"
#include "../model/model.h"
#include "gcache.h"
#include "kvcache.h"

/* Rows a step works on at a time: one layer over PREFILL_CHUNK tokens is short enough to stop
 * between (about 40 ms at the 110M shape in WebAssembly) and long enough to keep the matrix
 * kernels fed (PREFILL_CHUNK is their activation chunk, ACT_CHUNK). A last chunk shorter than
 * CHUNK_MIN_TAIL joins the one before, so that every chunk of a run of 8 tokens or more takes
 * the float32 kernel's many-token path: chunked and unchunked runs give the same bits. */
#define PREFILL_CHUNK 64
#define CHUNK_MIN_TAIL 8
#define CHUNK_MAX_ROWS (PREFILL_CHUNK + CHUNK_MIN_TAIL - 1)

/* A run of tokens (a prefill or a decode) in progress, as a list of steps (prefill.c). */
struct prefill_run {
    int active;
    int start;            /* position of the first row run: the session's position, 0 in mode off */
    int n;                /* rows run, at positions start .. start+n-1 */
    int n_new;            /* the last n_new rows are the new tokens */
    int mask_pads;        /* mask key positions holding the pad id (a full pass) */
    float *all_logits;    /* [n_new][V] or NULL */
    const float *g;       /* [L][H][dk][dk]  the G_LM attention uses */
    int compute_g;        /* the A-net steps compute it, into g_out / a_out (= g) */
    float *g_out, *a_out; /* [L][H][dk][dk] */
    unsigned epoch;       /* the model's G-cache epoch at begin */
    int chunks;           /* chunks of rows per layer */
    int head_chunks;      /* chunks of rows whose logits are computed */
    int next, total;      /* steps done, steps in all */
    double anet_ms;       /* time spent in its A-net steps */
};

struct pldr_session {
    pldr_model *model;
    int ctx;              /* positions the KV-cache holds */
    int pos;              /* positions held */
    int32_t *ids;         /* [ctx] token history (ids past pos: those of the run in progress) */
    kv_cache kv;
    session_gcache gc;
    prefill_run run;

    float *logits;        /* [V] of the last position run */
    int logits_valid;

    int cap;              /* rows the two buffers below hold */
    float *x, *q;         /* [cap][D] residual stream, queries after RoPE: every row of a run */
    int chunk_cap;        /* rows the chunk buffers below hold */
    float *k, *v;         /* [chunk_cap][D] keys and values of one chunk, before they are cached */
    float *att, *xb;      /* [chunk_cap][D] attention output, a work row */
    float *hb, *hb2;      /* [chunk_cap][dff] */
    anet_scratch anet;
    void *anet_mem;       /* the block anet's buffers are carved from */
    pk_scratch kernel;    /* work memory the matrix kernels pack into */
    pk_scratch work;      /* buffers of kernels run on this thread alone: attention's q·G [dk] and
                             scores [ctx], the A-net's per-head [dk][dk] twice (forward_work_bytes) */
    size_t scratch_bytes, act_bytes, anet_bytes;
    uint64_t model_id;    /* state.c: fingerprint of the model, once computed */
    int model_id_valid;
    char error[512];
    pldr_status status;   /* code of the last error */
};

/* session.c */
int session_fail(pldr_session *s, int code, const char *fmt, ...);
/* A new session of context ctx and KV-cache format kv_format (checked by the caller); force_own:
 * pldr_model_compute_gcache's. NULL when out of memory. */
pldr_session *session_create(pldr_model *m, int ctx, int kv_format, int force_own);
/* Catches up with a replaced model G-cache: a stale session is reset to position 0. */
void session_refresh(pldr_session *s);
/* Scratch for a run of n rows (grown on demand; a failure leaves the old scratch). */
int session_ensure_scratch(pldr_session *s, int n);
void *session_alloc(size_t n, size_t size, size_t *counter);

/* memory.c: the bytes a session of context ctx and KV-cache format kv_format allocates at most (all
 * its runs included), in 64 bits; UINT64_MAX when no 64-bit count holds them */
uint64_t session_bytes_needed(const pldr_model *m, int ctx, int kv_format);

/* forward.c: the steps of a run (prefill.c orders them; the A-net step is gcache_layer) */
/* Bytes of s->work attention needs at context ctx (0 when that does not fit a size_t). */
size_t forward_work_bytes(const pldr_hparams *hp, int ctx);
void forward_embed(pldr_session *s, const prefill_run *r);
void forward_qkv(pldr_session *s, const prefill_run *r, int layer, int t0, int n);
void forward_attend(pldr_session *s, const prefill_run *r, int layer, int t0, int n);
void forward_head(pldr_session *s, const prefill_run *r, int t0, int n);

#endif
