/* formats.c — the dtype table (names, block sizes) and quantization of whole matrices:
 * include/pldr.h "Formats", docs/FORMAT.md. */
#include <string.h>

#include "model.h"

typedef struct {
    const char *name;  /* as safetensors headers and pldr.quant metadata spell it */
    int block_size;    /* values per block */
    int block_bytes;
} dtype_def;

static const dtype_def DTYPES[] = {          /* indexed by pldr_dtype */
    [PLDR_DTYPE_F32] = {"F32", 1, 4},
    [PLDR_DTYPE_F16] = {"F16", 1, 2},
    [PLDR_DTYPE_BF16] = {"BF16", 1, 2},
    [PLDR_DTYPE_Q8_0] = {"q8_0", PK_QBLOCK, sizeof(block_q8_0)},
    [PLDR_DTYPE_Q4_0] = {"q4_0", PK_QBLOCK, sizeof(block_q4_0)},
    [PLDR_DTYPE_U8] = {"U8", 1, 1},
    [PLDR_DTYPE_BOOL] = {"BOOL", 1, 1},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

static const dtype_def *find_dtype(pldr_dtype dtype) {
    return (int)dtype >= 0 && (int)dtype < N_DTYPES ? &DTYPES[dtype] : NULL;
}

pldr_dtype pldr_dtype_from_name(const char *name) {
    for (int i = 0; name && i < N_DTYPES; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return (pldr_dtype)i;
    return PLDR_DTYPE_INVALID;
}

const char *pldr_dtype_name(pldr_dtype dtype) {
    const dtype_def *d = find_dtype(dtype);
    return d ? d->name : NULL;
}

int pldr_dtype_block_size(pldr_dtype dtype) {
    const dtype_def *d = find_dtype(dtype);
    return d ? d->block_size : 0;
}

int pldr_dtype_block_bytes(pldr_dtype dtype) {
    const dtype_def *d = find_dtype(dtype);
    return d ? d->block_bytes : 0;
}

int pldr_quantize(pldr_dtype dtype, const float *x, int rows, int cols, void *out) {
    if (!x || !out || rows < 1 || cols < 1 || (dtype != PLDR_DTYPE_Q8_0 && dtype != PLDR_DTYPE_Q4_0))
        return PLDR_ERR_INVALID_ARGUMENT;
    size_t row_bytes = pk_matrix_bytes(dtype, 1, cols);
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * (size_t)cols;
        unsigned char *dst = (unsigned char *)out + (size_t)r * row_bytes;
        int rc = dtype == PLDR_DTYPE_Q8_0 ? pk_quantize_row_q8_0(row, dst, cols) : pk_quantize_row_q4_0(row, dst, cols);
        if (rc) return PLDR_ERR_DTYPE;
    }
    return PLDR_OK;
}
