/* gcache.h — the G-cache policy (spec §3.2): which G_LM a session attends with, and when the A-net
 * computes one; internal. Everything about it is gcache.c; the model only stores what is
 * published or installed (model.h: model_gcache). */
#ifndef PLDR_GCACHE_H
#define PLDR_GCACHE_H

#include "../model/model.h"

typedef struct pldr_session pldr_session;
typedef struct prefill_run prefill_run;

/* A session's side of the G-cache. */
typedef struct {
    float *g, *a;            /* [L][H][dk][dk]  the session's own G_LM and A_LM */
    float *next_g, *next_a;  /* [L][H][dk][dk]  where a run computes G; swapped in when it completes */
    int own_valid;           /* g, a are the G of the positions held: attention uses them */
    int force_own;           /* pldr_model_compute_gcache's session: its own G, whatever the mode */
    int uncounted;           /* pldr_model_compute_g's: its A-net runs are not the model's */
    double last_anet_ms;     /* A-net time of the last run that computed G */
    unsigned epoch;          /* the model's G-cache epoch the positions held were computed under */
    size_t bytes;
} session_gcache;

/* Decides, at the start of a run, whether it computes G (r->compute_g, into r->g_out / r->a_out)
 * or which G it attends with (r->g); allocates what computing needs. PLDR_OK or an error that
 * leaves the session unchanged. */
int gcache_plan(pldr_session *s, prefill_run *r);

/* The run's A-net step: G_LM and A_LM of layer l from the queries of all its rows (spec §2.3). */
void gcache_layer(pldr_session *s, prefill_run *r, int l);

/* The run completed: what it computed becomes the session's (or, mode first, the model's) G. */
void gcache_commit(pldr_session *s, const prefill_run *r);

/* The session was rewound to position 0: the G of its old positions goes with them. */
void gcache_forget(pldr_session *s);

/* Whether the model's G-cache was replaced since the session's positions were computed. */
int gcache_stale(const pldr_session *s);

/* The G_LM (which 0) or A_LM (1) the session attends with now or at its next run, or NULL. */
const float *gcache_current(const pldr_session *s, int which);

/* state.c's import: makes room for the session's own G (PLDR_OK or out of memory, nothing else
 * changed), then adopts g and a [L][H][dk][dk] as the G of the positions held. */
int gcache_reserve(pldr_session *s);
void gcache_adopt(pldr_session *s, const void *g, const void *a);

void gcache_free(session_gcache *gc);

#endif
