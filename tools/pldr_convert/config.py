"""Model hyperparameters: reading either name set (docs/FORMAT.md "config.json names"), checking
them, writing both, and the tensor list they imply (names, shapes, order)."""

import json
import math

from .errors import ConvertError, read_json

# The config.json names the runtime reads, in its order (pldr_hparam_name, src/model/hparams.c):
# (Hugging Face name, native name or None). tests/formats.test.mjs checks this equals the C table.
RUNTIME_NAMES = (
    ("num_hidden_layers", "num_layers"),
    ("hidden_size", "d_model"),
    ("num_attention_heads", "num_heads"),
    ("head_dim", None),
    ("intermediate_size", "dff"),
    ("A_dff", None),
    ("num_reslayerA", None),
    ("num_denseA", None),
    ("vocab_size", "input_vocab_size"),
    ("max_position_embeddings", "max_seq_len"),
    ("rope_theta", "rope_base"),
    ("layer_norm_eps", None),
    ("reference_rope", None),
    ("attention_bias", None),
    ("glu_bias", None),
    ("tie_word_embeddings", None),
    ("eos_token_id", None),
    ("pad_token_id", None),
    ("final_bias", None),
    ("rope", None),
    ("custom_G_type", None),
    ("hidden_act", None),
    ("model_type", None),
    ("rope_scaling", None),
    ("rope_parameters", None),
)
# meaning -> (HF name, native name or None), for the sizes read by _int_field
FIELDS = dict(zip(("L", "D", "H", "dk", "dff", "A_dff", "nA", "nDense", "V", "ctx", "rope_theta"),
                  RUNTIME_NAMES))
G_TYPES = (None, "identity", "random", "external")
ROPE_NATIVE = {"interleaved": True, "rotate_half": False}
# every key this module writes or interprets: the runtime's, and those only the converter uses;
# others are carried over from HF configs
KNOWN = {n for pair in RUNTIME_NAMES for n in pair if n} | {
    "bos_token_id", "architectures", "torch_dtype"}


class ModelConfig:
    """Normalised hyperparameters (see FIELDS for the names)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def g_only(self):
        return self.custom_G_type is not None


def _int_field(cfg, key, path, required=True):
    hf, native = FIELDS[key]
    vals = [(n, cfg[n]) for n in (hf, native) if n and cfg.get(n) is not None]
    if not vals:
        if required:
            names = " or ".join(n for n in (hf, native) if n)
            raise ConvertError("%s: missing %s" % (path, names))
        return None
    for n, v in vals:
        if type(v) is not int or v <= 0:
            raise ConvertError("%s: %s = %r, expected a positive integer" % (path, n, v))
    if len(vals) == 2 and vals[0][1] != vals[1][1]:
        raise ConvertError("%s: %s = %d disagrees with %s = %d"
                           % (path, vals[0][0], vals[0][1], vals[1][0], vals[1][1]))
    return vals[0][1]


def _same(cfg, path, names, default):
    vals = [(n, cfg[n]) for n in names if cfg.get(n) is not None]
    for (n0, v0), (n1, v1) in zip(vals, vals[1:]):
        if v0 != v1:
            raise ConvertError("%s: %s = %r disagrees with %s = %r" % (path, n0, v0, n1, v1))
    return vals[0][1] if vals else default


def parse(cfg, path):
    """ModelConfig from a dict with HF and/or native names; errors name `path`."""
    if not isinstance(cfg, dict):
        raise ConvertError("%s: expected a JSON object" % path)
    g_type = cfg.get("custom_G_type")
    if g_type not in G_TYPES:
        raise ConvertError("%s: custom_G_type = %r, expected one of %s"
                           % (path, g_type, ", ".join(map(json.dumps, G_TYPES))))
    c = {k: _int_field(cfg, k, path, required=k not in ("dk",)) for k in
         ("L", "D", "H", "dk", "dff", "V", "ctx")}
    # the A-net sizes are needed only when the model has an A-net
    for k in ("A_dff", "nA", "nDense"):
        c[k] = _int_field(cfg, k, path, required=g_type is None)
    if c["D"] % c["H"]:
        raise ConvertError("%s: hidden size %d is not a multiple of %d heads"
                           % (path, c["D"], c["H"]))
    if c["dk"] is None:
        c["dk"] = c["D"] // c["H"]
    elif c["dk"] * c["H"] != c["D"]:
        raise ConvertError("%s: head_dim %d x %d heads != hidden size %d"
                           % (path, c["dk"], c["H"], c["D"]))
    rope_objects = {k: cfg[k] for k in ("rope_scaling", "rope_parameters") if k in cfg}
    for k, v in rope_objects.items():
        if v is not None and not isinstance(v, dict):
            raise ConvertError("%s: %s = %r, expected an object or null" % (path, k, v))
    # newer Transformers keep rope_theta inside rope_parameters
    params_theta = (rope_objects.get("rope_parameters") or {}).get("rope_theta")
    theta = _same(cfg, path, ("rope_theta", "rope_base"), params_theta or 10000.0)
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not theta > 0:
        raise ConvertError("%s: rope_theta = %r, expected a positive number" % (path, theta))
    ref_rope = cfg.get("reference_rope")
    rope = cfg.get("rope")
    if rope is not None and rope not in ROPE_NATIVE:
        raise ConvertError("%s: rope = %r, expected \"interleaved\" or \"rotate_half\"" % (path, rope))
    if ref_rope is not None and not isinstance(ref_rope, bool):
        raise ConvertError("%s: reference_rope = %r, expected true or false" % (path, ref_rope))
    if ref_rope is not None and rope is not None and ROPE_NATIVE[rope] != ref_rope:
        raise ConvertError("%s: reference_rope = %s disagrees with rope = %r"
                           % (path, json.dumps(ref_rope), rope))
    interleaved = ref_rope if ref_rope is not None else ROPE_NATIVE.get(rope, True)
    eps = cfg.get("layer_norm_eps", 1e-6)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ConvertError("%s: layer_norm_eps = %r" % (path, eps))
    final_bias = cfg.get("final_bias", True)
    if not isinstance(final_bias, bool):
        raise ConvertError("%s: final_bias = %r, expected true or false" % (path, final_bias))
    for key, want in (("attention_bias", True), ("glu_bias", True), ("tie_word_embeddings", False)):
        if key in cfg and cfg[key] is not want:
            raise ConvertError("%s: %s = %s is not supported (PLDR-LLM needs %s)"
                               % (path, key, json.dumps(cfg[key]), json.dumps(want)))
    ids = {}
    for key, default in (("eos_token_id", 3), ("pad_token_id", 0), ("bos_token_id", 2)):
        v = cfg.get(key, default)
        if v is None:
            v = default
        if type(v) is not int or v < 0:
            raise ConvertError("%s: %s = %r, expected a token id" % (path, key, v))
        ids[key] = v
    extra = {}
    if cfg.get("model_type") is not None:
        # a Hugging Face config: keep what we do not interpret (auto_map, transformers_version...)
        if cfg["model_type"] != "pldrllm":
            raise ConvertError("%s: model_type = %r, expected \"pldrllm\"" % (path, cfg["model_type"]))
        extra = {k: v for k, v in cfg.items() if k not in KNOWN}
    return ModelConfig(rope_theta=theta, reference_rope=interleaved, layer_norm_eps=eps,
                       custom_G_type=g_type, final_bias=final_bias, rope_objects=rope_objects,
                       extra=extra, **c, **ids)


def load(path):
    """ModelConfig from a JSON file (HF config.json, native config, or the reference's
    hyperparameter dict saved as JSON, possibly nested one level)."""
    cfg = read_json(path)
    if isinstance(cfg, dict) and not any(k in cfg for k in ("num_hidden_layers", "num_layers")):
        nested = [v for v in cfg.values() if isinstance(v, dict)
                  and any(k in v for k in ("num_hidden_layers", "num_layers"))]
        if len(nested) == 1:
            cfg = nested[0]
    return parse(cfg, path)


def to_json(mc, dtype_name):
    """config.json dict with both name sets (HF first, then native)."""
    out = {
        "architectures": ["PldrllmForCausalLM"],
        "model_type": "pldrllm",
        "vocab_size": mc.V,
        "hidden_size": mc.D,
        "intermediate_size": mc.dff,
        "num_hidden_layers": mc.L,
        "num_attention_heads": mc.H,
        "head_dim": mc.dk,
        "A_dff": mc.A_dff,
        "num_reslayerA": mc.nA,
        "num_denseA": mc.nDense,
        "hidden_act": "silu",
        "max_position_embeddings": mc.ctx,
        "rope_theta": mc.rope_theta,
        "reference_rope": mc.reference_rope,
        "layer_norm_eps": mc.layer_norm_eps,
        "attention_bias": True,
        "glu_bias": True,
        "custom_G_type": mc.custom_G_type,
        "tie_word_embeddings": False,
        "pad_token_id": mc.pad_token_id,
        "bos_token_id": mc.bos_token_id,
        "eos_token_id": mc.eos_token_id,
        "torch_dtype": dtype_name,
        # native names
        "num_layers": mc.L,
        "d_model": mc.D,
        "num_heads": mc.H,
        "dff": mc.dff,
        "input_vocab_size": mc.V,
        "max_seq_len": mc.ctx,
        "rope": "interleaved" if mc.reference_rope else "rotate_half",
        "rope_base": mc.rope_theta,
    }
    if not mc.final_bias:
        out["final_bias"] = False
    out.update(mc.rope_objects)  # the runtime reads (or refuses) rope_scaling / rope_parameters
    if mc.A_dff is None:  # a G-only config may lack the A-net sizes
        for k in ("A_dff", "num_reslayerA", "num_denseA"):
            del out[k]
    for k, v in mc.extra.items():
        out.setdefault(k, v)
    return out


# ---------------------------------------------------------------------------------------------
# Tensors (docs/FORMAT.md "Tensor names"), in the documented order

def expected_tensors(mc, g_only, with_g=True):
    """[(name, shape)] in writing order. g_only: no A-net / PLGA tensors; with_g: include
    decoder.past_G_values (G-only models)."""
    D, H, dk, dff, V = mc.D, mc.H, mc.dk, mc.dff, mc.V
    out = [("decoder.embedding.weight", [V, D]),
           ("decoder.layernorm1.weight", [D]), ("decoder.layernorm1.bias", [D])]
    for i in range(mc.L):
        p = "decoder.dec_layers.%d." % i
        for w in ("wq", "wk", "wv", "dense"):
            out += [(p + "mha1.%s.weight" % w, [D, D]), (p + "mha1.%s.bias" % w, [D])]
        if not g_only:
            for w in ("Wlst", "blst", "pwlst", "alst", "balst"):
                out.append((p + "mha1.plgatt_layer." + w, [H, dk, dk]))
            out += [(p + "mha1.layernorm1.weight", [dk]), (p + "mha1.layernorm1.bias", [dk])]
            for j in range(mc.nA):
                q = p + "mha1.reslayerAs.%d." % j
                for k in range(mc.nDense):
                    g = q + "denseAs.%d." % k
                    out += [(g + "gluw1.weight", [mc.A_dff, dk]), (g + "gluw1.bias", [mc.A_dff]),
                            (g + "gluw2.weight", [mc.A_dff, dk]), (g + "gluw2.bias", [mc.A_dff]),
                            (g + "gluw3.weight", [dk, mc.A_dff]), (g + "gluw3.bias", [dk])]
                out += [(q + "layernormA.weight", [dk]), (q + "layernormA.bias", [dk])]
        out += [(p + "ffn.gluw1.weight", [dff, D]), (p + "ffn.gluw1.bias", [dff]),
                (p + "ffn.gluw2.weight", [dff, D]), (p + "ffn.gluw2.bias", [dff]),
                (p + "ffn.gluw3.weight", [D, dff]), (p + "ffn.gluw3.bias", [D])]
        for n in ("layernorm1", "layernorm2"):
            out += [(p + n + ".weight", [D]), (p + n + ".bias", [D])]
    out.append(("final_layer.weight", [V, D]))
    if mc.final_bias:
        out.append(("final_layer.bias", [V]))
    if g_only and with_g:
        out.append(("decoder.past_G_values", [mc.L, 3, 1, H, dk, dk]))
    return out


def is_a_net(name):
    """True for the tensors a G-only model drops (A-net and PLGA)."""
    return (".mha1.reslayerAs." in name or ".mha1.layernorm1." in name
            or ".mha1.plgatt_layer." in name)


QUANTIZABLE_SUFFIXES = (".mha1.wq.weight", ".mha1.wk.weight", ".mha1.wv.weight",
                        ".mha1.dense.weight", ".ffn.gluw1.weight", ".ffn.gluw2.weight",
                        ".ffn.gluw3.weight")


def quantizable(name):
    """The matrices docs/FORMAT.md allows to be quantized."""
    return (name in ("final_layer.weight", "decoder.embedding.weight")
            or (name.startswith("decoder.dec_layers.") and name.endswith(QUANTIZABLE_SUFFIXES)))


def param_count(shapes):
    return sum(math.prod(s) for s in shapes)
