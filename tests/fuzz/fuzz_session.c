/* fuzz_session.c — sessions with ids, counts and orders from the input: pldr_session_new (any
 * context, either KV-cache format and invalid ones), prefill (with and without all_logits), decode, rewind, context shift, the stepped
 * prefill (begin / step with any budget / cancel, other calls while it is open), and the G-cache
 * changing under them (pldr_model_set_gcache with right and wrong counts, values that are not
 * finite, pldr_model_compute_gcache; pldr_model_compute_g beside them), a session's state exported
 * and imported into another session (of either KV-cache format, maybe with a byte flipped), on
 * the small shapes of fuzz.h in every G-cache mode and weight format. all_logits buffers are allocated at exactly [n][vocab]: ASan holds the library
 * to them.
 *
 * Properties (include/pldr.h): a failed call leaves the position as it was (a stepped prefill
 * overtaken by a new G resets the session to 0, as documented); a prefill of n tokens advances the
 * position by n, a rewind of n takes it back by n, a shift drops n_drop; the position never
 * passes the context; all_logits' last row is pldr_session_logits; installing a G resets every
 * session to position 0; a state imports into a session of its KV-cache format and context (then
 * both sessions hold the same ids, and their next decode step gives the same logits, bit for bit)
 * and is refused, changing nothing, into another format, a shorter context, or when damaged. */
#include "fuzz.h"

#define MAX_SESSIONS 3

typedef struct {
    pldr_model *m;
    pldr_session *s[MAX_SESSIONS];
    int vocab;
} world;

static pldr_session *pick(world *w, fuzz_input *in) { return w->s[take_u8(in) % MAX_SESSIONS]; }

static void check_position(pldr_session *s) {
    int pos = pldr_session_position(s), ctx = pldr_session_context_length(s);
    CHECK(pos >= 0 && pos <= ctx, "position %d of a context of %d", pos, ctx);
}

static int pick_count(fuzz_input *in, pldr_session *s) {
    int ctx = pldr_session_context_length(s), pos = pldr_session_position(s);
    int choices[] = {0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 71, 72, 73, ctx, ctx - pos, ctx - pos + 1, pos, pos + 1, -1, take_count(in)};
    return choices[take_u8(in) % (sizeof choices / sizeof *choices)];
}

/* a count of ids to run: as pick_count, but one that a buffer can hold (past the context anyway) */
static int pick_run(fuzz_input *in, pldr_session *s) {
    int n = pick_count(in, s);
    return n > 4096 ? pldr_session_context_length(s) + 1 : n;
}

/* n ids (n > 0), mostly inside the vocabulary */
static int32_t *pick_ids(world *w, fuzz_input *in, int n) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; ids && i < n; i++) {
        uint8_t b = take_u8(in);
        ids[i] = b < 250 ? b % w->vocab : b == 250 ? w->vocab : b == 251 ? -1 : b == 252 ? INT32_MAX : 0;
    }
    return ids;
}

/* all_logits [n][vocab] for one run in three, when small */
static float *pick_all_logits(world *w, fuzz_input *in, int n) {
    if (n < 1 || take_u8(in) % 3 || (double)n * w->vocab > (1 << 22)) return NULL;
    return malloc((size_t)n * (size_t)w->vocab * sizeof(float));
}

static void after_run(world *w, pldr_session *s, int rc, int before, int n, const float *all) {
    if (rc) {
        check_message(pldr_session_error(s));
        CHECK(pldr_session_position(s) == before, "a failed run (%s) moved the position %d -> %d", pldr_status_name(rc), before,
              pldr_session_position(s));
        return;
    }
    CHECK(pldr_session_position(s) == before + n, "a run of %d at %d ended at %d", n, before, pldr_session_position(s));
    const float *logits = pldr_session_logits(s);
    CHECK(logits != NULL, "no logits after a run");
    if (all) CHECK(memcmp(all + (size_t)(n - 1) * w->vocab, logits, (size_t)w->vocab * sizeof(float)) == 0, "all_logits' last row");
}

static void op_prefill(world *w, fuzz_input *in, int decode) {
    pldr_session *s = pick(w, in);
    if (!s) return;
    int n = decode ? 1 : pick_run(in, s), before = pldr_session_position(s), rc;
    int32_t *ids = n > 0 ? pick_ids(w, in, n) : NULL;
    float *all = decode ? NULL : pick_all_logits(w, in, n);
    if (decode) rc = ids ? pldr_session_decode(s, ids[0]) : PLDR_OK;
    else rc = pldr_session_prefill(s, ids, n, all);
    if (!decode || ids) after_run(w, s, rc, before, n, all);
    free(ids);
    free(all);
}

/* A stepped prefill with other calls on the session while it is open, maybe a new G under it. */
static void op_stepped(world *w, fuzz_input *in) {
    pldr_session *s = pick(w, in);
    if (!s) return;
    int n = pick_run(in, s), before = pldr_session_position(s);
    int32_t *ids = n > 0 ? pick_ids(w, in, n) : NULL;
    float *all = pick_all_logits(w, in, n);
    int rc = pldr_session_prefill_begin(s, ids, n, all);
    free(ids); /* begin copied them */
    if (rc) {
        after_run(w, s, rc, before, n, NULL);
        free(all);
        return;
    }
    before = pldr_session_position(s); /* begin may have caught up with a new G */
    int open = 1;
    for (int k = 0; k < 64 && open; k++) {
        uint8_t op = take_u8(in) % 8;
        if (op == 0) { /* other calls are refused while it is open */
            int32_t id = 1;
            CHECK(pldr_session_decode(s, id) == PLDR_ERR_STATE && pldr_session_rewind(s, 0) == PLDR_ERR_STATE &&
                      pldr_session_shift(s, 0, 0) == PLDR_ERR_STATE && pldr_session_prefill(s, &id, 1, NULL) == PLDR_ERR_STATE,
                  "a call ran during a stepped prefill");
            CHECK(pldr_session_position(s) == before, "the position moved during a stepped prefill");
            continue;
        }
        if (op == 1) {
            pldr_session_prefill_cancel(s);
            CHECK(pldr_session_position(s) == before, "cancel moved the position");
            open = 0;
            continue;
        }
        if (op == 2 && take_u8(in) % 4 == 0) { /* a new G: the prefill must end in PLDR_ERR_GCACHE */
            size_t count = pldr_model_gcache_count(w->m);
            float *g = malloc(count * sizeof(float) + 1);
            if (g) fuzz_fill(g, count, "G", 9);
            if (g && pldr_model_set_gcache(w->m, g, count) == PLDR_OK) {
                CHECK(pldr_session_prefill_step(s, 1) == PLDR_ERR_GCACHE, "a prefill went on under a new G");
                CHECK(pldr_session_position(s) == 0, "the session was not reset");
                open = 0;
            }
            free(g);
            if (!open) continue;
        }
        int budgets[] = {1, 2, 3, 1000, 0, -1, INT32_MAX};
        int budget = budgets[take_u8(in) % 7];
        rc = pldr_session_prefill_step(s, budget);
        if (budget < 1) {
            CHECK(rc == PLDR_ERR_INVALID_ARGUMENT, "a step of budget %d: %d", budget, rc);
            continue;
        }
        CHECK(rc >= 0, "a step failed: %s", pldr_session_error(s));
        if (rc == 0) {
            after_run(w, s, PLDR_OK, before, n, all);
            CHECK(pldr_session_prefill_step(s, 1) == PLDR_ERR_STATE, "a step after the end");
            open = 0;
        }
    }
    if (open) pldr_session_prefill_cancel(s); /* before its all_logits go */
    free(all);
}

static void op_rewind_shift(world *w, fuzz_input *in, int shift) {
    pldr_session *s = pick(w, in);
    if (!s) return;
    int before = pldr_session_position(s), n = pick_count(in, s), keep = shift ? pick_count(in, s) : 0;
    int rc = shift ? pldr_session_shift(s, keep, n) : pldr_session_rewind(s, n);
    int now = pldr_session_position(s);
    if (rc) {
        check_message(pldr_session_error(s));
        CHECK(now == before, "a failed %s moved the position", shift ? "shift" : "rewind");
    } else {
        CHECK(now == before - n, "a %s of %d at %d ended at %d", shift ? "shift" : "rewind", n, before, now);
    }
}

static void op_set_gcache(world *w, fuzz_input *in, int compute) {
    size_t count = pldr_model_gcache_count(w->m);
    int rc;
    if (compute) {
        int n = take_u8(in) % 5;
        int32_t *ids = n ? pick_ids(w, in, n) : NULL;
        rc = pldr_model_compute_gcache(w->m, ids, n);
        free(ids);
    } else {
        size_t choices[4] = {count, count - 1, count + 1, 0}, given = choices[take_u8(in) % 4];
        float *g = malloc((given + 1) * sizeof(float));
        if (!g) return;
        fuzz_fill(g, given, "G", take_u8(in));
        if (given && take_u8(in) % 4 == 0) g[take_u32(in) % given] = take_u8(in) % 2 ? NAN : INFINITY;
        rc = pldr_model_set_gcache(w->m, g, given);
        free(g);
    }
    if (rc) {
        check_message(pldr_model_error(w->m));
        return;
    }
    CHECK(pldr_model_gcache_mode(w->m) == PLDR_GCACHE_FIXED, "mode after installing a G");
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (w->s[i]) CHECK(pldr_session_position(w->s[i]) == 0, "a session kept its positions under a new G");
}

/* G of a prompt copied out (pldr_model_compute_g) into a buffer of a right or wrong count: nothing
 * the sessions see changes. */
static void op_compute_g(world *w, fuzz_input *in) {
    size_t count = pldr_model_gcache_count(w->m), choices[3] = {count, count - 1, count + 1}, given = choices[take_u8(in) % 3];
    int n = take_u8(in) % 5, positions[MAX_SESSIONS];
    for (int i = 0; i < MAX_SESSIONS; i++) positions[i] = w->s[i] ? pldr_session_position(w->s[i]) : 0;
    int32_t *ids = n ? pick_ids(w, in, n) : NULL;
    float *g = malloc((given + 1) * sizeof(float)), *a = malloc((given + 1) * sizeof(float));
    double ms = -1;
    int rc = g && a ? pldr_model_compute_g(w->m, ids, n, g, take_u8(in) % 2 ? a : NULL, given, &ms) : PLDR_OK;
    if (rc) check_message(pldr_model_error(w->m));
    else CHECK(given == count && ms >= 0, "compute_g into %zu of %zu floats", given, count);
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (w->s[i]) CHECK(pldr_session_position(w->s[i]) == positions[i], "compute_g moved a session");
    free(ids);
    free(g);
    free(a);
}

static void op_new(world *w, fuzz_input *in) {
    int i = take_u8(in) % MAX_SESSIONS, max = pldr_model_context_max(w->m);
    if (w->s[i]) {
        pldr_session_free(w->s[i]);
        w->s[i] = NULL;
        return;
    }
    int choices[] = {0, 1, 2, 7, 8, 9, 63, 64, 65, 71, 72, max, max + 1, -1};
    int formats[] = {PLDR_KV_F32, PLDR_KV_F16, PLDR_KV_F16, 2, -1};
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = choices[take_u8(in) % (sizeof choices / sizeof *choices)];
    sp.kv_format = formats[take_u8(in) % (sizeof formats / sizeof *formats)];
    w->s[i] = pldr_session_new(w->m, &sp);
    if (!w->s[i]) {
        check_message(pldr_model_error(w->m));
        int st = pldr_model_status(w->m);
        CHECK(st == PLDR_ERR_INVALID_ARGUMENT || st == PLDR_ERR_GCACHE, "session_new: %s", pldr_model_error(w->m));
        return;
    }
    CHECK(pldr_session_position(w->s[i]) == 0 && pldr_session_context_length(w->s[i]) == (sp.context_length ? sp.context_length : max),
          "a new session");
    CHECK((int)pldr_session_kv_format(w->s[i]) == sp.kv_format, "a new session's KV-cache format");
}

/* One session's state into another (or itself), maybe with one byte flipped. */
static void op_state(world *w, fuzz_input *in) {
    pldr_session *s = pick(w, in), *d = pick(w, in);
    if (!s || !d) return;
    size_t size = pldr_session_state_size(s);
    if (!size) {
        check_message(pldr_session_error(s));
        return;
    }
    unsigned char *buf = malloc(size);
    if (!buf) return;
    CHECK(pldr_session_state_export(s, buf, size) == PLDR_OK, "export: %s", pldr_session_error(s));
    CHECK(pldr_session_state_export(s, buf, size - 1) == PLDR_ERR_INVALID_ARGUMENT, "export into a buffer one byte short");
    int flipped = take_u8(in) % 4 == 0;
    if (flipped) buf[take_u32(in) % size] ^= (unsigned char)(1u << (take_u8(in) % 8));
    int pos = pldr_session_position(s), before = pldr_session_position(d);
    int rc = pldr_session_state_import(d, buf, size);
    free(buf);
    int fits = pos <= pldr_session_context_length(d);
    int same_format = pldr_session_kv_format(s) == pldr_session_kv_format(d) || pldr_model_gcache_mode(w->m) == PLDR_GCACHE_OFF;
    if (rc) {
        check_message(pldr_session_error(d));
        CHECK(rc == PLDR_ERR_SESSION_STATE || rc == PLDR_ERR_CONTEXT_OVERFLOW || rc == PLDR_ERR_OUT_OF_MEMORY, "import: %s",
              pldr_session_error(d));
        CHECK(pldr_session_position(d) == before, "a refused import moved the position");
        CHECK(flipped || !fits || !same_format || rc == PLDR_ERR_OUT_OF_MEMORY, "a sound state was refused: %s", pldr_session_error(d));
        return;
    }
    CHECK(!flipped && fits && same_format, "a state was taken that should not be (%s)",
          flipped ? "a flipped byte" : !fits ? "longer than the context" : "another KV-cache format");
    CHECK(pldr_session_position(d) == pos, "imported %d positions, holds %d", pos, pldr_session_position(d));
    if (pos == 0) return;
    CHECK(memcmp(pldr_session_tokens(d), pldr_session_tokens(s), (size_t)pos * sizeof(int32_t)) == 0, "imported ids");
    if (d == s || pos >= pldr_session_context_length(s) || pos >= pldr_session_context_length(d)) return;
    int32_t id = take_u8(in) % w->vocab;
    if (pldr_session_decode(s, id) || pldr_session_decode(d, id)) return; /* e.g. out of memory: each is checked elsewhere */
    CHECK(memcmp(pldr_session_logits(s), pldr_session_logits(d), (size_t)w->vocab * sizeof(float)) == 0,
          "the next step after an import differs from the session it came from");
}

static void op_read(world *w, fuzz_input *in) {
    pldr_session *s = pick(w, in);
    if (!s) return;
    volatile float sum = 0;
    const float *logits = pldr_session_logits(s);
    for (int i = 0; logits && i < w->vocab; i++) sum += logits[i];
    const float *g = pldr_session_gcache(s, (pldr_gcache_tensor)(take_u8(in) % 2));
    for (size_t i = 0, n = pldr_model_gcache_count(w->m); g && i < n; i++) sum += g[i];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t head = take_u8(&in);
    const fuzz_shape *shape = &FUZZ_SHAPES[FUZZ_SMALL_SHAPES + (head >> 4) % (N_FUZZ_SHAPES - FUZZ_SMALL_SHAPES)];
    int mode = head % 4 == 3 && shape->custom_g ? 0 : head % 4;
    world w = {.m = fuzz_model(shape, mode, (head >> 2) % 3)};
    if (!w.m) return 0;
    w.vocab = pldr_model_vocab_size(w.m);
    for (int ops = 0; in.n && ops < 40; ops++) {
        switch (take_u8(&in) % 14) {
        case 0: case 1: op_new(&w, &in); break;
        case 2: case 3: op_prefill(&w, &in, 0); break;
        case 4: op_prefill(&w, &in, 1); break;
        case 5: op_stepped(&w, &in); break;
        case 6: op_rewind_shift(&w, &in, 0); break;
        case 7: op_rewind_shift(&w, &in, 1); break;
        case 8: op_set_gcache(&w, &in, 0); break;
        case 9: op_set_gcache(&w, &in, 1); break;
        case 10: op_compute_g(&w, &in); break;
        case 11: op_state(&w, &in); break;
        default: op_read(&w, &in); break;
        }
        for (int i = 0; i < MAX_SESSIONS; i++)
            if (w.s[i]) check_position(w.s[i]);
    }
    for (int i = 0; i < MAX_SESSIONS; i++) pldr_session_free(w.s[i]);
    pldr_model_free(w.m);
    return 0;
}
