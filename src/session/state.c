/* state.c — a session's state as bytes, to keep and restore later (pldr_session_state_*): a chat
 * page stores it with a conversation, and after a reload the next reply goes on from the cached
 * keys and values instead of running the whole conversation again.
 *
 * Layout (little-endian, as WebAssembly and the native targets are):
 *
 *   state_header                                   fixed size, below
 *   int32  ids[pos]                                the token history of the held positions
 *   kv     k[L][H][pos][dk], v[L][H][pos][dk]      the KV-cache of those positions (spec §3.1) in
 *                                                  the session's format (float32 or binary16, the
 *                                                  header's KV layout), unless mode off (none)
 *   float  g[L][H][dk][dk], a[L][H][dk][dk]        the G_LM (and A_LM) they were computed under
 *                                                  (spec §3.2): the session's own (STATE_OWN_G)
 *                                                  or the model's (STATE_MODEL_G)
 *
 * The header names the format (magic, version, KV layout) and what the state was made for: the
 * model's shape, G-cache mode, a fingerprint of its hyperparameters and every weight byte, and a
 * fingerprint of the G. An import checks all of it, and a fingerprint of the payload, before it
 * changes anything: a damaged, foreign or stale state is refused with a message saying which. A
 * state restores into a session of its own KV-cache format only: widening binary16 keys into a
 * float32 session would not give the float32 run's next tokens, nor rounding float32 ones into
 * binary16 the binary16 run's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "../util/cold.h"

#define STATE_MAGIC "PLDRSST"  /* 7 letters and the NUL: 8 bytes */
#define STATE_VERSION 1u
#define STATE_KV_F32 1u        /* keys and values as float32 [L][H][pos][dk]; another layout, another tag */
#define STATE_KV_F16 2u        /* keys and values as IEEE binary16 [L][H][pos][dk] (PLDR_KV_F16) */

enum { STATE_KV = 1, STATE_OWN_G = 2, STATE_MODEL_G = 4 };

/* Saving and restoring happen once per reply at most: compiled for size (COLD, the module stays
 * small), except the fingerprint's inner loop, which reads every weight. */

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t kv_format;
    uint64_t model_id;       /* fingerprint of hyperparameters, weight format and tensor bytes */
    uint64_t g_id;           /* fingerprint of the G_LM the positions were computed under (0: none) */
    uint64_t payload_id;     /* fingerprint of everything after the header */
    uint64_t payload_bytes;
    int32_t n_layers, n_heads, head_dim, vocab;
    int32_t pos, gcache_mode, flags, reserved;
} state_header;

_Static_assert(sizeof(state_header) == 80, "state_header has padding");

/* ---- fingerprints: 64-bit, four lanes of multiply-rotate over 8-byte words (xxHash64's shape) -- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

typedef struct { uint64_t lane[4]; uint64_t length; } fingerprint;

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t mix(uint64_t acc, uint64_t w) { return rotl64(acc + w * P2, 31) * P1; }

COLD static void fp_init(fingerprint *f, uint64_t seed) {
    *f = (fingerprint){{seed + P1 + P2, seed + P2, seed, seed - P1}, 0};
}

/* Adds n bytes. Whole 32-byte groups go through the lanes; a tail is folded in byte by byte, so
 * any split of the same bytes into calls is not required to agree (callers add whole buffers). */
static void fp_add(fingerprint *f, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t groups = n / 32;
    NO_VECTORIZE
    for (size_t i = 0; i < groups; i++, p += 32) {
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, p + 8 * j, 8);
            f->lane[j] = mix(f->lane[j], w);
        }
    }
    for (size_t i = groups * 32; i < n; i++, p++) f->lane[i & 3] = mix(f->lane[i & 3], *p);
    f->length += n;
}

COLD static void fp_add_int(fingerprint *f, int64_t v) { fp_add(f, &v, sizeof v); }

COLD static uint64_t fp_final(const fingerprint *f) {
    uint64_t h = rotl64(f->lane[0], 1) + rotl64(f->lane[1], 7) + rotl64(f->lane[2], 12) + rotl64(f->lane[3], 18);
    for (int j = 0; j < 4; j++) h = (h ^ mix(0, f->lane[j])) * P1 + P3;
    h ^= f->length;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

/* The model as a state depends on it: shape, weight format, every tensor (name and bytes). Reading
 * every weight once takes a while at the 110M shape, so a session keeps the answer. */
COLD static uint64_t model_id(pldr_session *s) {
    if (s->model_id_valid) return s->model_id;
    const pldr_model *m = s->model;
    const pldr_hparams *hp = &m->hp;
    fingerprint f;
    fp_init(&f, 0x504C4452u);
    int64_t shape[] = {hp->n_layers, hp->d_model, hp->n_heads, hp->head_dim, hp->dff, hp->a_dff, hp->n_reslayer_a,
                       hp->n_dense_a, hp->vocab, hp->max_pos, hp->rope_interleaved, hp->custom_g, hp->eos_id, hp->pad_id,
                       hp->attention_bias, hp->glu_bias, hp->tie_embeddings, m->params.weight_format};
    fp_add(&f, shape, sizeof shape);
    double reals[] = {hp->rope_theta, hp->ln_eps};
    fp_add(&f, reals, sizeof reals);
    for (int i = 0; i < m->n_slots; i++) {
        const tensor_slot *t = &m->slots[i];
        fp_add(&f, t->name, strlen(t->name));
        fp_add_int(&f, t->present ? (int64_t)t->bytes : -1);
        if (t->present && t->mem) fp_add(&f, t->mem, t->bytes);
    }
    s->model_id = fp_final(&f);
    s->model_id_valid = 1;
    return s->model_id;
}

COLD static uint64_t g_id(const float *g, size_t count) {
    if (!g) return 0;
    fingerprint f;
    fp_init(&f, 0x47u);
    fp_add(&f, g, count * sizeof(float));
    return fp_final(&f);
}

/* ---- sizes --------------------------------------------------------------------------------------- */

/* The state's KV layout tag of a pldr_kv_format, and back (-1: a tag this runtime does not know). */
COLD static uint32_t layout_tag(int kv_format) { return kv_format == PLDR_KV_F16 ? STATE_KV_F16 : STATE_KV_F32; }
COLD static int layout_format(uint32_t tag) {
    return tag == STATE_KV_F32 ? PLDR_KV_F32 : tag == STATE_KV_F16 ? PLDR_KV_F16 : -1;
}
COLD static const char *format_name(int kv_format) { return kv_format == PLDR_KV_F16 ? "binary16 (f16)" : "float32 (f32)"; }

/* Payload bytes for pos positions with these flags, keys and values in kv_format, overflow-checked
 * (a 32-bit size_t). */
COLD static size_t payload_bytes(const pldr_hparams *hp, int pos, int flags, int kv_format, int *ok) {
    size_t ids = size_mul((size_t)pos, sizeof(int32_t), ok);
    size_t kv = 0, g = 0;
    if (flags & STATE_KV) {
        size_t per = size_mul(size_mul((size_t)hp->n_layers, (size_t)hp->n_heads, ok), (size_t)pos, ok);
        kv = size_mul(size_mul(size_mul(per, (size_t)hp->head_dim, ok), kv_elem_bytes(kv_format), ok), 2, ok);
    }
    if (flags & (STATE_OWN_G | STATE_MODEL_G)) g = size_mul(size_mul(g_count(hp), sizeof(float), ok), 2, ok);
    return size_add(size_add(ids, kv, ok), g, ok);
}

/* What the session's held positions depend on, as flags: KV unless mode off; whose G. */
COLD static int state_flags(const pldr_session *s, const float **g, const float **a) {
    int mode = s->model->params.gcache_mode, flags = mode == PLDR_GCACHE_OFF ? 0 : STATE_KV;
    *g = *a = NULL;
    if (mode == PLDR_GCACHE_OFF || s->pos == 0) return flags;
    if (s->gc.own_valid) {
        *g = s->gc.g;
        *a = s->gc.a;
        return flags | STATE_OWN_G;
    }
    *g = model_gcache_g(s->model);
    *a = model_gcache_a(s->model);
    return *g ? flags | STATE_MODEL_G : flags;
}

COLD static int check_idle(pldr_session *s, const char *what) {
    if (!s->run.active) return PLDR_OK;
    return session_fail(s, PLDR_ERR_STATE, "%s: a stepped prefill is open (step it to the end or cancel it first)", what);
}

/* ---- export ------------------------------------------------------------------------------------ */

COLD size_t pldr_session_state_size(pldr_session *s) {
    if (!s || check_idle(s, "state size")) return 0;
    session_refresh(s);
    const float *g, *a;
    int ok = 1, flags = state_flags(s, &g, &a);
    size_t n = payload_bytes(&s->model->hp, s->pos, flags, s->kv.format, &ok);
    if (!ok || n > SIZE_MAX - sizeof(state_header)) {
        session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "the state of %d positions does not fit a size_t", s->pos);
        return 0;
    }
    return sizeof(state_header) + n;
}

/* Appends n bytes at *p. */
COLD static void put(unsigned char **p, const void *src, size_t n) {
    memcpy(*p, src, n);
    *p += n;
}

COLD int pldr_session_state_export(pldr_session *s, void *buf, size_t cap) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    size_t size = pldr_session_state_size(s);
    if (size == 0) return s->status;
    if (!buf || cap < size) return session_fail(s, PLDR_ERR_INVALID_ARGUMENT, "state export: %zu bytes needed, %zu given", size, cap);
    const pldr_hparams *hp = &s->model->hp;
    const float *g, *a;
    int flags = state_flags(s, &g, &a);
    state_header h = {.version = STATE_VERSION, .kv_format = layout_tag(s->kv.format), .model_id = model_id(s),
                      .g_id = g_id(g, g_count(hp)), .payload_bytes = size - sizeof h, .n_layers = hp->n_layers,
                      .n_heads = hp->n_heads, .head_dim = hp->head_dim, .vocab = hp->vocab, .pos = s->pos,
                      .gcache_mode = s->model->params.gcache_mode, .flags = flags};
    memcpy(h.magic, STATE_MAGIC, sizeof h.magic);
    unsigned char *p = (unsigned char *)buf + sizeof h;
    put(&p, s->ids, (size_t)s->pos * sizeof(int32_t));
    if (flags & STATE_KV) {
        size_t row = (size_t)s->pos * hp->head_dim * kv_elem_bytes(s->kv.format); /* fits: payload_bytes checked it */
        for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++) put(&p, kv_keys(&s->kv, hp, lh / hp->n_heads, lh % hp->n_heads), row);
        for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++) put(&p, kv_values(&s->kv, hp, lh / hp->n_heads, lh % hp->n_heads), row);
    }
    if (g) {
        put(&p, g, g_count(hp) * sizeof(float));
        put(&p, a, g_count(hp) * sizeof(float));
    }
    fingerprint f;
    fp_init(&f, STATE_VERSION);
    fp_add(&f, (unsigned char *)buf + sizeof h, h.payload_bytes);
    h.payload_id = fp_final(&f);
    memcpy(buf, &h, sizeof h);
    return PLDR_OK;
}

/* ---- import ------------------------------------------------------------------------------------ */

COLD static const char *mode_name(int mode) {
    static const char *names[] = {"first", "prompt", "off", "fixed"};
    return mode >= 0 && mode < 4 ? names[mode] : "unknown";
}

COLD static int refuse(pldr_session *s, const char *why) { return session_fail(s, PLDR_ERR_SESSION_STATE, "%s", why); }

/* The header's checks that need no payload: format, this model's shape and mode. */
COLD static int check_header(pldr_session *s, const state_header *h, size_t size) {
    const pldr_model *m = s->model;
    const pldr_hparams *hp = &m->hp;
    if (memcmp(h->magic, STATE_MAGIC, sizeof h->magic) != 0) return refuse(s, "not a session state (no PLDRSST tag)");
    int kv_format = layout_format(h->kv_format);
    if (h->version != STATE_VERSION || kv_format < 0)
        return session_fail(s, PLDR_ERR_SESSION_STATE, "a session state of format %u (KV layout %u): this runtime reads format %u (KV layout %u or %u)",
                            h->version, h->kv_format, STATE_VERSION, STATE_KV_F32, STATE_KV_F16);
    if (h->n_layers != hp->n_layers || h->n_heads != hp->n_heads || h->head_dim != hp->head_dim || h->vocab != hp->vocab)
        return session_fail(s, PLDR_ERR_SESSION_STATE, "a session state of another model: %d layers, %d heads of %d, vocabulary %d "
                            "(this one: %d, %d of %d, %d)", h->n_layers, h->n_heads, h->head_dim, h->vocab,
                            hp->n_layers, hp->n_heads, hp->head_dim, hp->vocab);
    if (h->gcache_mode != m->params.gcache_mode)
        return session_fail(s, PLDR_ERR_SESSION_STATE, "a session state made in G-cache mode %s; this model runs in mode %s",
                            mode_name(h->gcache_mode), mode_name(m->params.gcache_mode));
    int mode = m->params.gcache_mode, flags = h->flags;
    int g_flags = flags & (STATE_OWN_G | STATE_MODEL_G);
    int valid = h->pos >= 0 && (flags & ~(STATE_KV | STATE_OWN_G | STATE_MODEL_G)) == 0 && g_flags != (STATE_OWN_G | STATE_MODEL_G) &&
                (flags & STATE_KV) == (mode == PLDR_GCACHE_OFF ? 0 : STATE_KV) &&
                (mode == PLDR_GCACHE_OFF || h->pos == 0 ? g_flags == 0 : g_flags != 0) && (g_flags || h->g_id == 0) &&
                h->reserved == 0;
    if (!valid) return refuse(s, "a damaged session state (its header does not hold together)");
    if ((flags & STATE_KV) && kv_format != s->kv.format)
        return session_fail(s, PLDR_ERR_SESSION_STATE, "a session state whose KV-cache is %s; this session stores keys and values as %s "
                            "(only a session of the same KV-cache format restores it)", format_name(kv_format), format_name(s->kv.format));
    if (h->pos > s->ctx)
        return session_fail(s, PLDR_ERR_CONTEXT_OVERFLOW, "the session state holds %d positions; this session's context is %d", h->pos, s->ctx);
    int ok = 1;
    size_t want = payload_bytes(hp, h->pos, flags, kv_format, &ok);
    if (!ok || h->payload_bytes != want || size - sizeof *h != want)
        return session_fail(s, PLDR_ERR_SESSION_STATE, "a damaged or truncated session state: %zu bytes after the header, %d positions need %zu",
                            size - sizeof *h, h->pos, want);
    return PLDR_OK;
}

/* The payload's checks: its fingerprint, the ids, the G, and that it was made with this model. */
COLD static int check_payload(pldr_session *s, const state_header *h, const unsigned char *payload) {
    const pldr_model *m = s->model;
    const pldr_hparams *hp = &m->hp;
    fingerprint f;
    fp_init(&f, STATE_VERSION);
    fp_add(&f, payload, h->payload_bytes);
    if (fp_final(&f) != h->payload_id) return refuse(s, "a damaged session state: its bytes changed since it was saved");
    for (int i = 0; i < h->pos; i++) {
        int32_t id;
        memcpy(&id, payload + (size_t)i * sizeof id, sizeof id);
        if (id < 0 || id >= hp->vocab) return refuse(s, "a damaged session state: a token id outside the vocabulary");
    }
    if (h->model_id != model_id(s))
        return refuse(s, "a session state made with another model (its weights or hyperparameters differ): it cannot be used");
    if (h->flags & (STATE_OWN_G | STATE_MODEL_G)) {
        size_t n = g_count(hp);
        const unsigned char *gp = payload + h->payload_bytes - 2 * n * sizeof(float);
        float *g = malloc(n * sizeof(float)); /* aligned copy for the checks */
        if (!g) return session_fail(s, PLDR_ERR_OUT_OF_MEMORY, "out of memory checking a session state");
        memcpy(g, gp, n * sizeof(float));
        int finite = 1;
        for (size_t i = 0; i < n && finite; i++) finite = isfinite(g[i]);
        uint64_t id = g_id(g, n);
        free(g);
        if (!finite || id != h->g_id) return refuse(s, "a damaged session state: its G_LM is not the one it names");
        const float *model_g = model_gcache_g(m);
        if ((h->flags & STATE_MODEL_G) && model_g && g_id(model_g, n) != h->g_id)
            return refuse(s, "a stale session state: it was computed under another G_LM than this model's now");
        if ((h->flags & STATE_MODEL_G) && !model_g && m->params.gcache_mode != PLDR_GCACHE_FIRST)
            return refuse(s, "a session state computed under a G_LM this model does not have");
    }
    return PLDR_OK;
}

COLD int pldr_session_state_import(pldr_session *s, const void *buf, size_t size) {
    if (!s) return PLDR_ERR_INVALID_ARGUMENT;
    int rc = check_idle(s, "state import");
    if (rc) return rc;
    if (!buf || size < sizeof(state_header))
        return refuse(s, "a damaged or truncated session state: shorter than its header");
    state_header h;
    memcpy(&h, buf, sizeof h);
    const unsigned char *payload = (const unsigned char *)buf + sizeof h;
    rc = check_header(s, &h, size);
    if (!rc) rc = check_payload(s, &h, payload);
    if (!rc && (h.flags & STATE_OWN_G)) rc = gcache_reserve(s);
    if (rc) return rc;

    /* every check passed: from here on nothing fails */
    session_refresh(s);
    const pldr_hparams *hp = &s->model->hp;
    size_t off = 0, row = (size_t)h.pos * hp->head_dim * kv_elem_bytes(s->kv.format), gbytes = g_count(hp) * sizeof(float);
    memcpy(s->ids, payload, (size_t)h.pos * sizeof(int32_t));
    off += (size_t)h.pos * sizeof(int32_t);
    if (h.flags & STATE_KV) {
        for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++, off += row)
            memcpy(kv_keys(&s->kv, hp, lh / hp->n_heads, lh % hp->n_heads), payload + off, row);
        for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++, off += row)
            memcpy(kv_values(&s->kv, hp, lh / hp->n_heads, lh % hp->n_heads), payload + off, row);
        kv_written(&s->kv, hp, h.pos);
    }
    gcache_forget(s);
    if (h.flags & STATE_OWN_G) gcache_adopt(s, payload + off, payload + off + gbytes);
    if ((h.flags & STATE_MODEL_G) && !model_gcache_ready(s->model)) /* mode first, G not computed yet */
        model_gcache_publish(s->model, (const float *)(const void *)(payload + off), (const float *)(const void *)(payload + off + gbytes));
    s->gc.epoch = model_gcache_epoch(s->model);
    s->pos = h.pos;
    s->logits_valid = 0;
    return PLDR_OK;
}
