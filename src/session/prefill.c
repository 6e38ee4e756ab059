/* prefill.c — a run of tokens through the model, as a list of steps that can be taken a few at a
 * time (pldr_session_prefill_begin / _step / _cancel); the one-shot prefill and the decode step
 * are that list taken at once. The steps, in order (spec §1–§2):
 *
 *   embed                                  all rows
 *   for each layer:
 *     q, k, v                              per chunk of rows: projections, RoPE, into the KV-cache
 *     A-net                                if the run computes G: from the queries of ALL rows
 *     attention and FFN                    per chunk of rows
 *   logits                                 per chunk of rows (all_logits), or the last row
 *
 * The A-net needs every query of its layer (spec §2.3: A0 sums over all positions), so a layer's
 * attention waits for all its chunks' queries. The list depends only on the run, never on the
 * step budgets: stepped and one-shot runs do the same arithmetic in the same order. Nothing the
 * session shows changes before the last step (position, logits, G: gcache.c); what the steps
 * write before that — rows past the position in the KV-cache and the history, scratch — is
 * invisible, which is why cancelling needs no undo. */
#include <limits.h>
#include <string.h>

#include "session.h"

typedef enum { STEP_EMBED, STEP_QKV, STEP_ANET, STEP_ATTEND, STEP_HEAD } step_kind;

typedef struct {
    step_kind kind;
    int layer;
    int t0, n;  /* rows [t0, t0+n) */
} step;

static int chunk_count(int rows) {
    int full = rows / PREFILL_CHUNK, tail = rows % PREFILL_CHUNK;
    return full == 0 || tail >= CHUNK_MIN_TAIL ? full + 1 : full;
}

/* rows of chunk c of `chunks` over rows [from, from + rows): the last takes the short tail */
static step chunk_step(step_kind kind, int layer, int from, int rows, int c, int chunks) {
    int t0 = c * PREFILL_CHUNK, t1 = c == chunks - 1 ? rows : t0 + PREFILL_CHUNK;
    return (step){kind, layer, from + t0, t1 - t0};
}

static step step_at(const pldr_session *s, const prefill_run *r, int k) {
    int per_layer = 2 * r->chunks + r->compute_g, layers = s->model->hp.n_layers;
    if (k == 0) return (step){STEP_EMBED, 0, 0, r->n};
    k -= 1;
    if (k < layers * per_layer) {
        int l = k / per_layer, j = k % per_layer;
        if (j < r->chunks) return chunk_step(STEP_QKV, l, 0, r->n, j, r->chunks);
        if (r->compute_g && j == r->chunks) return (step){STEP_ANET, l, 0, r->n};
        return chunk_step(STEP_ATTEND, l, 0, r->n, j - r->chunks - r->compute_g, r->chunks);
    }
    k -= layers * per_layer;
    if (!r->all_logits) return (step){STEP_HEAD, 0, r->n - 1, 1};
    return chunk_step(STEP_HEAD, 0, r->n - r->n_new, r->n_new, k, r->head_chunks);
}

static void run_step(pldr_session *s, prefill_run *r, step st) {
    switch (st.kind) {
    case STEP_EMBED: forward_embed(s, r); break;
    case STEP_QKV: forward_qkv(s, r, st.layer, st.t0, st.n); break;
    case STEP_ANET: gcache_layer(s, r, st.layer); break;
    case STEP_ATTEND: forward_attend(s, r, st.layer, st.t0, st.n); break;
    case STEP_HEAD: forward_head(s, r, st.t0, st.n); break;
    }
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

/* Checks and readies a run of ids at the next positions; the session is unchanged on failure. */
static int run_begin(pldr_session *s, const int32_t *ids, int n, int mask_pads, float *all_logits) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    if (s->run.active)
        return session_fail(s, PLDR_ERR_STATE, "a stepped prefill is open: step it to the end or cancel it first");
    if (!ids || n < 1) return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "no tokens to run (n = %d)", n);
    session_refresh(s);
    int rc = check_tokens(s, ids, n);
    if (rc) return rc;
    int ok = 1;
    size_mul(size_mul((size_t)n, (size_t)s->model->hp.vocab, &ok), sizeof(float), &ok);
    if (all_logits && !ok) /* [n][V] is indexed with size_t: it must fit one */
        return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "all_logits of %d × %d floats is more than the address space holds",
                            n, s->model->hp.vocab);
    /* mode off: the reference's no-cache path, a full pass over the whole history every time */
    int full = s->model->params.gcache_mode == PLDR_GCACHE_OFF && !s->gc.force_own;
    prefill_run r = {.start = full ? 0 : s->pos, .n = full ? s->pos + n : n, .n_new = n,
                     .mask_pads = full || mask_pads, .all_logits = all_logits};
    rc = gcache_plan(s, &r);
    if (!rc) rc = session_ensure_scratch(s, r.n);
    if (rc) return rc;
    memcpy(s->ids + s->pos, ids, (size_t)n * sizeof(int32_t)); /* past the position: not yet history */
    r.chunks = chunk_count(r.n);
    r.head_chunks = all_logits ? chunk_count(n) : 1;
    r.total = 1 + s->model->hp.n_layers * (2 * r.chunks + r.compute_g) + r.head_chunks;
    r.active = 1;
    s->run = r;
    return PLDR_OK;
}

/* The last step is done: the run becomes the session's state. */
static void run_finish(pldr_session *s) {
    prefill_run *r = &s->run;
    int V = s->model->hp.vocab;
    if (r->all_logits) memcpy(s->logits, r->all_logits + (size_t)(r->n_new - 1) * V, (size_t)V * sizeof(float));
    s->pos = r->start + r->n;
    s->logits_valid = 1;
    gcache_commit(s, r);
    r->active = 0;
}

static int run_steps(pldr_session *s, int budget) {
    prefill_run *r = &s->run;
    if (r->epoch != model_gcache_epoch(s->model)) {
        r->active = 0;
        session_refresh(s);
        return session_fail(s, PLDR_ERR_GCACHE, "the model's G-cache was replaced during this prefill: the session was "
                            "reset to position 0 (run its tokens again)");
    }
    for (int i = 0; i < budget && r->next < r->total; i++) run_step(s, r, step_at(s, r, r->next++));
    if (r->next < r->total) return r->total - r->next;
    run_finish(s);
    return PLDR_OK;
}

int pldr_session_prefill_begin(pldr_session *s, const int32_t *ids, int n, float *all_logits) {
    return run_begin(s, ids, n, 1, all_logits);
}

int pldr_session_prefill_step(pldr_session *s, int budget) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    if (!s->run.active) return session_fail(s, PLDR_ERR_STATE, "prefill_step: no prefill is open (pldr_session_prefill_begin)");
    if (budget < 1) return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "prefill_step: budget %d (at least 1 step)", budget);
    return run_steps(s, budget);
}

void pldr_session_prefill_cancel(pldr_session *s) {
    if (s) s->run.active = 0;
}

int pldr_session_prefill(pldr_session *s, const int32_t *ids, int n, float *all_logits) {
    int rc = run_begin(s, ids, n, 1, all_logits);
    return rc ? rc : run_steps(s, INT_MAX);
}

/* The reference's cached decode step applies no mask (spec §3.1). */
int pldr_session_decode(pldr_session *s, int32_t id) {
    int rc = run_begin(s, &id, 1, 0, NULL);
    return rc ? rc : run_steps(s, INT_MAX);
}
