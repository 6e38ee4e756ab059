"""Tests for tools/convert (run: python3 -m unittest tests/convert_test.py from the repo root).

The converter is run as a command (as users run it) and its output folders are read back here
with an independent safetensors reader and independent q8_0 / q4_0 block decoders.
"""

import array
import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVERT = os.path.join(ROOT, "tools", "convert")
MICRO = os.path.join(ROOT, "tests", "fixtures", "pldr-micro")
TINY = os.path.join(ROOT, "models", "pldr-tiny")
GCACHE_110M = os.path.join(ROOT, "tests", "fixtures", "gcache", "pldrv51-110m-1.G_LM.f32")

sys.path.insert(0, os.path.join(ROOT, "tools"))
from pldr_convert import dtypes as conv_dtypes  # noqa: E402
from pldr_convert import pth as conv_pth  # noqa: E402
from pldr_convert.errors import ConvertError  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Independent helpers: safetensors reading/writing, pickle emitting

def read_st(path):
    """(header without __metadata__, metadata, {name: raw bytes}) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    data = {k: blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]]
            for k, v in header.items()}
    return header, meta, data, base


def write_st(path, tensors, metadata=None):
    """Write {name: (dtype, shape, raw)} contiguously (like the reference library)."""
    h = {"__metadata__": metadata} if metadata else {}
    pos = 0
    for name, (dt, shape, raw) in tensors.items():
        h[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [pos, pos + len(raw)]}
        pos += len(raw)
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for _, (_, _, raw) in tensors.items():
            f.write(raw)


def micro_tensors():
    header, _, data, _ = read_st(os.path.join(MICRO, "model.safetensors"))
    return {k: (v["dtype"], v["shape"], data[k]) for k, v in header.items()}


def load_folder(dst):
    """{name: (dtype, shape, raw, file, metadata)} of a converted folder, checking the layout:
    data section 8-byte aligned; tensors gap-free (the safetensors rule)."""
    out = {}
    index = os.path.join(dst, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wmap = json.load(f)["weight_map"]
        files = sorted(set(wmap.values()))
    else:
        wmap = None
        files = ["model.safetensors"]
    for fn in files:
        header, meta, data, base = read_st(os.path.join(dst, fn))
        assert base % 8 == 0, "data section of %s not 8-byte aligned" % fn
        pos = 0
        for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
            b, e = info["data_offsets"]
            assert b == pos, "%s: gap or overlap before %s" % (fn, name)
            pos = e
        assert base + pos == os.path.getsize(os.path.join(dst, fn)), "%s: trailing bytes" % fn
        for name, info in header.items():
            assert name not in out, "duplicate tensor %s" % name
            if wmap is not None:
                assert wmap[name] == fn, "%s in %s but index says %s" % (name, fn, wmap[name])
            out[name] = (info["dtype"], info["shape"], data[name], fn, meta)
    if wmap is not None:
        assert set(wmap) == set(out), "index and shards disagree"
    return out


def header_order(path):
    header, _, _, _ = read_st(path)
    return [k for k, _ in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])]


def documented_order(L, nA, nD, g_only=False):
    """docs/FORMAT.md tensor list, expanded by hand here (independent of the converter)."""
    names = ["decoder.embedding.weight", "decoder.layernorm1.weight", "decoder.layernorm1.bias"]
    for i in range(L):
        p = "decoder.dec_layers.%d." % i
        for w in ("wq", "wk", "wv", "dense"):
            names += [p + "mha1.%s.weight" % w, p + "mha1.%s.bias" % w]
        if not g_only:
            names += [p + "mha1.plgatt_layer." + w for w in ("Wlst", "blst", "pwlst", "alst", "balst")]
            names += [p + "mha1.layernorm1.weight", p + "mha1.layernorm1.bias"]
            for j in range(nA):
                for k in range(nD):
                    for g in ("gluw1", "gluw2", "gluw3"):
                        for wb in ("weight", "bias"):
                            names.append(p + "mha1.reslayerAs.%d.denseAs.%d.%s.%s" % (j, k, g, wb))
                names += [p + "mha1.reslayerAs.%d.layernormA.weight" % j,
                          p + "mha1.reslayerAs.%d.layernormA.bias" % j]
        for g in ("gluw1", "gluw2", "gluw3"):
            names += [p + "ffn.%s.weight" % g, p + "ffn.%s.bias" % g]
        for ln in ("layernorm1", "layernorm2"):
            names += [p + ln + ".weight", p + ln + ".bias"]
    names += ["final_layer.weight", "final_layer.bias"]
    if g_only:
        names.append("decoder.past_G_values")
    return names


class G:
    """A pickle GLOBAL."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """GLOBAL args REDUCE."""

    def __init__(self, func, args):
        self.func, self.args = func, tuple(args)


class PID:
    """BINPERSID of a tuple."""

    def __init__(self, tup):
        self.tup = tup


class ODict:
    """collections.OrderedDict() REDUCE, then SETITEMS."""

    def __init__(self, items):
        self.items = list(items)


def _emit(obj, out):
    if obj is None:
        out += b"N"
    elif obj is True:
        out += b"\x88"
    elif obj is False:
        out += b"\x89"
    elif isinstance(obj, int):
        if 0 <= obj < 2 ** 31:
            out += b"J" + struct.pack("<i", obj)
        else:
            raw = obj.to_bytes(obj.bit_length() // 8 + 1, "little", signed=True)
            out += b"\x8a" + bytes([len(raw)]) + raw
    elif isinstance(obj, float):
        out += b"G" + struct.pack(">d", obj)
    elif isinstance(obj, str):
        raw = obj.encode()
        out += b"X" + struct.pack("<I", len(raw)) + raw
    elif isinstance(obj, tuple):
        out += b"("
        for x in obj:
            _emit(x, out)
        out += b"t"
    elif isinstance(obj, list):
        out += b"]("
        for x in obj:
            _emit(x, out)
        out += b"e"
    elif isinstance(obj, dict):
        out += b"}"
        if obj:
            out += b"("
            for k, v in obj.items():
                _emit(k, out)
                _emit(v, out)
            out += b"u"
    elif isinstance(obj, ODict):
        _emit(Call(G("collections", "OrderedDict"), ()), out)
        if obj.items:
            out += b"("
            for k, v in obj.items:
                _emit(k, out)
                _emit(v, out)
            out += b"u"
    elif isinstance(obj, G):
        out += b"c" + obj.module.encode() + b"\n" + obj.name.encode() + b"\n"
    elif isinstance(obj, Call):
        _emit(obj.func, out)
        _emit(obj.args, out)
        out += b"R"
    elif isinstance(obj, PID):
        _emit(obj.tup, out)
        out += b"Q"
    else:
        raise TypeError(obj)


def pickle_bytes(obj):
    out = bytearray(b"\x80\x02")
    _emit(obj, out)
    out += b"."
    return bytes(out)


STORAGE = {"F32": "FloatStorage", "BF16": "BFloat16Storage", "F16": "HalfStorage"}


def tensor_rec(key, dtype, numel, offset, size, stride):
    pid = PID(("storage", G("torch", STORAGE[dtype]), key, "cpu", numel))
    return Call(G("torch._utils", "_rebuild_tensor_v2"),
                (pid, offset, tuple(size), tuple(stride), False, ODict([])))


def write_pth(path, obj, storages, top="archive", byteorder="little"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(top + "/data.pkl", pickle_bytes(obj))
        z.writestr(top + "/byteorder", byteorder)
        for key, raw in storages.items():
            z.writestr(top + "/data/" + key, raw)
        z.writestr(top + "/version", "3\n")


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def f16_of_f32(x):
    """docs/FORMAT.md's f16(s): float64 -> float32 -> binary16, each to nearest even."""
    return f16(struct.unpack("<f", struct.pack("<f", x))[0])


def q4_block_documented(x):
    """One q4_0 block (18 bytes) as docs/FORMAT.md defines it, written out value by value."""
    m = max(x) if max(x) >= -min(x) else min(x)
    best = None
    for c in (-8.0, -8.5, -7.5):
        d = f16_of_f32(m / c)
        q = [0 if d == 0 else min(7, max(-8, round(v / d))) for v in x]
        e = 0.0
        for v, k in zip(x, q):
            e += (d * k - v) ** 2
        if best is None or e < best[0]:
            best = (e, d, q)
    _, d, q = best
    return struct.pack("<e", d) + bytes((q[j] + 8) | (q[j + 16] + 8) << 4 for j in range(16))


# ---------------------------------------------------------------------------------------------

class ConvertTestCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="convert-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def micro_copy(self, name):
        """pldr-micro's `name` as bytes, with its config.json beside the test's inputs."""
        shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
        with open(os.path.join(MICRO, name), "rb") as f:
            return f.read()

    def write(self, name, data):
        """Writes bytes to the test's folder; returns the path."""
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def convert(self, *args):
        return subprocess.run([sys.executable, CONVERT] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=600)

    def convert_ok(self, *args):
        r = self.convert(*args)
        self.assertEqual(r.returncode, 0, "convert failed:\n" + r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        return r

    def assert_fails(self, args, *needles):
        """Exit 1, one error line naming the problem, no traceback, no DST, no temp folder."""
        dst = args[1]
        r = self.convert(*args)
        self.assertEqual(r.returncode, 1, "expected failure, got rc %d:\n%s" % (r.returncode, r.stderr))
        self.assertNotIn("Traceback", r.stderr)
        lines = r.stderr.strip().splitlines()
        errors = [ln for ln in lines if ln.startswith("convert: error: ")]
        self.assertEqual(len(errors), 1, r.stderr)
        self.assertTrue(all(ln.startswith("convert: ") for ln in lines), r.stderr)
        for n in needles:
            self.assertIn(n, errors[0])
        self.assertFalse(os.path.exists(dst), "DST left behind")
        parent = os.path.dirname(os.path.abspath(dst))
        leftovers = [f for f in os.listdir(parent) if f.startswith("." + os.path.basename(dst))]
        self.assertEqual(leftovers, [], "temporary folder left behind")
        return errors[0]


class FloatConversion(ConvertTestCase):

    def test_pth_is_bit_identical_to_safetensors(self):
        dst = self.path("out")
        self.convert_ok(os.path.join(MICRO, "model.pth"), dst, "--quiet")
        got = load_folder(dst)
        want = micro_tensors()
        self.assertEqual(set(got), set(want))
        for name, (dt, shape, raw) in want.items():
            self.assertEqual(got[name][0], "F32", name)
            self.assertEqual(got[name][1], shape, name)
            self.assertEqual(got[name][2], raw, "bytes differ for %s" % name)
        self.assertEqual(header_order(os.path.join(dst, "model.safetensors")),
                         documented_order(2, 2, 2))
        # the safetensors input gives the very same file
        dst2 = self.path("out2")
        self.convert_ok(os.path.join(MICRO, "model.safetensors"), dst2, "--quiet")
        with open(os.path.join(dst, "model.safetensors"), "rb") as a, \
                open(os.path.join(dst2, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_config_has_both_name_sets(self):
        dst = self.path("out")
        self.convert_ok(os.path.join(MICRO, "model.pth"), dst, "--quiet")
        with open(os.path.join(dst, "config.json")) as f:
            c = json.load(f)
        expect = {"model_type": "pldrllm", "architectures": ["PldrllmForCausalLM"],
                  "vocab_size": 512, "input_vocab_size": 512, "hidden_size": 128, "d_model": 128,
                  "intermediate_size": 341, "dff": 341, "num_hidden_layers": 2, "num_layers": 2,
                  "num_attention_heads": 2, "num_heads": 2, "head_dim": 64, "A_dff": 32,
                  "num_reslayerA": 2, "num_denseA": 2, "max_position_embeddings": 256,
                  "max_seq_len": 256, "reference_rope": True, "rope": "interleaved",
                  "rope_theta": 10000, "layer_norm_eps": 1e-6, "attention_bias": True,
                  "glu_bias": True, "custom_G_type": None, "tie_word_embeddings": False,
                  "pad_token_id": 0, "eos_token_id": 3}
        for k, v in expect.items():
            self.assertEqual(c.get(k, "absent"), v, k)

    def test_big_endian_pth_and_reference_hyperparameters(self):
        """A checkpoint written on a big-endian machine (byteorder entry) and the reference's
        hyperparameter dict saved as JSON (native names plus training extras)."""
        want = micro_tensors()
        storages, sd = {}, []
        for i, (name, (dt, shape, raw)) in enumerate(want.items()):
            a = array.array("I")
            a.frombytes(raw)
            a.byteswap()
            storages[str(i)] = a.tobytes()
            strides = [math.prod(shape[j + 1:]) for j in range(len(shape))]
            sd.append((name, tensor_rec(str(i), "F32", len(raw) // 4, 0, shape, strides)))
        src = self.path("be.pth")
        write_pth(src, {"model_state_dict": ODict(sd)}, storages, byteorder="big")
        hp = {"num_layers": 2, "d_model": 128, "num_heads": 2, "dff": 341, "num_reslayerA": 2,
              "num_denseA": 2, "A_dff": 32, "input_vocab_size": 512, "max_seq_len": 256,
              "epochs": 1, "save_model_path": "x", "learning_rate": 0.001, "warmup_steps": 2000}
        with open(self.path("hp.json"), "w") as f:
            json.dump({"hpdict": hp}, f)
        dst = self.path("out")
        self.convert_ok(src, dst, "--quiet", "--config", self.path("hp.json"))
        got = load_folder(dst)
        for name, (dt, shape, raw) in want.items():
            self.assertEqual(got[name][2], raw, name)
        with open(os.path.join(dst, "config.json")) as f:
            c = json.load(f)
        self.assertEqual((c["hidden_size"], c["max_position_embeddings"], c["rope_theta"]),
                         (128, 256, 10000.0))
        self.assertNotIn("epochs", c)

    def test_bf16_input_and_output(self):
        bf = read_st(os.path.join(MICRO, "model.bf16.safetensors"))
        # BF16 in, F32 out: exact widening
        dst = self.path("from_bf16")
        self.convert_ok(os.path.join(MICRO, "model.bf16.safetensors"), dst, "--quiet",
                        "--config", os.path.join(MICRO, "config.json"))
        got = load_folder(dst)
        for name, raw in bf[2].items():
            f32 = got[name][2]
            self.assertEqual(got[name][0], "F32")
            self.assertEqual(f32[2::4], raw[0::2], name)
            self.assertEqual(f32[3::4], raw[1::2], name)
            self.assertEqual(f32[0::4] + f32[1::4], bytes(len(raw)), name)
        # F32 in, BF16 out: round to nearest even, same bytes as the fixture's BF16 file
        dst2 = self.path("to_bf16")
        self.convert_ok(os.path.join(MICRO, "model.safetensors"), dst2, "--quiet", "--dtype", "bf16")
        got2 = load_folder(dst2)
        for name, raw in bf[2].items():
            self.assertEqual(got2[name][0], "BF16", name)
            self.assertEqual(got2[name][2], raw, name)
        with open(os.path.join(dst2, "config.json")) as f:
            self.assertEqual(json.load(f)["torch_dtype"], "bfloat16")

    def test_bf16_rounding_special_values(self):
        def bf16(pats):
            out = array.array("H")
            out.frombytes(conv_dtypes.f32_to_bf16(array.array("I", pats).tobytes()))
            return list(out)
        # ties to even (down, up), above a tie, overflow to Inf, Inf, tiny, signed zero
        finite = [0x3F808000, 0x3F818000, 0x3F808001, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000,
                  0xFF800000, 0x00008000, 0x80018000, 0, 0x80000000]
        self.assertEqual(bf16(finite), [0x3F80, 0x3F82, 0x3F81, 0x7F80, 0xFF80, 0x7F80, 0xFF80,
                                        0x0000, 0x8002, 0, 0x8000])
        for h in bf16([0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0x3F818000]):  # NaNs stay NaN
            if h != 0x3F82:
                self.assertEqual(h & 0x7F80, 0x7F80)
                self.assertNotEqual(h & 0x7F, 0)
        rnd = random.Random(5)
        pats = [rnd.getrandbits(32) for _ in range(20000)]
        finite = [u for u in pats if (u >> 23) & 0xFF != 0xFF]
        ties = [(u & 0xFFFF0000) | 0x8000 for u in finite[:2000]]
        for sample in (finite + ties, pats):
            raw = array.array("I", sample).tobytes()
            self.assertEqual(conv_dtypes.f32_to_bf16(raw), conv_dtypes.f32_to_bf16_reference(raw))
        # the per-element reference itself, on a few values worked out by hand
        ref = array.array("H")
        ref.frombytes(conv_dtypes.f32_to_bf16_reference(array.array("I", [0x3F818000, 0x3F808000]).tobytes()))
        self.assertEqual(list(ref), [0x3F82, 0x3F80])

    def test_sharded_input(self):
        dst = self.path("tiny")
        self.convert_ok(TINY, dst, "--quiet")
        got = load_folder(dst)
        with open(os.path.join(TINY, "model.safetensors.index.json")) as f:
            wmap = json.load(f)["weight_map"]
        src = {}
        for fn in set(wmap.values()):
            src.update(read_st(os.path.join(TINY, fn))[2])
        self.assertEqual(set(got), set(src))
        for name, raw in src.items():
            self.assertEqual(got[name][2], raw, name)
        self.assertEqual(header_order(os.path.join(dst, "model.safetensors")),
                         documented_order(5, 8, 2))
        with open(os.path.join(TINY, "tokenizer.model"), "rb") as a, \
                open(os.path.join(dst, "tokenizer.model"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_shard_limit(self):
        dst = self.path("tiny4")
        self.convert_ok(TINY, dst, "--quiet", "--shard-mb", "4")
        with open(os.path.join(dst, "model.safetensors.index.json")) as f:
            index = json.load(f)
        shards = sorted(set(index["weight_map"].values()))
        self.assertGreater(len(shards), 5)
        n = len(shards)
        self.assertEqual(shards, ["model-%05d-of-%05d.safetensors" % (i + 1, n) for i in range(n)])
        self.assertFalse(os.path.exists(os.path.join(dst, "model.safetensors")))
        total = 0
        for fn in shards:
            size = os.path.getsize(os.path.join(dst, fn))
            header = read_st(os.path.join(dst, fn))[0]
            total += sum(v["data_offsets"][1] - v["data_offsets"][0] for v in header.values())
            if size > 4 << 20:  # only a tensor bigger than the limit may exceed it, alone
                self.assertEqual(len(header), 1, fn)
                (info,) = header.values()
                self.assertGreater(info["data_offsets"][1] - info["data_offsets"][0], 4 << 20)
        self.assertEqual(index["metadata"]["total_size"], total)
        # same tensors as the unsharded conversion, in the documented order across shards
        got = load_folder(dst)
        self.assertEqual(list(index["weight_map"]), documented_order(5, 8, 2))
        with open(os.path.join(TINY, "model.safetensors.index.json")) as f:
            src_shards = set(json.load(f)["weight_map"].values())
        src = {}
        for fn in src_shards:
            src.update(read_st(os.path.join(TINY, fn))[2])
        for name, raw in src.items():
            self.assertEqual(got[name][2], raw, name)

    def test_manifest(self):
        dst = self.path("tiny4")
        self.convert_ok(TINY, dst, "--quiet", "--shard-mb", "16")
        with open(os.path.join(dst, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(m["format"], "pldr-web-1")
        listed = {e["path"]: e for e in m["files"]}
        on_disk = set(os.listdir(dst)) - {"manifest.json"}
        self.assertEqual(set(listed), on_disk)
        self.assertIn("tokenizer.model", listed)
        self.assertIn("model.safetensors.index.json", listed)
        for name, e in listed.items():
            with open(os.path.join(dst, name), "rb") as f:
                blob = f.read()
            self.assertEqual(e["size"], len(blob), name)
            self.assertEqual(e["sha256"], hashlib.sha256(blob).hexdigest(), name)

    def test_model_prefix_and_pth_views(self):
        """`model.` prefixes are stripped; .pth storage offsets, shared storages, transposed
        (non-contiguous) views and BF16 storages are read correctly."""
        want = micro_tensors()
        names = list(want)
        storages, sd = {}, []
        # two tensors in one storage (second at an element offset)
        a, b = "decoder.layernorm1.weight", "decoder.layernorm1.bias"
        storages["s0"] = want[a][2] + want[b][2]
        sd.append(("model." + a, tensor_rec("s0", "F32", 256, 0, [128], [1])))
        sd.append(("model." + b, tensor_rec("s0", "F32", 256, 128, [128], [1])))
        # a matrix stored transposed: storage holds W^T, view has strides (1, rows)
        t = "decoder.dec_layers.0.ffn.gluw1.weight"  # [341, 128]
        w = array.array("f")
        w.frombytes(want[t][2])
        wt = array.array("f", [w[r * 128 + c] for c in range(128) for r in range(341)])
        storages["s1"] = wt.tobytes()
        sd.append(("model." + t, tensor_rec("s1", "F32", 341 * 128, 0, [341, 128], [1, 341])))
        # a 3-D tensor behind an offset, with a leading size-1 style stride quirk
        p = "decoder.dec_layers.1.mha1.plgatt_layer.alst"
        storages["s2"] = bytes(4 * 7) + want[p][2]
        sd.append(("model." + p, tensor_rec("s2", "F32", 7 + 2 * 64 * 64, 7, [2, 64, 64], [4096, 64, 1])))
        # a BF16 storage (its values are exactly representable, so F32 output is exact)
        e = "final_layer.bias"
        fb = want[e][2]
        storages["s3"] = bytes(x for i in range(0, len(fb), 4) for x in fb[i + 2:i + 4])
        sd.append(("model." + e, tensor_rec("s3", "BF16", 512, 0, [512], [1])))
        done = {a, b, t, p, e}
        for i, name in enumerate(n for n in names if n not in done):
            dt, shape, raw = want[name]
            key = str(10 + i)
            storages[key] = raw
            strides = [math.prod(shape[j + 1:]) for j in range(len(shape))]
            sd.append(("model." + name, tensor_rec(key, "F32", len(raw) // 4, 0, shape, strides)))
        obj = {"model_state_dict": ODict(sd), "loss": 1.0, "accuracy": 0.5,
               "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0, 1]}]}}
        src = self.path("m.pth")
        write_pth(src, obj, storages, top="weird_top")
        dst = self.path("out")
        self.convert_ok(src, dst, "--quiet", "--config", os.path.join(MICRO, "config.json"))
        got = load_folder(dst)
        self.assertEqual(set(got), set(want))
        for name, (dt, shape, raw) in want.items():
            if name == e:
                self.assertEqual(got[name][2][2::4], storages["s3"][0::2])
                self.assertEqual(got[name][2][3::4], storages["s3"][1::2])
            else:
                self.assertEqual(got[name][2], raw, name)


class Quantized(ConvertTestCase):

    QUANTIZED = (".mha1.wq.weight", ".mha1.wk.weight", ".mha1.wv.weight", ".mha1.dense.weight",
                 ".ffn.gluw1.weight", ".ffn.gluw2.weight", ".ffn.gluw3.weight")

    def is_quantizable(self, name):
        return name in ("final_layer.weight", "decoder.embedding.weight") or (
            name.startswith("decoder.dec_layers.") and name.endswith(self.QUANTIZED))

    def check_quantized(self, fmt, src_tensors, dst):
        bb = {"q8_0": 34, "q4_0": 18}[fmt]
        got = load_folder(dst)
        self.assertEqual(set(got), set(src_tensors))
        rnd = random.Random(1)
        n_checked = 0
        for name, (sdt, shape, raw) in src_tensors.items():
            dt, sshape, data, fn, meta = got[name]
            qmap = json.loads(meta.get("pldr.quant", "{}"))
            if not self.is_quantizable(name):
                self.assertEqual(dt, "F32", name)
                self.assertEqual(data, raw, name)
                self.assertNotIn(name, qmap)
                continue
            rows, cols = shape
            nb = (cols + 31) // 32
            self.assertEqual(dt, "U8", name)
            self.assertEqual(sshape, [rows, nb * bb], name)
            self.assertEqual(qmap[name], {"format": fmt, "shape": [rows, cols]}, name)
            x = array.array("f")
            x.frombytes(raw)
            for r in sorted({0, rows - 1, rnd.randrange(rows), rnd.randrange(rows)}):
                for bi in sorted({0, nb - 1, rnd.randrange(nb)}):
                    blk = data[(r * nb + bi) * bb:(r * nb + bi + 1) * bb]
                    d = struct.unpack("<e", blk[:2])[0]
                    vals = [x[r * cols + c] if c < cols else 0.0
                            for c in range(bi * 32, bi * 32 + 32)]
                    if fmt == "q8_0":
                        q = struct.unpack("<32b", blk[2:])
                        rec = [d * v for v in q]
                        self.assertEqual(d, f16_of_f32(max(abs(v) for v in vals) / 127), name)
                    else:
                        q = [v & 15 for v in blk[2:]] + [v >> 4 for v in blk[2:]]
                        rec = [d * (v - 8) for v in q]
                        self.assertEqual(blk, q4_block_documented(vals), name)
                    for c, (v, y) in enumerate(zip(vals, rec)):
                        err = abs(v - y)
                        # each value decodes to the nearest value its block can hold
                        bound = (abs(d) / 2 if fmt == "q8_0"
                                 else min(abs(v - d * (k - 8)) for k in range(16)))
                        self.assertLessEqual(err, bound * (1 + 1e-6) + 1e-30,
                                             "%s row %d block %d value %d" % (name, r, bi, c))
                        if bi * 32 + c >= cols:  # zero padding decodes to zero
                            self.assertEqual(y, 0.0)
                    n_checked += 1
        self.assertGreater(n_checked, 50)

    def test_q8_layout(self):
        dst = self.path("q8")
        self.convert_ok(os.path.join(MICRO, "model.safetensors"), dst, "--quiet", "--dtype", "q8")
        self.check_quantized("q8_0", micro_tensors(), dst)

    def test_q4_layout(self):
        dst = self.path("q4")
        self.convert_ok(os.path.join(MICRO, "model.pth"), dst, "--quiet", "--dtype", "q4",
                        "--jobs", "1")
        self.check_quantized("q4_0", micro_tensors(), dst)

    def test_q8_sharded_tiny_metadata_per_shard(self):
        dst = self.path("q8tiny")
        self.convert_ok(TINY, dst, "--quiet", "--dtype", "q8", "--shard-mb", "3")
        with open(os.path.join(dst, "model.safetensors.index.json")) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        self.assertGreater(len(shards), 3)
        for fn in shards:
            header, meta, _, _ = read_st(os.path.join(dst, fn))
            u8 = {k for k, v in header.items() if v["dtype"] == "U8"}
            qmap = json.loads(meta.get("pldr.quant", "{}"))
            self.assertEqual(set(qmap), u8, fn)  # every U8 tensor mapped, nothing else
            for k in u8:
                rows, cols = qmap[k]["shape"]
                self.assertEqual(header[k]["shape"], [rows, (cols + 31) // 32 * 34])

    def test_quantization_rounds_scale_correctly(self):
        """The f16 scale is IEEE round-to-nearest of max|x|/127 (a value near an f16 tie)."""
        want = micro_tensors()
        name = "decoder.dec_layers.0.mha1.wq.weight"
        _, shape, raw = want[name]
        x = array.array("f")
        x.frombytes(raw)
        # first block: max|x| chosen so that max/127 is just above the midpoint of two f16 values
        lo = 0.0078125  # 2^-7, f16 step there is 2^-17
        mid = lo + 2 ** -18
        target = (mid + 2 ** -26) * 127
        for i in range(32):
            x[i] = 0.0
        x[5] = -target
        want[name] = ("F32", shape, x.tobytes())
        src = self.path("src.safetensors")
        write_st(src, want)
        dst = self.path("q8")
        self.convert_ok(src, dst, "--quiet", "--dtype", "q8", "--config",
                        os.path.join(MICRO, "config.json"))
        data = load_folder(dst)[name][2]
        d = struct.unpack("<e", data[:2])[0]
        self.assertEqual(d, lo + 2 ** -17)  # rounded up, not truncated
        self.assertEqual(struct.unpack("<b", data[2 + 5:3 + 5])[0], -127)


    def test_tiny_values_subnormal_scales(self):
        """Blocks whose scale is a subnormal float16 still decode within bounds (codes clamped
        to the int8 range, never wrapped)."""
        from pldr_convert import quant as conv_quant
        rnd = random.Random(3)
        vals = [rnd.gauss(0, 1) * 10 ** rnd.uniform(-9, -3) for _ in range(32 * 300)]
        vals[0:32] = [1e-6 * (i - 16) for i in range(32)]
        x = array.array("f", vals)
        for fmt, bb in (("q8_0", 34), ("q4_0", 18)):
            data = conv_quant.quantize_chunk(fmt, x.tobytes(), 300, 32)
            self.assertEqual(len(data), 300 * bb)
            for i in range(300):
                blk = data[i * bb:(i + 1) * bb]
                d = struct.unpack("<e", blk[:2])[0]
                xs = x[i * 32:(i + 1) * 32]
                amax = max(abs(v) for v in xs)
                if fmt == "q8_0":
                    q = struct.unpack("<32b", blk[2:])
                    self.assertEqual(d, f16_of_f32(amax / 127))
                    self.assertLessEqual(max(abs(v) for v in q), 127)
                    for v, c in zip(xs, q):
                        if d and abs(v / d) <= 127:
                            self.assertLessEqual(abs(v - d * c), abs(d) / 2 * (1 + 1e-6))
                        elif d:  # clamped: the sign is right and the code is at the edge
                            self.assertEqual(c, 127 if v > 0 else -127)
                else:
                    q = [v & 15 for v in blk[2:]] + [v >> 4 for v in blk[2:]]
                    for v, c in zip(xs, q):
                        if d and -8 <= v / d <= 7:
                            self.assertLessEqual(abs(v - d * (c - 8)), abs(d) / 2 * (1 + 1e-6))

    def test_nan_cannot_be_quantized(self):
        t = micro_tensors()
        name = "decoder.dec_layers.1.ffn.gluw3.weight"
        dt, shape, raw = t[name]
        t[name] = (dt, shape, raw[:400] + struct.pack("<f", float("nan")) + raw[404:])
        src = self.path("nan.safetensors")
        write_st(src, t)
        shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
        self.assert_fails([src, self.path("out"), "--dtype", "q8"], name, "NaN")
        # F32 output copies it as it is
        self.convert_ok(src, self.path("f32"), "--quiet")


class GOnly(ConvertTestCase):

    def test_gcache_extraction(self):
        gpath = os.path.join(MICRO, "G_LM_1.f32")
        with open(gpath, "rb") as f:
            g = f.read()
        dst = self.path("g")
        self.convert_ok(os.path.join(MICRO, "model.pth"), dst, "--quiet", "--gcache", gpath)
        got = load_folder(dst)
        want = micro_tensors()
        self.assertEqual(header_order(os.path.join(dst, "model.safetensors")),
                         documented_order(2, 2, 2, g_only=True))
        self.assertFalse([n for n in got if "reslayerAs" in n or "plgatt_layer" in n
                          or ".mha1.layernorm1." in n])
        dt, shape, raw, _, _ = got["decoder.past_G_values"]
        self.assertEqual((dt, shape), ("F32", [2, 3, 1, 2, 64, 64]))
        per = 2 * 64 * 64 * 4
        for layer in range(2):
            base = layer * 3 * per
            self.assertEqual(raw[base:base + 2 * per], bytes(2 * per))
            self.assertEqual(raw[base + 2 * per:base + 3 * per], g[layer * per:(layer + 1) * per])
        for name, v in got.items():
            if name != "decoder.past_G_values":
                self.assertEqual(v[2], want[name][2], name)
        with open(os.path.join(dst, "config.json")) as f:
            self.assertEqual(json.load(f)["custom_G_type"], "external")
        # a G-only folder converts again (here to q8), keeping G in F32
        dst2 = self.path("g2")
        self.convert_ok(dst, dst2, "--quiet", "--dtype", "q8")
        got2 = load_folder(dst2)
        self.assertEqual(got2["decoder.past_G_values"][:3], got["decoder.past_G_values"][:3])
        self.assertEqual(got2["decoder.dec_layers.0.mha1.wq.weight"][0], "U8")

    def test_g_only_sources_without_g(self):
        """custom_G_type "identity" needs no G tensor; "external" without one is refused."""
        t = micro_tensors()
        t = {k: v for k, v in t.items()
             if "reslayerAs" not in k and "plgatt_layer" not in k and ".mha1.layernorm1." not in k}
        with open(os.path.join(MICRO, "config.json")) as f:
            cfg = json.load(f)
        src = self.path("gonly.safetensors")
        write_st(src, t)
        for g_type in ("identity", "external"):
            cfg["custom_G_type"] = g_type
            with open(self.path("config.json"), "w") as f:
                json.dump(cfg, f)
            dst = self.path("out-" + g_type)
            if g_type == "identity":
                self.convert_ok(src, dst, "--quiet")
                got = load_folder(dst)
                self.assertEqual(set(got), set(t))
                with open(os.path.join(dst, "config.json")) as f:
                    self.assertEqual(json.load(f)["custom_G_type"], "identity")
            else:
                self.assert_fails([src, dst], "missing tensors (1)", "decoder.past_G_values",
                                  "--gcache")
        # the A-net tensors present under a G-only config are named
        write_st(src, micro_tensors())
        self.assert_fails([src, self.path("out-x")], "unexpected tensors", "reslayerAs")

    def test_gcache_wrong_size(self):
        dst = self.path("g")
        self.assert_fails([os.path.join(MICRO, "model.pth"), dst, "--gcache", GCACHE_110M],
                          "pldrv51-110m-1.G_LM.f32", "bytes")


class Refusals(ConvertTestCase):
    """Bad input: exit 1, one clear line, no traceback, no DST left behind."""

    def crafted(self, payload, name="evil.pth"):
        src = self.path(name)
        write_pth(src, {"model_state_dict": payload, "loss": 0.0}, {})
        shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
        return src

    def test_pickle_calling_os_system(self):
        marker = self.path("pwned-system")
        src = self.crafted(Call(G("os", "system"), ("touch " + marker,)))
        self.assert_fails([src, self.path("out")], "forbidden global os.system", "evil.pth")
        self.assertFalse(os.path.exists(marker))

    def test_pickle_eval_and_popen(self):
        marker = self.path("pwned-eval")
        src = self.crafted(Call(G("builtins", "eval"), ("open(%r, 'w')" % marker,)))
        self.assert_fails([src, self.path("out")], "forbidden global builtins.eval")
        src = self.crafted(Call(G("subprocess", "Popen"), (["touch", marker],)), "evil2.pth")
        self.assert_fails([src, self.path("out")], "forbidden global subprocess.Popen")
        src = self.crafted(ODict([("x", Call(G("torch", "load"), (marker,)))]), "evil3.pth")
        self.assert_fails([src, self.path("out")], "forbidden global torch.load")
        self.assertFalse(os.path.exists(marker))

    def test_pickle_wrong_use_of_allowed_globals(self):
        marker = self.path("pwned-reduce")
        # a storage class "called" like a function
        src = self.crafted(ODict([("a", Call(G("torch", "FloatStorage"), ("touch " + marker,)))]))
        self.assert_fails([src, self.path("out")], "torch.FloatStorage", "called")
        # the tensor rebuilder handed a command instead of a storage
        src = self.crafted(ODict([("a", Call(G("torch._utils", "_rebuild_tensor_v2"),
                                             ("touch " + marker, 0, (1,), (1,), False, ODict([]))))]),
                           "e2.pth")
        self.assert_fails([src, self.path("out")], "_rebuild_tensor_v2", "storage")
        # OrderedDict applied to a string
        src = self.crafted(Call(G("collections", "OrderedDict"), ("touch " + marker,)), "e3.pth")
        self.assert_fails([src, self.path("out")], "OrderedDict")
        # a persistent id that is not a storage record
        src = self.crafted(ODict([("a", PID(("exec", "touch " + marker)))]), "e4.pth")
        self.assert_fails([src, self.path("out")], "persistent id")
        self.assertFalse(os.path.exists(marker))

    def test_build_cannot_change_allowed_globals(self):
        """BUILD on an allowed global (a storage type, a rebuild function) is refused, and the
        shared object stays as it was for later loads."""
        storage = conv_pth._ALLOWED[("torch", "FloatStorage")]
        for raw in (b"ctorch\nFloatStorage\n}S'dtype'\nNsb.",
                    b"ctorch._utils\n_rebuild_tensor_v2\n}S'__name__'\nS'x'\nsb.",
                    b"ctorch._utils\n_rebuild_tensor_v2\n(N}S'fn'\nNstb."):
            with self.assertRaises(ConvertError) as cm:
                conv_pth.load_pickle(raw, "t")
            self.assertIn("BUILD", str(cm.exception))
        self.assertEqual(storage.dtype, "F32")
        self.assertIsNotNone(conv_pth._ALLOWED[("torch._utils", "_rebuild_tensor_v2")].fn)

    def test_unpickler_imports_nothing(self):
        mod = "this"  # importing it would print the Zen of Python
        self.assertNotIn(mod, sys.modules)
        with self.assertRaises(ConvertError) as cm:
            conv_pth.load_pickle(pickle_bytes(Call(G(mod, "s"), ())), "t")
        self.assertIn("forbidden global this.s", str(cm.exception))
        self.assertNotIn(mod, sys.modules)
        # INST / OBJ opcodes go through the same gate
        with self.assertRaises(ConvertError):
            conv_pth.load_pickle(b"(ios\nsystem\nS'true'\n.", "t")

    def test_pickle_counts_are_bounded_before_unpickling(self):
        """issue 16 item 8: a 9-byte pickle whose LONG_BINPUT names memo index 2**28 made
        CPython's unpickler allocate 4.2 GB. Run under a 1 GiB address-space limit, the converter
        must refuse it by name, quickly, as it must other counts the pickle claims."""
        import resource

        def limited():
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

        cases = [
            (b"\x80\x02N" + b"r" + struct.pack("<I", 1 << 28) + b".", "memo index 268435456"),
            (b"\x80\x02N" + b"p99999999999\n.", "memo index 99999999999"),
            (b"\x80\x02N" + b"q\x05.", "memo index 5"),
            (b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc.", "malformed pickle"),  # BINBYTES8
            (b"\x80\x02\x8b" + struct.pack("<i", 1 << 30) + b"\x00.", "malformed pickle"),    # LONG4
        ]
        for data, needle in cases:
            src = self.path("memo.pth")
            with zipfile.ZipFile(src, "w") as z:
                z.writestr("archive/data.pkl", data)
            shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
            r = subprocess.run([sys.executable, CONVERT, src, self.path("out")], capture_output=True,
                               text=True, timeout=60, preexec_fn=limited)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertNotIn("Traceback", r.stderr)
            self.assertIn(needle, r.stderr)
            self.assertIn("archive/data.pkl", r.stderr)

    def test_truncated_and_corrupt_zip(self):
        blob = self.micro_copy("model.pth")
        src = self.write("cut.pth", blob[:len(blob) // 2])
        self.assert_fails([src, self.path("out")], "cut.pth", "zip")
        # flip a byte inside a storage: the zip CRC catches it
        with zipfile.ZipFile(os.path.join(MICRO, "model.pth")) as z:
            info = z.getinfo("model/data/0")
            off = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
        bad = bytearray(blob)
        bad[off] ^= 0xFF
        src2 = self.write("bad.pth", bad)
        self.assert_fails([src2, self.path("out")], "bad.pth", "model/data/0")

    def test_truncated_and_bad_safetensors(self):
        blob = self.micro_copy("model.safetensors")
        src = self.write("cut.safetensors", blob[:-1000])
        self.assert_fails([src, self.path("out")], "cut.safetensors", "truncated",
                          "final_layer.bias")
        self.write("cut.safetensors", blob[:100])
        self.assert_fails([src, self.path("out")], "cut.safetensors", "header length")
        self.write("cut.safetensors", struct.pack("<Q", 16) + b"{not json}      " + bytes(64))
        self.assert_fails([src, self.path("out")], "cut.safetensors", "JSON")
        # overlapping tensors
        t = micro_tensors()
        hb = {}
        pos = 0
        for name, (dt, shape, raw) in t.items():
            hb[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(raw)]}
            pos += len(raw)
        hb["final_layer.bias"]["data_offsets"] = [0, 2048]
        h = json.dumps(hb).encode()
        self.write("cut.safetensors", struct.pack("<Q", len(h)) + h + blob[8 + struct.unpack("<Q", blob[:8])[0]:])
        self.assert_fails([src, self.path("out")], "overlap")

    def write_variant(self, tensors, name="v.safetensors"):
        src = self.path(name)
        write_st(src, tensors)
        shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
        return src

    def test_wrong_shape(self):
        t = micro_tensors()
        dt, shape, raw = t["decoder.dec_layers.1.mha1.wk.weight"]
        t["decoder.dec_layers.1.mha1.wk.weight"] = (dt, [64, 256], raw)
        self.assert_fails([self.write_variant(t), self.path("out")],
                          "decoder.dec_layers.1.mha1.wk.weight", "[64, 256]", "[128, 128]")
        # or the config disagrees with the weights
        with open(os.path.join(MICRO, "config.json")) as f:
            cfg = json.load(f)
        cfg["dff"] = 340
        with open(self.path("cfg340.json"), "w") as f:
            json.dump(cfg, f)
        self.assert_fails([os.path.join(MICRO, "model.pth"), self.path("out"), "--config",
                           self.path("cfg340.json")], "ffn.gluw1.weight", "[340, 128]")

    def test_missing_tensor(self):
        t = micro_tensors()
        del t["decoder.dec_layers.1.ffn.gluw2.bias"]
        self.assert_fails([self.write_variant(t), self.path("out")],
                          "missing tensors (1)", "decoder.dec_layers.1.ffn.gluw2.bias")

    def test_unexpected_tensor(self):
        t = micro_tensors()
        t["decoder.extra.weight"] = ("F32", [2], bytes(8))
        t["decoder.dec_layers.2.mha1.wq.bias"] = ("F32", [128], bytes(512))
        self.assert_fails([self.write_variant(t), self.path("out")], "unexpected tensors (2)",
                          "decoder.extra.weight", "decoder.dec_layers.2.mha1.wq.bias")

    def test_missing_config_and_existing_dst(self):
        src = self.path("m.safetensors")
        shutil.copy(os.path.join(MICRO, "model.safetensors"), src)
        self.assert_fails([src, self.path("out")], "config")
        shutil.copy(os.path.join(MICRO, "config.json"), self.path("config.json"))
        dst = self.path("full")
        os.mkdir(dst)
        with open(os.path.join(dst, "keep"), "w") as f:
            f.write("x")
        r = self.convert(src, dst)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not empty", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(dst, "keep")))
        self.convert_ok(src, dst, "--force", "--quiet")
        self.assertFalse(os.path.exists(os.path.join(dst, "keep")))
        self.assertTrue(os.path.exists(os.path.join(dst, "model.safetensors")))


if __name__ == "__main__":
    unittest.main()
