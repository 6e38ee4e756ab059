/* bench.c — `pldr-native bench`: the speed of the runtime, measured through the public C API.
 *
 *   bench bandwidth [--mb N] [--reps N]         streaming-read bandwidth (the decode ceiling)
 *   bench model (--shape release | --model DIR) [--quant f32|q8|q4] [--gcache first|off]
 *               [--prefill N] [--ctx 16,256,1000] [--steps N] [--reps N] [--answer N]
 *               [--threads N] [--parts]         decode/prefill/G-cache timings as one JSON line
 *
 * The synthetic release shape is generated here from a fixed-seed PRNG over the runtime's own
 * tensor table, with the same recipe as tools/testkit/synthetic.mjs, so WebAssembly and native run
 * identical weights.
 * Built with -DPLDR_PROFILE (build/pldr-native-prof), --parts adds a decode step split by part
 * from the timing hooks in src/session/forward.c. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../kernels/simd.h"
#include "../platform.h"
#include "load.h"
#include "pldr.h"

#if !defined(__wasm__)
#include <sys/resource.h>
#endif

#ifdef PLDR_PROFILE
extern double pldr_profile_ms[]; /* src/session/forward.c: pldr_profile_count entries */
extern const char *const pldr_profile_names[];
extern const int pldr_profile_count;
#endif

/* ---- deterministic synthetic weights (tools/testkit/synthetic.mjs mirrors this) ---------------------- */

typedef struct { uint32_t a; } prng;

/* mulberry32, as tools/testkit/synthetic.mjs: a uniform double in [0, 1) */
static double prng_next(prng *p) {
    p->a += 0x6d2b79f5u;
    uint32_t t = p->a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return (double)(t ^ (t >> 14)) / 4294967296.0;
}

typedef struct {
    int L, D, H, dff, adff, nres, ndense, V, ctx;
} shape;

static const shape RELEASE = {5, 896, 14, 2389, 170, 8, 2, 32000, 1024};

enum { K_EMBED, K_LINEAR, K_BIAS, K_ONES, K_ZEROS, K_PLGA, K_POWER };

/* Fills n floats of one tensor; fan = (fan_in, fan_out) for xavier-uniform. */
static void fill(float *x, size_t n, int kind, int fan_in, int fan_out, prng *r) {
    double scale = kind == K_EMBED ? 1.0 : kind == K_LINEAR ? sqrt(6.0 / (fan_in + fan_out))
                 : kind == K_BIAS ? 0.02 : kind == K_PLGA ? sqrt(3.0 / fan_in) : 0.0;
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case K_ONES: x[i] = 1.0f; break;
        case K_ZEROS: x[i] = 0.0f; break;
        /* positive powers well below 1: A_LM^P stays finite next to A_LM ≈ 1e-9 */
        case K_POWER: x[i] = (float)(0.2 + 0.6 * prng_next(r)); break;
        default: x[i] = (float)((prng_next(r) * 2.0 - 1.0) * scale); break;
        }
    }
}

typedef struct {
    pldr_model *m;
    prng rng;
    float *buf;
    size_t cap;
    int rc;
} uploader;

static void put(uploader *u, const char *name, int kind, const int32_t *shp, int ndim) {
    if (u->rc) return;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shp[i];
    if (n > u->cap) {
        free(u->buf);
        u->buf = malloc(n * sizeof(float));
        u->cap = u->buf ? n : 0;
        if (!u->buf) { u->rc = PLDR_ERR_OUT_OF_MEMORY; return; }
    }
    int fan_in = ndim > 1 ? shp[ndim - 1] : 1;
    fill(u->buf, n, kind, fan_in, ndim > 0 ? shp[0] : 1, &u->rng);
    void *dst;
    size_t cap, done = 0, bytes = n * sizeof(float);
    u->rc = pldr_model_upload_begin(u->m, name, PLDR_DTYPE_F32, shp, ndim);
    while (!u->rc && done < bytes) {
        u->rc = pldr_model_upload_window(u->m, &dst, &cap);
        size_t k = bytes - done < cap ? bytes - done : cap;
        if (!u->rc && k == 0) u->rc = PLDR_ERR_SHAPE;
        if (!u->rc) memcpy(dst, (const char *)u->buf + done, k);
        if (!u->rc) u->rc = pldr_model_upload_commit(u->m, k);
        done += k;
    }
    if (!u->rc) u->rc = pldr_model_upload_end(u->m);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* How the recipe fills a tensor, from its name (roleOf in tools/testkit/synthetic.mjs). */
static int tensor_kind(const char *name) {
    if (strcmp(name, "decoder.embedding.weight") == 0) return K_EMBED;
    const char *plga = strstr(name, ".plgatt_layer.");
    if (plga) {
        plga += strlen(".plgatt_layer.");
        return !strcmp(plga, "Wlst") || !strcmp(plga, "alst") ? K_PLGA : !strcmp(plga, "pwlst") ? K_POWER : K_BIAS;
    }
    int weight = ends_with(name, ".weight");
    const char *last = strrchr(name, '.'), *part = last;   /* the component before .weight/.bias */
    while (part > name && part[-1] != '.') part--;
    if (last && strncmp(part, "layernorm", 9) == 0) return weight ? K_ONES : K_ZEROS;
    return weight ? K_LINEAR : K_BIAS;
}

/* A model of shape s filled from seed, finalized; NULL with a message on failure. */
static pldr_model *synthetic_model(const shape *s, const pldr_model_params *mp, uint32_t seed) {
    pldr_model *m = pldr_model_new(mp);
    if (!m) return NULL;
    int dk = s->D / s->H;
    struct { const char *k; double v; } hp[] = {
        {"num_hidden_layers", s->L}, {"hidden_size", s->D}, {"num_attention_heads", s->H}, {"head_dim", dk},
        {"intermediate_size", s->dff}, {"A_dff", s->adff}, {"num_reslayerA", s->nres}, {"num_denseA", s->ndense},
        {"vocab_size", s->V}, {"max_position_embeddings", s->ctx}, {"rope_theta", 10000}, {"reference_rope", 1},
        {"layer_norm_eps", 1e-6}, {"attention_bias", 1}, {"glu_bias", 1}, {"tie_word_embeddings", 0},
        {"pad_token_id", 0}, {"eos_token_id", 3}};
    int rc = 0;
    for (size_t i = 0; i < sizeof hp / sizeof hp[0] && rc >= 0; i++) rc = pldr_model_set_hparam(m, hp[i].k, hp[i].v);
    if (rc >= 0) rc = pldr_model_alloc(m);
    uploader u = {m, {seed}, NULL, 0, rc < 0 ? rc : 0};
    /* every tensor of the runtime's own table, in its order (optional ones: a predefined G) */
    for (int i = 0; !u.rc && i < pldr_model_tensor_count(m); i++) {
        int32_t shp[PLDR_MAX_DIMS];
        int ndim = pldr_model_tensor_shape(m, i, shp);
        const char *name = pldr_model_tensor_name(m, i);
        if (!(pldr_model_tensor_status(m, i) & 4)) put(&u, name, tensor_kind(name), shp, ndim);
    }
    free(u.buf);
    if (!u.rc) u.rc = pldr_model_finalize(m);
    if (u.rc) {
        fprintf(stderr, "pldr-native bench: synthetic model: %s\n", pldr_model_error(m));
        pldr_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *x, int n) {
    if (n <= 0) return NAN;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

static double peak_rss_mb(void) {
#if defined(__wasm__)
    return NAN;
#else
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? NAN : ru.ru_maxrss / 1024.0;
#endif
}

/* prints "key": value, with NaN as null */
static void jnum(const char *key, double v, int *first) {
    printf("%s\"%s\": ", *first ? "" : ", ", key);
    *first = 0;
    if (isnan(v) || isinf(v)) printf("null");
    else printf("%.6g", v);
}

/* ---- bandwidth -------------------------------------------------------------------------------- */

/* Sum of n floats read with 128-bit loads: `streams` = 1 reads front to back, 4 reads four
 * quarters side by side (as a 4-row matrix-vector tile does). The memory, not the adder, is the
 * limit: these are the decode ceiling. */
static float stream_sum(const float *x, size_t n, int streams) {
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0, q = n / 4 / 4 * 4;
    if (streams == 4) {
        const float *x1 = x + q, *x2 = x1 + q, *x3 = x2 + q;
        for (; i < q; i += 4) {
            s0 = wasm_f32x4_add(s0, wasm_v128_load(x + i));
            s1 = wasm_f32x4_add(s1, wasm_v128_load(x1 + i));
            s2 = wasm_f32x4_add(s2, wasm_v128_load(x2 + i));
            s3 = wasm_f32x4_add(s3, wasm_v128_load(x3 + i));
        }
        i = 4 * q;
    } else {
        for (; i + 16 <= n; i += 16) {
            s0 = wasm_f32x4_add(s0, wasm_v128_load(x + i));
            s1 = wasm_f32x4_add(s1, wasm_v128_load(x + i + 4));
            s2 = wasm_f32x4_add(s2, wasm_v128_load(x + i + 8));
            s3 = wasm_f32x4_add(s3, wasm_v128_load(x + i + 12));
        }
    }
    float s = pk_hsum(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
    for (; i < n; i++) s += x[i];
    return s;
}

static int cmd_bandwidth(int argc, char **argv) {
    int mb = 1024, reps = 5;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mb")) mb = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (mb < 1 || reps < 1 || reps > 100) { fprintf(stderr, "bench bandwidth: bad --mb or --reps\n"); return 2; }
    size_t n = (size_t)mb * 1024 * 1024 / sizeof(float);
    float *x = malloc(n * sizeof(float));
    if (!x) { fprintf(stderr, "bench bandwidth: out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 255) * (1.0f / 256);
    double t[2][100]; /* ms of each pass, [one stream, four streams][rep] */
    volatile float sink = stream_sum(x, n, 1); /* touch every page once */
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 2; k++) {
            double t0 = pldr_now_ms();
            sink += stream_sum(x, n, k ? 4 : 1);
            t[k][r] = pldr_now_ms() - t0;
        }
    double bytes = (double)n * sizeof(float), fastest = t[0][0];
    for (int k = 0; k < 2; k++)
        for (int r = 0; r < reps; r++) if (t[k][r] < fastest) fastest = t[k][r];
    double one = bytes / median(t[0], reps) / 1e6, four = bytes / median(t[1], reps) / 1e6;
    int first = 1;
    printf("{");
    jnum("bytes", bytes, &first);
    jnum("one_stream_gbs", one, &first);   /* medians */
    jnum("four_streams_gbs", four, &first);
    jnum("ceiling_gbs", bytes / fastest / 1e6, &first); /* the fastest pass: a ceiling is a maximum */
    printf("}\n");
    free(x);
    return sink == 12345.0f ? 3 : 0;
}

/* ---- model benchmarks ------------------------------------------------------------------------- */

typedef struct {
    const char *model_dir, *quant, *gcache;
    shape shp;
    int synthetic;
    int prefill, steps, reps, answer, parts, n_ctx, threads;
    int ctx[8];
} model_opts;

static int parse_model_opts(int argc, char **argv, model_opts *o) {
    *o = (model_opts){.quant = "f32", .gcache = "first", .prefill = 128, .steps = 8, .reps = 3, .answer = 64,
                      .n_ctx = 3, .ctx = {16, 256, 1000}, .threads = 1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--parts")) { o->parts = 1; continue; }
        if (!v) { fprintf(stderr, "bench model: %s needs a value\n", a); return -1; }
        i++;
        if (!strcmp(a, "--shape")) {
            if (strcmp(v, "release")) { fprintf(stderr, "bench model: unknown --shape %s\n", v); return -1; }
            o->shp = RELEASE;
            o->synthetic = 1;
        } else if (!strcmp(a, "--model")) o->model_dir = v;
        else if (!strcmp(a, "--quant")) o->quant = v;
        else if (!strcmp(a, "--gcache")) o->gcache = v;
        else if (!strcmp(a, "--prefill")) o->prefill = atoi(v);
        else if (!strcmp(a, "--steps")) o->steps = atoi(v);
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
        else if (!strcmp(a, "--answer")) o->answer = atoi(v);
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--ctx")) {
            o->n_ctx = 0;
            for (const char *s = v; *s && o->n_ctx < 8;) {
                o->ctx[o->n_ctx++] = atoi(s);
                s = strchr(s, ',');
                if (!s) break;
                s++;
            }
        } else { fprintf(stderr, "bench model: unknown option %s\n", a); return -1; }
    }
    if (!o->synthetic && !o->model_dir) { fprintf(stderr, "bench model: --shape release or --model DIR\n"); return -1; }
    if (o->steps < 1 || o->steps > 64 || o->reps < 1 || o->reps > 64 || o->prefill < 1 || o->answer < 1 ||
        o->threads < 1 || o->threads > 64) {
        fprintf(stderr, "bench model: --steps/--reps/--threads 1..64, --prefill and --answer ≥ 1\n");
        return -1;
    }
    return 0;
}

static pldr_model *open_bench_model(const model_opts *o, int gcache_mode) {
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = gcache_mode;
    mp.weight_format = !strcmp(o->quant, "q8") ? PLDR_WEIGHTS_Q8 : !strcmp(o->quant, "q4") ? PLDR_WEIGHTS_Q4 : PLDR_WEIGHTS_F32;
    if (o->synthetic) return synthetic_model(&o->shp, &mp, 1);
    char err[1024];
    pldr_model *m = load_model_dir(o->model_dir, &mp, err, sizeof err);
    if (!m) fprintf(stderr, "pldr-native bench: %s\n", err);
    return m;
}

/* Token ids 4..V-1 from a fixed seed: a stand-in for text (the speed does not depend on them). */
static int32_t *bench_ids(int n, int vocab, uint32_t seed) {
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    prng r = {seed};
    for (int i = 0; ids && i < n; i++) ids[i] = 4 + (int32_t)(prng_next(&r) * (vocab - 4));
    return ids;
}

#define CHECK(call) do { int rc_ = (call); if (rc_) { fprintf(stderr, "pldr-native bench: %s: %s\n", #call, s ? pldr_session_error(s) : pldr_model_error(m)); goto fail; } } while (0)

/* Prompt of 16 ids, then greedy decoding to `answer` tokens; returns ms (the whole answer) and
 * the prompt's first 4 logits in head (to check that both builds ran the same weights). */
static double answer_ms(pldr_model *m, int answer, const int32_t *prompt, int n_prompt, int ctx, float head[4]) {
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = ctx;
    pldr_session *s = pldr_session_new(m, &sp);
    if (!s) return NAN;
    int V = pldr_model_vocab_size(m);
    double t0 = pldr_now_ms();
    int rc = pldr_session_prefill(s, prompt, n_prompt, NULL);
    if (!rc) memcpy(head, pldr_session_logits(s), 4 * sizeof(float));
    for (int i = 1; !rc && i < answer; i++) rc = pldr_session_decode(s, argmax(pldr_session_logits(s), V));
    double ms = pldr_now_ms() - t0;
    if (rc) fprintf(stderr, "pldr-native bench: answer: %s\n", pldr_session_error(s));
    pldr_session_free(s);
    return rc ? NAN : ms;
}

static int cmd_model(int argc, char **argv) {
    model_opts o;
    if (parse_model_opts(argc, argv, &o)) return 2;
    int off = !strcmp(o.gcache, "off");
    pldr_threads *pool = pldr_threads_new(o.threads, 0);
    if (!pool) { fprintf(stderr, "bench model: cannot start %d threads\n", o.threads); return 1; }
    double t0 = pldr_now_ms();
    pldr_model *m = open_bench_model(&o, off ? PLDR_GCACHE_OFF : PLDR_GCACHE_FIRST);
    pldr_session *s = NULL;
    if (!m) { pldr_threads_free(pool); return 1; }
    double load_ms = pldr_now_ms() - t0;
    pldr_model_set_threads(m, pool);
    int V = pldr_model_vocab_size(m), ctx_max = pldr_model_context_max(m);
    int max_ctx = 0;
    for (int i = 0; i < o.n_ctx; i++) if (o.ctx[i] > max_ctx) max_ctx = o.ctx[i];
    int fill_to = max_ctx > o.prefill ? max_ctx : o.prefill;
    if (fill_to + o.steps > ctx_max) {
        fprintf(stderr, "bench model: contexts past %d\n", ctx_max);
        pldr_model_free(m);
        pldr_threads_free(pool);
        return 2;
    }
    int32_t *ids = bench_ids(fill_to + o.steps, V, 7);
    int first = 1;
    printf("{\"engine\": \"native\", \"quant\": \"%s\", \"gcache\": \"%s\"", o.quant, o.gcache);
    first = 0;
    jnum("threads", pldr_model_threads(m), &first);
    jnum("load_ms", load_ms, &first);
    jnum("weight_bytes", (double)pldr_model_weight_bytes(m), &first);

    float head[4] = {NAN, NAN, NAN, NAN};
    double e2e = answer_ms(m, o.answer, ids, 16, 16 + o.answer, head);
    jnum("answer_tokens", o.answer, &first);
    printf(", \"logits_head\": [%.9g, %.9g, %.9g, %.9g]", head[0], head[1], head[2], head[3]);
    if (off) {
        jnum("e2e_off_ms", e2e, &first);
        jnum("anet_ms_total", pldr_model_anet_ms(m), &first);
        jnum("anet_runs", (double)pldr_model_anet_runs(m), &first);
    } else {
        /* end to end, G computed by the A-net at the first prefill (mode first) */
        jnum("e2e_first_ms", e2e, &first);
        jnum("anet_first_ms", pldr_model_anet_ms(m), &first);

        pldr_session_params sp = pldr_session_default_params();
        sp.context_length = fill_to + o.steps;
        s = pldr_session_new(m, &sp);
        if (!s) { fprintf(stderr, "pldr-native bench: %s\n", pldr_model_error(m)); goto fail; }
        double t[64];
        for (int r = 0; r < o.reps; r++) { /* prefill of a prompt */
            CHECK(pldr_session_rewind(s, pldr_session_position(s)));
            double a = pldr_now_ms();
            CHECK(pldr_session_prefill(s, ids, o.prefill, NULL));
            t[r] = pldr_now_ms() - a;
        }
        double pre = median(t, o.reps);
        jnum("prefill_tokens", o.prefill, &first);
        jnum("prefill_ms", pre, &first);
        jnum("prefill_tok_s", o.prefill / pre * 1e3, &first);
        if (fill_to > o.prefill) CHECK(pldr_session_prefill(s, ids + o.prefill, fill_to - o.prefill, NULL));
        double dec[8];
        for (int k = 0; k < o.n_ctx; k++) dec[k] = -1;
        for (int done = 0; done < o.n_ctx; done++) { /* longest context first: rewinding reaches the others */
            int c = -1;
            for (int k = 0; k < o.n_ctx; k++) if (dec[k] < 0 && (c < 0 || o.ctx[k] > o.ctx[c])) c = k;
            CHECK(pldr_session_rewind(s, pldr_session_position(s) - o.ctx[c]));
            for (int i = 0; i < o.steps; i++) { /* decode steps with ctx[c] positions cached */
                double a = pldr_now_ms();
                CHECK(pldr_session_decode(s, ids[o.ctx[c] + i]));
                t[i] = pldr_now_ms() - a;
            }
            dec[c] = median(t, o.steps);
        }
        printf(", \"decode\": [");
        for (int c = 0; c < o.n_ctx; c++)
            printf("%s{\"ctx\": %d, \"ms\": %.6g, \"tok_s\": %.6g}", c ? ", " : "", o.ctx[c], dec[c], 1e3 / dec[c]);
        printf("]");
#ifdef PLDR_PROFILE
        if (o.parts) { /* one decode step by part, at the first context */
            CHECK(pldr_session_rewind(s, pldr_session_position(s) - o.ctx[0]));
            for (int i = 0; i < pldr_profile_count; i++) pldr_profile_ms[i] = 0;
            double a = pldr_now_ms();
            for (int i = 0; i < o.steps; i++) CHECK(pldr_session_decode(s, ids[o.ctx[0] + i]));
            double total = (pldr_now_ms() - a) / o.steps;
            printf(", \"parts_ctx\": %d, \"parts\": {", o.ctx[0]);
            int f2 = 1;
            for (int i = 0; i < pldr_profile_count; i++) jnum(pldr_profile_names[i], pldr_profile_ms[i] / o.steps, &f2);
            jnum("total", total, &f2);
            printf("}");
        }
#endif
        jnum("kv_bytes", (double)pldr_session_kv_bytes(s), &first);
        jnum("scratch_bytes", (double)pldr_session_scratch_bytes(s), &first);
        pldr_session_free(s);
        s = NULL;
        /* a step that re-runs the A-net: G from one token, as a decode step without the G-cache */
        int32_t eos = pldr_model_eos_id(m);
        double anet0 = pldr_model_anet_ms(m);
        for (int r = 0; r < o.reps; r++) {
            double a = pldr_now_ms();
            CHECK(pldr_model_compute_gcache(m, &eos, 1));
            t[r] = pldr_now_ms() - a;
        }
        jnum("anet_ms", (pldr_model_anet_ms(m) - anet0) / o.reps, &first);
        jnum("step_anet_ms", median(t, o.reps), &first);
    }
    jnum("peak_rss_mb", peak_rss_mb(), &first);
    printf("}\n");
    free(ids);
    pldr_model_free(m);
    pldr_threads_free(pool);
    return 0;
fail:
    printf("}\n");
    pldr_session_free(s);
    free(ids);
    pldr_model_free(m);
    pldr_threads_free(pool);
    return 1;
}

/* ---- one kernel ------------------------------------------------------------------------------- */

/* pk_matmul of a [rows][cols] matrix in one format over n tokens, repeated for about `ms`. */
static int cmd_kernel(int argc, char **argv) {
    int rows = 896, cols = 896, n = 1, ms = 500;
    const char *fmt = "q8";
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--rows")) rows = atoi(v);
        else if (!strcmp(a, "--cols")) cols = atoi(v);
        else if (!strcmp(a, "--n")) n = atoi(v);
        else if (!strcmp(a, "--ms")) ms = atoi(v);
        else if (!strcmp(a, "--format")) fmt = v;
    }
    int format = !strcmp(fmt, "q8") ? PLDR_DTYPE_Q8_0 : !strcmp(fmt, "q4") ? PLDR_DTYPE_Q4_0 : PLDR_DTYPE_F32;
    if (rows < 1 || cols < 1 || n < 1) return 2;
    size_t wbytes = pk_matrix_bytes(format, rows, cols);
    unsigned char *w = malloc(wbytes);
    float *row = malloc((size_t)cols * sizeof(float)), *x = malloc((size_t)n * cols * sizeof(float));
    float *y = malloc((size_t)n * rows * sizeof(float));
    if (!w || !row || !x || !y) return 1;
    prng r = {3};
    for (int i = 0; i < rows; i++) {
        fill(row, (size_t)cols, K_LINEAR, cols, rows, &r);
        unsigned char *dst = w + pk_matrix_bytes(format, i, cols);
        if (format == PLDR_DTYPE_F32) memcpy(dst, row, (size_t)cols * sizeof(float));
        else if (format == PLDR_DTYPE_Q8_0) pk_quantize_row_q8_0(row, dst, cols);
        else pk_quantize_row_q4_0(row, dst, cols);
    }
    fill(x, (size_t)n * cols, K_EMBED, 1, 1, &r);
    pldr_matrix W = {w, format, rows, cols};
    pk_scratch ws = {0};
    pk_matmul(y, x, &W, NULL, n, &ws);
    static double t[4096];
    int iters = 0;
    double t0 = pldr_now_ms();
    do { /* the fastest repetition: the machine's other load only ever slows a run down */
        double a = pldr_now_ms();
        pk_matmul(y, x, &W, NULL, n, &ws);
        t[iters++] = pldr_now_ms() - a;
    } while (pldr_now_ms() - t0 < ms && iters < 4096);
    double per = t[0];
    for (int i = 1; i < iters; i++) if (t[i] < per) per = t[i];
    int first = 1;
    printf("{\"format\": \"%s\", \"rows\": %d, \"cols\": %d, \"n\": %d", fmt, rows, cols, n);
    first = 0;
    jnum("ms", per, &first);
    jnum("gmac_s", (double)rows * cols * n / per / 1e6, &first);
    jnum("weight_gb_s", (double)wbytes / per / 1e6, &first);
    printf("}\n");
    free(w); free(row); free(x); free(y);
    pk_scratch_free(&ws);
    return 0;
}

int bench_main(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        fputs("usage: pldr-native bench bandwidth [--mb N] [--reps N]\n"
              "       pldr-native bench model (--shape release | --model DIR) [--quant f32|q8|q4]\n"
              "                               [--gcache first|off] [--prefill N] [--ctx 16,256,1000]\n"
              "                               [--steps N] [--reps N] [--answer N] [--parts]\n"
              "       pldr-native bench kernel [--format f32|q8|q4] [--rows N] [--cols N] [--n N] [--ms N]\n", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "bandwidth")) return cmd_bandwidth(argc - 1, argv + 1);
    if (!strcmp(argv[0], "model")) return cmd_model(argc - 1, argv + 1);
    if (!strcmp(argv[0], "kernel")) return cmd_kernel(argc - 1, argv + 1);
    fprintf(stderr, "pldr-native bench: unknown benchmark %s\n", argv[0]);
    return 2;
}
