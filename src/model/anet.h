/* anet.h — the A-net: G_LM and A_LM of one layer from its queries (spec §2.3–2.4); internal.
 * It reads the model's weights and writes only the work space and outputs it is given: whoever
 * runs it (a session) owns and allocates that work space. Its work is split across the model's
 * thread pool: rows of A (everything before W·A is row by row), then heads. */
#ifndef PLDR_ANET_H
#define PLDR_ANET_H

#include "model.h"

/* Work space, rows = H*dk rows of dk (every head's A at once). */
typedef struct {
    pk_scratch *kernel; /* the caller's kernel work memory, for the parts it runs alone */
    pk_scratch *work;   /* the caller's buffers (anet_work_bytes), likewise */
    float *a;           /* [H*dk][dk]  A */
    float *a_in;        /* [H*dk][dk]  residual input */
    float *h1, *h2;     /* [H*dk][A_dff] */
} anet_scratch;

/* Bytes of one block of memory that anet_scratch_bind carves the work space from (0 when the
 * size does not fit a size_t). */
size_t anet_scratch_bytes(const pldr_hparams *hp);

/* Bytes of buffers one part of the A-net's per-head step takes from its work memory ([dk][dk]
 * twice; 0 when that does not fit a size_t). */
size_t anet_work_bytes(const pldr_hparams *hp);

/* Points ws's buffers into mem (anet_scratch_bytes(hp) bytes). */
void anet_scratch_bind(anet_scratch *ws, const pldr_hparams *hp, void *mem, pk_scratch *kernel, pk_scratch *work);

/* A_LM and G_LM [H][dk][dk] of layer ly from its queries q [n][D] after RoPE. */
void anet_layer(const pldr_model *m, const pldr_layer *ly, const float *q, int n, anet_scratch *ws,
                float *g, float *a_lm);

#endif
