/* hparams.c — hyperparameters by config.json name (Hugging Face and native names, spec §5). */
#include <math.h>
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
        .tie_embeddings = 0,
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
};
#define N_HPARAMS (sizeof HPARAMS / sizeof HPARAMS[0])

static const hparam_def *find_hparam(const char *key) {
    for (size_t i = 0; i < N_HPARAMS; i++)
        for (int j = 0; j < 2; j++)
            if (HPARAMS[i].names[j] && strcmp(HPARAMS[i].names[j], key) == 0) return &HPARAMS[i];
    return NULL;
}

int pldr_model_set_hparam(pldr_model *m, const char *key, double value) {
    if (!m || !key) return PLDR_ERR_INVALID_ARGUMENT;
    if (m->stage != STAGE_NEW)
        return model_fail(m, PLDR_ERR_STATE, "hyperparameter \"%s\" set after pldr_model_alloc", key);
    const hparam_def *def = find_hparam(key);
    if (!def) return PLDR_IGNORED;
    char *field = (char *)&m->hp + def->offset;
    if (def->kind == 'f') {
        if (!(value > 0.0) || !isfinite(value))
            return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameter %s = %g: must be a positive number", key, value);
        *(double *)field = value;
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
    return PLDR_IGNORED;
}

const char *pldr_hparam_name(int index, int alias) {
    if (index < 0 || alias < 0 || alias > 1) return NULL;
    if ((size_t)index < N_HPARAMS) return HPARAMS[index].names[alias];
    size_t i = (size_t)index - N_HPARAMS;
    return i < N_STRING_HPARAMS && alias == 0 ? STRING_HPARAMS[i].name : NULL;
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

int hparams_validate(pldr_model *m) {
    pldr_hparams *hp = &m->hp;
    const char *missing = missing_hparam(hp);
    if (missing) return model_fail(m, PLDR_ERR_BAD_CONFIG, "config is missing %s", missing);
    if (hp->d_model % hp->n_heads != 0)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hidden_size %d is not a multiple of num_attention_heads %d",
                          hp->d_model, hp->n_heads);
    int dk = hp->d_model / hp->n_heads;
    if (hp->head_dim != UNSET && hp->head_dim != dk)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "head_dim %d != hidden_size / num_attention_heads = %d",
                          hp->head_dim, dk);
    hp->head_dim = dk;
    if (dk % 2 != 0) return model_fail(m, PLDR_ERR_BAD_CONFIG, "head_dim %d must be even (RoPE pairs)", dk);
    if (!hp->attention_bias || !hp->glu_bias)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "attention_bias and glu_bias must be true (PLDR-LLM Linear layers have biases)");
    if (hp->tie_embeddings)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "tie_word_embeddings = true is not a PLDR-LLM (final_layer is separate)");
    if (hp->custom_g != CUSTOM_G_NONE) hp->n_reslayer_a = hp->n_dense_a = hp->a_dff = 0;
    if (hp->eos_id >= hp->vocab || hp->pad_id >= hp->vocab)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "eos_token_id %d / pad_token_id %d outside the vocabulary of %d",
                          hp->eos_id, hp->pad_id, hp->vocab);
    /* sizes whose products must stay well inside 32-bit tensor element counts */
    double biggest = (double)hp->vocab * hp->d_model;
    if ((double)hp->dff * hp->d_model > biggest) biggest = (double)hp->dff * hp->d_model;
    /* a tensor's byte size must fit a size_t (32 bits in WebAssembly) with room to spare */
    if (biggest * 4.0 > (double)(SIZE_MAX / 2) || hp->max_pos > 1 << 20 || hp->n_layers > 1024 || dk > 1024)
        return model_fail(m, PLDR_ERR_BAD_CONFIG, "hyperparameters describe a model too large for this runtime");
    return PLDR_OK;
}
