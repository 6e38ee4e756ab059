/* model.c — model lifecycle, errors, and the storage of the model's G-cache (its policy:
 * src/session/gcache.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "../util/text.h"

const char *pldr_version(void) { return PLDR_VERSION; }
int pldr_abi_version(void) { return PLDR_ABI_VERSION; }

const char *pldr_status_name(pldr_status status) {
    switch (status) {
    case PLDR_OK: return "PLDR_OK";
    case PLDR_IGNORED: return "PLDR_IGNORED";
    case PLDR_ERR_INVALID_ARGUMENT: return "PLDR_ERR_INVALID_ARGUMENT";
    case PLDR_ERR_OUT_OF_MEMORY: return "PLDR_ERR_OUT_OF_MEMORY";
    case PLDR_ERR_BAD_CONFIG: return "PLDR_ERR_BAD_CONFIG";
    case PLDR_ERR_UNKNOWN_TENSOR: return "PLDR_ERR_UNKNOWN_TENSOR";
    case PLDR_ERR_SHAPE: return "PLDR_ERR_SHAPE";
    case PLDR_ERR_DTYPE: return "PLDR_ERR_DTYPE";
    case PLDR_ERR_MISSING_TENSOR: return "PLDR_ERR_MISSING_TENSOR";
    case PLDR_ERR_STATE: return "PLDR_ERR_STATE";
    case PLDR_ERR_CONTEXT_OVERFLOW: return "PLDR_ERR_CONTEXT_OVERFLOW";
    case PLDR_ERR_TOKEN: return "PLDR_ERR_TOKEN";
    case PLDR_ERR_GCACHE: return "PLDR_ERR_GCACHE";
    case PLDR_ERR_SESSION_STATE: return "PLDR_ERR_SESSION_STATE";
    default: return "PLDR_ERR_UNKNOWN";
    }
}

int vformat_error(char *buf, size_t cap, const char *fmt, va_list ap) {
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    copy_one_line(buf, cap, text); /* names from a file may hold newlines */
    return 0;
}

int model_fail(pldr_model *m, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat_error(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    m->status = code;
    return code;
}

pldr_model_params pldr_model_default_params(void) {
    return (pldr_model_params){.gcache_mode = PLDR_GCACHE_FIRST, .weight_format = PLDR_WEIGHTS_F32};
}

pldr_model_params *pldr_model_default_params_by_ref(void) {
    pldr_model_params *p = malloc(sizeof *p);
    if (p) *p = pldr_model_default_params();
    return p;
}

void pldr_model_params_free(pldr_model_params *p) { free(p); }
size_t pldr_model_params_size(void) { return sizeof(pldr_model_params); }

pldr_model *pldr_model_new(const pldr_model_params *params) {
    pk_f16_table(); /* built here, once, so that no forward pass ever writes it */
    pldr_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->params = params ? *params : pldr_model_default_params();
    hparams_init(&m->hp);
    return m;
}

void pldr_model_free(pldr_model *m) {
    if (!m) return;
    tensors_free(m);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->gcache.g);
    free(m->gcache.a);
    free(m);
}

const char *pldr_model_error(const pldr_model *m) { return m ? m->error : "no model (NULL)"; }
pldr_status pldr_model_status(const pldr_model *m) { return m ? m->status : PLDR_ERR_INVALID_ARGUMENT; }

static int validate_params(pldr_model *m) {
    const pldr_model_params *p = &m->params;
    if (p->gcache_mode < PLDR_GCACHE_FIRST || p->gcache_mode > PLDR_GCACHE_FIXED)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "gcache_mode %d is not one of first (0), prompt (1), off (2), fixed (3)",
                          (int)p->gcache_mode);
    if (p->weight_format < PLDR_WEIGHTS_F32 || p->weight_format > PLDR_WEIGHTS_Q4)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "weight_format %d is not one of f32 (0), q8 (1), q4 (2)",
                          (int)p->weight_format);
    if (m->hp.custom_g != CUSTOM_G_NONE) {
        if (p->gcache_mode == PLDR_GCACHE_PROMPT || p->gcache_mode == PLDR_GCACHE_OFF)
            return model_fail(m, PLDR_ERR_GCACHE, "this model has a predefined G (custom_G_type) and no A-net: "
                              "G-cache mode \"%s\" needs the A-net; use \"fixed\"",
                              p->gcache_mode == PLDR_GCACHE_PROMPT ? "prompt" : "off");
        m->params.gcache_mode = PLDR_GCACHE_FIXED; /* "first": the predefined G is the G-cache */
    }
    return PLDR_OK;
}

int model_build_table(pldr_model *m) {
    int rc = hparams_validate(m);
    if (!rc) rc = validate_params(m);
    if (!rc) rc = tensors_build(m);
    return rc;
}

static uint64_t gcache_bytes(const pldr_hparams *hp) { return u64_mul(g_count64(hp), sizeof(float)); }

uint64_t model_bytes_needed(const pldr_model *m) {
    uint64_t tables = u64_add(u64_mul(rope_table_bytes(&m->hp), 2), u64_mul(gcache_bytes(&m->hp), 2)); /* cos, sin; G_LM, A_LM */
    return u64_add(tensors_bytes_needed(m), tables);
}

static const char *weight_format_name(int format) {
    return format == PLDR_WEIGHTS_Q8 ? "q8" : format == PLDR_WEIGHTS_Q4 ? "q4" : "f32";
}

int pldr_model_alloc(pldr_model *m) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_NEW) return model_fail(m, PLDR_ERR_STATE, "pldr_model_alloc called twice");
    int rc = model_build_table(m);
    if (rc) return rc;
    uint64_t needed = model_bytes_needed(m); /* before anything large is allocated */
    if (needed > SIZE_MAX)
        return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "this model needs %.2f GiB (%llu bytes) for its weights as %s, more than %s",
                          (double)needed / (1 << 30), (unsigned long long)needed, weight_format_name(m->params.weight_format),
                          sizeof(size_t) == 4 ? "the 4 GiB a 32-bit address space (WebAssembly) holds" : "this machine's address space");
    rc = rope_build(m);
    if (rc) return rc;
    int ok = 1;
    size_t bytes = size_from_u64(gcache_bytes(&m->hp), &ok); /* fits: part of needed */
    m->gcache.g = calloc(1, bytes);
    m->gcache.a = calloc(1, bytes);
    if (!m->gcache.g || !m->gcache.a) return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory for the G-cache");
    m->bytes += 2 * bytes;
    m->stage = STAGE_LOADING;
    return PLDR_OK;
}

static void set_identity(float *g, const pldr_hparams *hp) {
    int dk = hp->head_dim;
    memset(g, 0, g_count(hp) * sizeof(float));
    for (int lh = 0; lh < hp->n_layers * hp->n_heads; lh++)
        for (int i = 0; i < dk; i++) g[(size_t)lh * dk * dk + (size_t)i * dk + i] = 1.0f;
}

/* G-only models: G_LM is past_G_values[l][2][0] and A_LM [l][1][0] (spec §5), or identity for
 * "identity". Written in place: no session exists yet. */
static void install_predefined_g(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    model_gcache *gc = &m->gcache;
    size_t per_layer = (size_t)hp->n_heads * hp->head_dim * hp->head_dim;
    if (m->past_g) {
        for (int l = 0; l < hp->n_layers; l++) {
            memcpy(gc->a + l * per_layer, m->past_g + (3 * l + 1) * per_layer, per_layer * sizeof(float));
            memcpy(gc->g + l * per_layer, m->past_g + (3 * l + 2) * per_layer, per_layer * sizeof(float));
        }
    } else if (hp->custom_g == CUSTOM_G_IDENTITY) {
        set_identity(gc->g, hp);
    } else {
        return; /* no G: pldr_model_set_gcache must install one */
    }
    atomic_store(&gc->state, GCACHE_READY);
}

int pldr_model_finalize(pldr_model *m) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_LOADING)
        return model_fail(m, PLDR_ERR_STATE, m->stage == STAGE_NEW ? "finalize before pldr_model_alloc" : "finalize called twice");
    int rc = tensors_check_complete(m);
    if (rc) return rc;
    if (m->hp.custom_g != CUSTOM_G_NONE && !model_gcache_ready(m)) install_predefined_g(m);
    m->stage = STAGE_READY;
    return PLDR_OK;
}

pldr_gcache_mode pldr_model_gcache_mode(const pldr_model *m) {
    return m ? (pldr_gcache_mode)m->params.gcache_mode : PLDR_GCACHE_FIRST;
}
int pldr_model_vocab_size(const pldr_model *m) { return m ? m->hp.vocab : 0; }
int pldr_model_context_max(const pldr_model *m) { return m ? m->hp.max_pos : 0; }
int pldr_model_eos_id(const pldr_model *m) { return m ? m->hp.eos_id : -1; }
size_t pldr_model_weight_bytes(const pldr_model *m) { return m ? m->bytes : 0; }
int pldr_model_set_threads(pldr_model *m, pldr_threads *pool) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    m->threads = pool;
    return PLDR_OK;
}
int pldr_model_threads(const pldr_model *m) { return m ? pldr_threads_count(m->threads) : 1; }
int64_t pldr_model_anet_runs(const pldr_model *m) { return m ? atomic_load(&m->gcache.anet_runs) : 0; }
double pldr_model_anet_ms(const pldr_model *m) { return m ? (double)atomic_load(&m->gcache.anet_ns) / 1e6 : 0.0; }

/* ---- the G-cache storage ---------------------------------------------------------------------- */

int model_gcache_ready(const pldr_model *m) {
    return atomic_load_explicit(&m->gcache.state, memory_order_acquire) == GCACHE_READY;
}

const float *model_gcache_g(const pldr_model *m) { return model_gcache_ready(m) ? m->gcache.g : NULL; }
const float *model_gcache_a(const pldr_model *m) { return model_gcache_ready(m) ? m->gcache.a : NULL; }
unsigned model_gcache_epoch(const pldr_model *m) { return m->gcache.epoch; }

void model_gcache_install(pldr_model *m, const float *g, const float *a) {
    size_t bytes = g_count(&m->hp) * sizeof(float);
    memcpy(m->gcache.g, g, bytes);
    if (a) memcpy(m->gcache.a, a, bytes);
    else memset(m->gcache.a, 0, bytes);
    atomic_store_explicit(&m->gcache.state, GCACHE_READY, memory_order_release);
    m->gcache.epoch++;
    m->params.gcache_mode = PLDR_GCACHE_FIXED;
}

int model_gcache_publish(pldr_model *m, const float *g, const float *a) {
    int expected = GCACHE_EMPTY;
    if (!atomic_compare_exchange_strong(&m->gcache.state, &expected, GCACHE_PUBLISHING)) return 0;
    size_t bytes = g_count(&m->hp) * sizeof(float);
    memcpy(m->gcache.g, g, bytes);
    memcpy(m->gcache.a, a, bytes);
    atomic_store_explicit(&m->gcache.state, GCACHE_READY, memory_order_release);
    return 1;
}

void model_count_anet_run(pldr_model *m, double ms) {
    atomic_fetch_add(&m->gcache.anet_runs, 1);
    atomic_fetch_add(&m->gcache.anet_ns, (long long)(ms * 1e6));
}
