/* fuzz_upload.c — streaming uploads (pldr_model_upload_begin / _window / _commit / _end / _abort,
 * pldr_model_check_tensor, pldr_model_finalize) in every dtype, with shapes, byte counts and their
 * order from the input, into the small shapes of fuzz.h (or one with a hyperparameter changed to
 * an edge value) in each weight format. The bytes come from the input too: Inf, NaN and values past
 * a binary16 block scale reach the load-time quantizer.
 *
 * Properties: a window never exceeds what is left of the tensor (its shape × its dtype) and is
 * empty only when nothing is; a failed begin or commit changes nothing; end succeeds exactly when
 * every byte arrived, and the tensor is then present, else missing; a model whose weights no
 * size_t holds is refused at alloc; a finalized model runs. */
#include "fuzz.h"

#define ALLOC_CAP (128.0 * (1 << 20))

static const int DTYPES[] = {PLDR_DTYPE_F32, PLDR_DTYPE_F16,   PLDR_DTYPE_BF16, PLDR_DTYPE_Q8_0, PLDR_DTYPE_Q4_0,
                             PLDR_DTYPE_U8,  PLDR_DTYPE_BOOL, PLDR_DTYPE_INVALID, 7, 100, -2};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

typedef struct {
    int open, slot;      /* an upload is open, of tensor `slot` */
    uint64_t total;      /* bytes it needs */
    uint64_t received;   /* bytes committed */
    size_t written;      /* bytes written into the last window, not yet committed */
    int finalized;
} tracker;

/* Bytes a tensor of `shape` in `dtype` arrives in, computed here apart from the library. */
static uint64_t expected_bytes(int dtype, const int32_t *shape, int ndim) {
    uint64_t n = 1;
    if (dtype == PLDR_DTYPE_Q8_0 || dtype == PLDR_DTYPE_Q4_0)
        return (uint64_t)shape[0] * (((uint64_t)shape[1] + 31) / 32) * (dtype == PLDR_DTYPE_Q8_0 ? 34 : 18);
    for (int i = 0; i < ndim; i++) n *= (uint64_t)shape[i];
    return n * (uint64_t)pldr_dtype_block_bytes((pldr_dtype)dtype);
}

static int uploaded(pldr_model *m, int slot) {
    return slot >= 0 && slot < pldr_model_tensor_count(m) && (pldr_model_tensor_status(m, slot) & PLDR_TENSOR_UPLOADED);
}

/* The args of a begin or check: tensor i's name (or not one), a dtype, its shape (or a wrong one). */
typedef struct {
    char name[160];
    int slot, dtype, ndim;
    int32_t shape[PLDR_MAX_DIMS + 2];
} upload_args;

static void pick_args(pldr_model *m, fuzz_input *in, upload_args *a) {
    int n = pldr_model_tensor_count(m);
    a->slot = take_int(in, 0, n);
    const char *name = a->slot < n ? pldr_model_tensor_name(m, a->slot) : "decoder.bogus.weight";
    snprintf(a->name, sizeof a->name, "%s%s", take_u8(in) % 8 == 0 ? "model." : "", name);
    a->dtype = DTYPES[take_u8(in) % N_DTYPES];
    a->ndim = a->slot < n ? pldr_model_tensor_shape(m, a->slot, a->shape) : 1;
    if (a->slot == n) a->shape[0] = 4;
    int d = a->ndim > 0 ? take_int(in, 0, a->ndim - 1) : 0;
    switch (take_u8(in) % 10) {
    case 6: a->shape[d] += take_u8(in) % 2 ? 1 : -1; break;
    case 7: if (a->ndim > 0) a->ndim--; break;
    case 8: a->shape[a->ndim++] = 1; break;
    case 9: a->shape[d] = take_count(in); break;
    default: break; /* the right shape */
    }
    if (take_u8(in) % 32 == 0) a->ndim = take_u8(in) % 2 ? -1 : PLDR_MAX_DIMS + 1;
}

static void op_begin(pldr_model *m, fuzz_input *in, tracker *t) {
    upload_args a;
    pick_args(m, in, &a);
    int was_present = uploaded(m, a.slot);
    int rc = pldr_model_upload_begin(m, a.name, (pldr_dtype)a.dtype, a.ndim >= 0 ? a.shape : NULL, a.ndim);
    if (t->open) {
        CHECK(rc == PLDR_ERR_STATE, "a second upload began: %d", rc);
        return;
    }
    if (rc) {
        check_message(pldr_model_error(m));
        CHECK(uploaded(m, a.slot) == was_present, "a failed begin changed tensor %s", a.name);
        void *dst;
        size_t cap;
        CHECK(pldr_model_upload_window(m, &dst, &cap) == PLDR_ERR_STATE, "a failed begin left an upload open");
        return;
    }
    CHECK(!t->finalized && !was_present && a.ndim >= 0 && a.slot < pldr_model_tensor_count(m), "begin of %s accepted", a.name);
    *t = (tracker){.open = 1, .slot = a.slot, .total = expected_bytes(a.dtype, a.shape, a.ndim)};
}

/* Bytes 00 3e repeating from offset `at` of the tensor: finite values in every float dtype
 * (0x3e003e00 as F32, 0x3e00 as F16 and BF16). */
static void fill_finite(unsigned char *dst, size_t n, size_t at) {
    for (size_t i = 0; i < n; i++) dst[i] = (at + i) % 2 ? 0x3e : 0x00;
}

static void op_write(pldr_model *m, fuzz_input *in, tracker *t) {
    void *dst;
    size_t cap;
    int rc = pldr_model_upload_window(m, &dst, &cap);
    if (!t->open) {
        CHECK(rc == PLDR_ERR_STATE, "a window without an upload: %d", rc);
        return;
    }
    CHECK(rc == PLDR_OK, "window: %s", pldr_model_error(m));
    uint64_t left = t->total - t->received;
    CHECK(cap <= left && (left == 0) == (cap == 0), "a window of %zu bytes with %llu left", cap, (unsigned long long)left);
    size_t k = take_u8(in) % 4 == 0 ? take_u32(in) % (cap + 1) : cap;
    uint8_t source = take_u8(in) % 3;
    for (size_t i = 0; i < k; i++) /* every byte of the window is written: ASan holds the window to its memory */
        ((unsigned char *)dst)[i] = source == 0 && in->n ? take_u8(in) : 0;
    if (source == 1) fill_finite(dst, k, (size_t)t->received);
    t->written = k;
}

static void op_commit(pldr_model *m, fuzz_input *in, tracker *t) {
    void *dst;
    size_t cap = 0;
    if (t->open) pldr_model_upload_window(m, &dst, &cap);
    size_t choices[6] = {t->written, t->written / 2, 0, cap + 1, SIZE_MAX, take_u32(in)};
    size_t n = choices[take_u8(in) % 6];
    int rc = pldr_model_upload_commit(m, n);
    if (!t->open) {
        CHECK(rc == PLDR_ERR_STATE, "a commit without an upload: %d", rc);
        return;
    }
    if (n > cap) {
        CHECK(rc == PLDR_ERR_INVALID_ARGUMENT, "%zu bytes committed into a window of %zu", n, cap);
        size_t again;
        CHECK(pldr_model_upload_window(m, &dst, &again) == PLDR_OK && again == cap, "a refused commit changed the window");
        return;
    }
    if (rc == PLDR_ERR_DTYPE) { /* a row that cannot be quantized: the tensor is discarded */
        check_message(pldr_model_error(m));
        CHECK(!uploaded(m, t->slot), "a discarded tensor is present");
        t->open = 0;
        return;
    }
    CHECK(rc == PLDR_OK, "commit of %zu of %zu: %s", n, cap, pldr_model_error(m));
    t->received += n;
    t->written = 0;
}

static void op_end(pldr_model *m, tracker *t) {
    int rc = pldr_model_upload_end(m);
    if (!t->open) {
        CHECK(rc == PLDR_ERR_STATE, "an end without an upload: %d", rc);
        return;
    }
    CHECK(t->received == t->total ? rc == PLDR_OK : rc == PLDR_ERR_SHAPE, "end after %llu of %llu bytes: %d",
          (unsigned long long)t->received, (unsigned long long)t->total, rc);
    CHECK(uploaded(m, t->slot) == (rc == PLDR_OK), "present after a failed end, or missing after a good one");
    t->open = 0;
}

static void op_abort(pldr_model *m, tracker *t) {
    int rc = pldr_model_upload_abort(m);
    CHECK(rc == (t->open ? PLDR_OK : PLDR_ERR_STATE), "abort: %d", rc);
    if (t->open) CHECK(!uploaded(m, t->slot), "an aborted tensor is present");
    t->open = 0;
}

static void op_check(pldr_model *m, fuzz_input *in) {
    upload_args a;
    pick_args(m, in, &a);
    int rc = pldr_model_check_tensor(m, a.name, (pldr_dtype)a.dtype, a.ndim >= 0 ? a.shape : NULL, a.ndim);
    if (rc) check_message(pldr_model_error(m));
    else CHECK(pldr_model_tensor_status(m, a.slot) & PLDR_TENSOR_CHECKED, "a checked tensor is not marked");
}

/* A whole quantizable matrix, quantized here (pldr_quantize) and uploaded as Q8_0 or Q4_0. */
static void op_quantized(pldr_model *m, fuzz_input *in, tracker *t) {
    int n = pldr_model_tensor_count(m), i = take_int(in, 0, n - 1);
    int32_t shape[PLDR_MAX_DIMS];
    if (t->open || t->finalized || uploaded(m, i) || !(pldr_model_tensor_status(m, i) & PLDR_TENSOR_QUANTIZABLE) ||
        pldr_model_tensor_shape(m, i, shape) != 2)
        return;
    pldr_dtype dtype = take_u8(in) % 2 ? PLDR_DTYPE_Q8_0 : PLDR_DTYPE_Q4_0;
    size_t values = (size_t)shape[0] * (size_t)shape[1], bytes = (size_t)expected_bytes(dtype, shape, 2);
    float *x = malloc(values * sizeof(float));
    unsigned char *q = malloc(bytes);
    if (x && q) {
        fuzz_fill(x, values, pldr_model_tensor_name(m, i), 5);
        CHECK(pldr_quantize(dtype, x, shape[0], shape[1], q) == PLDR_OK, "pldr_quantize of finite values");
        int rc = pldr_model_upload_begin(m, pldr_model_tensor_name(m, i), dtype, shape, 2);
        for (size_t done = 0; !rc && done < bytes;) {
            void *dst;
            size_t cap;
            rc = pldr_model_upload_window(m, &dst, &cap);
            size_t k = bytes - done < cap ? bytes - done : cap;
            if (!rc) memcpy(dst, q + done, k);
            if (!rc) rc = pldr_model_upload_commit(m, k);
            done += k;
        }
        if (!rc) rc = pldr_model_upload_end(m);
        CHECK(rc == PLDR_OK, "a quantized upload of %s: %s", pldr_model_tensor_name(m, i), pldr_model_error(m));
    }
    free(x);
    free(q);
}

static void run_model(pldr_model *m) {
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = pldr_model_context_max(m) < 4 ? pldr_model_context_max(m) : 4;
    pldr_session *s = pldr_session_new(m, &sp);
    if (!s) return; /* mode fixed without a G */
    int32_t ids[2] = {1 % pldr_model_vocab_size(m), 2 % pldr_model_vocab_size(m)};
    if (pldr_session_prefill(s, ids, 2, NULL) == PLDR_OK) {
        const float *logits = pldr_session_logits(s);
        float sum = 0; /* every logit is read: ASan holds the buffer to [vocab] */
        for (int i = 0; i < pldr_model_vocab_size(m); i++) sum += logits[i];
        if (sum != sum && logits[0] == logits[0]) abort(); /* a NaN sum needs a NaN logit */
        pldr_session_decode(s, ids[0]);
    }
    pldr_session_free(s);
}

/* The model: a small shape, maybe with one hyperparameter set to an edge value; NULL when that
 * is refused or too large for a run. */
static pldr_model *make_model(fuzz_input *in) {
    uint8_t head = take_u8(in);
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = head % 4;
    mp.weight_format = (head >> 2) % 3;
    pldr_model *m = pldr_model_new(&mp);
    if (!m) return NULL;
    const fuzz_shape *shape = &FUZZ_SHAPES[FUZZ_SMALL_SHAPES + take_u8(in) % (N_FUZZ_SHAPES - FUZZ_SMALL_SHAPES)];
    fuzz_configure(m, shape);
    if (head & 0x80) {
        const char *keys[] = {"hidden_size", "num_attention_heads", "intermediate_size", "A_dff", "vocab_size",
                              "max_position_embeddings", "num_hidden_layers", "num_reslayerA", "num_denseA"};
        pldr_model_set_hparam(m, keys[take_u8(in) % 9], take_edge(in));
    }
    double w, s;
    int q = pldr_model_memory_needed(m, NULL, &w, &s);
    if (!q && w > (double)SIZE_MAX) CHECK(pldr_model_alloc(m) == PLDR_ERR_OUT_OF_MEMORY, "%.0f bytes of weights allocated", w);
    if (q || w > ALLOC_CAP || pldr_model_alloc(m)) {
        pldr_model_free(m);
        return NULL;
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    pldr_model *m = make_model(&in);
    if (!m) return 0;
    tracker t = {0};
    for (int ops = 0; in.n && ops < 200; ops++) {
        int rc;
        switch (take_u8(&in) % 11) {
        case 0: case 1: op_begin(m, &in, &t); break;
        case 2: case 3: op_write(m, &in, &t); break;
        case 4: op_commit(m, &in, &t); break;
        case 5: op_end(m, &t); break;
        case 6: op_abort(m, &t); break;
        case 7: op_check(m, &in); break;
        case 8:
            rc = pldr_model_finalize(m);
            if (rc) check_message(pldr_model_error(m));
            else t.finalized = 1;
            CHECK(!t.open || rc == PLDR_ERR_STATE, "finalize with an upload open: %d", rc);
            break;
        case 9: op_quantized(m, &in, &t); break;
        case 10:
            if (!t.open && !t.finalized) {
                CHECK(fuzz_upload_all(m, take_u8(&in)) == PLDR_OK, "uploading finite tensors: %s", pldr_model_error(m));
                t.finalized = 1;
            }
            break;
        }
    }
    if (t.finalized) run_model(m);
    pldr_model_free(m);
    return 0;
}
