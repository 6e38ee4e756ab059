/* model.h — the model (weights, hyperparameters, RoPE table, the model's G-cache storage); internal.
 * The model knows nothing of sessions: they read it, and write only through the model_gcache_* and
 * model_count_anet_run functions below (thread-safe where pldr.h says so). */
#ifndef PLDR_MODEL_H
#define PLDR_MODEL_H

#include <stdarg.h>
#include <stdatomic.h>

#include "../kernels/kernels.h"
#include "../util/size.h"
#include "pldr.h"

enum { CUSTOM_G_NONE = 0, CUSTOM_G_IDENTITY, CUSTOM_G_RANDOM, CUSTOM_G_EXTERNAL };
/* rope_scaling.rope_type (spec §2.2); UNSET until a config names one */
enum { ROPE_TYPE_UNSET = -1, ROPE_TYPE_DEFAULT = 0, ROPE_TYPE_LINEAR };

typedef struct pldr_hparams {
    int n_layers;        /* L */
    int d_model;         /* D */
    int n_heads;         /* H */
    int head_dim;        /* dk = D / H */
    int dff;             /* FFN width */
    int a_dff;           /* A-net GLU width */
    int n_reslayer_a;    /* residual blocks in the A-net */
    int n_dense_a;       /* GLUs per residual block */
    int vocab;           /* V */
    int max_pos;         /* context the RoPE table covers */
    double rope_theta;
    double ln_eps;
    int rope_interleaved; /* 1: v51 pairs (2i, 2i+1); 0: v52 rotate-half pairs (i, i+dk/2) */
    int custom_g;         /* CUSTOM_G_*: predefined G, no A-net */
    int eos_id, pad_id;
    int attention_bias, glu_bias, tie_embeddings;
    int final_bias;       /* final_layer has a bias (final_bias, default true) */
    int rope_type;        /* ROPE_TYPE_*, from rope_scaling / rope_parameters */
    double rope_factor;   /* rope_scaling.factor: linear divides every θ_i by it; 0 = not given */
    int rope_theta_given; /* rope_theta (or rope_base) was in the config */
    double rope_param_theta; /* rope_parameters.rope_theta; 0 = not given */
} pldr_hparams;

typedef struct { /* GLU: w3(silu(w1 x + b1) ⊙ (w2 x + b2)) + b3 */
    pldr_matrix w1, w2, w3; /* [hidden][in], [hidden][in], [out][hidden] */
    float *b1, *b2, *b3;    /* [hidden], [hidden], [out] */
} pldr_glu;

typedef struct {
    pldr_matrix wq, wk, wv, wo;      /* [D][D] */
    float *bq, *bk, *bv, *bo;        /* [D] */
    float *plga_w, *plga_b;          /* [H][dk][dk]  W, b_W of spec §2.4 */
    float *plga_p;                   /* [H][dk][dk]  power P */
    float *plga_a, *plga_ba;         /* [H][dk][dk]  a, b_a */
    float *ln_a_g, *ln_a_b;          /* [dk]  mha1.layernorm1 on A0 */
    pldr_glu *anet;                  /* [n_reslayer_a * n_dense_a] */
    float **ln_res_g, **ln_res_b;    /* [n_reslayer_a] -> [dk] */
    float *ln1_g, *ln1_b;            /* [D] */
    float *ln2_g, *ln2_b;            /* [D] */
    pldr_glu ffn;                    /* w1, w2 [dff][D], w3 [D][dff] */
} pldr_layer;

/* One entry per tensor name the model accepts. */
typedef struct {
    char name[112];
    int ndim;
    int32_t shape[6];
    float **f32;          /* destination of a float32-only tensor, or NULL */
    pldr_matrix *matrix;  /* destination of a (possibly quantized) matrix, or NULL */
    int quantizable;      /* may be stored as q8_0 / q4_0 */
    int optional;         /* decoder.past_G_values(_status) */
    int ignored;          /* accepted and dropped (decoder.past_G_values_status) */
    int present;
    int seen;             /* passed pldr_model_check_tensor */
    void *mem;            /* malloc'd storage */
    size_t bytes;
} tensor_slot;

/* The tensor being uploaded (pldr_model_upload_*). */
typedef struct {
    tensor_slot *slot;
    int dtype;            /* dtype of the incoming bytes */
    int format;           /* storage format (pldr_dtype) */
    size_t total;         /* bytes expected */
    size_t received;      /* bytes committed */
    unsigned char *base;  /* where incoming bytes land (tail half of the f32 storage for F16/BF16) */
    /* quantize-at-load: whole rows are staged, converted to float32 and quantized */
    unsigned char *stage; /* [stage_cap] bytes of incoming rows */
    size_t stage_cap, stage_len, row_bytes;
    int rows_done;
    float *row;           /* [cols] */
} upload_state;

enum { STAGE_NEW = 0, STAGE_LOADING, STAGE_READY };

/* The model's G-cache (modes first and fixed). The policy — which G a session attends with, when
 * the A-net runs — is src/session/gcache.c; this is only the storage it publishes to. */
enum { GCACHE_EMPTY = 0, GCACHE_PUBLISHING, GCACHE_READY };

typedef struct {
    float *g;                /* [L][H][dk][dk]  G_LM */
    float *a;                /* [L][H][dk][dk]  the A_LM it came from (zero when installed) */
    atomic_int state;        /* GCACHE_*: mode first publishes once, from whichever session is first */
    unsigned epoch;          /* +1 at every install: sessions computed under another epoch are stale */
    atomic_llong anet_runs;  /* completed A-net runs, all sessions */
    atomic_llong anet_ns;    /* their time: an integer, so that sessions on threads add atomically */
} model_gcache;

struct pldr_model {
    pldr_model_params params;
    pldr_hparams hp;
    int stage;
    char error[512];
    int status;                      /* code of the last error */

    pldr_matrix embedding;           /* [V][D] */
    float *ln_in_g, *ln_in_b;        /* [D] decoder.layernorm1 */
    pldr_layer *layers;              /* [L] */
    pldr_matrix head;                /* [V][D] final_layer */
    float *head_b;                   /* [V] */
    float *past_g;                   /* [L][3][1][H][dk][dk] G-only models */

    tensor_slot *slots;
    int n_slots;
    tensor_slot **by_name;           /* [n_slots] the slots sorted by name: uploads find theirs in log time */
    upload_state up;

    float *rope_cos, *rope_sin;      /* [max_pos][dk/2] */
    model_gcache gcache;
    size_t bytes;                    /* weights + tables + G-cache */
    pldr_threads *threads;           /* the pool its runs' kernels split across, or NULL */
};

/* errors: format the message into the handle, return code */
int model_fail(pldr_model *m, int code, const char *fmt, ...);
int vformat_error(char *buf, size_t cap, const char *fmt, va_list ap);

/* hparams.c */
void hparams_init(pldr_hparams *hp);
int hparams_validate(pldr_model *m);

/* tensors.c */
int tensors_build(pldr_model *m);
void tensors_free(pldr_model *m); /* leaves no table: tensors_build may run again */
uint64_t tensors_bytes_needed(const pldr_model *m);

int tensors_check_complete(pldr_model *m);

/* upload_quant.c: uploads of float tensors stored quantized */
int upload_quant_begin(pldr_model *m);
int upload_quant_window(pldr_model *m, void **dst, size_t *capacity);
int upload_quant_commit(pldr_model *m, size_t nbytes);
void upload_quant_end(pldr_model *m);

/* model.c: the G-cache storage. Reads are safe while sessions run; install is not (pldr.h). */
int model_gcache_ready(const pldr_model *m);
const float *model_gcache_g(const pldr_model *m); /* [L][H][dk][dk], NULL unless ready */
const float *model_gcache_a(const pldr_model *m); /* [L][H][dk][dk], NULL unless ready */
unsigned model_gcache_epoch(const pldr_model *m);
/* copies g (and a, or zeros), switches to mode fixed and starts a new epoch */
void model_gcache_install(pldr_model *m, const float *g, const float *a);
/* mode first: copies g and a in if no G is there yet (1), else leaves the first one (0) */
int model_gcache_publish(pldr_model *m, const float *g, const float *a);
void model_count_anet_run(pldr_model *m, double ms);

/* model.c: the part of pldr_model_alloc that allocates nothing large — hyperparameters and params
 * validated, the tensor table built — and the bytes pldr_model_alloc and the uploads will then
 * allocate (weights as from float uploads, the RoPE table, the G-cache), in 64 bits */
int model_build_table(pldr_model *m);
uint64_t model_bytes_needed(const pldr_model *m);

/* rope.c */
uint64_t rope_table_bytes(const pldr_hparams *hp); /* of each of rope_cos and rope_sin */
int rope_build(pldr_model *m);
/* rotates the head vectors of x [D] in place for absolute position pos (spec §2.2) */
void rope_apply(const pldr_model *m, float *x, int pos);
/* Rotates n_heads head vectors by sign·pos·θ_i (sign −1: the inverse of rope_apply at pos). */
void rope_rotate(const pldr_model *m, float *x, int n_heads, int pos, float sign);

/* Floats of a G-cache, L*H*dk*dk; 0 when that does not fit a size_t (pldr_model_alloc refuses it). */
static inline uint64_t g_count64(const pldr_hparams *hp) {
    return u64_mul(u64_mul(u64_mul((uint64_t)hp->n_layers, (uint64_t)hp->n_heads), (uint64_t)hp->head_dim), (uint64_t)hp->head_dim);
}
static inline size_t g_count(const pldr_hparams *hp) {
    int ok = 1;
    size_t lh = size_mul((size_t)hp->n_layers, (size_t)hp->n_heads, &ok);
    size_t n = size_mul(size_mul(lh, (size_t)hp->head_dim, &ok), (size_t)hp->head_dim, &ok);
    return ok ? n : 0;
}

#endif
