/* hparams.c — hyperparameters by config.json name (Hugging Face and native names, spec §5). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define UNSET (-1)

void hparams_init(pldr_hparams *hp) {
    *hp = (pldr_hparams){
        .n_layers = UNSET, .d_model = UNSET, .n_heads = UNSET, .head_dim = UNSET, .dff = UNSET,
        .a_dff = UNSET, .n_reslayer_a = UNSET, .n_dense_a = UNSET, .vocab = UNSET,
        .max_pos = UNSET, .rope_theta = 10000.0, .ln_eps = 1e-6, .rope_interleaved = 1,
        .custom_g = CUSTOM_G_NONE, .eos_id = 3, .pad_id = 0, .attention_bias = 1, .glu_bias = 1,
        .tie_embeddings = 0, .final_bias = 1, .rope_type = ROPE_TYPE_UNSET,
    };
}

typedef struct {
    const char *names[2];  /* Hugging Face name, native name (or NULL) */
    size_t offset;
    char kind;             /* 'i' positive int, 'n' non-negative int, 'f' positive double, 'b' bool */
} hparam_def;

#define OFF(field) offsetof(pldr_hparams, field)
static const hparam_def HPARAMS[] = {
    {{"num_hidden_layers", "num_layers"}, OFF(n_layers), 'i'},
    {{"hidden_size", "d_model"}, OFF(d_model), 'i'},
    {{"num_attention_heads", "num_heads"}, OFF(n_heads), 'i'},
    {{"head_dim", NULL}, OFF(head_dim), 'i'},
    {{"intermediate_size", "dff"}, OFF(dff), 'i'},
    {{"A_dff", NULL}, OFF(a_dff), 'i'},
    {{"num_reslayerA", NULL}, OFF(n_reslayer_a), 'n'},
    {{"num_denseA", NULL}, OFF(n_dense_a), 'i'},
    {{"vocab_size", "input_vocab_size"}, OFF(vocab), 'i'},
    {{"max_position_embeddings", "max_seq_len"}, OFF(max_pos), 'i'},
    {{"rope_theta", "rope_base"}, OFF(rope_theta), 'f'},
    {{"layer_norm_eps", NULL}, OFF(ln_eps), 'f'},
    {{"reference_rope", NULL}, OFF(rope_interleaved), 'b'},
    {{"attention_bias", NULL}, OFF(attention_bias), 'b'},
    {{"glu_bias", NULL}, OFF(glu_bias), 'b'},
    {{"tie_word_embeddings", NULL}, OFF(tie_embeddings), 'b'},
    {{"eos_token_id", NULL}, OFF(eos_id), 'n'},
    {{"pad_token_id", NULL}, OFF(pad_id), 'n'},
    {{"final_bias", NULL}, OFF(final_bias), 'b'},
};
#define N_HPARAMS (sizeof HPARAMS / sizeof HPARAMS[0])

static const hparam_def *find_hparam(const char *key) {
    for (size_t i = 0; i < N_HPARAMS; i++)
        for (int j = 0; j < 2; j++)
            if (HPARAMS[i].names[j] && strcmp(HPARAMS[i].names[j], key) == 0) return &HPARAMS[i];
    return NULL;
}

static int other_key(pldr_model *m, const char *key, const double *number, const char *string);

int pldr_model_set_hparam(pldr_model *m, const char *key, double value) {
    if (!m || !key) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_NEW)
        return model_fail(m, PLDR_ERR_STATE, "hyperparameter \"%s\" set after pldr_model_alloc", key);
    const hparam_def *def = find_hparam(key);
    if (!def) return other_key(m, key, &value, NULL);
    char *field = (char *)&m->hp + def->offset;
    if (def->kind == 'f') {
        if (!(value > 0.0) || !isfinite(value))
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be a positive number", key, value);
        *(double *)field = value;
        if (def->offset == OFF(rope_theta)) m->hp.rope_theta_given = 1;
        return PLDR_OK;
    }
    if (!isfinite(value) || value != floor(value) || value < 0 || value > 1e9)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be a non-negative integer", key, value);
    if (def->kind == 'i' && value < 1)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be at least 1", key, value);
    if (def->kind == 'b' && value > 1)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be true or false", key, value);
    *(int *)field = (int)value;
    return PLDR_OK;
}

static int parse_custom_g(const char *v) {
    if (!*v || strcmp(v, "null") == 0 || strcmp(v, "none") == 0 || strcmp(v, "None") == 0) return CUSTOM_G_NONE;
    if (strcmp(v, "identity") == 0) return CUSTOM_G_IDENTITY;
    if (strcmp(v, "random") == 0) return CUSTOM_G_RANDOM;
    if (strcmp(v, "external") == 0) return CUSTOM_G_EXTERNAL;
    return -1;
}

static int set_rope(pldr_model *m, const char *value) {
    if (strcmp(value, "interleaved") == 0) m->hp.rope_interleaved = 1;
    else if (strcmp(value, "rotate_half") == 0) m->hp.rope_interleaved = 0;
    else return model_fail(m, PLDR_ERR_BAD_CONFIG, "rope = \"%s\": expected \"interleaved\" or \"rotate_half\"", value);
    return PLDR_OK;
}

static int set_custom_g(pldr_model *m, const char *value) {
    int g = parse_custom_g(value);
    if (g < 0)
        return model_fail(m, PLDR_ERR_BAD_CONFIG,
                          "custom_G_type = \"%s\": expected null, \"identity\", \"random\" or \"external\"", value);
    m->hp.custom_g = g;
    return PLDR_OK;
}

static int check_hidden_act(pldr_model *m, const char *value) {
    if (strcmp(value, "silu") != 0 && strcmp(value, "swish") != 0)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hidden_act = \"%s\": only \"silu\" is supported", value);
    return PLDR_OK;
}

static int check_model_type(pldr_model *m, const char *value) {
    if (strcmp(value, "pldrllm") != 0)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "model_type = \"%s\": this runtime runs \"pldrllm\" models", value);
    return PLDR_OK;
}

static const struct {
    const char *name;
    int (*set)(pldr_model *m, const char *value);
} STRING_HPARAMS[] = {
    {"rope", set_rope},
    {"custom_G_type", set_custom_g},
    {"hidden_act", check_hidden_act},
    {"model_type", check_model_type},
};
#define N_STRING_HPARAMS (sizeof STRING_HPARAMS / sizeof STRING_HPARAMS[0])

int pldr_model_set_hparam_str(pldr_model *m, const char *key, const char *value) {
    if (!m || !key || !value) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_NEW)
        return model_fail(m, PLDR_ERR_STATE, "hyperparameter \"%s\" set after pldr_model_alloc", key);
    for (size_t i = 0; i < N_STRING_HPARAMS; i++)
        if (strcmp(key, STRING_HPARAMS[i].name) == 0) return STRING_HPARAMS[i].set(m, value);
    return other_key(m, key, NULL, value);
}

/* ---- keys that are neither numbers nor strings of the tables above ---------------------------- */

/* Objects whose members are read (as "object.member" keys): RoPE scaling, spec §2.2. Newer
 * Transformers write rope_parameters (rope_theta inside) where older ones wrote rope_scaling. */
static const char *const OBJECT_HPARAMS[] = {"rope_scaling", "rope_parameters"};
#define N_OBJECT_HPARAMS (sizeof OBJECT_HPARAMS / sizeof OBJECT_HPARAMS[0])

/* Keys that never change what the model computes: accepted and ignored (docs/FORMAT.md lists
 * them). Their members ("id2label.0") are ignored with them. Any other key is refused by name. */
static const char *const IGNORED_KEYS[] = {
    /* where the checkpoint came from */
    "architectures", "auto_map", "transformers_version", "torch_dtype", "dtype", "_name_or_path",
    "_commit_hash", "_attn_implementation", "_attn_implementation_autoset",
    /* token ids the runtime does not use (eos_token_id and pad_token_id are read) */
    "bos_token_id", "sep_token_id", "cls_token_id", "unk_token_id", "mask_token_id",
    "decoder_start_token_id",
    /* what a Transformers forward returns or caches: the G-cache modes are the runtime's option */
    "use_cache", "cache_first_G", "output_attentions", "output_hidden_states", "output_pldr_attentions",
    "return_dict", "torchscript", "use_bfloat16", "tf_legacy_loss", "chunk_size_feed_forward",
    /* training only */
    "initializer_range", "attention_dropout", "gradient_checkpointing",
    /* task heads and labels (the causal LM head is final_layer) */
    "id2label", "label2id", "num_labels", "problem_type", "finetuning_task", "tokenizer_class", "prefix",
    "task_specific_params",
    /* generation defaults: sampling options come from the caller */
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
    "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens",
};
#define N_IGNORED_KEYS (sizeof IGNORED_KEYS / sizeof IGNORED_KEYS[0])

/* Members of rope_scaling / rope_parameters that only the rope types this runtime refuses use
 * (dynamic, yarn, longrope, llama3); the port ignores them for "default" and "linear" too. */
static const char *const ROPE_IGNORED_MEMBERS[] = {
    "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow", "short_factor",
    "long_factor", "low_freq_factor", "high_freq_factor", "mscale", "mscale_all_dim", "truncate",
};
#define N_ROPE_IGNORED_MEMBERS (sizeof ROPE_IGNORED_MEMBERS / sizeof ROPE_IGNORED_MEMBERS[0])

static int in_list(const char *const *list, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], name, len) == 0) return 1;
    return 0;
}

static int is_string_hparam(const char *key) {
    for (size_t i = 0; i < N_STRING_HPARAMS; i++)
        if (strcmp(key, STRING_HPARAMS[i].name) == 0) return 1;
    return 0;
}

static int unknown_key(pldr_model *m, const char *key) {
    return model_fail(m, PLDR_ERR_BAD_CONFIG,
                      "unknown key \"%s\": it may change what the model computes, so the model is refused "
                      "(docs/FORMAT.md lists the keys this runtime reads and those it ignores as harmless)", key);
}

static int parse_rope_type(const char *v) {
    if (strcmp(v, "default") == 0) return ROPE_TYPE_DEFAULT;
    if (strcmp(v, "linear") == 0) return ROPE_TYPE_LINEAR;
    return ROPE_TYPE_UNSET;
}

/* One member of rope_scaling / rope_parameters: number or string (a "null" string: absent). */
static int set_rope_member(pldr_model *m, const char *key, const char *member, int is_params,
                           const double *number, const char *string) {
    pldr_hparams *hp = &m->hp;
    int absent = string && strcmp(string, "null") == 0;
    if (strcmp(member, "rope_type") == 0 || strcmp(member, "type") == 0) {
        if (absent) return PLDR_OK;
        if (!string) return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s = %g: expected a rope type name", key, *number);
        int type = parse_rope_type(string);
        if (type == ROPE_TYPE_UNSET)
            return model_fail(m, PLDR_ERR_BAD_CONFIG,
                              "%s = \"%s\": this rope type is not implemented (this runtime implements \"default\" "
                              "and \"linear\"; the port's dynamic, yarn, longrope and llama3 are refused)", key, string);
        if (hp->rope_type != ROPE_TYPE_UNSET && hp->rope_type != type)
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s = \"%s\" disagrees with the rope type given before", key, string);
        hp->rope_type = type;
        return PLDR_OK;
    }
    int is_factor = strcmp(member, "factor") == 0, is_theta = is_params && strcmp(member, "rope_theta") == 0;
    if (is_factor || is_theta) {
        if (absent) return PLDR_OK;
        if (!number || !(*number > 0.0) || !isfinite(*number))
            return number ? model_fail(m, PLDR_ERR_BAD_CONFIG, "%s = %g: must be a positive number", key, *number)
                          : model_fail(m, PLDR_ERR_BAD_CONFIG, "%s = \"%s\": must be a positive number", key, string);
        double *field = is_factor ? &hp->rope_factor : &hp->rope_param_theta;
        if (*field > 0.0 && *field != *number)
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s = %g disagrees with %g given before", key, *number, *field);
        *field = *number;
        return PLDR_OK;
    }
    if (in_list(ROPE_IGNORED_MEMBERS, N_ROPE_IGNORED_MEMBERS, member, strlen(member))) return PLDR_IGNORED;
    return unknown_key(m, key);
}

/* A key of neither table: a member ("object.member"), an object key, an ignored key, or refused.
 * Exactly one of number / string is given (arrays and empty objects arrive as strings). */
static int other_key(pldr_model *m, const char *key, const double *number, const char *string) {
    const char *dot = strchr(key, '.');
    size_t head = dot ? (size_t)(dot - key) : strlen(key);
    if (in_list(IGNORED_KEYS, N_IGNORED_KEYS, key, head)) return PLDR_IGNORED;
    for (size_t i = 0; i < N_OBJECT_HPARAMS; i++) {
        if (strlen(OBJECT_HPARAMS[i]) != head || strncmp(OBJECT_HPARAMS[i], key, head) != 0) continue;
        if (dot && !strchr(dot + 1, '.')) return set_rope_member(m, key, dot + 1, i == 1, number, string);
        if (!dot && string && strcmp(string, "null") == 0) return PLDR_OK; /* no scaling */
        if (!dot) return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s: expected an object naming a rope_type, or null", key);
        return unknown_key(m, key);
    }
    if (!dot && string && find_hparam(key)) {
        if (strcmp(string, "null") == 0) return PLDR_OK; /* null: the default */
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = \"%s\": must be a number", key, string);
    }
    if (!dot && number && is_string_hparam(key))
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be a string", key, *number);
    return unknown_key(m, key);
}

const char *pldr_hparam_name(int index, int alias) {
    if (index < 0 || alias < 0 || alias > 1) return NULL;
    if ((size_t)index < N_HPARAMS) return HPARAMS[index].names[alias];
    size_t i = (size_t)index - N_HPARAMS;
    if (i < N_STRING_HPARAMS) return alias == 0 ? STRING_HPARAMS[i].name : NULL;
    i -= N_STRING_HPARAMS;
    return i < N_OBJECT_HPARAMS && alias == 0 ? OBJECT_HPARAMS[i] : NULL;
}

const char *pldr_hparam_ignored_name(int index) {
    return index >= 0 && (size_t)index < N_IGNORED_KEYS ? IGNORED_KEYS[index] : NULL;
}

/* rope_parameters.rope_theta stands in for an absent rope_theta; linear scaling needs a factor
 * and, as in the port, applies to the rotate-half RoPE only. */
static int validate_rope(pldr_model *m) {
    pldr_hparams *hp = &m->hp;
    if (hp->rope_param_theta > 0.0) {
        if (hp->rope_theta_given && hp->rope_theta != hp->rope_param_theta)
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "rope_theta %g disagrees with rope_parameters.rope_theta %g",
                              hp->rope_theta, hp->rope_param_theta);
        hp->rope_theta = hp->rope_param_theta;
    }
    if (hp->rope_type == ROPE_TYPE_UNSET) hp->rope_type = ROPE_TYPE_DEFAULT;
    if (hp->rope_type != ROPE_TYPE_LINEAR) return PLDR_OK;
    if (!(hp->rope_factor > 0.0))
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "rope_scaling: rope type \"linear\" needs a factor");
    if (hp->rope_interleaved)
        return model_fail(m, PLDR_ERR_BAD_CONFIG,
                          "rope_scaling: rope type \"linear\" with reference_rope true: the Hugging Face port "
                          "scales only its rotate-half RoPE (reference_rope false) and ignores rope_scaling on the "
                          "reference RoPE, so what this checkpoint means is unclear; remove rope_scaling (what the "
                          "port computes) or set reference_rope false");
    return PLDR_OK;
}

double pldr_model_hparam(const pldr_model *m, const char *key) {
    if (!m || !key) return NAN;
    if (strcmp(key, "custom_G_type") == 0) return m->hp.custom_g;
    const hparam_def *def = find_hparam(key);
    if (!def) return NAN;
    const char *field = (const char *)&m->hp + def->offset;
    if (def->kind == 'f') return *(const double *)field;
    int v = *(const int *)field;
    return v == UNSET ? NAN : v;
}

static const char *missing_hparam(const pldr_hparams *hp) {
    if (hp->n_layers == UNSET) return "num_hidden_layers (num_layers)";
    if (hp->d_model == UNSET) return "hidden_size (d_model)";
    if (hp->n_heads == UNSET) return "num_attention_heads (num_heads)";
    if (hp->dff == UNSET) return "intermediate_size (dff)";
    if (hp->vocab == UNSET) return "vocab_size (input_vocab_size)";
    if (hp->max_pos == UNSET) return "max_position_embeddings (max_seq_len)";
    if (hp->custom_g == CUSTOM_G_NONE) {
        if (hp->a_dff == UNSET) return "A_dff";
        if (hp->n_reslayer_a == UNSET) return "num_reslayerA";
        if (hp->n_dense_a == UNSET) return "num_denseA";
    }
    return NULL;
}

/* Bounds of the hyperparameters, each with its reason. Every released transformer stays well inside
 * them; they keep out configs whose sizes no 32-bit runtime could hold, or whose tensor table alone
 * would cost seconds and gigabytes to build (a config.json is untrusted input). */
#define MAX_LAYERS 1024         /* 8× the deepest released LLMs (~126 layers); names and the table */
#define MAX_WIDTH 65536         /* hidden_size, intermediate_size, A_dff: a matrix row. The scalar
                                   quantized kernel keeps a row of int8 activations on the stack (72 KiB
                                   at this width, of WebAssembly's 1 MiB); the widest released FFN is 53248 */
#define MAX_HEAD_DIM 1024       /* the A-net's metric and G_LM are dk×dk per head (released: 64) */
#define MAX_A_BLOCKS 1024       /* num_reslayerA, num_denseA each (released: 8, 2); with the layers,
                                   their product is bounded by MAX_TENSORS */
#define MAX_VOCAB (1 << 24)     /* 64× the largest vocabularies (256k); ids stay exact in float32 */
#define MAX_POSITIONS (1 << 20) /* the RoPE table [positions][dk/2] is built at load time */
#define MAX_TENSORS 65536       /* entries of the tensor table (the released 110M has 690) */
#define MAX_ELEMS INT32_MAX     /* elements of one tensor or work buffer: the kernels count them in int */

/* Tensors the table will hold (tensors.c builds it in this order), in 64 bits. */
static uint64_t tensor_count(const pldr_hparams *hp) {
    uint64_t per_layer = 4 * 2 + 6 + 4;                            /* q, k, v, dense; FFN; 2 LayerNorms */
    if (hp->custom_g == CUSTOM_G_NONE) {
        uint64_t block = u64_add(u64_mul((uint64_t)hp->n_dense_a, 6), 2); /* GLUs and a LayerNorm */
        per_layer = u64_add(per_layer, u64_add(5 + 2, u64_mul((uint64_t)hp->n_reslayer_a, block)));
    }
    uint64_t n = u64_add(3 + 2, u64_mul((uint64_t)hp->n_layers, per_layer)); /* embedding, LayerNorm, head */
    return hp->custom_g == CUSTOM_G_NONE ? n : u64_add(n, 2);      /* past_G_values(_status) */
}

static int check_range(pldr_model *m, const char *name, int value, int max, const char *why) {
    if (value <= max) return PLDR_OK;
    return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s %d is larger than this runtime's limit of %d (%s)", name, value, max, why);
}

static int check_ranges(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    const struct { const char *name; int value, max; const char *why; } r[] = {
        {"num_hidden_layers", hp->n_layers, MAX_LAYERS, "layers"},
        {"hidden_size", hp->d_model, MAX_WIDTH, "the width of a matrix row"},
        {"intermediate_size", hp->dff, MAX_WIDTH, "the width of a matrix row"},
        {"A_dff", hp->a_dff, MAX_WIDTH, "the width of a matrix row"},
        {"num_reslayerA", hp->n_reslayer_a, MAX_A_BLOCKS, "A-net residual blocks"},
        {"num_denseA", hp->n_dense_a, MAX_A_BLOCKS, "A-net GLUs per block"},
        {"vocab_size", hp->vocab, MAX_VOCAB, "token ids"},
        {"max_position_embeddings", hp->max_pos, MAX_POSITIONS, "the RoPE table"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = check_range(m, r[i].name, r[i].value, r[i].max, r[i].why);
        if (rc) return rc;
    }
    return PLDR_OK;
}

/* Every tensor and work buffer has at most MAX_ELEMS elements, and the table at most MAX_TENSORS. */
static int check_sizes(pldr_model *m) {
    const pldr_hparams *hp = &m->hp;
    uint64_t L = (uint64_t)hp->n_layers, D = (uint64_t)hp->d_model, dk = (uint64_t)hp->head_dim;
    int anet = hp->custom_g == CUSTOM_G_NONE;
    const struct { const char *what; uint64_t elems; } t[] = {
        {"the embedding and final_layer [vocab_size][hidden_size]", u64_mul((uint64_t)hp->vocab, D)},
        {"an FFN matrix [intermediate_size][hidden_size]", u64_mul((uint64_t)hp->dff, D)},
        {"an attention matrix [hidden_size][hidden_size]", u64_mul(D, D)},
        {"the A-net's work rows [hidden_size][A_dff]", anet ? u64_mul(D, (uint64_t)hp->a_dff) : 0},
        {"the G-cache [layers][heads][head_dim][head_dim]", u64_mul(u64_mul(L, D), dk)},
        {"decoder.past_G_values [layers][3][heads][head_dim][head_dim]", anet ? 0 : u64_mul(u64_mul(3 * L, D), dk)},
        {"the RoPE table [max_position_embeddings][head_dim]", u64_mul((uint64_t)hp->max_pos, dk)},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].elems > MAX_ELEMS)
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "%s would hold %llu values, more than this runtime's limit of %d",
                              t[i].what, (unsigned long long)t[i].elems, MAX_ELEMS);
    uint64_t tensors = tensor_count(hp);
    if (tensors > MAX_TENSORS)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "this config describes %llu tensors (num_hidden_layers × num_reslayerA × "
                          "num_denseA), more than this runtime's limit of %d", (unsigned long long)tensors, MAX_TENSORS);
    return PLDR_OK;
}

int hparams_validate(pldr_model *m) {
    pldr_hparams *hp = &m->hp;
    const char *missing = missing_hparam(hp);
    if (missing) return model_fail(m, PLDR_ERR_BAD_CONFIG, "config is missing %s", missing);
    if (hp->custom_g != CUSTOM_G_NONE) hp->n_reslayer_a = hp->n_dense_a = hp->a_dff = 0;
    int rc = check_ranges(m);
    if (rc) return rc;
    if (hp->d_model % hp->n_heads != 0)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hidden_size %d is not a multiple of num_attention_heads %d",
                          hp->d_model, hp->n_heads);
    int dk = hp->d_model / hp->n_heads;
    if (hp->head_dim != UNSET && hp->head_dim != dk)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "head_dim %d != hidden_size / num_attention_heads = %d",
                          hp->head_dim, dk);
    hp->head_dim = dk;
    if (dk % 2 != 0) return model_fail(m, PLDR_ERR_BAD_CONFIG, "head_dim %d must be even (RoPE pairs)", dk);
    rc = check_range(m, "head_dim", dk, MAX_HEAD_DIM, "the A-net's dk×dk metric per head");
    if (!rc) rc = validate_rope(m);
    if (rc) return rc;
    if (!hp->attention_bias || !hp->glu_bias)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "attention_bias and glu_bias must be true (PLDR-LLM Linear layers have biases)");
    if (hp->tie_embeddings)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "tie_word_embeddings = true is not a PLDR-LLM (final_layer is separate)");
    if (hp->eos_id >= hp->vocab || hp->pad_id >= hp->vocab)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "eos_token_id %d / pad_token_id %d outside the vocabulary of %d",
                          hp->eos_id, hp->pad_id, hp->vocab);
    return check_sizes(m);
}
