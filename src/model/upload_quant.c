/* upload_quant.c — float tensors quantized while they stream in: incoming bytes are staged a few
 * rows at a time, so the float32 copy of a matrix never exists in memory. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define STAGE_BYTES (256 * 1024)

int upload_quant_begin(pldr_model *m) {
    upload_state *up = &m->up;
    int cols = up->slot->shape[1], ok = cols > 0;
    size_t elem = up->dtype == PLDR_DTYPE_F32 ? 4 : 2;
    up->row_bytes = size_mul((size_t)cols, elem, &ok);
    size_t rows = ok ? STAGE_BYTES / up->row_bytes : 0;
    up->stage_cap = size_mul(rows ? rows : 1, up->row_bytes, &ok);         /* [stage rows][row_bytes] */
    size_t row_floats = size_mul((size_t)cols, sizeof(float), &ok);     /* [cols] */
    up->stage = ok ? malloc(up->stage_cap) : NULL;
    up->row = ok ? malloc(row_floats) : NULL;
    if (!up->stage || !up->row) {
        upload_quant_end(m);
        return model_fail(m, PLDR_ERR_OUT_OF_MEMORY, "out of memory staging tensor %s", up->slot->name);
    }
    return PLDR_OK;
}

int upload_quant_window(pldr_model *m, void **dst, size_t *capacity) {
    upload_state *up = &m->up;
    size_t room = up->stage_cap - up->stage_len, left = up->total - up->received;
    *dst = up->stage + up->stage_len;
    *capacity = room < left ? room : left;
    return PLDR_OK;
}

static void row_to_f32(const upload_state *up, const unsigned char *in, int cols) {
    if (up->dtype == PLDR_DTYPE_F32) {
        memcpy(up->row, in, (size_t)cols * sizeof(float));
        return;
    }
    for (int i = 0; i < cols; i++) {
        uint16_t h = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
        up->row[i] = up->dtype == PLDR_DTYPE_BF16 ? pk_bf16_to_f32(h) : pk_f16_to_f32(h);
    }
}

/* A row that cannot be quantized ends the upload: the tensor is discarded, not half stored. */
static int quantize_fail(pldr_model *m, int why) {
    upload_state *up = &m->up;
    int rc = model_fail(m, PLDR_ERR_DTYPE, "tensor %s: row %d %s; it cannot be stored as %s", up->slot->name,
                        up->rows_done, why == PK_QUANT_NONFINITE ? "holds Inf or NaN" : "holds values too large for a float16 block scale",
                        pldr_dtype_name(up->format));
    upload_quant_end(m);
    free(up->slot->mem);
    up->slot->mem = NULL;
    *up = (upload_state){0};
    return rc;
}

int upload_quant_commit(pldr_model *m, size_t nbytes) {
    upload_state *up = &m->up;
    int cols = up->slot->shape[1];
    if (nbytes > up->stage_cap - up->stage_len || nbytes > up->total - up->received)
        return model_fail(m, PLDR_ERR_INVALID_ARGUMENT, "tensor %s: %zu bytes committed past the window", up->slot->name, nbytes);
    up->stage_len += nbytes;
    up->received += nbytes;
    size_t full = up->stage_len / up->row_bytes;
    size_t row_out = pk_matrix_bytes(up->format, 1, cols);
    for (size_t r = 0; r < full; r++) {
        row_to_f32(up, up->stage + r * up->row_bytes, cols);
        unsigned char *dst = (unsigned char *)up->slot->mem + (size_t)up->rows_done * row_out;
        int rc = up->format == PLDR_DTYPE_Q8_0 ? pk_quantize_row_q8_0(up->row, dst, cols)
                                               : pk_quantize_row_q4_0(up->row, dst, cols);
        if (rc) return quantize_fail(m, rc);
        up->rows_done++;
    }
    up->stage_len -= full * up->row_bytes;
    memmove(up->stage, up->stage + full * up->row_bytes, up->stage_len);
    return PLDR_OK;
}

void upload_quant_end(pldr_model *m) {
    free(m->up.stage);
    free(m->up.row);
    m->up.stage = NULL;
    m->up.row = NULL;
}
