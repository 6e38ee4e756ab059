/* fuzz.h — what the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share: decisions read from the
 * input, edge values, small models with deterministic weights, and CHECK for the properties
 * include/pldr.h promises (a failed property aborts: libFuzzer keeps the input as a crash).
 *
 * Each harness is one C entry point family of the library, built with clang
 * -fsanitize=fuzzer,address,undefined, natively and with -m32 (a 32-bit size_t, as in wasm32):
 * `make fuzz` runs them, `make test` replays tests/fixtures/fuzz-c/ and the seeds. */
#ifndef PLDR_FUZZ_H
#define PLDR_FUZZ_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pldr.h"

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "property failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* ---- the input as a stream of decisions (zeros once it runs out) ------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_input;

static inline uint8_t take_u8(fuzz_input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline uint32_t take_u32(fuzz_input *in) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | take_u8(in);
    return v;
}

/* an int in [lo, hi] */
static inline int take_int(fuzz_input *in, int lo, int hi) {
    return lo + (int)(take_u32(in) % (uint32_t)(hi - lo + 1));
}

/* Counts where sizes break: around powers of two, 32-bit products, int and size_t limits. */
static const double FUZZ_EDGES[] = {
    0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 71, 72, 127, 128, 170, 255, 256, 682,
    896, 1023, 1024, 1025, 2389, 4096, 8000, 32000, 32767, 32768, 32769, 46340, 46341, 65535, 65536, 65537,
    131072, 1 << 20, (1 << 20) + 1, 1 << 24, (1 << 24) + 1, 1 << 30, 2147483647.0, 2147483648.0,
    4294967296.0, 1e9, 1e9 + 1, -1, -0.0, 0.5, 1e-6, 1e300, NAN, INFINITY, -INFINITY,
};
#define N_FUZZ_EDGES (sizeof FUZZ_EDGES / sizeof FUZZ_EDGES[0])

/* an edge value, or (one time in four) any 32-bit count */
static inline double take_edge(fuzz_input *in) {
    uint8_t b = take_u8(in);
    if (b % 4 == 3) return (double)take_u32(in);
    return FUZZ_EDGES[(b / 4) % N_FUZZ_EDGES];
}

/* an int count from the edges (clamped to int), for sizes passed as int */
static inline int take_count(fuzz_input *in) {
    double v = take_edge(in);
    if (!(v == v)) return 0;
    return v > 2147483647.0 ? 2147483647 : v < -2147483648.0 ? (-2147483647 - 1) : (int)v;
}

/* ---- small models with deterministic weights ------------------------------------------------- */

typedef struct {
    int L, D, H, dff, adff, nres, ndense, V, ctx;
    const char *custom_g; /* NULL: an A-net */
    int rotate_half;
} fuzz_shape;

/* Shapes the harnesses start from: pldr-tiny's and pldr-micro's, the released 110M, a row width
 * that is no multiple of 32 (quantized tails), and predefined-G models. */
static const fuzz_shape FUZZ_SHAPES[] = {
    {5, 256, 4, 682, 170, 8, 2, 8000, 1024, NULL, 0},   /* models/pldr-tiny */
    {2, 128, 2, 341, 32, 2, 2, 512, 256, NULL, 0},      /* tests/fixtures/pldr-micro */
    {5, 896, 14, 2389, 170, 8, 2, 32000, 1024, NULL, 0}, /* the released 110M */
    {1, 32, 2, 40, 8, 1, 2, 50, 16, NULL, 0},           /* tests' SMALL */
    {2, 48, 4, 70, 10, 1, 1, 37, 80, NULL, 1},          /* tails of 16 and 6 in a block of 32, v52 RoPE */
    {1, 16, 2, 24, 6, 0, 1, 20, 8, "identity", 0},
    {2, 16, 2, 24, 6, 0, 1, 20, 8, "external", 0},
};
#define N_FUZZ_SHAPES (sizeof FUZZ_SHAPES / sizeof FUZZ_SHAPES[0])
#define FUZZ_SMALL_SHAPES 3 /* the first of the small ones: fast enough to load in every run */

static inline int fuzz_configure(pldr_model *m, const fuzz_shape *s) {
    const struct { const char *k; double v; } hp[] = {
        {"num_hidden_layers", s->L}, {"hidden_size", s->D}, {"num_attention_heads", s->H},
        {"intermediate_size", s->dff}, {"A_dff", s->adff}, {"num_reslayerA", s->nres}, {"num_denseA", s->ndense},
        {"vocab_size", s->V}, {"max_position_embeddings", s->ctx}, {"reference_rope", !s->rotate_half},
        {"eos_token_id", 3 % s->V}, {"pad_token_id", 0},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof hp / sizeof hp[0] && rc >= 0; i++) rc = pldr_model_set_hparam(m, hp[i].k, hp[i].v);
    if (rc >= 0 && s->custom_g) rc = pldr_model_set_hparam_str(m, "custom_G_type", s->custom_g);
    return rc < 0 ? rc : PLDR_OK;
}

/* xorshift32: the weights' values */
static inline float fuzz_rand(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (float)((double)x / 4294967296.0 * 2.0 - 1.0);
}

/* Deterministic values for tensor `name` [n]: LayerNorm weights 1, PLGA powers in [0.2, 0.8)
 * (A_LM^P stays finite), the rest small. */
static inline void fuzz_fill(float *x, size_t n, const char *name, uint32_t seed) {
    int norm = strstr(name, "layernorm") && strstr(name, ".weight"), power = strstr(name, "pwlst") != NULL;
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        float r = fuzz_rand(&state);
        x[i] = norm ? 1.0f : power ? 0.5f + 0.3f * r : 0.1f * r;
    }
}

/* Uploads tensor i of the table as float32 in pieces of `piece` bytes (0: at once). */
static inline int fuzz_upload_tensor(pldr_model *m, int i, size_t piece, uint32_t seed) {
    int32_t shape[PLDR_MAX_DIMS];
    int ndim = pldr_model_tensor_shape(m, i, shape);
    const char *name = pldr_model_tensor_name(m, i);
    if (ndim < 0 || !name) return PLDR_ERR_INVALID_ARGUMENT;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    /* decoder.past_G_values_status is a BOOL per layer: the runtime drops it */
    size_t len = strlen(name), elem = len > 7 && strcmp(name + len - 7, "_status") == 0 ? 1 : sizeof(float);
    float *x = malloc(n * sizeof(float) + 1);
    if (!x) return PLDR_ERR_OUT_OF_MEMORY;
    fuzz_fill(x, n, name, seed + (uint32_t)i);
    if (elem == 1) memset(x, 1, n);
    int rc = pldr_model_upload_begin(m, name, elem == 1 ? PLDR_DTYPE_BOOL : PLDR_DTYPE_F32, shape, ndim);
    size_t done = 0, bytes = n * elem;
    while (!rc && done < bytes) {
        void *dst;
        size_t cap;
        rc = pldr_model_upload_window(m, &dst, &cap);
        size_t k = bytes - done < cap ? bytes - done : cap;
        if (piece && k > piece) k = piece;
        if (!rc && k == 0) rc = PLDR_ERR_SHAPE;
        if (!rc) memcpy(dst, (const char *)x + done, k);
        if (!rc) rc = pldr_model_upload_commit(m, k);
        done += k;
    }
    if (!rc) rc = pldr_model_upload_end(m);
    free(x);
    return rc;
}

/* Every tensor not yet uploaded (the optional ones too), then finalize. */
static inline int fuzz_upload_all(pldr_model *m, uint32_t seed) {
    int rc = PLDR_OK;
    for (int i = 0; i < pldr_model_tensor_count(m) && !rc; i++)
        if (!(pldr_model_tensor_status(m, i) & PLDR_TENSOR_UPLOADED)) rc = fuzz_upload_tensor(m, i, 0, seed);
    return rc ? rc : pldr_model_finalize(m);
}

/* A finalized model of shape s, or NULL. */
static inline pldr_model *fuzz_model(const fuzz_shape *s, int gcache_mode, int weight_format) {
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = gcache_mode;
    mp.weight_format = weight_format;
    pldr_model *m = pldr_model_new(&mp);
    if (!m) return NULL;
    if (fuzz_configure(m, s) || pldr_model_alloc(m) || fuzz_upload_all(m, 7)) {
        pldr_model_free(m);
        return NULL;
    }
    return m;
}

/* Messages are one line and say something. */
static inline void check_message(const char *msg) {
    CHECK(msg && msg[0], "an error without a message");
    CHECK(!strchr(msg, '\n'), "a message over several lines: %s", msg);
}

#endif
