/* tuning.c — pldr_int8_dot (pldr.h): which instruction form the relaxed build's q4_0 products take,
 * and a probe for the host to time each form. The bits of every result are the same either way. */
#include <stdlib.h>

#include "kernels.h"
#include "pldr.h"
#include "simd.h"

static int valid_form(int form) { return form == PLDR_INT8_DOT_I32 || form == PLDR_INT8_DOT_PAIRS16; }

int pldr_set_int8_dot(int form) {
    if (!valid_form(form)) return PLDR_ERR_INVALID_ARGUMENT;
    pk_set_int8_dot_form(form);
    return PLDR_OK;
}

int pldr_int8_dot_current(void) { return pk_int8_dot_form(); }

/* The probe's product: the 110M shape's width, a prefill's tile of tokens. */
enum { PROBE_ROWS = 64, PROBE_COLS = 896, PROBE_TOKENS = 16 };

int pldr_int8_dot_probe(int form, int iters) {
    if (!valid_form(form) || iters < 1 || iters > 1000) return PLDR_ERR_INVALID_ARGUMENT;
    if (!PK_RELAXED) return PLDR_IGNORED; /* one form in this build */
    size_t row_bytes = pk_matrix_bytes(PLDR_DTYPE_Q4_0, 1, PROBE_COLS);
    unsigned char *w = malloc(row_bytes * PROBE_ROWS);
    float *x = malloc(sizeof(float) * PROBE_TOKENS * PROBE_COLS), *y = malloc(sizeof(float) * PROBE_TOKENS * PROBE_ROWS);
    pldr_matrix W = {w, PLDR_DTYPE_Q4_0, PROBE_ROWS, PROBE_COLS};
    pk_scratch ws = {0};
    int rc = w && x && y && pk_scratch_ensure(&ws, pk_matmul_scratch(&W, PROBE_TOKENS)) == 0 ? PLDR_OK : PLDR_ERR_OUT_OF_MEMORY;
    if (rc == PLDR_OK) {
        uint32_t s = 12345;
        for (int i = 0; i < PROBE_TOKENS * PROBE_COLS; i++) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int r = 0; r < PROBE_ROWS; r++) pk_quantize_row_q4_0(x + (size_t)(r % PROBE_TOKENS) * PROBE_COLS, w + row_bytes * r, PROBE_COLS);
        int before = pk_int8_dot_form();
        pk_set_int8_dot_form(form);
        for (int i = 0; i < iters; i++) pk_matmul(y, x, &W, NULL, PROBE_TOKENS, &ws);
        pk_set_int8_dot_form(before);
    }
    pk_scratch_free(&ws);
    free(w); free(x); free(y);
    return rc;
}
