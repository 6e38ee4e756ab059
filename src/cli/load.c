/* load.c — model folders for the native CLI: config.json, safetensors (single or sharded). */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}

int apply_config(pldr_model *m, const char *text, size_t len, char *err, size_t cap) {
    json *cfg = json_parse(text, len, err, cap);
    if (!cfg || cfg->type != JSON_OBJECT) {
        if (cfg) snprintf(err, cap, "config.json is not a JSON object");
        json_free(cfg);
        return -1;
    }
    int rc = 0;
    for (const json *c = cfg->child; c && rc >= 0; c = c->next) {
        if (c->type == JSON_NUMBER || c->type == JSON_BOOL) rc = pldr_model_set_hparam(m, c->key, c->number);
        else if (c->type == JSON_STRING) rc = pldr_model_set_hparam_str(m, c->key, c->string);
        else if (c->type == JSON_NULL) rc = pldr_model_set_hparam_str(m, c->key, "null");
        if (rc < 0) snprintf(err, cap, "config.json: %s", pldr_model_error(m));
    }
    json_free(cfg);
    return rc < 0 ? -1 : 0;
}

static int dtype_code(const char *s) {
    if (!strcmp(s, "F32")) return PLDR_DTYPE_F32;
    if (!strcmp(s, "F16")) return PLDR_DTYPE_F16;
    if (!strcmp(s, "BF16")) return PLDR_DTYPE_BF16;
    if (!strcmp(s, "U8")) return PLDR_DTYPE_U8;
    if (!strcmp(s, "BOOL")) return PLDR_DTYPE_BOOL;
    return -1;
}

/* Streams `bytes` bytes from f into the model's upload windows. */
static int stream_tensor(pldr_model *m, FILE *f, size_t bytes) {
    while (bytes > 0) {
        void *dst;
        size_t cap;
        if (pldr_model_upload_window(m, &dst, &cap) || cap == 0) return -1;
        size_t n = cap < bytes ? cap : bytes;
        if (fread(dst, 1, n, f) != n) return -2;
        if (pldr_model_upload_commit(m, n)) return -1;
        bytes -= n;
    }
    return pldr_model_upload_end(m) ? -1 : 0;
}

static int load_tensor(pldr_model *m, FILE *f, long data_start, const json *t, const json *quant,
                       const char *file, char *err, size_t cap) {
    const json *dt = json_get(t, "dtype"), *shape = json_get(t, "shape"), *offs = json_get(t, "data_offsets");
    if (!dt || dt->type != JSON_STRING || !shape || !offs || json_count(offs) != 2) {
        snprintf(err, cap, "%s: tensor %s has an invalid header entry", file, t->key);
        return -1;
    }
    int dtype = dtype_code(dt->string);
    const json *q = quant ? json_get(quant, t->key) : NULL;
    if (q) {
        const json *fmt = json_get(q, "format");
        dtype = fmt && fmt->string && !strcmp(fmt->string, "q8_0") ? PLDR_DTYPE_Q8_0
              : fmt && fmt->string && !strcmp(fmt->string, "q4_0") ? PLDR_DTYPE_Q4_0 : -1;
        shape = json_get(q, "shape");
    }
    int32_t dims[8];
    int ndim = 0;
    for (const json *d = shape ? shape->child : NULL; d && ndim < 8; d = d->next) dims[ndim++] = (int32_t)d->number;
    double begin = offs->child->number, end = offs->child->next->number;
    if (pldr_model_upload_begin(m, t->key, dtype < 0 ? 99 : dtype, dims, ndim)) {
        snprintf(err, cap, "%s: %s", file, pldr_model_error(m));
        return -1;
    }
    if (fseek(f, data_start + (long)begin, SEEK_SET) != 0) return -1;
    int rc = stream_tensor(m, f, (size_t)(end - begin));
    if (rc == -2) snprintf(err, cap, "%s: file truncated inside tensor %s", file, t->key);
    else if (rc) snprintf(err, cap, "%s: %s", file, pldr_model_error(m));
    return rc;
}

static int load_shard(pldr_model *m, const char *dir, const char *file, char *err, size_t cap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, cap, "cannot open %s", path); return -1; }
    unsigned char len8[8];
    int rc = -1;
    json *hdr = NULL;
    char *text = NULL;
    if (fread(len8, 1, 8, f) != 8) { snprintf(err, cap, "%s: too short for a safetensors file", file); goto out; }
    unsigned long long hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    if (hlen > 100000000ULL) { snprintf(err, cap, "%s: header length %llu is not plausible", file, hlen); goto out; }
    text = malloc(hlen + 1);
    if (!text || fread(text, 1, hlen, f) != hlen) { snprintf(err, cap, "%s: truncated header", file); goto out; }
    hdr = json_parse(text, hlen, err, cap);
    if (!hdr || hdr->type != JSON_OBJECT) { snprintf(err, cap, "%s: header is not valid JSON", file); goto out; }
    const json *meta = json_get(hdr, "__metadata__"), *qs = meta ? json_get(meta, "pldr.quant") : NULL;
    json *quant = qs && qs->type == JSON_STRING ? json_parse(qs->string, strlen(qs->string), NULL, 0) : NULL;
    rc = 0;
    for (const json *t = hdr->child; t && !rc; t = t->next)
        if (strcmp(t->key, "__metadata__") != 0) rc = load_tensor(m, f, 8 + (long)hlen, t, quant, file, err, cap);
    json_free(quant);
out:
    json_free(hdr);
    free(text);
    fclose(f);
    return rc;
}

/* Shard names of the index in first-seen order, or "model.safetensors". */
static int load_shards(pldr_model *m, const char *dir, char *err, size_t cap) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    char *text = read_file(path, &len);
    if (!text) return load_shard(m, dir, "model.safetensors", err, cap);
    json *idx = json_parse(text, len, err, cap);
    free(text);
    const json *map = idx ? json_get(idx, "weight_map") : NULL;
    if (!map) { snprintf(err, cap, "model.safetensors.index.json has no weight_map"); json_free(idx); return -1; }
    const char *done[4096];
    int n_done = 0, rc = 0;
    for (const json *e = map->child; e && !rc; e = e->next) {
        int seen = 0;
        for (int i = 0; i < n_done; i++) seen |= !strcmp(done[i], e->string);
        if (seen || n_done == 4096) continue;
        done[n_done++] = e->string;
        rc = load_shard(m, dir, e->string, err, cap);
    }
    json_free(idx);
    return rc;
}

pldr_model *load_model_dir(const char *dir, const pldr_model_params *params, char *err, size_t cap) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_file(path, &len);
    if (!text) { snprintf(err, cap, "cannot read %s", path); return NULL; }
    pldr_model *m = pldr_model_new(params);
    int rc = m ? apply_config(m, text, len, err, cap) : -1;
    free(text);
    if (!rc && pldr_model_alloc(m)) { snprintf(err, cap, "%s", pldr_model_error(m)); rc = -1; }
    if (!rc) rc = load_shards(m, dir, err, cap);
    if (!rc && pldr_model_finalize(m)) { snprintf(err, cap, "%s", pldr_model_error(m)); rc = -1; }
    if (rc) { pldr_model_free(m); return NULL; }
    return m;
}
