/* matmul.h — matrix products split across the pool (pool.h) by rows of the weight matrix: the
 * dispatch the forward pass calls instead of pk_matmul; internal. */
#ifndef PLDR_THREADS_MATMUL_H
#define PLDR_THREADS_MATMUL_H

#include "pool.h"

/* One product y [n][W->rows] = x [n][W->cols] · Wᵀ + bias (bias may be NULL). */
typedef struct {
    float *y;
    const pldr_matrix *w;
    const float *bias;
} par_product;

/* The `count` products of the same x [n][cols] (their W have the same cols), as one region: their
 * rows, in runs of PK_SPLIT_ROWS, are shared out among the pool's threads, so each row is computed
 * as pk_matmul computes it. own: the caller's kernel work memory, for when it runs alone. */
void par_matmuls(pldr_threads *t, pk_scratch *own, const float *x, int n, const par_product *p, int count);

/* One product as par_matmuls. */
void par_matmul(pldr_threads *t, pk_scratch *own, float *y, const float *x, const pldr_matrix *w, const float *bias,
                int n);

#endif
