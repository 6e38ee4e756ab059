/* matmul.c — matrix products split across the pool by rows (matmul.h). */
#include "matmul.h"

#define MAX_PRODUCTS 4

typedef struct {
    const float *x;
    int n, count;
    const par_product *p;
    int units;                   /* runs of PK_SPLIT_ROWS rows, over all products in order */
    int first_unit[MAX_PRODUCTS + 1];
} matmuls_job;

static int row_units(const pldr_matrix *w) { return (w->rows + PK_SPLIT_ROWS - 1) / PK_SPLIT_ROWS; }

/* Units [u0, u1) of the products laid end to end. */
static void matmuls_part(void *ctx, int u0, int u1, const pool_part *part) {
    const matmuls_job *j = ctx;
    for (int i = 0; i < j->count; i++) {
        int a = u0 > j->first_unit[i] ? u0 : j->first_unit[i], b = u1 < j->first_unit[i + 1] ? u1 : j->first_unit[i + 1];
        if (a >= b) continue;
        const pldr_matrix *w = j->p[i].w;
        int r0 = (a - j->first_unit[i]) * PK_SPLIT_ROWS, r1 = (b - j->first_unit[i]) * PK_SPLIT_ROWS;
        pk_matmul_rows(j->p[i].y, j->x, w, j->p[i].bias, j->n, r0, r1 < w->rows ? r1 : w->rows, part->kernel);
    }
}

void par_matmuls(pldr_threads *t, pk_scratch *own, const float *x, int n, const par_product *p, int count) {
    for (; count > MAX_PRODUCTS; count -= MAX_PRODUCTS, p += MAX_PRODUCTS) par_matmuls(t, own, x, n, p, MAX_PRODUCTS);
    matmuls_job j = {.x = x, .n = n, .count = count, .p = p};
    pool_need need = {.parts = 1, .units = 0};
    double macs = 0;
    for (int i = 0; i < count; i++) {
        j.first_unit[i] = j.units;
        j.units += row_units(p[i].w);
        size_t bytes = pk_matmul_scratch(p[i].w, n);
        if (bytes > need.kernel_bytes) need.kernel_bytes = bytes;
        macs += (double)p[i].w->rows * p[i].w->cols * n;
    }
    j.first_unit[count] = j.units;
    need.units = j.units;
    need.parts = pool_parts_worth(macs, j.units);
    pool_part alone = {own, NULL, 0};
    pool_run(t, &alone, need, matmuls_part, &j);
}

void par_matmul(pldr_threads *t, pk_scratch *own, float *y, const float *x, const pldr_matrix *w, const float *bias,
                int n) {
    par_product p = {y, w, bias};
    par_matmuls(t, own, x, n, &p, 1);
}
