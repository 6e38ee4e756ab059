/* tensors.c — the tensor table (names, shapes, destinations) and streaming uploads into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- building the table ----------------------------------------------------------------------- */

typedef struct {
    pldr_model *m;
    int cap;
} table_builder;

static tensor_slot *add_slot(table_builder *tb, const char *name, int ndim, const int32_t *shape) {
    pldr_model *m = tb->m;
    if (m->n_slots == tb->cap) {
        int cap = tb->cap ? tb->cap * 2 : 256, ok = 1; /* at most 2 × 65536 (hparams.c MAX_TENSORS) */
        size_t bytes = size_mul((size_t)cap, sizeof(tensor_slot), &ok);
        tensor_slot *s = ok ? realloc(m->slots, bytes) : NULL;
        if (!s) return NULL;
        m->slots = s;
        tb->cap = cap;
    }
    tensor_slot *slot = &m->slots[m->n_slots++];
    memset(slot, 0, sizeof *slot);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->ndim = ndim;
    memcpy(slot->shape, shape, (size_t)ndim * sizeof *shape);
    return slot;
}

static int add_vec(table_builder *tb, float **dst, int n, const char *fmt, ...) {
    char name[112];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int32_t shape[1] = {n};
    tensor_slot *s = add_slot(tb, name, 1, shape);
    if (!s) return -1;
    s->f32 = dst;
    return 0;
}

static int add_cube(table_builder *tb, float **dst, int h, int dk, const char *fmt, int layer) {
    char name[112];
    snprintf(name, sizeof name, fmt, layer);
    int32_t shape[3] = {h, dk, dk};
    tensor_slot *s = add_slot(tb, name, 3, shape);
    if (!s) return -1;
    s->f32 = dst;
    return 0;
}

/* A matrix [rows][cols]; `quantizable` ones may be stored as q8_0/q4_0. */
static int add_matrix(table_builder *tb, pldr_matrix *dst, int rows, int cols, int quantizable,
                      const char *name) {
    int32_t shape[2] = {rows, cols};
    tensor_slot *s = add_slot(tb, name, 2, shape);
    if (!s) return -1;
    dst->rows = rows;
    dst->cols = cols;
    dst->format = PLDR_DTYPE_F32;
    s->matrix = dst;
    s->quantizable = quantizable;
    return 0;
}

/* Linear layer: "<prefix>.weight" [out][in] and "<prefix>.bias" [out] */
static int add_linear(table_builder *tb, pldr_matrix *w, float **b, int out, int in, int quantizable,
                      const char *prefix) {
    char name[112];
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (add_matrix(tb, w, out, in, quantizable, name)) return -1;
    return add_vec(tb, b, out, "%s.bias", prefix);
}

static int add_glu(table_builder *tb, pldr_glu *g, int in, int hidden, int out, int quantizable,
                   const char *prefix) {
    char p[112];
    snprintf(p, sizeof p, "%s.gluw1", prefix);
    if (add_linear(tb, &g->w1, &g->b1, hidden, in, quantizable, p)) return -1;
    snprintf(p, sizeof p, "%s.gluw2", prefix);
    if (add_linear(tb, &g->w2, &g->b2, hidden, in, quantizable, p)) return -1;
    snprintf(p, sizeof p, "%s.gluw3", prefix);
    return add_linear(tb, &g->w3, &g->b3, out, hidden, quantizable, p);
}

static int add_anet(table_builder *tb, pldr_layer *ly, const pldr_hparams *hp, int i) {
    int dk = hp->head_dim, H = hp->n_heads;
    const char *plga = "decoder.dec_layers.%d.mha1.plgatt_layer.";
    char fmt[128];
    float **cubes[5] = {&ly->plga_w, &ly->plga_b, &ly->plga_p, &ly->plga_a, &ly->plga_ba};
    const char *names[5] = {"Wlst", "blst", "pwlst", "alst", "balst"};
    for (int c = 0; c < 5; c++) {
        snprintf(fmt, sizeof fmt, "%s%s", plga, names[c]);
        if (add_cube(tb, cubes[c], H, dk, fmt, i)) return -1;
    }
    if (add_vec(tb, &ly->ln_a_g, dk, "decoder.dec_layers.%d.mha1.layernorm1.weight", i) ||
        add_vec(tb, &ly->ln_a_b, dk, "decoder.dec_layers.%d.mha1.layernorm1.bias", i))
        return -1;
    for (int j = 0; j < hp->n_reslayer_a; j++) {
        for (int k = 0; k < hp->n_dense_a; k++) {
            char prefix[112];
            snprintf(prefix, sizeof prefix, "decoder.dec_layers.%d.mha1.reslayerAs.%d.denseAs.%d", i, j, k);
            if (add_glu(tb, &ly->anet[j * hp->n_dense_a + k], dk, hp->a_dff, dk, 0, prefix)) return -1;
        }
        if (add_vec(tb, &ly->ln_res_g[j], dk, "decoder.dec_layers.%d.mha1.reslayerAs.%d.layernormA.weight", i, j) ||
            add_vec(tb, &ly->ln_res_b[j], dk, "decoder.dec_layers.%d.mha1.reslayerAs.%d.layernormA.bias", i, j))
            return -1;
    }
    return 0;
}

static int add_layer(table_builder *tb, pldr_layer *ly, const pldr_hparams *hp, int i) {
    int D = hp->d_model;
    char p[112];
    pldr_matrix *w[4] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo};
    float **b[4] = {&ly->bq, &ly->bk, &ly->bv, &ly->bo};
    const char *names[4] = {"wq", "wk", "wv", "dense"};
    for (int j = 0; j < 4; j++) {
        snprintf(p, sizeof p, "decoder.dec_layers.%d.mha1.%s", i, names[j]);
        if (add_linear(tb, w[j], b[j], D, D, 1, p)) return -1;
    }
    if (hp->custom_g == CUSTOM_G_NONE && add_anet(tb, ly, hp, i)) return -1;
    snprintf(p, sizeof p, "decoder.dec_layers.%d.ffn", i);
    if (add_glu(tb, &ly->ffn, D, hp->dff, D, 1, p)) return -1;
    return add_vec(tb, &ly->ln1_g, D, "decoder.dec_layers.%d.layernorm1.weight", i) ||
           add_vec(tb, &ly->ln1_b, D, "decoder.dec_layers.%d.layernorm1.bias", i) ||
           add_vec(tb, &ly->ln2_g, D, "decoder.dec_layers.%d.layernorm2.weight", i) ||
           add_vec(tb, &ly->ln2_b, D, "decoder.dec_layers.%d.layernorm2.bias", i);
}

static int alloc_layer_arrays(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    int ok = 1;
    size_t glus = size_add(size_mul((size_t)hp->n_reslayer_a, (size_t)hp->n_dense_a, &ok), 1, &ok);
    size_t blocks = size_add((size_t)hp->n_reslayer_a, 1, &ok);
    if (!ok) return -1;
    m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    if (!m->layers) return -1;
    for (int i = 0; i < hp->n_layers && hp->custom_g == CUSTOM_G_NONE; i++) {
        pldr_layer *ly = &m->layers[i];
        ly->anet = calloc(glus, sizeof *ly->anet);            /* calloc checks n × size itself */
        ly->ln_res_g = calloc(blocks, sizeof(float *));
        ly->ln_res_b = calloc(blocks, sizeof(float *));
        if (!ly->anet || !ly->ln_res_g || !ly->ln_res_b) return -1;
    }
    return 0;
}

static int by_slot_name(const void *a, const void *b) {
    return strcmp((*(tensor_slot *const *)a)->name, (*(tensor_slot *const *)b)->name);
}

/* The index of find_slot: a model of 65536 tensors would otherwise compare every upload's name
 * with every slot's (seconds of strcmp). */
static int index_by_name(pldr_model *m) {
    m->by_name = malloc((size_t)(m->n_slots ? m->n_slots : 1) * sizeof *m->by_name);
    if (!m->by_name) return -1;
    for (int i = 0; i < m->n_slots; i++) m->by_name[i] = &m->slots[i];
    qsort(m->by_name, (size_t)m->n_slots, sizeof *m->by_name, by_slot_name);
    return 0;
}

int tensors_build(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    table_builder tb = {m, 0};
    if (alloc_layer_arrays(m)) return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory building the tensor table");
    int fail = add_matrix(&tb, &m->embedding, hp->vocab, hp->d_model, 1, "decoder.embedding.weight") ||
               add_vec(&tb, &m->ln_in_g, hp->d_model, "decoder.layernorm1.weight") ||
               add_vec(&tb, &m->ln_in_b, hp->d_model, "decoder.layernorm1.bias");
    for (int i = 0; i < hp->n_layers && !fail; i++) fail = add_layer(&tb, &m->layers[i], hp, i);
    if (hp->final_bias) fail = fail || add_linear(&tb, &m->head, &m->head_b, hp->vocab, hp->d_model, 1, "final_layer");
    else fail = fail || add_matrix(&tb, &m->head, hp->vocab, hp->d_model, 1, "final_layer.weight"); /* head_b NULL */
    if (!fail && hp->custom_g != CUSTOM_G_NONE) {
        int32_t shape[6] = {hp->n_layers, 3, 1, hp->n_heads, hp->head_dim, hp->head_dim};
        tensor_slot *s = add_slot(&tb, "decoder.past_G_values", 6, shape);
        int32_t status_shape[1] = {hp->n_layers};
        tensor_slot *st = s ? add_slot(&tb, "decoder.past_G_values_status", 1, status_shape) : NULL;
        fail = !s || !st;
        if (!fail) {
            s->f32 = &m->past_g;
            s->optional = 1;
            st->optional = 1;
            st->ignored = 1; /* a bool per layer saying "G set": always true for a saved model */
        }
    }
    if (fail || index_by_name(m)) return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory building the tensor table");
    return PLDR_OK;
}

void tensors_free(pldr_model *m) {
    for (int i = 0; i < m->n_slots; i++) free(m->slots[i].mem);
    free(m->slots);
    if (m->layers)
        for (int i = 0; i < m->hp.n_layers; i++) {
            free(m->layers[i].anet);
            free(m->layers[i].ln_res_g);
            free(m->layers[i].ln_res_b);
        }
    free(m->layers);
    free(m->by_name);
    upload_quant_end(m);
    m->by_name = NULL;
    m->slots = NULL;
    m->n_slots = 0;
    m->layers = NULL;
}

/* ---- uploads ---------------------------------------------------------------------------------- */

static const char *dtype_name(int dtype) {
    const char *name = pldr_dtype_name((pldr_dtype)dtype);
    return name ? name : "unknown";
}

/* Bytes per element of the element types (F32, F16, BF16, U8, BOOL); 0 for the block formats. */
static size_t dtype_elem_bytes(int dtype) {
    return pldr_dtype_block_size((pldr_dtype)dtype) == 1 ? (size_t)pldr_dtype_block_bytes((pldr_dtype)dtype) : 0;
}

static int by_name_key(const void *key, const void *slot) { return strcmp(key, (*(tensor_slot *const *)slot)->name); }

static tensor_slot *find_slot(pldr_model *m, const char *name) {
    if (strncmp(name, "model.", 6) == 0) name += 6;
    tensor_slot **s = m->n_slots ? bsearch(name, m->by_name, (size_t)m->n_slots, sizeof *m->by_name, by_name_key) : NULL;
    return s ? *s : NULL;
}

static void format_shape(char *buf, size_t cap, const int32_t *shape, int ndim) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ", %d" : "%d", (int)shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

static int check_shape(pldr_model *m, const tensor_slot *s, const int32_t *shape, int ndim) {
    int same = ndim == s->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == s->shape[i];
    if (same) return PLDR_OK;
    char got[96], want[96];
    format_shape(got, sizeof got, shape, ndim);
    format_shape(want, sizeof want, s->shape, s->ndim);
    return model_fail(m, PLDR_ERR_SHAPE, "tensor %s: shape %s but the config needs %s", s->name, got, want);
}

/* Bytes of a tensor of `shape` stored as `format`: an element type, or Q8_0 / Q4_0 for a matrix
 * [rows][cols] (rows of ceil(cols / 32) blocks); in 64 bits, UINT64_MAX when they do not fit. */
static uint64_t tensor_bytes(int format, const int32_t *shape, int ndim) {
    uint64_t block = (uint64_t)pldr_dtype_block_size((pldr_dtype)format), bytes = (uint64_t)pldr_dtype_block_bytes((pldr_dtype)format);
    if (block > 1) {
        if (ndim != 2) return UINT64_MAX;
        uint64_t blocks_per_row = ((uint64_t)shape[1] + block - 1) / block;
        return u64_mul(u64_mul((uint64_t)shape[0], blocks_per_row), bytes);
    }
    uint64_t n = bytes;
    for (int i = 0; i < ndim; i++) n = u64_mul(n, (uint64_t)shape[i]);
    return n;
}

/* How a slot stores data arriving as `dtype`; -1 if it cannot. */
static int storage_format(const pldr_model *m, const tensor_slot *s, int dtype) {
    if (s->ignored) return dtype_elem_bytes(dtype) ? dtype : -1;
    if (dtype == PLDR_DTYPE_Q8_0 || dtype == PLDR_DTYPE_Q4_0) return s->quantizable ? dtype : -1;
    if (dtype != PLDR_DTYPE_F32 && dtype != PLDR_DTYPE_F16 && dtype != PLDR_DTYPE_BF16) return -1;
    if (s->quantizable && m->params.weight_format == PLDR_WEIGHTS_Q8) return PLDR_DTYPE_Q8_0;
    if (s->quantizable && m->params.weight_format == PLDR_WEIGHTS_Q4) return PLDR_DTYPE_Q4_0;
    return PLDR_DTYPE_F32;
}

static int begin_fail(pldr_model *m, int code) {
    m->up = (upload_state){0};
    return code;
}

/* The checks of upload_begin that need no memory: name known, not yet uploaded, shape, dtype.
 * On success *slot and *format say where the tensor goes and how it is stored. */
static int check_upload(pldr_model *m, const char *name, int dtype, const int32_t *shape, int ndim,
                        tensor_slot **slot, int *format) {
    if (!name || (!shape && ndim > 0) || ndim < 0 || ndim > 6)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "invalid tensor name or shape");
    if (m->stage != STAGE_LOADING)
        return model_fail(m, PLDR_ERR_STATE, "tensor %s: uploads are accepted between pldr_model_alloc and pldr_model_finalize", name);
    tensor_slot *s = find_slot(m, name);
    if (!s)
        return model_fail(m, PLDR_ERR_UNKNOWN_TENSOR, "unknown tensor \"%s\": not part of a PLDR-LLM with this config%s", name,
                          m->hp.custom_g != CUSTOM_G_NONE ? " (custom_G_type is set: no A-net or PLGA tensors)"
                          : !m->hp.final_bias && strstr(name, "final_layer.bias") ? " (final_bias is false)" : "");
    if (s->present) return model_fail(m, PLDR_ERR_STATE, "tensor %s uploaded twice", s->name);
    int rc = check_shape(m, s, shape, ndim);
    if (rc) return rc;
    *format = storage_format(m, s, dtype);
    if (*format < 0)
        return model_fail(m, PLDR_ERR_DTYPE, "tensor %s: dtype %s is not supported here (expected F32, F16 or BF16%s)",
                          s->name, dtype_name(dtype), s->quantizable ? ", q8_0 or q4_0" : "");
    *slot = s;
    return PLDR_OK;
}

/* Bytes of the tensor table's memory once every tensor arrived as float (F32, F16 or BF16): each
 * matrix in the weight format, everything else float32 (one already quantized keeps its smaller
 * format, so this is an upper bound for a quantized folder). */
uint64_t tensors_bytes_needed(const pldr_model *m) {
    uint64_t total = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const tensor_slot *s = &m->slots[i];
        int format = s->ignored ? PLDR_DTYPE_BOOL : storage_format(m, s, PLDR_DTYPE_F32);
        total = u64_add(total, tensor_bytes(format, s->shape, s->ndim));
    }
    return total;
}

int pldr_model_check_tensor(pldr_model *m, const char *name, pldr_dtype dtype, const int32_t *shape, int ndim) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    tensor_slot *s = NULL;
    int format = -1;
    int rc = check_upload(m, name, dtype, shape, ndim, &s, &format);
    if (!rc) s->seen = 1;
    return rc;
}

int pldr_model_tensor_count(const pldr_model *m) { return m ? m->n_slots : 0; }

const char *pldr_model_tensor_name(const pldr_model *m, int i) {
    return m && i >= 0 && i < m->n_slots ? m->slots[i].name : NULL;
}

int pldr_model_tensor_shape(const pldr_model *m, int i, int32_t *shape) {
    if (!m || !shape || i < 0 || i >= m->n_slots) return -1;
    memcpy(shape, m->slots[i].shape, (size_t)m->slots[i].ndim * sizeof *shape);
    return m->slots[i].ndim;
}

int pldr_model_tensor_status(const pldr_model *m, int i) {
    if (!m || i < 0 || i >= m->n_slots) return -1;
    const tensor_slot *s = &m->slots[i];
    return (s->present ? PLDR_TENSOR_UPLOADED : 0) | (s->seen ? PLDR_TENSOR_CHECKED : 0) |
           (s->optional ? PLDR_TENSOR_OPTIONAL : 0) | (s->quantizable ? PLDR_TENSOR_QUANTIZABLE : 0);
}

pldr_dtype pldr_model_tensor_dtype(const pldr_model *m, int i) {
    if (!m || i < 0 || i >= m->n_slots || !m->slots[i].present) return PLDR_DTYPE_INVALID;
    const tensor_slot *s = &m->slots[i];
    return s->matrix ? (pldr_dtype)s->matrix->format : PLDR_DTYPE_F32;
}

int pldr_model_upload_begin(pldr_model *m, const char *name, pldr_dtype dtype, const int32_t *shape, int ndim) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->up.slot)
        return model_fail(m, PLDR_ERR_STATE, "tensor %s: the upload of %s has not ended", name ? name : "?", m->up.slot->name);
    tensor_slot *s = NULL;
    int format = -1;
    int rc = check_upload(m, name, dtype, shape, ndim, &s, &format);
    if (rc) return rc;
    uint64_t in64 = tensor_bytes(dtype, s->shape, s->ndim), store64 = s->ignored ? in64 : tensor_bytes(format, s->shape, s->ndim);
    int ok = 1;
    size_t in_bytes = size_from_u64(in64, &ok), store_bytes = size_from_u64(store64, &ok);
    if (!ok)
        return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "tensor %s: %llu bytes as %s, more than this runtime's address space holds",
                          s->name, (unsigned long long)store64, dtype_name(format));
    m->up = (upload_state){.slot = s, .dtype = dtype, .format = format, .total = in_bytes};
    free(s->mem);
    s->mem = malloc(store_bytes ? store_bytes : 1);
    if (!s->mem) return begin_fail(m, model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory for tensor %s (%zu bytes)", s->name, store_bytes));
    s->bytes = store_bytes;
    if (format == dtype || s->ignored) {
        m->up.base = s->mem;                                    /* bytes land in their final home */
    } else if (format == PLDR_DTYPE_F32) {
        m->up.base = (unsigned char *)s->mem + store_bytes - in_bytes; /* tail half, widened in place */
    } else {
        rc = upload_quant_begin(m);
        if (rc) return begin_fail(m, rc);
    }
    return PLDR_OK;
}

int pldr_model_upload_window(pldr_model *m, void **dst, size_t *capacity) {
    if (!m || !dst || !capacity) return PLDR_ERR_INVALID_ARGUMENT;
    if (!m->up.slot) return model_fail(m, PLDR_ERR_STATE, "upload_window: no upload in progress");
    if (m->up.stage) return upload_quant_window(m, dst, capacity);
    *dst = m->up.base + m->up.received;
    *capacity = m->up.total - m->up.received;
    return PLDR_OK;
}

/* F16/BF16 elements [from, to) were received: widen them to float32 front to back. Element i
 * lands at bytes [4i, 4i+4), at or before the start of its own 2 bytes: nothing unread is hit. */
static void widen(upload_state *up, size_t from, size_t to) {
    float *out = (float *)up->slot->mem;
    const unsigned char *in = up->base;
    for (size_t i = from; i < to; i++) {
        uint16_t h = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
        out[i] = up->dtype == PLDR_DTYPE_BF16 ? pk_bf16_to_f32(h) : pk_f16_to_f32(h);
    }
}

int pldr_model_upload_commit(pldr_model *m, size_t nbytes) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    upload_state *up = &m->up;
    if (!up->slot) return model_fail(m, PLDR_ERR_STATE, "upload_commit: no upload in progress");
    if (up->stage) return upload_quant_commit(m, nbytes);
    if (nbytes > up->total - up->received)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "tensor %s: %zu bytes committed past the end of the tensor", up->slot->name, nbytes);
    size_t before = up->received;
    up->received += nbytes;
    if (up->format == PLDR_DTYPE_F32 && up->dtype != PLDR_DTYPE_F32 && !up->slot->ignored)
        widen(up, before / 2, up->received / 2);
    return PLDR_OK;
}

/* The tensor being uploaded is dropped: still missing, free to be uploaded again. */
static void discard_upload(pldr_model *m) {
    free(m->up.slot->mem);
    m->up.slot->mem = NULL;
    upload_quant_end(m);
    m->up = (upload_state){0};
}

int pldr_model_upload_abort(pldr_model *m) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    if (!m->up.slot) return model_fail(m, PLDR_ERR_STATE, "upload_abort: no upload in progress");
    discard_upload(m);
    return PLDR_OK;
}

int pldr_model_upload_end(pldr_model *m) {
    if (!m) return PLDR_ERR_INVALID_ARGUMENT;
    upload_state *up = &m->up;
    if (!up->slot) return model_fail(m, PLDR_ERR_STATE, "upload_end: no upload in progress");
    tensor_slot *s = up->slot;
    if (up->received != up->total) {
        int rc = model_fail(m, PLDR_ERR_SHAPE, "tensor %s: received %zu of %zu bytes", s->name, up->received, up->total);
        discard_upload(m);
        return rc;
    }
    upload_quant_end(m);
    if (s->matrix) {
        s->matrix->data = s->mem;
        s->matrix->format = up->format;
    } else if (s->f32) {
        *s->f32 = s->mem;
    }
    s->present = 1;
    m->bytes += s->bytes; /* allocated: the sum of what is held fits a size_t */
    *up = (upload_state){0};
    return PLDR_OK;
}

int tensors_check_complete(pldr_model *m) {
    if (m->up.slot)
        return model_fail(m, PLDR_ERR_STATE, "finalize: the upload of %s has not ended", m->up.slot->name);
    int missing = 0;
    const char *first = NULL;
    for (int i = 0; i < m->n_slots; i++)
        if (!m->slots[i].present && !m->slots[i].optional) {
            if (!first) first = m->slots[i].name;
            missing++;
        }
    if (missing)
        return model_fail(m, PLDR_ERR_MISSING_TENSOR, "tensor %s is missing (%d missing in all)%s", first, missing,
                          strcmp(first, "final_layer.bias") == 0 ? "; a head without a bias says final_bias: false in config.json" : "");
    return PLDR_OK;
}
