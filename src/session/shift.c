/* shift.c — context shift: drop a span of cached positions and slide the later ones back, keeping
 * the G-cache. Cached keys carry RoPE at their old positions; moving a key back by n positions is
 * a rotation by −n·θ_i of each pair (spec §2.2), so nothing is recomputed. */
#include <string.h>

#include "session.h"

int pldr_session_shift(pldr_session *s, int keep, int n_drop) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    if (keep < 0 || n_drop < 0 || keep > s->pos || n_drop > s->pos - keep) /* no int overflow */
        return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "cannot drop %d positions after the first %d: the session holds %d",
                            n_drop, keep, s->pos);
    if (n_drop == 0) return PLDR_OK;
    const pldr_hparams *hp = &s->model->hp;
    int dk = hp->head_dim, moved = s->pos - keep - n_drop;
    for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++) {
        float *k = s->k_cache + (size_t)lh * s->ctx * dk, *v = s->v_cache + (size_t)lh * s->ctx * dk;
        memmove(k + (size_t)keep * dk, k + (size_t)(keep + n_drop) * dk, (size_t)moved * dk * sizeof(float));
        memmove(v + (size_t)keep * dk, v + (size_t)(keep + n_drop) * dk, (size_t)moved * dk * sizeof(float));
        for (int p = keep; p < keep + moved; p++) rope_rotate(s->model, k + (size_t)p * dk, 1, n_drop, -1.0f);
    }
    memmove(s->ids + keep, s->ids + keep + n_drop, (size_t)moved * sizeof(int32_t));
    s->pos -= n_drop;
    s->logits_valid = 0;
    return PLDR_OK;
}
