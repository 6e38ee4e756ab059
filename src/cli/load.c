/* load.c — model folders for the native CLI: config.json, safetensors (single or sharded).
 *
 * The safetensors header rules are those of docs/FORMAT.md "Header rules", which the JavaScript
 * loader and the converter follow too (tests/fixtures/safetensors-headers, checked against all
 * three). Sizes are 64-bit whatever size_t is, and every one is checked before it is used. */
#define _POSIX_C_SOURCE 200809L /* fseeko / ftello: files past 2 GiB */
#include "load.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../util/text.h"
#include "json.h"

#define MAX_HEADER 100000000ULL           /* header bytes: the reference library's limit */
#define MAX_COUNT 9007199254740991.0      /* 2^53 - 1: offsets (JavaScript's safe integers) */
#define MAX_DIM 2147483647.0              /* 2^31 - 1: shape dimensions (the runtime's int32) */
#define INDEX_FILE "model.safetensors.index.json"

static int failf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t cap, const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    copy_one_line(err, cap, text); /* names from a file may hold newlines */
    return -1;
}

/* ---- small JSON helpers ----------------------------------------------------------------------- */

/* The value of `key` in an object; when the key repeats, the last one (as JavaScript and Python
 * read JSON). */
static const json *member(const json *o, const char *key) {
    const json *found = NULL;
    for (const json *c = o && o->type == JSON_OBJECT ? o->child : NULL; c; c = c->next)
        if (strcmp(c->key, key) == 0) found = c;
    return found;
}

typedef struct {
    const json *node;
    size_t order;
} ordered_member;

static int by_key_then_order(const void *a, const void *b) {
    const ordered_member *x = a, *y = b;
    int c = strcmp(x->node->key, y->node->key);
    return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* The members of an object, each key once with its last value, sorted by key (strcmp): *n of
 * them in a malloc'd array (free it). -1 when out of memory. */
static int distinct_members(const json *o, const json ***out, size_t *n) {
    size_t count = json_count(o), k = 0;
    *n = 0;
    *out = NULL;
    ordered_member *all = malloc((count ? count : 1) * sizeof *all);
    const json **keep = malloc((count ? count : 1) * sizeof *keep);
    if (!all || !keep) { free(all); free(keep); return -1; }
    for (const json *c = o->child; c; c = c->next, k++) all[k] = (ordered_member){c, k};
    qsort(all, count, sizeof *all, by_key_then_order);
    for (size_t i = 0; i < count; i++)
        if (i + 1 == count || strcmp(all[i].node->key, all[i + 1].node->key) != 0) keep[(*n)++] = all[i].node;
    free(all);
    *out = keep;
    return 0;
}

static int by_node_key(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const json *const *)elem)->key);
}

/* The member named key among distinct_members' output, or NULL. */
static const json *find_member(const json *const *members, size_t n, const char *key) {
    const json *const *m = n ? bsearch(key, members, n, sizeof *members, by_node_key) : NULL;
    return m ? *m : NULL;
}

/* An integral JSON number in [0, max] (written 4, 4.0 or 4e0 alike). */
static int count_value(const json *v, double max, uint64_t *out) {
    if (!v || v->type != JSON_NUMBER || !isfinite(v->number) || v->number != floor(v->number) ||
        v->number < 0 || v->number > max)
        return 0;
    *out = (uint64_t)v->number;
    return 1;
}

static int dims_of(const json *shape, int64_t **dims, int *ndim) {
    *ndim = 0;
    *dims = NULL;
    if (!shape || shape->type != JSON_ARRAY) return 0;
    size_t n = json_count(shape);
    *dims = malloc((n ? n : 1) * sizeof **dims);
    if (!*dims) return 0;
    for (const json *d = shape->child; d; d = d->next) {
        uint64_t v;
        if (!count_value(d, MAX_DIM, &v)) return 0;
        (*dims)[(*ndim)++] = (int64_t)v;
    }
    return 1;
}

/* ---- safetensors header ----------------------------------------------------------------------- */

static int64_t u64_le(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return (int64_t)(v > (uint64_t)INT64_MAX ? INT64_MAX : v);
}

/* Bytes of `dims` elements of `elem` bytes, or 2^53 + 1 when that exceeds 2^53 (no offset pair can
 * then span it). */
static uint64_t tensor_bytes(const int64_t *dims, int ndim, int elem) {
    const uint64_t big = 1ULL << 53;
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) if (dims[i] == 0) return 0;
    for (int i = 0; i < ndim; i++) {
        if (n > big / (uint64_t)dims[i]) return big + 1;
        n *= (uint64_t)dims[i];
    }
    return n > big / (uint64_t)elem ? big + 1 : n * (uint64_t)elem;
}

static void format_dims(char *buf, size_t cap, const int64_t *dims, int ndim) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

static int read_entry(const json *e, const char *file, st_tensor *t, char *err, size_t cap) {
    t->name = e->key;
    t->quant = PLDR_DTYPE_INVALID;
    if (e->type != JSON_OBJECT) return failf(err, cap, "%s: tensor \"%s\": header entry is not an object", file, e->key);
    const json *dt = member(e, "dtype"), *offs = member(e, "data_offsets");
    if (!dt || dt->type != JSON_STRING) return failf(err, cap, "%s: tensor \"%s\": missing \"dtype\"", file, e->key);
    if (!dims_of(member(e, "shape"), &t->dims, &t->ndim))
        return failf(err, cap, "%s: tensor \"%s\": \"shape\" must be an array of integers from 0 to 2147483647", file, e->key);
    if (!offs || offs->type != JSON_ARRAY || json_count(offs) != 2 || !count_value(offs->child, MAX_COUNT, &t->begin) ||
        !count_value(offs->child->next, MAX_COUNT, &t->end))
        return failf(err, cap, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] with integers from 0 to 2^53 - 1", file, e->key);
    if (t->end < t->begin)
        return failf(err, cap, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin", file, e->key,
                     (unsigned long long)t->begin, (unsigned long long)t->end);
    t->dtype_name = dt->string;
    t->dtype = pldr_dtype_from_name(dt->string);
    if (t->dtype == PLDR_DTYPE_INVALID || pldr_dtype_block_size(t->dtype) != 1)
        return failf(err, cap, "%s: tensor \"%s\": dtype \"%s\" is not supported (F32, F16, BF16, BOOL, or U8 with pldr.quant)",
                     file, e->key, dt->string);
    uint64_t want = tensor_bytes(t->dims, t->ndim, pldr_dtype_block_bytes(t->dtype));
    if (want != t->end - t->begin) {
        char shape[128];
        format_dims(shape, sizeof shape, t->dims, t->ndim);
        return failf(err, cap, "%s: tensor \"%s\": shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] span %llu",
                     file, e->key, shape, dt->string, (unsigned long long)want, (unsigned long long)t->begin,
                     (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    }
    return 0;
}

static int by_offsets(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by offsets the tensors cover [0, data_len) with no gap and no overlap. */
static int check_layout(st_header *h, const char *file, char *err, size_t cap) {
    qsort(h->t, h->n, sizeof *h->t, by_offsets);
    uint64_t end = 0;
    for (size_t i = 0; i < h->n; i++) {
        const st_tensor *t = &h->t[i];
        if (t->begin < end)
            return failf(err, cap, "%s: tensor \"%s\" (bytes %llu-%llu) overlaps the tensor before it (which ends at %llu)",
                         file, t->name, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)end);
        if (t->begin > end)
            return failf(err, cap, "%s: gap of %llu bytes before tensor \"%s\" in the data section", file,
                         (unsigned long long)(t->begin - end), t->name);
        end = t->end;
    }
    h->data_len = end;
    return 0;
}

typedef struct {
    const char *name;
    pldr_dtype format;
    int64_t rows, cols;
} quant_entry;

static int by_name(const void *a, const void *b) { return strcmp(((const quant_entry *)a)->name, ((const quant_entry *)b)->name); }

/* The pldr.quant map of the metadata (docs/FORMAT.md "Quantized tensors"), sorted by name. */
static int read_quant_map(st_header *h, const json *meta, const char *file, quant_entry **map, size_t *n, char *err, size_t cap) {
    *map = NULL;
    *n = 0;
    const json *text = member(meta, "pldr.quant");
    if (!text) return 0;
    char jerr[128];
    h->quant_root = json_parse(text->string, strlen(text->string), jerr, sizeof jerr);
    if (!h->quant_root) return failf(err, cap, "%s: \"pldr.quant\" metadata is not valid JSON: %s", file, jerr);
    if (h->quant_root->type != JSON_OBJECT) return failf(err, cap, "%s: \"pldr.quant\" metadata is not a JSON object", file);
    size_t count;
    const json **entries;
    if (distinct_members(h->quant_root, &entries, &count)) return failf(err, cap, "out of memory");
    *map = calloc(count ? count : 1, sizeof **map);
    if (!*map) { free(entries); return failf(err, cap, "out of memory"); }
    for (size_t i = 0; i < count; i++) {
        const json *q = entries[i], *fmt = member(q, "format"), *shape = member(q, "shape");
        quant_entry *e = &(*map)[i];
        uint64_t rows = 0, cols = 0;
        e->name = q->key;
        e->format = fmt && fmt->type == JSON_STRING ? pldr_dtype_from_name(fmt->string) : PLDR_DTYPE_INVALID;
        int ok = q->type == JSON_OBJECT && (e->format == PLDR_DTYPE_Q8_0 || e->format == PLDR_DTYPE_Q4_0) && shape &&
                 shape->type == JSON_ARRAY && json_count(shape) == 2 && count_value(shape->child, MAX_DIM, &rows) &&
                 count_value(shape->child->next, MAX_DIM, &cols) && cols > 0;
        if (!ok) {
            free(entries);
            return failf(err, cap, "%s: tensor \"%s\": \"pldr.quant\" entry must be {\"format\": \"q8_0\"|\"q4_0\", \"shape\": [rows, cols]}",
                         file, q->key);
        }
        e->rows = (int64_t)rows;
        e->cols = (int64_t)cols;
    }
    free(entries);
    *n = count; /* distinct_members sorted them by name */
    return 0;
}

/* Every U8 tensor has a pldr.quant entry and every entry naming a tensor of the file names a U8
 * tensor of the stored shape that format gives. */
static int check_quant(st_header *h, const quant_entry *map, size_t n, const char *file, char *err, size_t cap) {
    for (size_t i = 0; i < h->n; i++) {
        st_tensor *t = &h->t[i];
        quant_entry key = {.name = t->name};
        const quant_entry *q = n ? bsearch(&key, map, n, sizeof *map, by_name) : NULL;
        if (!q) {
            if (t->dtype == PLDR_DTYPE_U8)
                return failf(err, cap, "%s: tensor \"%s\" is U8 but has no \"pldr.quant\" entry saying how it is quantized", file, t->name);
            continue;
        }
        int block = pldr_dtype_block_size(q->format), bytes = pldr_dtype_block_bytes(q->format);
        uint64_t row_bytes = (uint64_t)(q->cols + block - 1) / (uint64_t)block * (uint64_t)bytes;
        if (t->dtype != PLDR_DTYPE_U8 || t->ndim != 2 || t->dims[0] != q->rows || (uint64_t)t->dims[1] != row_bytes) {
            char shape[128];
            format_dims(shape, sizeof shape, t->dims, t->ndim);
            return failf(err, cap, "%s: tensor \"%s\": %s of [%lld, %lld] is stored as U8 [%lld, %llu], but the header has %s %s (%llu bytes)",
                         file, t->name, pldr_dtype_name(q->format), (long long)q->rows, (long long)q->cols, (long long)q->rows,
                         (unsigned long long)row_bytes, t->dtype_name, shape, (unsigned long long)(t->end - t->begin));
        }
        t->quant = q->format;
        t->qshape[0] = (int32_t)q->rows;
        t->qshape[1] = (int32_t)q->cols;
    }
    return 0;
}

static int check_metadata(const json *meta, const char *file, char *err, size_t cap) {
    int ok = meta->type == JSON_OBJECT;
    for (const json *c = ok ? meta->child : NULL; c; c = c->next) ok &= c->type == JSON_STRING;
    return ok ? 0 : failf(err, cap, "%s: \"__metadata__\" must map strings to strings", file);
}

/* Reads and checks the header length and the header bytes; *text is malloc'd. */
static int read_header_text(FILE *f, int64_t file_size, const char *file, char **text, int64_t *len, char *err, size_t cap) {
    unsigned char len8[8];
    *text = NULL;
    if (file_size < 8 || fread(len8, 1, 8, f) != 8)
        return failf(err, cap, "%s: %lld bytes, too short for a safetensors file", file, (long long)file_size);
    int64_t n = u64_le(len8); /* *len only once it is checked: 8 + 2^63 - 1 would overflow */
    if ((uint64_t)n > MAX_HEADER) return failf(err, cap, "%s: header length %lld is over the %llu-byte limit (not a safetensors file?)", file, (long long)n, MAX_HEADER);
    if (n < 2) return failf(err, cap, "%s: header length %lld is too small for a JSON object", file, (long long)n);
    if (8 + n > file_size)
        return failf(err, cap, "%s: header length %lld runs past the end of the %lld-byte file (truncated?)", file, (long long)n, (long long)file_size);
    *len = n;
    *text = malloc((size_t)*len + 1);
    if (!*text) return failf(err, cap, "%s: out of memory for a header of %lld bytes", file, (long long)*len);
    if (fread(*text, 1, (size_t)*len, f) != (size_t)*len) return failf(err, cap, "%s: cannot read the header", file);
    return 0;
}

int st_read_header(FILE *f, int64_t file_size, const char *file, st_header *h, char *err, size_t cap) {
    memset(h, 0, sizeof *h);
    char *text, jerr[128];
    int64_t len = 0;
    quant_entry *map = NULL;
    size_t n_map = 0;
    const json **entries = NULL;
    int rc = read_header_text(f, file_size, file, &text, &len, err, cap);
    if (!rc) {
        h->root = json_parse(text, (size_t)len, jerr, sizeof jerr);
        if (!h->root) rc = failf(err, cap, "%s: header is not valid JSON: %s", file, jerr);
        else if (h->root->type != JSON_OBJECT) rc = failf(err, cap, "%s: header is not a JSON object", file);
    }
    free(text);
    h->data_start = 8 + len;
    const json *meta = rc ? NULL : member(h->root, "__metadata__");
    if (meta) rc = check_metadata(meta, file, err, cap);
    size_t count = 0;
    if (!rc && distinct_members(h->root, &entries, &count)) rc = failf(err, cap, "out of memory");
    if (!rc && !(h->t = calloc(count ? count : 1, sizeof *h->t))) rc = failf(err, cap, "out of memory");
    for (size_t i = 0; !rc && i < count; i++)
        if (strcmp(entries[i]->key, "__metadata__") != 0) rc = read_entry(entries[i], file, &h->t[h->n++], err, cap);
    free(entries);
    if (!rc) rc = check_layout(h, file, err, cap);
    if (!rc) rc = read_quant_map(h, meta, file, &map, &n_map, err, cap);
    if (!rc) rc = check_quant(h, map, n_map, file, err, cap);
    free(map);
    if (!rc && h->data_start + (int64_t)h->data_len > file_size) {
        size_t cut = 0;
        while (h->data_start + (int64_t)h->t[cut].end <= file_size) cut++;
        rc = failf(err, cap, "%s: file truncated: the header promises %llu bytes but the file has %lld (tensor \"%s\" is cut)", file,
                   (unsigned long long)(h->data_start + h->data_len), (long long)file_size, h->t[cut].name);
    }
    if (!rc && h->data_start + (int64_t)h->data_len < file_size)
        rc = failf(err, cap, "%s: %llu bytes at the end of the file belong to no tensor", file,
                   (unsigned long long)(file_size - h->data_start - (int64_t)h->data_len));
    if (rc) st_free(h);
    return rc;
}

void st_free(st_header *h) {
    for (size_t i = 0; h->t && i < h->n; i++) free(h->t[i].dims);
    free(h->t);
    json_free(h->root);
    json_free(h->quant_root);
    memset(h, 0, sizeof *h);
}

/* ---- files ------------------------------------------------------------------------------------ */

static FILE *open_sized(const char *path, int64_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    off_t n = -1;
    if (fseeko(f, 0, SEEK_END) == 0) n = ftello(f);
    if (n < 0 || fseeko(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    *size = (int64_t)n;
    return f;
}

/* A whole small file (at most max bytes), NUL-terminated; NULL when it cannot be read. */
static char *read_small_file(const char *path, size_t max, size_t *len, char *err, size_t cap) {
    int64_t size;
    FILE *f = open_sized(path, &size);
    if (!f) { failf(err, cap, "cannot read %s", path); return NULL; }
    char *buf = (uint64_t)size <= max ? malloc((size_t)size + 1) : NULL;
    if (!buf) failf(err, cap, "%s: %lld bytes, more than the %zu this file may have", path, (long long)size, max);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); buf = NULL; failf(err, cap, "cannot read %s", path); }
    fclose(f);
    if (buf) { buf[size] = 0; *len = (size_t)size; }
    return buf;
}

/* ---- loading ---------------------------------------------------------------------------------- */

/* One config.json value to the model, as js/runtime/model.js passes it: every key goes to C,
 * which reads it, ignores it as harmless or refuses it by name; objects as "key.member" keys,
 * arrays and empty objects as text. */
static int apply_config_value(pldr_model *m, const char *key, const json *v, int depth) {
    if (v->type == JSON_OBJECT && v->child && depth < 8) {
        int rc = 0;
        for (const json *c = v->child; c && rc >= 0; c = c->next) {
            char path[256];
            if (snprintf(path, sizeof path, "%s.%s", key, c->key) >= (int)sizeof path) path[sizeof path - 1] = 0;
            rc = apply_config_value(m, path, c, depth + 1);
        }
        return rc;
    }
    if (v->type == JSON_NUMBER || v->type == JSON_BOOL) return pldr_model_set_hparam(m, key, v->number);
    if (v->type == JSON_STRING) return pldr_model_set_hparam_str(m, key, v->string);
    return pldr_model_set_hparam_str(m, key, v->type == JSON_NULL ? "null" : v->type == JSON_ARRAY ? "[array]" : "{object}");
}

int apply_config(pldr_model *m, const char *text, size_t len, char *err, size_t cap) {
    char jerr[128];
    json *cfg = json_parse(text, len, jerr, sizeof jerr);
    if (!cfg || cfg->type != JSON_OBJECT) {
        if (cfg) snprintf(err, cap, "config.json is not a JSON object");
        else snprintf(err, cap, "config.json is not valid JSON: %s", jerr);
        json_free(cfg);
        return -1;
    }
    int rc = 0;
    for (const json *c = cfg->child; c && rc >= 0; c = c->next) rc = apply_config_value(m, c->key, c, 0);
    if (rc < 0) snprintf(err, cap, "config.json: %s", pldr_model_error(m));
    json_free(cfg);
    return rc < 0 ? -1 : 0;
}

/* Streams `bytes` bytes from f into the model's upload windows. */
static int stream_tensor(pldr_model *m, FILE *f, uint64_t bytes) {
    while (bytes > 0) {
        void *dst;
        size_t cap;
        if (pldr_model_upload_window(m, &dst, &cap) || cap == 0) return -1;
        size_t n = (uint64_t)cap < bytes ? cap : (size_t)bytes;
        if (fread(dst, 1, n, f) != n) return -2;
        if (pldr_model_upload_commit(m, n)) return -1;
        bytes -= n;
    }
    return pldr_model_upload_end(m) ? -1 : 0;
}

static int upload(pldr_model *m, FILE *f, const st_tensor *t, const char *file, char *err, size_t cap) {
    int32_t dims[PLDR_MAX_DIMS];
    int ndim = t->quant != PLDR_DTYPE_INVALID ? 2 : t->ndim;
    if (ndim > PLDR_MAX_DIMS) return failf(err, cap, "%s: tensor %s has %d dimensions; no PLDR-LLM tensor has more than %d", file, t->name, ndim, PLDR_MAX_DIMS);
    for (int i = 0; i < ndim; i++) dims[i] = t->quant != PLDR_DTYPE_INVALID ? t->qshape[i] : (int32_t)t->dims[i];
    pldr_dtype dtype = t->quant != PLDR_DTYPE_INVALID ? t->quant : t->dtype;
    if (pldr_model_upload_begin(m, t->name, dtype, dims, ndim)) return failf(err, cap, "%s: %s", file, pldr_model_error(m));
    int rc = stream_tensor(m, f, t->end - t->begin);
    if (rc == -2) return failf(err, cap, "%s: file truncated inside tensor %s", file, t->name);
    if (rc) return failf(err, cap, "%s: %s", file, pldr_model_error(m));
    return 0;
}

static int by_string(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The index's weight_map: each tensor name once (its last entry), sorted by name. */
typedef struct {
    const json **entries;
    size_t n;
} weight_map;

/* Every tensor of the shard must be mapped to it, and every tensor mapped to it must be there. */
static int check_against_index(const st_header *h, const weight_map *wm, const char *file, char *err, size_t cap) {
    for (size_t i = 0; i < h->n; i++) {
        const json *to = find_member(wm->entries, wm->n, h->t[i].name);
        if (!to || strcmp(to->string, file) != 0)
            return failf(err, cap, "%s: tensor \"%s\" is in this shard, but " INDEX_FILE " %s%s", file, h->t[i].name,
                         to ? "maps it to " : "does not list it", to ? to->string : "");
    }
    const char **present = malloc((h->n ? h->n : 1) * sizeof *present);
    if (!present) return failf(err, cap, "out of memory");
    for (size_t i = 0; i < h->n; i++) present[i] = h->t[i].name;
    qsort(present, h->n, sizeof *present, by_string);
    int rc = 0;
    for (size_t i = 0; i < wm->n && !rc; i++) {
        const json *e = wm->entries[i];
        if (strcmp(e->string, file) == 0 && !bsearch(&e->key, present, h->n, sizeof *present, by_string))
            rc = failf(err, cap, "%s: tensor \"%s\" is listed in " INDEX_FILE " for this shard but is not in it", file, e->key);
    }
    free(present);
    return rc;
}

static int load_shard(pldr_model *m, const char *dir, const char *file, const weight_map *wm, char *err, size_t cap) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path) return failf(err, cap, "%s/%s: path too long", dir, file);
    int64_t size;
    FILE *f = open_sized(path, &size);
    if (!f) return failf(err, cap, "cannot open %s", path);
    st_header h;
    int rc = st_read_header(f, size, file, &h, err, cap);
    if (!rc && wm) rc = check_against_index(&h, wm, file, err, cap);
    if (!rc && fseeko(f, (off_t)h.data_start, SEEK_SET) != 0) rc = failf(err, cap, "%s: cannot seek to the data", file);
    for (size_t i = 0; !rc && i < h.n; i++) rc = upload(m, f, &h.t[i], file, err, cap); /* in data order */
    st_free(&h);
    fclose(f);
    return rc;
}

/* A shard name of the index: a file beside it, so no way out of the model folder. */
static int plain_file_name(const char *s) {
    return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && !strchr(s, '\\');
}

/* The shard names of a weight_map, each once, sorted; -1 with err when one is not a plain file
 * name in the folder. */
static int shard_names(const weight_map *wm, const char ***out, size_t *n, char *err, size_t cap) {
    const char **shards = malloc((wm->n ? wm->n : 1) * sizeof *shards);
    *out = shards;
    *n = 0;
    if (!shards) return failf(err, cap, "out of memory");
    for (size_t i = 0; i < wm->n; i++) {
        const json *e = wm->entries[i];
        if (e->type != JSON_STRING || !plain_file_name(e->string))
            return failf(err, cap, INDEX_FILE ": tensor \"%s\" maps to %s, which is not a file name in the model folder", e->key,
                         e->type == JSON_STRING ? e->string : "a value that is not a string");
        shards[(*n)++] = e->string;
    }
    qsort(shards, *n, sizeof *shards, by_string);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (i == 0 || strcmp(shards[i], shards[k - 1]) != 0) shards[k++] = shards[i];
    *n = k;
    return 0;
}

/* Loads every shard the index names (each once, in name order), or model.safetensors. */
static int load_shards(pldr_model *m, const char *dir, char *err, size_t cap) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/" INDEX_FILE, dir);
    FILE *probe = fopen(path, "rb");
    if (!probe) return load_shard(m, dir, "model.safetensors", NULL, err, cap);
    fclose(probe);
    char *text = read_small_file(path, 64u << 20, &len, err, cap);
    if (!text) return -1;
    char jerr[128];
    json *idx = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!idx || idx->type != JSON_OBJECT) {
        json_free(idx);
        return failf(err, cap, INDEX_FILE ": %s", idx ? "not a JSON object" : jerr);
    }
    const json *map = member(idx, "weight_map");
    weight_map wm = {NULL, 0};
    const char **shards = NULL;
    size_t n = 0;
    int rc = 0;
    if (!map || map->type != JSON_OBJECT || !map->child) rc = failf(err, cap, INDEX_FILE ": \"weight_map\" must be a non-empty object");
    if (!rc && distinct_members(map, &wm.entries, &wm.n)) rc = failf(err, cap, "out of memory");
    if (!rc) rc = shard_names(&wm, &shards, &n, err, cap);
    for (size_t i = 0; !rc && i < n; i++) rc = load_shard(m, dir, shards[i], &wm, err, cap);
    free(shards);
    free(wm.entries);
    json_free(idx);
    return rc;
}

pldr_model *load_model_dir(const char *dir, const pldr_model_params *params, char *err, size_t cap) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_small_file(path, 16u << 20, &len, err, cap);
    if (!text) return NULL;
    pldr_model *m = pldr_model_new(params);
    int rc = m ? apply_config(m, text, len, err, cap) : failf(err, cap, "out of memory");
    free(text);
    if (!rc && pldr_model_alloc(m)) rc = failf(err, cap, "%s", pldr_model_error(m));
    if (!rc) rc = load_shards(m, dir, err, cap);
    if (!rc && pldr_model_finalize(m)) rc = failf(err, cap, "%s", pldr_model_error(m));
    if (rc) { pldr_model_free(m); return NULL; }
    return m;
}

/* ---- pldr-native safetensors FILE... ---------------------------------------------------------- */

static void put_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void put_dims(const int64_t *dims, int ndim) {
    putchar('[');
    for (int i = 0; i < ndim; i++) printf(i ? ", %lld" : "%lld", (long long)dims[i]);
    putchar(']');
}

/* One JSON line per file: {"file", "ok": true, "tensors": [[name, dtype, shape, begin, end
 * (, quant format, quant shape)], ...]} in data order, or {"file", "ok": false, "error"}. */
int safetensors_main(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        fputs("usage: pldr-native safetensors FILE...   check safetensors headers (docs/FORMAT.md), one JSON line each\n",
              argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    int refused = 0;
    for (int i = 0; i < argc; i++) {
        char err[1024] = "";
        st_header h;
        int64_t size;
        FILE *f = open_sized(argv[i], &size);
        int rc = f ? st_read_header(f, size, argv[i], &h, err, sizeof err) : failf(err, sizeof err, "cannot open %s", argv[i]);
        if (f) fclose(f);
        printf("{\"file\": ");
        put_json_string(argv[i]);
        if (rc) {
            refused = 1;
            printf(", \"ok\": false, \"error\": ");
            put_json_string(err);
            printf("}\n");
            continue;
        }
        printf(", \"ok\": true, \"tensors\": [");
        for (size_t k = 0; k < h.n; k++) {
            const st_tensor *t = &h.t[k];
            printf(k ? ", [" : "[");
            put_json_string(t->name);
            printf(", ");
            put_json_string(t->dtype_name);
            printf(", ");
            put_dims(t->dims, t->ndim);
            printf(", %llu, %llu", (unsigned long long)t->begin, (unsigned long long)t->end);
            if (t->quant != PLDR_DTYPE_INVALID) printf(", \"%s\", [%d, %d]", pldr_dtype_name(t->quant), (int)t->qshape[0], (int)t->qshape[1]);
            printf("]");
        }
        printf("]}\n");
        st_free(&h);
    }
    return refused;
}
