/* json.h — a small JSON reader for the native CLI (config.json, safetensors headers). */
#ifndef PLDR_CLI_JSON_H
#define PLDR_CLI_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json {
    json_type type;
    double number;        /* JSON_NUMBER, JSON_BOOL (0/1) */
    char *string;         /* JSON_STRING (NUL-terminated, unescaped) */
    char *key;            /* member name when inside an object */
    struct json *child;   /* first element / member */
    struct json *next;    /* next sibling */
} json;

/* Parses text[0..len); NULL on a syntax error (with a message in err). Free with json_free. */
json *json_parse(const char *text, size_t len, char *err, size_t err_cap);
void json_free(json *j);
const json *json_get(const json *object, const char *key);
size_t json_count(const json *array);

#endif
