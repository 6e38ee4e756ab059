/* anet.c — the deep net that produces G_LM (spec §2.3–2.4). Run once per G-cache: when, and for
 * whom, is the G-cache's policy (src/session/gcache.c).
 *
 * Everything up to W·A works on the rows of A one at a time: row i of head h is A0's
 * Σ_s q_s[i] q_s (spec §2.3), then LayerNorm and the GLUs and LayerNorms of the residual blocks,
 * all row by row. So the pool's threads each take whole rows through all of it (one region per
 * layer); W·A and what follows mix a head's rows and run per head (a second region). Each row's
 * and each head's arithmetic is that of one thread alone: the products over a slice of rows are
 * pk_matmul's over a slice of tokens, in slices of at least PK_SPLIT_TOKENS. */
#include "anet.h"

#include <math.h>
#include <string.h>

#include "../threads/pool.h"

/* rows [r0, r1) of A0 = Σ_s q_sᵀ q_s per head over all n positions, no causal mask (spec §2.3):
 * row r = h·dk + i is Σ_s q_s[h·dk + i] · q_s[h·dk .. h·dk + dk) */
static void metric_a0_rows(float *a, const float *q, int n, int D, int dk, int r0, int r1) {
    memset(a + (size_t)r0 * dk, 0, (size_t)(r1 - r0) * dk * sizeof(float));
    for (int s = 0; s < n; s++) {
        const float *qs = q + (size_t)s * D;
        for (int r = r0; r < r1; r++) pk_axpy(a + (size_t)r * dk, qs[r], qs + r / dk * dk, dk);
    }
}

static void layernorm_rows(float *y, const float *x, const float *g, const float *b, int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) pk_layernorm(y + (size_t)r * n, x + (size_t)r * n, g, b, n, eps);
}

/* x [rows][in] -> y [rows][out] through w3(silu(w1 x) ⊙ (w2 x)) */
static void glu_rows(float *y, const float *x, const pldr_glu *glu, int rows, float *h1, float *h2, pk_scratch *ws) {
    pk_matmul(h1, x, &glu->w1, glu->b1, rows, ws);
    pk_matmul(h2, x, &glu->w2, glu->b2, rows, ws);
    pk_silu_mul(h1, h2, rows * glu->w1.rows);
    pk_matmul(y, h1, &glu->w3, glu->b3, rows, ws);
}

/* Rows [r0, r1) of A: A0, LayerNorm_A0 and the residual GLU blocks (spec §2.3) */
static void anet_rows(const pldr_model *m, const pldr_layer *ly, const float *q, int n, const anet_scratch *ws,
                      int r0, int r1, pk_scratch *kernel) {
    const pldr_hparams *hp = &m->hp;
    int dk = hp->head_dim, rows = r1 - r0, adff = hp->a_dff;
    float eps = (float)hp->ln_eps;
    float *a = ws->a + (size_t)r0 * dk, *a_in = ws->a_in + (size_t)r0 * dk;
    float *h1 = ws->h1 + (size_t)r0 * adff, *h2 = ws->h2 + (size_t)r0 * adff;
    metric_a0_rows(ws->a_in, q, n, hp->d_model, dk, r0, r1);
    layernorm_rows(a, a_in, ly->ln_a_g, ly->ln_a_b, rows, dk, eps);
    for (int j = 0; j < hp->n_reslayer_a; j++) {
        memcpy(a_in, a, (size_t)rows * dk * sizeof(float));
        for (int k = 0; k < hp->n_dense_a; k++) glu_rows(a, a, &ly->anet[j * hp->n_dense_a + k], rows, h1, h2, kernel);
        pk_add(a, a, a_in, rows * dk);
        layernorm_rows(a, a, ly->ln_res_g[j], ly->ln_res_b[j], rows, dk, eps);
    }
}

static void transpose(float *t, const float *a, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
}

/* out = left · right + bias for dk×dk matrices (left on the LEFT, spec §2.4); t [dk][dk] */
static void left_product(float *out, const float *left, const float *right, const float *bias, int dk, float *t,
                         pk_scratch *kernel) {
    transpose(t, right, dk);
    pldr_matrix rt = {t, PLDR_DTYPE_F32, dk, dk};
    pk_matmul(out, left, &rt, NULL, dk, kernel);
    pk_add(out, out, bias, dk * dk);
}

/* Z = W·A + b_W; A_LM = Z ⊙ silu(Z) + 1e-9; A_P = A_LM^P; G = a·A_P + b_a (spec §2.4); z, t [dk][dk] */
static void energy_curvature(const pldr_layer *ly, int h, int dk, const float *a, float *z, float *t,
                             pk_scratch *kernel, float *g, float *a_lm) {
    size_t off = (size_t)h * dk * dk;
    left_product(z, ly->plga_w + off, a, ly->plga_b + off, dk, t, kernel);
    for (int i = 0; i < dk * dk; i++) {
        float zi = z[i], silu = zi / (1.0f + expf(-zi));
        a_lm[i] = zi * silu + 1e-9f;
        z[i] = powf(a_lm[i], ly->plga_p[off + i]);
    }
    left_product(g, ly->plga_a + off, z, ly->plga_ba + off, dk, t, kernel);
}

/* ---- the two regions of a layer ------------------------------------------------------------------ */

typedef struct {
    const pldr_model *m;
    const pldr_layer *ly;
    const float *q;
    int n;
    const anet_scratch *ws;
    float *g, *a_lm;
} anet_job;

/* Runs of PK_SPLIT_TOKENS rows of A (the last run takes the remainder: at least PK_SPLIT_TOKENS
 * rows whenever A has that many), so that every slice's products take the path of all rows'. */
static int row_runs(const pldr_hparams *hp) {
    int runs = hp->n_heads * hp->head_dim / PK_SPLIT_TOKENS;
    return runs > 1 ? runs : 1;
}

/* The runs of rows [u0, u1) */
static void rows_part(void *ctx, int u0, int u1, const pool_part *part) {
    const anet_job *j = ctx;
    int rows = j->m->hp.n_heads * j->m->hp.head_dim;
    int r0 = u0 * PK_SPLIT_TOKENS, r1 = u1 == row_runs(&j->m->hp) ? rows : u1 * PK_SPLIT_TOKENS;
    anet_rows(j->m, j->ly, j->q, j->n, j->ws, r0, r1, part->kernel);
}

static size_t floats4(size_t n) { return (n + 3) / 4 * 4; }

/* Heads [h0, h1), each whole */
static void heads_part(void *ctx, int h0, int h1, const pool_part *part) {
    const anet_job *j = ctx;
    const pldr_hparams *hp = &j->m->hp;
    int dk = hp->head_dim;
    size_t dk2 = (size_t)dk * dk;
    float *z = pk_scratch_reserve(part->work, anet_work_bytes(hp)); /* readied by the caller */
    if (!z) return;
    float *t = z + floats4(dk2);
    for (int h = h0; h < h1; h++)
        energy_curvature(j->ly, h, dk, j->ws->a + h * dk2, z, t, part->kernel, j->g + h * dk2, j->a_lm + h * dk2);
}

void anet_layer(const pldr_model *m, const pldr_layer *ly, const float *q, int n, anet_scratch *ws,
                float *g, float *a_lm) {
    const pldr_hparams *hp = &m->hp;
    int dk = hp->head_dim, rows = hp->n_heads * dk;
    anet_job j = {m, ly, q, n, ws, g, a_lm};
    pool_part alone = {ws->kernel, ws->work, 0};
    const pldr_glu *glu = &ly->anet[0];
    size_t k1 = pk_matmul_scratch(&glu->w1, rows), k3 = pk_matmul_scratch(&glu->w3, rows);
    int runs = row_runs(hp), threads = pldr_threads_count(m->threads);
    /* two chunks per thread: each chunk's products pack their weight panels once */
    pool_need by_rows = {.units = runs, .parts = runs, .grain = (runs + 2 * threads - 1) / (2 * threads),
                         .kernel_bytes = k1 > k3 ? k1 : k3};
    pool_run(m->threads, &alone, by_rows, rows_part, &j);
    pldr_matrix square = {NULL, PLDR_DTYPE_F32, dk, dk};
    pool_need by_heads = {.units = hp->n_heads, .parts = hp->n_heads, .grain = 1,
                          .kernel_bytes = pk_matmul_scratch(&square, dk), .work_bytes = anet_work_bytes(hp)};
    pool_run(m->threads, &alone, by_heads, heads_part, &j);
}

/* ---- work space ------------------------------------------------------------------------------------ */

size_t anet_work_bytes(const pldr_hparams *hp) {
    int ok = 1;
    size_t dk2 = size_mul((size_t)hp->head_dim, (size_t)hp->head_dim, &ok);
    size_t bytes = ok && dk2 <= SIZE_MAX - 3 ? size_mul(size_mul(2, floats4(dk2), &ok), sizeof(float), &ok) : 0;
    return ok ? bytes : 0;
}

/* Floats of the buffers of anet_scratch in order, each rounded up to 4 (16 bytes); 0 when a
 * size does not fit a size_t. */
static int scratch_floats(const pldr_hparams *hp, size_t floats[4]) {
    int ok = 1;
    size_t dk = (size_t)hp->head_dim, rows = size_mul((size_t)hp->n_heads, dk, &ok);
    size_t sizes[4] = {size_mul(rows, dk, &ok), size_mul(rows, dk, &ok), size_mul(rows, (size_t)hp->a_dff, &ok),
                       size_mul(rows, (size_t)hp->a_dff, &ok)};
    for (int i = 0; i < 4; i++) {
        if (sizes[i] > SIZE_MAX - 3) ok = 0;
        floats[i] = ok ? floats4(sizes[i]) : 0;
    }
    return ok;
}

size_t anet_scratch_bytes(const pldr_hparams *hp) {
    size_t floats[4], total = 0;
    int ok = scratch_floats(hp, floats);
    for (int i = 0; i < 4 && ok; i++) {
        if (floats[i] > SIZE_MAX - total) ok = 0;
        total += floats[i];
    }
    size_t bytes = size_mul(total, sizeof(float), &ok);
    return ok ? bytes : 0;
}

void anet_scratch_bind(anet_scratch *ws, const pldr_hparams *hp, void *mem, pk_scratch *kernel, pk_scratch *work) {
    size_t floats[4];
    scratch_floats(hp, floats);
    float **bufs[4] = {&ws->a, &ws->a_in, &ws->h1, &ws->h2};
    float *p = mem;
    for (int i = 0; i < 4; i++) {
        *bufs[i] = p;
        p += floats[i];
    }
    ws->kernel = kernel;
    ws->work = work;
}
