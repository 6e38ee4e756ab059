/* main.c — the native command line: the same C as the WebAssembly module, for tests and
 * benchmarks. `pldr-native generate|eval|bench --help`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "load.h"
#include "pldr.h"
#include "../util/size.h"

typedef struct {
    const char *model, *ids, *gcache, *gcache_file, *quant, *dump_logits, *dump_steps;
    const char *out_logits, *out_g, *out_a;
    int max_tokens, context, json, greedy, threads;
} options;

static const char *USAGE =
    "usage: pldr-native generate --model DIR --ids 1,2,3 [--max-tokens N] [--greedy]\n"
    "                            [--gcache first|prompt|off|empty] [--gcache-file G.f32]\n"
    "                            [--quant f32|q8|q4] [--context N] [--threads N] [--json]\n"
    "                            [--dump-logits FILE] [--dump-step-logits FILE]\n"
    "       pldr-native eval --model DIR --ids 1,2,3 [--gcache ...] [--logits FILE] [--g FILE] [--a FILE]\n"
    "       pldr-native bench [--help]\n"
    "       pldr-native safetensors FILE...   (header checks, one JSON line per file)\n"
    "--threads N: the kernels on a pool of N threads (default: PLDR_THREADS in the environment, else 1)\n";

/* A thread count 1..64 from text; -1 when it is not one. */
static int thread_count(const char *v) {
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    return !v || *v == '\0' || *end || n < 1 || n > 64 ? -1 : (int)n;
}

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.gcache = "first", .quant = "f32", .max_tokens = 32, .threads = 1};
    const char *env = getenv("PLDR_THREADS");
    if (env && (o->threads = thread_count(env)) < 0) {
        fprintf(stderr, "pldr-native: PLDR_THREADS=%s is not a thread count 1..64\n", env);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **str = !strcmp(a, "--model") ? &o->model : !strcmp(a, "--ids") ? &o->ids
                         : !strcmp(a, "--gcache") ? &o->gcache : !strcmp(a, "--gcache-file") ? &o->gcache_file
                         : !strcmp(a, "--quant") ? &o->quant : !strcmp(a, "--dump-logits") ? &o->dump_logits
                         : !strcmp(a, "--dump-step-logits") ? &o->dump_steps : !strcmp(a, "--logits") ? &o->out_logits
                         : !strcmp(a, "--g") ? &o->out_g : !strcmp(a, "--a") ? &o->out_a : NULL;
        if (str) {
            if (!v) { fprintf(stderr, "pldr-native: %s needs a value\n", a); return -1; }
            *str = v;
            i++;
        } else if (!strcmp(a, "--max-tokens") || !strcmp(a, "--context")) {
            char *end;
            long n = v ? strtol(v, &end, 10) : -1;
            if (!v || *end || n < 0 || n > 1 << 24) { fprintf(stderr, "pldr-native: %s needs a count\n", a); return -1; }
            *(!strcmp(a, "--context") ? &o->context : &o->max_tokens) = (int)n;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if ((o->threads = thread_count(v)) < 0) { fprintf(stderr, "pldr-native: --threads needs a count 1..64\n"); return -1; }
            i++;
        } else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--greedy")) o->greedy = 1;
        else { fprintf(stderr, "pldr-native: unknown option %s\n%s", a, USAGE); return -1; }
    }
    if (!o->model || !o->ids) { fprintf(stderr, "pldr-native: --model and --ids are required\n%s", USAGE); return -1; }
    return 0;
}

/* "1,2,3" into a malloc'd array (sized by counting the commas first: nothing to grow); the
 * count, or -1 (nothing to free) when the list is empty or not comma-separated int32 ids. */
static int parse_ids(const char *s, int32_t **out) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *ids = cap <= INT32_MAX ? calloc(cap, sizeof *ids) : NULL;
    int n = 0;
    while (ids && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || (*end && *end != ',') || v < INT32_MIN || v > INT32_MAX) { free(ids); return -1; }
        ids[n++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (!ids || n == 0) { free(ids); return -1; }
    *out = ids;
    return n;
}

static int write_floats(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(x, sizeof(float), n, f);
    return fclose(f) || w != n ? -1 : 0;
}

/* A file of float32 values into a malloc'd array; -1 (nothing to free) when it cannot be read or
 * its length is not a multiple of 4. */
static int read_floats(const char *path, float **out, size_t *n) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int ok = len >= 0 && len % 4 == 0 && (unsigned long)len < SIZE_MAX && fseek(f, 0, SEEK_SET) == 0;
    float *x = ok ? malloc((size_t)len + 1) : NULL;
    ok = x && fread(x, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    if (!ok) { free(x); return -1; }
    *out = x;
    *n = (size_t)len / 4;
    return 0;
}

/* n × m floats as a byte count, or 0 when that does not fit a size_t */
static size_t floats_bytes(size_t n, size_t m) {
    int ok = 1;
    size_t bytes = size_mul(size_mul(n, m, &ok), sizeof(float), &ok);
    return ok ? bytes : 0;
}

static int gcache_mode(const char *s) {
    if (!strcmp(s, "first") || !strcmp(s, "empty")) return PLDR_GCACHE_FIRST;
    if (!strcmp(s, "prompt")) return PLDR_GCACHE_PROMPT;
    if (!strcmp(s, "off")) return PLDR_GCACHE_OFF;
    if (!strcmp(s, "fixed")) return PLDR_GCACHE_FIXED;
    return -1;
}

static int weight_format(const char *s) {
    return !strcmp(s, "f32") ? PLDR_WEIGHTS_F32 : !strcmp(s, "q8") ? PLDR_WEIGHTS_Q8 : !strcmp(s, "q4") ? PLDR_WEIGHTS_Q4 : -1;
}

/* Loads the model onto the pool and applies --gcache empty / --gcache-file. */
static pldr_model *open_model(const options *o, pldr_threads *pool) {
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = gcache_mode(o->gcache);
    mp.weight_format = weight_format(o->quant);
    if (mp.gcache_mode < 0 || mp.weight_format < 0) {
        fprintf(stderr, "pldr-native: invalid --gcache %s or --quant %s\n", o->gcache, o->quant);
        return NULL;
    }
    if (o->gcache_file) mp.gcache_mode = PLDR_GCACHE_FIXED;
    char err[1024];
    pldr_model *m = load_model_dir(o->model, &mp, err, sizeof err);
    if (!m) { fprintf(stderr, "pldr-native: %s\n", err); return NULL; }
    pldr_model_set_threads(m, pool);
    int rc = 0;
    if (!strcmp(o->gcache, "empty")) {
        int32_t eos = pldr_model_eos_id(m);
        rc = pldr_model_compute_gcache(m, &eos, 1);
    } else if (o->gcache_file) {
        float *g;
        size_t n;
        if (read_floats(o->gcache_file, &g, &n)) { fprintf(stderr, "pldr-native: cannot read %s\n", o->gcache_file); pldr_model_free(m); return NULL; }
        rc = pldr_model_set_gcache(m, g, n);
        free(g);
    }
    if (rc) { fprintf(stderr, "pldr-native: %s\n", pldr_model_error(m)); pldr_model_free(m); return NULL; }
    return m;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

static void print_ids(const char *key, const int32_t *ids, int n) {
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", (int)ids[i]);
    printf("]");
}

static int cmd_generate(const options *o, pldr_model *m, const int32_t *prompt, int n_prompt) {
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = o->context;
    pldr_session *s = pldr_session_new(m, &sp);
    if (!s) { fprintf(stderr, "pldr-native: %s\n", pldr_model_error(m)); return 1; }
    int vocab = pldr_model_vocab_size(m), eos = pldr_model_eos_id(m), n_out = 0;
    size_t steps_bytes = floats_bytes((size_t)o->max_tokens + 1, (size_t)vocab);
    int32_t *out = malloc(((size_t)o->max_tokens + 1) * sizeof *out);
    float *steps = o->dump_steps && steps_bytes ? malloc(steps_bytes) : NULL;
    if (!out || (o->dump_steps && !steps)) {
        fprintf(stderr, "pldr-native: out of memory for %d tokens%s\n", o->max_tokens, o->dump_steps ? " and their logits" : "");
        free(out);
        free(steps);
        pldr_session_free(s);
        return 1;
    }
    const char *stop = "length";
    int rc = pldr_session_prefill(s, prompt, n_prompt, NULL);
    while (!rc && n_out < o->max_tokens) {
        const float *logits = pldr_session_logits(s);
        if (n_out == 0 && o->dump_logits && write_floats(o->dump_logits, logits, (size_t)vocab)) {
            fprintf(stderr, "pldr-native: cannot write %s\n", o->dump_logits);
            rc = 1;
            break;
        }
        if (steps) memcpy(steps + (size_t)n_out * vocab, logits, (size_t)vocab * sizeof(float));
        out[n_out++] = argmax(logits, vocab);
        if (out[n_out - 1] == eos) { stop = "eos"; break; }
        if (n_out < o->max_tokens && pldr_session_position(s) == pldr_session_context_length(s)) break;
        if (n_out < o->max_tokens) rc = pldr_session_decode(s, out[n_out - 1]);
    }
    if (rc > 0 || (rc < 0 && (fprintf(stderr, "pldr-native: %s\n", pldr_session_error(s)), 1))) {
        rc = 1;
    } else {
        if (steps) write_floats(o->dump_steps, steps, (size_t)n_out * vocab);
        printf("{");
        print_ids("prompt_ids", prompt, n_prompt);
        printf(", ");
        print_ids("ids", out, n_out);
        printf(", \"stop\": \"%s\", \"anet_runs\": %lld}\n", stop, (long long)pldr_model_anet_runs(m));
    }
    free(out);
    free(steps);
    pldr_session_free(s);
    return rc;
}

static int cmd_eval(const options *o, pldr_model *m, const int32_t *ids, int n) {
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = n;
    pldr_session *s = pldr_session_new(m, &sp);
    if (!s) { fprintf(stderr, "pldr-native: %s\n", pldr_model_error(m)); return 1; }
    int vocab = pldr_model_vocab_size(m);
    size_t bytes = floats_bytes((size_t)n, (size_t)vocab);
    float *logits = bytes ? malloc(bytes) : NULL;
    if (!logits) {
        fprintf(stderr, "pldr-native: out of memory for the logits of %d tokens\n", n);
        pldr_session_free(s);
        return 1;
    }
    int rc = pldr_session_prefill(s, ids, n, logits);
    if (rc) fprintf(stderr, "pldr-native: %s\n", pldr_session_error(s));
    size_t gn = pldr_model_gcache_count(m);
    if (!rc && o->out_logits) rc = write_floats(o->out_logits, logits, (size_t)n * vocab);
    if (!rc && o->out_g) rc = write_floats(o->out_g, pldr_session_gcache(s, 0), gn);
    if (!rc && o->out_a) rc = write_floats(o->out_a, pldr_session_gcache(s, 1), gn);
    if (!rc) printf("{\"n\": %d, \"vocab\": %d}\n", n, vocab);
    free(logits);
    pldr_session_free(s);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) { fputs(USAGE, argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    if (!strcmp(argv[1], "bench")) return bench_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "safetensors")) return safetensors_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "generate") && strcmp(argv[1], "eval")) { fprintf(stderr, "pldr-native: unknown command %s\n%s", argv[1], USAGE); return 2; }
    for (int i = 2; i < argc; i++) if (!strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
    options o;
    int32_t *ids = NULL;
    if (parse_options(argc - 2, argv + 2, &o)) return 2;
    int n = parse_ids(o.ids, &ids);
    if (n < 1) { fprintf(stderr, "pldr-native: --ids must be a comma-separated list of token ids\n"); return 2; }
    pldr_threads *pool = pldr_threads_new(o.threads, 0);
    if (!pool) { fprintf(stderr, "pldr-native: cannot start %d threads\n", o.threads); free(ids); return 1; }
    pldr_model *m = open_model(&o, pool);
    int rc = !m ? 1 : !strcmp(argv[1], "generate") ? cmd_generate(&o, m, ids, n) : cmd_eval(&o, m, ids, n);
    pldr_model_free(m);
    pldr_threads_free(pool);
    free(ids);
    return rc;
}
