/* session.h — a session: KV-cache, position, token history, scratch; internal. */
#ifndef PLDR_SESSION_H
#define PLDR_SESSION_H

#include "../model/model.h"

typedef struct { /* A-net work space, rows = H*dk rows of dk (every head's A at once) */
    pk_scratch *kernel; /* the session's kernel work memory */
    float *a;       /* [H*dk][dk]  A */
    float *a_in;    /* [H*dk][dk]  residual input */
    float *h1, *h2; /* [H*dk][A_dff] */
    float *t, *z;   /* [dk][dk] */
} anet_scratch;

struct pldr_session {
    pldr_model *model;
    int ctx;            /* positions the KV-cache holds */
    int pos;            /* positions held */
    int32_t *ids;       /* [ctx] token history */
    float *k_cache;     /* [L][H][ctx][dk]  keys after RoPE */
    float *v_cache;     /* [L][H][ctx][dk] */

    float *g, *a_lm;    /* [L][H][dk][dk]  the session's own G-cache (modes prompt, off) */
    int g_valid;
    int own_g;          /* compute G into g/a_lm whatever the model's mode (compute_gcache) */
    const float *g_active, *a_active; /* what attention uses: model's or session's */

    float *logits;      /* [V] of the last position run */
    int logits_valid;

    int cap;            /* positions the scratch below holds */
    float *x, *xb;      /* [cap][D] residual stream, work */
    float *q, *k, *v;   /* [cap][D] */
    float *att;         /* [cap][D] attention output before the dense layer */
    float *hb, *hb2;    /* [cap][dff] */
    float *scores;      /* [ctx] */
    float *qg;          /* [dk]  q·G of one head */
    anet_scratch anet;
    pk_scratch kernel;  /* work memory the matrix kernels pack into */
    size_t kv_bytes, scratch_bytes, act_bytes, anet_bytes;
    char error[512];
};

int session_fail(pldr_session *s, int code, const char *fmt, ...);

/* forward.c: runs ids[0..n) at positions s->pos.. (does not advance pos). need_g: run the A-net
 * on these queries into (g, a). logits_from: first row whose logits go to all_logits. */
typedef struct {
    const int32_t *ids;
    int n;
    int mask_pads;
    float *g, *a;          /* A-net output [L][H][dk][dk], or NULL to use s->g_active */
    float *all_logits;     /* [n - logits_from][V] or NULL */
    int logits_from;
} forward_args;

int forward(pldr_session *s, const forward_args *args);

/* anet.c: A_LM and G_LM of one layer from its queries q [n][D] (spec §2.3–2.4) */
void anet_layer(const pldr_model *m, const pldr_layer *ly, const float *q, int n, anet_scratch *ws,
                float *g, float *a_lm);
int anet_scratch_alloc(pldr_session *s);

#endif
