/* pldr.h — PLDR-LLM inference runtime: the one public C API.
 *
 * A PLDR-LLM puts a learned energy-curvature tensor G_LM between query and key. G_LM is computed
 * by a deep net (the A-net) and, once computed, cached (the G-cache); with a KV-cache on top a
 * decode step costs about what a plain transformer step costs.
 *
 * Usage:
 *
 *     pldr_model_params mp = pldr_model_default_params();       // G-cache mode "first"
 *     pldr_model *m = pldr_model_new(&mp);
 *     pldr_model_set_hparam(m, "hidden_size", 256);              // ... every number of config.json
 *     if (pldr_model_alloc(m) != PLDR_OK) fail(pldr_model_error(m));
 *     for each tensor in the shards:                             // bytes go straight to their home
 *         pldr_model_upload_begin(m, name, PLDR_DTYPE_F32, shape, ndim);
 *         while (bytes left) { pldr_model_upload_window(m, &dst, &cap);
 *                              copy up to cap bytes to dst; pldr_model_upload_commit(m, n); }
 *         pldr_model_upload_end(m);
 *     pldr_model_finalize(m);                                    // every tensor present?
 *     pldr_threads *pool = pldr_threads_new(4, 0);               // optional: the kernels on 4
 *     pldr_model_set_threads(m, pool);                           // threads, bitwise the same
 *
 *     pldr_session_params sp = pldr_session_default_params();
 *     sp.context_length = 512;
 *     pldr_session *s = pldr_session_new(m, &sp);                // KV-cache lives here
 *     pldr_session_prefill(s, ids, n_ids, NULL);                 // G_LM computed once, here
 *     for (;;) {
 *         int32_t next = argmax(pldr_session_logits(s), pldr_model_vocab_size(m));
 *         if (next == pldr_model_eos_id(m)) break;               // [END]
 *         pldr_session_decode(s, next);                          // A-net skipped: G-cache
 *     }
 *     pldr_session_free(s);
 *     pldr_model_free(m);
 *     pldr_threads_free(pool);
 *
 * A long prompt can be run in steps instead (pldr_session_prefill_begin / _step / _cancel), so
 * that a caller with an event loop can stop it between steps.
 *
 * Conventions: functions returning int return PLDR_OK (0) on success or a negative pldr_status;
 * the handle then holds a message naming the problem (pldr_model_error / pldr_session_error) and
 * its code (pldr_model_status / pldr_session_status). No function aborts, exits or prints. What
 * a failed call leaves behind is said above each function; "unchanged" means every observable
 * state (position, token history, logits, G-cache, the KV-cache of held positions) is as before.
 * Tensors are float32, row-major; "[L][H][dk][dk]" means L*H*dk*dk floats in that order.
 *
 * Threads: a finalized model is shared read-only by its sessions. Sessions of one model may run
 * at the same time on different threads, each session used by one thread at a time: a forward
 * pass writes only its own session's memory. The model state they do write is published once or
 * counted atomically: the G-cache of mode "first" and the A-net counters. Safe from any thread at
 * any time: the read-only model queries (pldr_model_vocab_size, _gcache_mode, _gcache, _anet_runs,
 * ...), pldr_status_name, pldr_version. Not safe concurrently with anything else on the same model
 * or its sessions: the calls that change the model (pldr_model_set_hparam*, _alloc, _upload_*,
 * _check_tensor, _finalize, _set_gcache, _compute_gcache, _memory_needed, _set_threads, _free).
 * pldr_session_new writes the model's error message when it fails, so two threads creating
 * sessions of one model at once may read each other's message. Separate models share nothing (a constant table of half-precision
 * values is built, thread-safely, by the first pldr_model_new).
 *
 * A model can also split each run's heavy kernels across a pool of threads (pldr_threads_new,
 * pldr_model_set_threads): results are bitwise the same with any number of threads.
 */
#ifndef PLDR_H
#define PLDR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Version */

#define PLDR_VERSION "0.2.0"
/* Bumped whenever a function, a struct layout or an enum value of this header changes in a way
 * that breaks a caller built against the old one (a JavaScript runtime checks it at load). */
#define PLDR_ABI_VERSION 3

/* PLDR_VERSION and PLDR_ABI_VERSION of the compiled library (which may differ from the header a
 * caller was built with). */
const char *pldr_version(void);
int pldr_abi_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status codes */

typedef enum pldr_status {
    PLDR_OK = 0,
    PLDR_IGNORED = 1,                  /* a key (pldr_model_set_hparam) or a setting (pldr_int8_dot_probe) that changes nothing */
    PLDR_ERR_INVALID_ARGUMENT = -1,    /* NULL pointer, negative size, option out of range */
    PLDR_ERR_OUT_OF_MEMORY = -2,
    PLDR_ERR_BAD_CONFIG = -3,          /* hyperparameters missing, inconsistent or unsupported */
    PLDR_ERR_UNKNOWN_TENSOR = -4,      /* a tensor name the model does not have */
    PLDR_ERR_SHAPE = -5,               /* a tensor shape that disagrees with the hyperparameters */
    PLDR_ERR_DTYPE = -6,               /* a dtype the runtime cannot read for that tensor */
    PLDR_ERR_MISSING_TENSOR = -7,      /* finalize: a tensor was never uploaded */
    PLDR_ERR_STATE = -8,               /* call out of order (e.g. upload after finalize) */
    PLDR_ERR_CONTEXT_OVERFLOW = -9,    /* more tokens than the session's context length */
    PLDR_ERR_TOKEN = -10,              /* a token id outside [0, vocab) */
    PLDR_ERR_GCACHE = -11,             /* G-cache unavailable or of the wrong size for the mode */
    PLDR_ERR_SESSION_STATE = -12,      /* a session state that is damaged, of another format, or made
                                          for another model or G_LM (pldr_session_state_import) */
} pldr_status;

/* Name of a status code ("PLDR_ERR_SHAPE"); never NULL. */
const char *pldr_status_name(pldr_status status);

/* ---------------------------------------------------------------------------------------------- */
/* Model: hyperparameters, weights and (in mode "first" / "fixed") the G-cache */

typedef struct pldr_model pldr_model;

typedef enum pldr_gcache_mode {
    PLDR_GCACHE_FIRST = 0,   /* G_LM computed during the first prefill the model ever runs, then
                                reused by every later step and session (the paper's mode) */
    PLDR_GCACHE_PROMPT = 1,  /* computed at each session's first prefill (the reference's loop) */
    PLDR_GCACHE_OFF = 2,     /* no G-cache, no KV-cache: every step recomputes the whole sequence
                                including the A-net (the reference's no-cache path) */
    PLDR_GCACHE_FIXED = 3,   /* G installed with pldr_model_set_gcache and never recomputed */
} pldr_gcache_mode;

typedef enum pldr_dtype {       /* names and block sizes: section "Formats" below */
    PLDR_DTYPE_INVALID = -1, /* no dtype the runtime knows (e.g. a safetensors "I64") */
    PLDR_DTYPE_F32 = 0,
    PLDR_DTYPE_F16 = 1,
    PLDR_DTYPE_BF16 = 2,
    PLDR_DTYPE_Q8_0 = 3,     /* docs/FORMAT.md: blocks of 32, f16 scale + 32 int8 */
    PLDR_DTYPE_Q4_0 = 4,     /* docs/FORMAT.md: blocks of 32, f16 scale + 16 bytes of nibbles */
    PLDR_DTYPE_U8 = 5,
    PLDR_DTYPE_BOOL = 6,     /* only decoder.past_G_values_status (accepted, not used) */
} pldr_dtype;

/* How the large matrices are stored in memory. Everything else is always float32. */
typedef enum pldr_weight_format {
    PLDR_WEIGHTS_F32 = 0,    /* as float32 (quantized uploads stay quantized) */
    PLDR_WEIGHTS_Q8 = 1,     /* quantized to q8_0 at load time */
    PLDR_WEIGHTS_Q4 = 2,     /* quantized to q4_0 at load time */
} pldr_weight_format;

/* Model options. Obtain defaults from pldr_model_default_params() (or, through an FFI,
 * pldr_model_default_params_by_ref()). Fields are int32 in this order; new fields are only ever
 * appended, so a caller that sets the fields it knows in a struct sized by
 * pldr_model_params_size() keeps working. */
typedef struct pldr_model_params {
    int32_t gcache_mode;     /* pldr_gcache_mode; default PLDR_GCACHE_FIRST */
    int32_t weight_format;   /* pldr_weight_format; default PLDR_WEIGHTS_F32 */
} pldr_model_params;

pldr_model_params pldr_model_default_params(void);

/* For callers that cannot take a struct by value (JavaScript): the defaults in memory of the
 * right size, owned by the caller and freed with pldr_model_params_free. NULL when out of memory. */
pldr_model_params *pldr_model_default_params_by_ref(void);
void pldr_model_params_free(pldr_model_params *params);
size_t pldr_model_params_size(void);

/* A new, empty model. params may be NULL (defaults); they are validated by pldr_model_alloc.
 * Returns NULL only when out of memory. Free with pldr_model_free. */
pldr_model *pldr_model_new(const pldr_model_params *params);

/* Frees the model. Its sessions must be freed first. */
void pldr_model_free(pldr_model *model);

/* Message of the last error on this model ("" when none). Owned by the model. */
const char *pldr_model_error(const pldr_model *model);

/* Status code of that last error (PLDR_OK when none): e.g. why pldr_session_new returned NULL. */
pldr_status pldr_model_status(const pldr_model *model);

/* Sets one hyperparameter by its config.json name, Hugging Face or native (docs/FORMAT.md):
 * num_hidden_layers|num_layers, hidden_size|d_model, num_attention_heads|num_heads, head_dim,
 * intermediate_size|dff, A_dff, num_reslayerA, num_denseA, vocab_size|input_vocab_size,
 * max_position_embeddings|max_seq_len, rope_theta|rope_base, reference_rope (0/1), layer_norm_eps,
 * attention_bias, glu_bias, tie_word_embeddings (0/1), eos_token_id, pad_token_id, final_bias
 * (0/1). Members of the objects rope_scaling and rope_parameters are set as "object.member"
 * (rope_scaling.factor); a caller passes every key of config.json, objects flattened that way.
 * Returns PLDR_OK; PLDR_IGNORED for a key that changes nothing (pldr_hparam_ignored_name lists
 * them, e.g. bos_token_id); PLDR_ERR_BAD_CONFIG for a value that cannot be right (negative,
 * fractional, unsupported) and for any other key, named in the message: a key the runtime does
 * not know may change the math, so it is never ignored. A failed call leaves the hyperparameters
 * unchanged. */
int pldr_model_set_hparam(pldr_model *model, const char *key, double value);

/* String-valued hyperparameters: rope ("interleaved" | "rotate_half"), custom_G_type
 * ("" | "null" | "identity" | "random" | "external"), hidden_act ("silu"), model_type
 * ("pldrllm"), rope_scaling.rope_type / rope_parameters.rope_type ("default" | "linear").
 * "null" for a numeric key or for rope_scaling / rope_parameters means absent (the default).
 * Arrays, and objects without members, are passed here too, as any string: only their key
 * decides (ignored or refused). Returns like pldr_model_set_hparam. */
int pldr_model_set_hparam_str(pldr_model *model, const char *key, const char *value);

/* The config.json names the runtime reads, for tools that must agree with it: key `index` (0, 1,
 * ... until NULL) under its Hugging Face name (alias 0) or its native name (alias 1; NULL when it
 * has no other). Those of pldr_model_set_hparam come first, then those of _set_hparam_str, then
 * the objects whose members are read (rope_scaling, rope_parameters). */
const char *pldr_hparam_name(int index, int alias);

/* The config.json keys accepted and ignored because they never change what the model computes
 * (provenance, generation defaults, training-only settings; docs/FORMAT.md): index 0, 1, ...
 * until NULL. Members of such a key ("id2label.0") are ignored with it. */
const char *pldr_hparam_ignored_name(int index);

/* Reads back a hyperparameter (any accepted name); NaN when unknown or unset. */
double pldr_model_hparam(const pldr_model *model, const char *key);

/* Validates the hyperparameters and params, builds the tensor table and the RoPE table.
 * After this, tensors can be uploaded. A failed call leaves a model that can only be freed.
 * PLDR_ERR_BAD_CONFIG names a hyperparameter past its bound (docs/RELIABILITY.md "Limits": e.g. at
 * most 1024 layers, rows of 65536 values, 65536 tensors, 2^31 - 1 values per tensor);
 * PLDR_ERR_OUT_OF_MEMORY with the size when the weights (pldr_model_memory_needed) do not fit a
 * size_t — checked before anything large is allocated. */
int pldr_model_alloc(pldr_model *model);

/* Starts the upload of tensor `name` (a leading "model." is ignored) holding data of `dtype`
 * with the given logical shape (for Q8_0/Q4_0 the unquantized [rows, cols]). Checks name, shape
 * and dtype and allocates the tensor's memory. One upload at a time. A failed call starts
 * nothing: the tensor is still missing and can be uploaded again. */
int pldr_model_upload_begin(pldr_model *model, const char *name, pldr_dtype dtype,
                            const int32_t *shape, int ndim);

/* Where to write the next bytes of the tensor being uploaded: *dst receives a pointer into the
 * model's memory and *capacity how many bytes may be written there (0 when all were received).
 * For float32 tensors this is the tensor's final home: no extra copy. A failed call (no upload
 * open) changes nothing. */
int pldr_model_upload_window(pldr_model *model, void **dst, size_t *capacity);

/* Declares that `nbytes` (≤ capacity) bytes were written at the start of the window. A failed
 * call (nbytes past the window) commits nothing; the upload stays open. A tensor being quantized
 * at load time whose row cannot be (Inf or NaN, a value past a binary16 block scale) fails with
 * PLDR_ERR_DTYPE and is discarded: still missing, no upload open. */
int pldr_model_upload_commit(pldr_model *model, size_t nbytes);

/* Ends the upload; the tensor is then present. Fails if fewer bytes than the shape needs were
 * committed: the tensor is then discarded (still missing, can be uploaded again). */
int pldr_model_upload_end(pldr_model *model);

/* Discards the tensor being uploaded (e.g. its source had more bytes than its shape, or the
 * download failed): its memory is freed, it is still missing and can be uploaded again.
 * PLDR_ERR_STATE when no upload is open. */
int pldr_model_upload_abort(pldr_model *model);

/* Validates a tensor header (name, dtype, shape) exactly as pldr_model_upload_begin would, without
 * allocating or uploading anything: for inspecting a model folder. Success marks the tensor
 * PLDR_TENSOR_CHECKED; a failure changes nothing. */
int pldr_model_check_tensor(pldr_model *model, const char *name, pldr_dtype dtype, const int32_t *shape,
                            int ndim);

/* Bits of pldr_model_tensor_status. */
typedef enum pldr_tensor_status {
    PLDR_TENSOR_UPLOADED = 1,  /* its bytes arrived (pldr_model_upload_end succeeded) */
    PLDR_TENSOR_CHECKED = 2,   /* passed pldr_model_check_tensor */
    PLDR_TENSOR_OPTIONAL = 4,  /* the model works without it (decoder.past_G_values*) */
    PLDR_TENSOR_QUANTIZABLE = 8, /* may be stored as Q8_0 / Q4_0 (docs/FORMAT.md) */
} pldr_tensor_status;

/* The tensors this model expects (after pldr_model_alloc), in docs/FORMAT.md order: their count,
 * names (owned by the model), logical shapes (pldr_model_tensor_shape writes at most
 * PLDR_MAX_DIMS dimensions and returns how many, -1 for a bad index) and pldr_tensor_status bits
 * (-1 for an index out of range). */
#define PLDR_MAX_DIMS 6
int pldr_model_tensor_count(const pldr_model *model);
const char *pldr_model_tensor_name(const pldr_model *model, int index);
int pldr_model_tensor_shape(const pldr_model *model, int index, int32_t *shape);
int pldr_model_tensor_status(const pldr_model *model, int index);

/* How an uploaded tensor is stored: PLDR_DTYPE_F32, _Q8_0 or _Q4_0 (a quantized upload stays
 * quantized whatever the weight format asked for); PLDR_DTYPE_INVALID when it is not uploaded or
 * the index is out of range. Shows what is actually loaded. */
pldr_dtype pldr_model_tensor_dtype(const pldr_model *model, int index);

/* Checks that every tensor was uploaded (naming the first one missing) and readies the model.
 * Models with custom_G_type take their G from decoder.past_G_values (or identity). A failed call
 * leaves the model loading: upload what is missing and finalize again. */
int pldr_model_finalize(pldr_model *model);

/* Installs G_LM [L][H][dk][dk] (count = L*H*dk*dk finite floats, copied) and switches the model
 * to mode "fixed". Allowed any time after pldr_model_alloc. Every session of the model is reset
 * to position 0 (its KV-cache was computed with the old G): run its tokens again. A failed call
 * (wrong count, a value that is not finite) leaves the G-cache and the sessions unchanged. */
int pldr_model_set_gcache(pldr_model *model, const float *g, size_t count);

/* Computes G_LM with the A-net from the prompt ids[0..n) (e.g. the empty prompt [3]) and
 * installs it as pldr_model_set_gcache does (sessions reset). Needs a finalized model with an
 * A-net. A failed call leaves the G-cache and the sessions unchanged. */
int pldr_model_compute_gcache(pldr_model *model, const int32_t *ids, int n);

/* The deductive outputs of a prompt (spec §6): G_LM computed by the A-net from ids[0..n), as a
 * first prefill of those ids computes it, into g_out [L][H][dk][dk] (count floats, count =
 * pldr_model_gcache_count), and its A_LM into a_out (or NULL). Nothing is installed: the G-cache,
 * every session and the A-net counters stay as they were, in any mode, so the G of two prompts
 * can be compared. *anet_ms, when not NULL, receives the time the A-net took. Needs a finalized
 * model with an A-net and 1 <= n <= max_position_embeddings; writes the model's error message
 * when it fails (PLDR_ERR_STATE, _GCACHE, _INVALID_ARGUMENT, _TOKEN, _OUT_OF_MEMORY), like
 * pldr_session_new. */
int pldr_model_compute_g(pldr_model *model, const int32_t *ids, int n, float *g_out, float *a_out,
                         size_t count, double *anet_ms);

/* The model's G-cache [L][H][dk][dk] (modes first — once computed — and fixed), or NULL.
 * Owned by the model; valid until the G-cache changes or the model is freed. */
const float *pldr_model_gcache(const pldr_model *model);

/* Number of floats of a G-cache: L*H*dk*dk (0 before pldr_model_alloc). */
size_t pldr_model_gcache_count(const pldr_model *model);

pldr_gcache_mode pldr_model_gcache_mode(const pldr_model *model);
int pldr_model_vocab_size(const pldr_model *model);
int pldr_model_context_max(const pldr_model *model);
int pldr_model_eos_id(const pldr_model *model);

/* Bytes of memory held by weights (including the RoPE table and the model's G-cache). */
size_t pldr_model_weight_bytes(const pldr_model *model);

/* How many times the A-net has computed a G for this model (completed runs, all sessions): shows
 * the G-cache at work. */
int64_t pldr_model_anet_runs(const pldr_model *model);

/* Milliseconds spent in the A-net by those runs: the one-off cost of computing G. */
double pldr_model_anet_ms(const pldr_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* Session: KV-cache, position, the G-cache of mode "prompt", scratch */

typedef struct pldr_session pldr_session;

/* How the KV-cache stores keys and values. */
typedef enum pldr_kv_format {
    PLDR_KV_F32 = 0,         /* float32: the contract's arithmetic */
    PLDR_KV_F16 = 1,         /* IEEE binary16, rounded to nearest even: half the memory and the bytes
                                a decode step reads; finite values beyond ±65504 are stored as
                                ±65504 (binary16's largest). Attention then differs from float32 by
                                about 2^-11 relative per key and value element */
} pldr_kv_format;

/* Session options, laid out and extended like pldr_model_params. */
typedef struct pldr_session_params {
    int32_t context_length;  /* positions the KV-cache holds; 0 = max_position_embeddings */
    int32_t kv_format;       /* pldr_kv_format; default PLDR_KV_F32 */
} pldr_session_params;

pldr_session_params pldr_session_default_params(void);
pldr_session_params *pldr_session_default_params_by_ref(void); /* free with pldr_session_params_free */
void pldr_session_params_free(pldr_session_params *params);
size_t pldr_session_params_size(void);

/* The memory this model and a session of it will allocate, before any of it is: *weights for the
 * model (each matrix in the weight format of its params as if its upload were float — one
 * uploaded already quantized keeps its own, smaller format —, everything else float32, the RoPE
 * table, the G-cache) and *session at most for one session of params->context_length (params NULL
 * or context 0: max_position_embeddings): its KV-cache, activations, scratch, the kernels' work
 * memory and, where its G-cache mode runs the A-net, a G-cache of its own and the A-net's work
 * space (not the caller's all_logits); the KV-cache in params->kv_format (PLDR_KV_F16: half the
 * bytes of PLDR_KV_F32); with a thread pool (pldr_model_set_threads), also the kernel and work
 * memory each of the pool's other threads grows for its runs (the pool's stacks are allocated by
 * pldr_threads_new, not counted here). Bytes as doubles: exact, and said even when no 32-bit size
 * could hold them (INFINITY past 2^64), so that a caller can refuse a model that cannot fit
 * before reading its weights. Works before pldr_model_alloc — it validates the hyperparameters
 * as pldr_model_alloc would and allocates nothing large; the model is left as it was — and after.
 * Returns PLDR_OK; a failure (PLDR_ERR_BAD_CONFIG and the others of pldr_model_alloc,
 * PLDR_ERR_INVALID_ARGUMENT for a context outside 1..max_position_embeddings or a kv_format that
 * is not a pldr_kv_format) writes nothing.
 * pldr_model_alloc and pldr_session_new refuse (PLDR_ERR_OUT_OF_MEMORY, with the sizes) what no
 * size_t of this build holds: more than 4 GiB in WebAssembly. */
int pldr_model_memory_needed(pldr_model *model, const pldr_session_params *params, double *weights, double *session);

/* A new session on a finalized model; params may be NULL. Returns NULL on failure (a context
 * length or KV-cache format out of range, out of memory), with the reason in
 * pldr_model_error(model). The model must outlive the session. */
pldr_session *pldr_session_new(pldr_model *model, const pldr_session_params *params);

void pldr_session_free(pldr_session *session);

/* Message and code of the last error on this session ("" and PLDR_OK when none). */
const char *pldr_session_error(const pldr_session *session);
pldr_status pldr_session_status(const pldr_session *session);

/* Runs ids[0..n) at the next positions. all_logits, when not NULL, receives the logits of every
 * position [n][vocab]; the last position's are always available from pldr_session_logits.
 * Key positions holding the pad id are masked (as in the reference's full pass).
 * Returns PLDR_OK; PLDR_ERR_TOKEN, _CONTEXT_OVERFLOW, _INVALID_ARGUMENT, _OUT_OF_MEMORY,
 * _GCACHE or _STATE (a stepped prefill is open) on failure, which leaves the session unchanged. */
int pldr_session_prefill(pldr_session *session, const int32_t *ids, int n, float *all_logits);

/* The same prefill in steps, for callers that must stay responsive (a Web Worker that has to see
 * a "stop" message): begin checks everything and allocates what the prefill needs; each step then
 * runs a piece of work (one layer over a chunk of up to 64 tokens, a layer's A-net, or the
 * logits); cancel drops the prefill. The results are bitwise those of pldr_session_prefill,
 * whatever the budgets. Until the last step the session is unchanged (position, logits, G-cache)
 * and accepts no other run, rewind or shift (PLDR_ERR_STATE); ids are copied by begin, all_logits
 * must stay valid until the prefill ends.
 *
 * begin: returns PLDR_OK or fails as pldr_session_prefill does, leaving the session unchanged.
 * step:  runs at least one and at most `budget` pieces (budget ≥ 1); returns how many pieces are
 *        left (> 0), 0 when the prefill is complete (its logits are then available), or a
 *        negative status: PLDR_ERR_STATE when no prefill is open, PLDR_ERR_GCACHE when the
 *        model's G-cache was replaced since begin (the prefill is dropped and the session reset
 *        to position 0, as the replacement does).
 * cancel: drops the open prefill, if any; the session is exactly as before begin. */
int pldr_session_prefill_begin(pldr_session *session, const int32_t *ids, int n, float *all_logits);
int pldr_session_prefill_step(pldr_session *session, int budget);
void pldr_session_prefill_cancel(pldr_session *session);

/* Runs one token at the next position, using the KV-cache and the G-cache. Fails as
 * pldr_session_prefill does, leaving the session unchanged. (In mode "off" a decode recomputes
 * the whole sequence: it is then the same as a prefill of that one token, which can be stepped.) */
int pldr_session_decode(pldr_session *session, int32_t id);

/* Logits [vocab] of the last position run, or NULL (nothing run yet, or rewound since).
 * Owned by the session; valid until the next call on it. */
const float *pldr_session_logits(const pldr_session *session);

/* Drops the last n cached positions (n ≤ position). Rewinding to 0 in modes "prompt" and "off"
 * forgets the session's G-cache: the next prefill computes it again. A failed call (n out of
 * range, a stepped prefill open) leaves the session unchanged. */
int pldr_session_rewind(pldr_session *session, int n);

/* Context shift: drops the cached positions [keep, keep + n_drop) and slides the later ones back
 * by n_drop (their keys are re-rotated, nothing is recomputed). The G-cache is kept. Used to slide
 * the window of a long chat instead of failing at the context length. A failed call leaves the
 * session unchanged. */
int pldr_session_shift(pldr_session *session, int keep, int n_drop);

/* Number of positions held (tokens run and not rewound). */
int pldr_session_position(const pldr_session *session);

/* The token ids of the positions held [pldr_session_position], or NULL when none. Owned by the
 * session; valid until the next call that runs, rewinds, shifts or imports. */
const int32_t *pldr_session_tokens(const pldr_session *session);
int pldr_session_context_length(const pldr_session *session);

typedef enum pldr_gcache_tensor {
    PLDR_GCACHE_G_LM = 0,    /* the energy-curvature tensor attention uses */
    PLDR_GCACHE_A_LM = 1,    /* the A_LM it was computed from (zero when G was installed) */
} pldr_gcache_tensor;

/* The G_LM or A_LM the session's attention uses now (or will use at its next run, when that is
 * known already), [L][H][dk][dk]; NULL before G is computed. Owned by the model or session;
 * valid until the next call that runs, rewinds or resets the session. */
const float *pldr_session_gcache(const pldr_session *session, pldr_gcache_tensor which);

/* The session's pldr_kv_format (what a saved session state must record). */
pldr_kv_format pldr_session_kv_format(const pldr_session *session);

/* Bytes held by the KV-cache, and by scratch buffers (activations, A-net work space). */
size_t pldr_session_kv_bytes(const pldr_session *session);
size_t pldr_session_scratch_bytes(const pldr_session *session);

/* ---------------------------------------------------------------------------------------------- */
/* Formats: element types and quantized blocks (docs/FORMAT.md). This is the one table: the
 * JavaScript loader and the converter (tools/pldr_convert) are tested against it. */

#define PLDR_QBLOCK 32           /* values in one q8_0 / q4_0 block */

/* The dtype a file names: the safetensors dtypes "F32", "F16", "BF16", "U8", "BOOL" and the
 * pldr.quant formats "q8_0", "q4_0" (case matters). PLDR_DTYPE_INVALID for any other, or NULL. */
pldr_dtype pldr_dtype_from_name(const char *name);

/* The name of a dtype as files spell it, or NULL when `dtype` is none: pldr_dtype_name(0), (1),
 * ... until NULL lists them all. */
const char *pldr_dtype_name(pldr_dtype dtype);

/* Values per block (1 for the element types, PLDR_QBLOCK for q8_0 and q4_0) and bytes per block
 * (4 for F32, 34 for q8_0, ...); 0 for an invalid dtype. A row of n values takes
 * ceil(n / block size) * block bytes bytes. */
int pldr_dtype_block_size(pldr_dtype dtype);
int pldr_dtype_block_bytes(pldr_dtype dtype);

/* Quantizes x [rows][cols] into rows * ceil(cols / PLDR_QBLOCK) blocks of q8_0 or q4_0 at out:
 * byte for byte what an upload stores in a model of weight format q8 / q4 and what tools/convert
 * writes (docs/FORMAT.md defines the arithmetic). Returns PLDR_OK, PLDR_ERR_INVALID_ARGUMENT
 * (NULL, rows or cols < 1, dtype not Q8_0 / Q4_0) or PLDR_ERR_DTYPE (a value is Inf or NaN, or
 * too large for a binary16 block scale; out then holds the blocks before the bad one). */
int pldr_quantize(pldr_dtype dtype, const float *x, int rows, int cols, void *out);

/* ---------------------------------------------------------------------------------------------- */
/* Session state: what a session holds, as bytes to keep and restore (e.g. a chat page keeps it with
 * a conversation, so that after a reload the next reply does not run the conversation again)
 *
 * A state holds the token ids of the held positions, their keys and values (not in mode "off",
 * which keeps no KV-cache), and the G_LM and A_LM they were computed under (the session's own in
 * modes "prompt", or the model's in "first" / "fixed"). Its header names the format (a tag, a
 * version and the KV-cache layout) and what it was made for: the model's shape and G-cache mode,
 * and fingerprints of the model (hyperparameters, weight format, every tensor's bytes) and of the
 * G. Computing the model's fingerprint reads every weight once; the session keeps it. */

/* Bytes pldr_session_state_export needs now (0 on failure: a stepped prefill is open, or the size
 * does not fit a size_t; see pldr_session_error). */
size_t pldr_session_state_size(pldr_session *session);

/* Writes the state into buf[0..cap). Returns PLDR_OK; PLDR_ERR_INVALID_ARGUMENT when cap is below
 * pldr_session_state_size, PLDR_ERR_STATE when a stepped prefill is open. The session is unchanged
 * either way. */
int pldr_session_state_export(pldr_session *session, void *buf, size_t cap);

/* Replaces what the session holds by a state exported before (from any session of an identical
 * model in the same G-cache mode and KV-cache format, with a context of at least its positions;
 * the state holds keys and values in that format: binary16 ones take half the bytes). In mode
 * "first", a state carries the model's G_LM: when the model has none yet it is installed as mode
 * first's G, otherwise it must be the same G. The logits are not kept: run the last token again
 * (rewind 1, prefill it) before sampling. Returns PLDR_OK; PLDR_ERR_SESSION_STATE for a state that
 * is truncated or damaged, of another format, or made for another model, mode, G or KV-cache
 * format (the message says which); PLDR_ERR_CONTEXT_OVERFLOW when it holds more positions than the
 * session's context; PLDR_ERR_STATE when a stepped prefill is open; PLDR_ERR_OUT_OF_MEMORY. A
 * failed call leaves the session (and the model) unchanged. */
int pldr_session_state_import(pldr_session *session, const void *buf, size_t size);

/* ---------------------------------------------------------------------------------------------- */
/* Threads: a pool that splits the heavy kernels of a run */

/* A pool of threads that run the matrix products, attention and the A-net of a run together:
 * each kernel is split by rows of its weight matrix or by heads, with a barrier after it, so that
 * every output is computed by one thread exactly as one thread alone computes it — the results
 * are bitwise the same with any number of threads. The thread that runs the session is one of
 * the pool's. Sessions of one model (on different threads) may share a pool: a kernel that finds
 * it busy with another session's runs on its caller's thread alone.
 *
 * Native builds start the pool's threads in pldr_threads_new. In WebAssembly (the threaded module,
 * over a shared memory) the host starts them: for each index i in 1 .. n_threads-1, a worker that
 * instantiates the same module over the same memory, sets its stack pointer to
 * pldr_threads_stack(pool, i) and calls pldr_threads_work(pool, i), which returns when the pool
 * is freed. */
typedef struct pldr_threads pldr_threads;

/* Flags of pldr_threads_new. */
typedef enum pldr_threads_flags {
    PLDR_THREADS_CALLER_SPINS = 1, /* the calling thread never sleeps waiting for the others, it
                                      spins (a browser's main thread, where Atomics.wait is not allowed) */
} pldr_threads_flags;

/* 1 when this build runs threads (native builds, the threaded WebAssembly module), else 0. */
int pldr_threads_supported(void);

/* A pool of n_threads threads, the caller's included (1 .. 64; 1 is a pool that runs everything
 * on the caller's thread). NULL when n_threads is out of range, when n_threads > 1 and
 * pldr_threads_supported() is 0, or when out of memory (natively also: a thread could not start).
 * Free with pldr_threads_free, after the models that use it. */
pldr_threads *pldr_threads_new(int n_threads, int flags);

/* Stops the pool's threads and frees it. WebAssembly: every pool thread must have entered
 * pldr_threads_work (it waits for each to leave); a host whose workers could not all start ends
 * them and drops the pool instead. */
void pldr_threads_free(pldr_threads *pool);

/* Threads of the pool that run its kernels (1 for NULL): n_threads less those lost. */
int pldr_threads_count(const pldr_threads *pool);

/* WebAssembly hosts: the body of pool thread `index` (1 .. n_threads-1): runs its share of every
 * kernel until the pool is freed. PLDR_OK, or PLDR_ERR_INVALID_ARGUMENT for a bad index. */
int pldr_threads_work(pldr_threads *pool, int index);

/* WebAssembly hosts: pool thread `index` has stopped for good inside pldr_threads_work (an
 * exception left it — a trap, a stack overflow — and its host caught it): the chunk of work it
 * was running is counted as done and run again by the thread that waits for it, so nothing hangs
 * and the results keep their bits; the pool's other threads take its share from then on, and
 * pldr_threads_free does not wait for it. Call it on that thread (its stack pointer back at
 * pldr_threads_stack) or on any other, never for a thread that still runs. PLDR_OK, or
 * PLDR_ERR_INVALID_ARGUMENT for a bad index. */
int pldr_threads_lost(pldr_threads *pool, int index);

/* WebAssembly hosts: the top of pool thread index's stack (its stack pointer before it calls
 * pldr_threads_work), in memory the pool owns; NULL natively (pthreads have their own). */
void *pldr_threads_stack(const pldr_threads *pool, int index);

/* Runs this model's kernels — every session's, and pldr_model_compute_gcache's — on `pool` (NULL:
 * on the calling thread alone). The pool must outlive its use by the model. Not safe while a
 * session of the model runs. PLDR_OK, or PLDR_ERR_INVALID_ARGUMENT for a NULL model. */
int pldr_model_set_threads(pldr_model *model, pldr_threads *pool);

/* Threads the model's kernels run on: pldr_threads_count of its pool. */
int pldr_model_threads(const pldr_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* Tuning for the CPU (never for the results: they are bitwise the same either way) */

/* The relaxed-SIMD WebAssembly build multiplies q4_0 weights in one of two instruction forms
 * (src/kernels/kernels_simd.c): PLDR_INT8_DOT_I32 (the default; i32x4.relaxed_dot_i8x16_i7x16_add_s,
 * one instruction on CPUs with an int8 dot product: Arm dotprod, x64 AVX-VNNI) or
 * PLDR_INT8_DOT_PAIRS16 (i16x8.relaxed_dot_i8x16_i7x16_s pair sums: faster on x64 without
 * AVX-VNNI). Other builds have one form and ignore the setting. A host times
 * pldr_int8_dot_probe in both forms and sets the faster, once, before its first model: the
 * setting is the instance's (every model and pool thread), read by every product after it. */
typedef enum pldr_int8_dot {
    PLDR_INT8_DOT_I32 = 0,
    PLDR_INT8_DOT_PAIRS16 = 1,
} pldr_int8_dot;

/* PLDR_OK, or PLDR_ERR_INVALID_ARGUMENT for a form that is not a pldr_int8_dot (nothing changes). */
int pldr_set_int8_dot(int form);
int pldr_int8_dot_current(void);

/* Runs `iters` (1 .. 1000) q4_0 products of a 64 x 896 matrix and 16 tokens in `form`, for the
 * host to time; the setting is unchanged afterwards. PLDR_OK, PLDR_IGNORED (running nothing) in a
 * build with one form, PLDR_ERR_INVALID_ARGUMENT for a bad form or count, PLDR_ERR_OUT_OF_MEMORY. */
int pldr_int8_dot_probe(int form, int iters);

#ifdef __cplusplus
}
#endif

#endif /* PLDR_H */
