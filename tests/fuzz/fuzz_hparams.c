/* fuzz_hparams.c — hyperparameters and params (pldr_model_set_hparam, _set_hparam_str,
 * pldr_model_params), then pldr_model_memory_needed, pldr_model_alloc, the tensor table and, for
 * models small enough to load in a run, every tensor, a session and a few tokens. The input starts
 * from one of the real shapes (or none) and changes hyperparameters to FUZZ_EDGES: the values
 * where sizes overflowed (num_reslayerA × num_denseA as int, hidden_size² × 4 in a 32-bit size_t).
 *
 * Properties: a setter answers OK, IGNORED or BAD_CONFIG and a refused value changes nothing; the
 * memory query succeeds exactly when pldr_model_alloc's checks pass, and then alloc fails only for
 * memory, always when no size_t holds the weights; the query answers the same before and after
 * alloc; a loaded model holds exactly the weights the query said, a session at most what it said. */
#include "fuzz.h"

#define ALLOC_CAP (16.0 * (1 << 20)) /* what pldr_model_alloc may take in a run: fast (the RoPE table is computed) */
#define LOAD_CAP 400000.0             /* values of the weights small enough to upload in a run */

static const char *STRING_VALUES[] = {"interleaved", "rotate_half", "null", "none", "identity", "random", "external",
                                      "silu", "swish", "gelu", "pldrllm", "llama", ""};
static const char *OTHER_KEYS[] = {"bos_token_id", "torch_dtype", "", "hidden_size ", "HIDDEN_SIZE"};

static int n_names(void) {
    int n = 0;
    while (pldr_hparam_name(n, 0)) n++;
    return n;
}

static const char *pick_key(fuzz_input *in) {
    int names = n_names(), i = take_int(in, 0, 2 * names + 4);
    if (i < 2 * names) {
        const char *native = pldr_hparam_name(i / 2, 1);
        return i % 2 && native ? native : pldr_hparam_name(i / 2, 0);
    }
    return OTHER_KEYS[i - 2 * names];
}

static void set_one(pldr_model *m, fuzz_input *in) {
    const char *key = pick_key(in);
    double before = pldr_model_hparam(m, key);
    int string = take_u8(in) % 4 == 0, rc;
    if (string) {
        rc = pldr_model_set_hparam_str(m, key, STRING_VALUES[take_int(in, 0, sizeof STRING_VALUES / sizeof *STRING_VALUES - 1)]);
    } else {
        rc = pldr_model_set_hparam(m, key, take_edge(in));
    }
    CHECK(rc == PLDR_OK || rc == PLDR_IGNORED || rc == PLDR_ERR_BAD_CONFIG, "set %s: %d", key, rc);
    if (rc == PLDR_ERR_BAD_CONFIG) {
        check_message(pldr_model_error(m));
        double after = pldr_model_hparam(m, key);
        CHECK(memcmp(&before, &after, sizeof before) == 0, "a refused %s changed it: %g -> %g", key, before, after);
    }
}

/* Checks the table; returns how many values its tensors hold. */
static double check_table(pldr_model *m) {
    int n = pldr_model_tensor_count(m);
    double values = 0;
    CHECK(n > 0, "an empty tensor table");
    for (int i = -1; i <= n; i++) {
        int32_t shape[PLDR_MAX_DIMS];
        int ndim = pldr_model_tensor_shape(m, i, shape), status = pldr_model_tensor_status(m, i);
        const char *name = pldr_model_tensor_name(m, i);
        if (i < 0 || i == n) {
            CHECK(ndim == -1 && status == -1 && !name, "index %d out of range answered", i);
            continue;
        }
        CHECK(name && name[0] && strlen(name) < 112, "tensor %d has no name", i);
        CHECK(ndim >= 1 && ndim <= PLDR_MAX_DIMS, "tensor %s: %d dimensions", name, ndim);
        double elems = 1;
        for (int d = 0; d < ndim; d++) {
            CHECK(shape[d] >= 1, "tensor %s: dimension %d", name, shape[d]);
            elems *= shape[d];
        }
        CHECK(elems <= 2147483647.0, "tensor %s: %.0f values", name, elems);
        CHECK(status >= 0 && status < 16 && !(status & PLDR_TENSOR_UPLOADED), "tensor %s: status %d", name, status);
        values += elems;
    }
    return values;
}

/* Loads every tensor, runs a session of a few positions; the sizes are what the query said. */
static void load_and_run(pldr_model *m, double weights) {
    int rc = fuzz_upload_all(m, 3);
    CHECK(rc == PLDR_OK, "uploading a valid model failed: %s", pldr_model_error(m));
    CHECK((double)pldr_model_weight_bytes(m) == weights, "weights %zu, but the query said %.0f", pldr_model_weight_bytes(m), weights);
    int ctx = pldr_model_context_max(m) < 8 ? pldr_model_context_max(m) : 8;
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = ctx;
    double w, s;
    CHECK(pldr_model_memory_needed(m, &sp, &w, &s) == PLDR_OK, "query at context %d: %s", ctx, pldr_model_error(m));
    pldr_session *ss = pldr_session_new(m, &sp);
    if (!ss) {
        CHECK(pldr_model_status(m) == PLDR_ERR_GCACHE, "session: %s", pldr_model_error(m)); /* mode fixed, no G */
        return;
    }
    int32_t ids[3] = {1 % pldr_model_vocab_size(m), 2 % pldr_model_vocab_size(m), 0};
    int n = ctx < 3 ? ctx : 3;
    rc = pldr_session_prefill(ss, ids, n, NULL);
    CHECK(rc == PLDR_OK || rc == PLDR_ERR_GCACHE, "prefill: %s", pldr_session_error(ss));
    if (!rc && n < ctx) CHECK(pldr_session_decode(ss, ids[0]) == PLDR_OK, "decode: %s", pldr_session_error(ss));
    double held = (double)pldr_session_kv_bytes(ss) + (double)pldr_session_scratch_bytes(ss);
    CHECK(held <= s, "a session of context %d holds %.0f bytes, but the query said %.0f", ctx, held, s);
    pldr_session_free(ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t head = take_u8(&in), shape = take_u8(&in);
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = head & 0x80 ? take_int(&in, -2, 5) : head % 4;
    mp.weight_format = head & 0x40 ? take_int(&in, -2, 4) : (head >> 2) % 3;
    pldr_model *m = pldr_model_new(&mp);
    if (!m) return 0;
    if (shape % (N_FUZZ_SHAPES + 1) < N_FUZZ_SHAPES) fuzz_configure(m, &FUZZ_SHAPES[shape % (N_FUZZ_SHAPES + 1)]);
    for (int ops = 0; in.n && ops < 48; ops++) set_one(m, &in);

    double w0 = 0, s0 = 0;
    int q0 = pldr_model_memory_needed(m, NULL, &w0, &s0);
    if (q0 != PLDR_OK) { /* the query judged the config as alloc does */
        check_message(pldr_model_error(m));
        CHECK(pldr_model_alloc(m) == q0, "the query said %s, alloc did not", pldr_status_name(q0));
        pldr_model_free(m);
        return 0;
    }
    CHECK(w0 > 0 && s0 > 0, "weights %g, session %g", w0, s0);
    if (w0 > ALLOC_CAP) { /* too large to allocate here: refused when no size_t holds it */
        if (w0 > (double)SIZE_MAX) {
            CHECK(pldr_model_alloc(m) == PLDR_ERR_OUT_OF_MEMORY, "%.0f bytes of weights allocated", w0);
            check_message(pldr_model_error(m));
        }
        pldr_model_free(m);
        return 0;
    }
    int rc = pldr_model_alloc(m);
    CHECK(rc == PLDR_OK || rc == PLDR_ERR_OUT_OF_MEMORY, "alloc after a query that passed: %s", pldr_model_error(m));
    if (!rc) {
        double values = check_table(m), w1, s1;
        CHECK(pldr_model_memory_needed(m, NULL, &w1, &s1) == PLDR_OK && w1 == w0 && s1 == s0, "the query changed with alloc");
        if (values <= LOAD_CAP && pldr_model_tensor_count(m) <= 1024) load_and_run(m, w0); /* uploads find their slot by name */
    }
    pldr_model_free(m);
    return 0;
}
