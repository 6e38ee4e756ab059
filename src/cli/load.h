/* load.h — loads a model folder (Hugging Face layout) from disk for the native CLI, and reads
 * safetensors headers by the rules of docs/FORMAT.md "Header rules". */
#ifndef PLDR_CLI_LOAD_H
#define PLDR_CLI_LOAD_H

#include <stdint.h>
#include <stdio.h>

#include "json.h"
#include "pldr.h"

/* Reads DIR/config.json and the safetensors shards into a new model. NULL on failure with the
 * reason in err. */
pldr_model *load_model_dir(const char *dir, const pldr_model_params *params, char *err, size_t err_cap);

/* Sets every number/bool/string member of a config.json object as a hyperparameter. */
int apply_config(pldr_model *m, const char *config_text, size_t len, char *err, size_t err_cap);

/* One tensor of a safetensors header. */
typedef struct {
    const char *name;          /* owned by the header's JSON */
    const char *dtype_name;    /* as the header spells it */
    pldr_dtype dtype;          /* an element type (block size 1) */
    int ndim;
    int64_t *dims;             /* [ndim], each in [0, 2^31 - 1] */
    uint64_t begin, end;       /* data_offsets, relative to the data section */
    pldr_dtype quant;          /* Q8_0 / Q4_0 for a pldr.quant tensor (stored as U8), else INVALID */
    int32_t qshape[2];         /* its logical [rows, cols] */
} st_tensor;

typedef struct {
    json *root, *quant_root;   /* the parsed header and pldr.quant */
    st_tensor *t;              /* [n] in data order, covering [0, data_len) exactly */
    size_t n;
    int64_t data_start;        /* 8 + header length */
    uint64_t data_len;
} st_header;

/* Reads and checks the header of the safetensors file f (file_size bytes, named `file` in
 * messages). 0 on success (free with st_free); -1 with the reason in err (h then needs no free). */
int st_read_header(FILE *f, int64_t file_size, const char *file, st_header *h, char *err, size_t err_cap);
void st_free(st_header *h);

/* `pldr-native safetensors FILE...`: each file's verdict as one JSON line. */
int safetensors_main(int argc, char **argv);

#endif
