/* json.c — recursive-descent JSON reader (RFC 8259), enough for configs and headers: strict
 * grammar, UTF-8 checked, at most 64 levels deep (the top value is level 1), no U+0000 in
 * strings — the limits docs/FORMAT.md gives for safetensors headers. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *start, *p, *end;
    char *err;
    size_t err_cap;
    int depth;
} reader;

static json *parse_value(reader *r);

static void skip_ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* A syntax error, where it was found (the first error is kept). */
static json *fail(reader *r, const char *what) {
    if (r->err && !r->err[0]) snprintf(r->err, r->err_cap, "%s at byte %zu", what, (size_t)(r->p - r->start));
    return NULL;
}

static json *fail_oom(reader *r) {
    if (r->err && !r->err[0]) snprintf(r->err, r->err_cap, "out of memory");
    return NULL;
}

static void put_utf8(char **o, unsigned cp) {
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) { *u++ = (unsigned char)cp; }
    else if (cp < 0x800) { *u++ = (unsigned char)(0xc0 | cp >> 6); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) { *u++ = (unsigned char)(0xe0 | cp >> 12); *u++ = (unsigned char)(0x80 | (cp >> 6 & 63)); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    else { *u++ = (unsigned char)(0xf0 | cp >> 18); *u++ = (unsigned char)(0x80 | (cp >> 12 & 63)); *u++ = (unsigned char)(0x80 | (cp >> 6 & 63)); *u++ = (unsigned char)(0x80 | (cp & 63)); }
    *o = (char *)u;
}

static int hex4(reader *r, unsigned *out) {
    if (r->end - r->p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at p (no overlong forms, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || end - p < (ptrdiff_t)n) return 0;
    for (unsigned i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* a surrogate */
    if (c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return n;
}

/* The string at r->p (its opening quote), unescaped; NULL with a message in r->err when it is not
 * a JSON string. Strings holding U+0000 are refused: C strings could not hold them. */
static char *parse_string_raw(reader *r) {
    r->p++; /* opening quote */
    char *out = malloc((size_t)(r->end - r->p) + 1), *o = out;
    if (!out) { fail_oom(r); return NULL; }
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) { free(out); fail(r, "control character in a JSON string"); return NULL; }
        if (c >= 0x80) {
            size_t n = utf8_length((const unsigned char *)r->p, (const unsigned char *)r->end);
            if (!n) { free(out); fail(r, "invalid UTF-8 in a JSON string"); return NULL; }
            memcpy(o, r->p, n);
            o += n;
            r->p += n;
            continue;
        }
        r->p++;
        if (c != '\\') { *o++ = (char)c; continue; }
        if (r->p >= r->end) break;
        char e = *r->p++;
        unsigned cp, lo;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (!hex4(r, &cp)) { free(out); fail(r, "invalid \\u escape in a JSON string"); return NULL; }
            if (cp == 0) { free(out); fail(r, "JSON string holds U+0000"); return NULL; }
            if (cp >= 0xd800 && cp < 0xdc00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
                const char *at = r->p;
                r->p += 2;
                if (hex4(r, &lo) && lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else r->p = at; /* a lone high surrogate; the next escape stands alone */
            }
            put_utf8(&o, cp);
            break;
        default: free(out); fail(r, "invalid escape in a JSON string"); return NULL;
        }
    }
    if (r->p >= r->end) { free(out); fail(r, "unterminated JSON string"); return NULL; }
    r->p++; /* closing quote */
    *o = 0;
    return out;
}

/* Length of the JSON number at p (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), or 0. */
static size_t number_length(const char *p, const char *end) {
    const char *q = p;
#define DIGITS() do { const char *d0 = q; while (q < end && *q >= '0' && *q <= '9') q++; if (q == d0) return 0; } while (0)
    if (q < end && *q == '-') q++;
    if (q < end && *q == '0') q++;
    else DIGITS();
    if (q < end && *q == '.') { q++; DIGITS(); }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        DIGITS();
    }
#undef DIGITS
    return (size_t)(q - p);
}

static json *new_node(json_type t) {
    json *j = calloc(1, sizeof *j);
    if (j) j->type = t;
    return j;
}

static json *parse_container(reader *r, int is_object) {
    json *node = new_node(is_object ? JSON_OBJECT : JSON_ARRAY), **tail;
    if (!node) return fail_oom(r);
    tail = &node->child;
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == (is_object ? '}' : ']')) { r->p++; return node; }
    for (;;) {
        char *key = NULL;
        skip_ws(r);
        if (is_object) {
            if (r->p >= r->end || *r->p != '"' || !(key = parse_string_raw(r))) break;
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':') { free(key); break; }
            r->p++;
        }
        json *v = parse_value(r);
        if (!v) { free(key); break; }
        v->key = key;
        *tail = v;
        tail = &v->next;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') { r->p++; continue; }
        if (r->p < r->end && *r->p == (is_object ? '}' : ']')) { r->p++; return node; }
        break;
    }
    json_free(node);
    return fail(r, is_object ? "invalid JSON object" : "invalid JSON array");
}

static json *parse_value(reader *r) {
    skip_ws(r);
    if (r->p >= r->end) return fail(r, "unexpected end of JSON");
    if (++r->depth > 64) return fail(r, "JSON nested too deeply");
    json *j = NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        j = parse_container(r, c == '{');
    } else if (c == '"') {
        char *s = parse_string_raw(r);
        if (s && (j = new_node(JSON_STRING))) j->string = s;
        else { free(s); j = fail(r, "invalid JSON string"); }
    } else if (r->end - r->p >= 4 && !strncmp(r->p, "null", 4)) {
        r->p += 4; j = new_node(JSON_NULL);
    } else if (r->end - r->p >= 4 && !strncmp(r->p, "true", 4)) {
        r->p += 4; if ((j = new_node(JSON_BOOL))) j->number = 1;
    } else if (r->end - r->p >= 5 && !strncmp(r->p, "false", 5)) {
        r->p += 5; j = new_node(JSON_BOOL);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        size_t n = number_length(r->p, r->end);
        char *buf = n ? malloc(n + 1) : NULL;
        if (!buf) {
            j = n ? fail_oom(r) : fail(r, "invalid JSON number");
        } else {
            memcpy(buf, r->p, n);
            buf[n] = 0;
            double v = strtod(buf, NULL); /* the grammar is checked: strtod reads all of it */
            free(buf);
            r->p += n;
            if ((j = new_node(JSON_NUMBER))) j->number = v;
        }
    } else {
        j = fail(r, "invalid JSON value");
    }
    r->depth--;
    return j;
}

json *json_parse(const char *text, size_t len, char *err, size_t err_cap) {
    if (err && err_cap) err[0] = 0;
    reader r = {text, text, text + len, err, err_cap, 0};
    json *j = parse_value(&r);
    skip_ws(&r);
    if (j && r.p != r.end) {
        json_free(j);
        return fail(&r, "trailing characters after JSON");
    }
    return j;
}

void json_free(json *j) {
    while (j) {
        json *next = j->next;
        json_free(j->child);
        free(j->string);
        free(j->key);
        free(j);
        j = next;
    }
}

const json *json_get(const json *o, const char *key) {
    if (!o || o->type != JSON_OBJECT) return NULL;
    for (const json *c = o->child; c; c = c->next)
        if (!strcmp(c->key, key)) return c;
    return NULL;
}

size_t json_count(const json *a) {
    size_t n = 0;
    for (const json *c = a ? a->child : NULL; c; c = c->next) n++;
    return n;
}
