"""tools/convert: read a PLDR-LLM checkpoint, validate it against its config, write the folder
layout of docs/FORMAT.md (config.json, tokenizer.model, safetensors shards, manifest.json).

Output goes to a temporary folder beside DST that is renamed into place only when everything is
written, so a failed or interrupted run leaves no half-written DST.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import BrokenExecutor

from . import config as cfgmod
from . import dtypes, quant
from . import safetensors as st
from .errors import ConvertError
from .pth import PthCheckpoint

MIB = 1 << 20
G_NAME = "decoder.past_G_values"
OUT_DTYPES = {"f32": ("F32", "float32"), "bf16": ("BF16", "bfloat16"),
              "q8": ("q8_0", "float32"), "q4": ("q4_0", "float32")}
# elements per unit of quantization work (one worker task / one progress step)
QUANT_TASK_ELEMS = 1 << 18


class Log:
    def __init__(self, quiet):
        self.quiet = quiet

    def info(self, msg):
        if not self.quiet:
            print("convert: " + msg, file=sys.stderr, flush=True)

    @staticmethod
    def warn(msg):
        print("convert: warning: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Input

def _is_zip(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError as e:
        raise ConvertError("%s: %s" % (path, e.strerror or e)) from None


def open_source(src):
    """(name -> tensor, description) for a .pth, a .safetensors, an index json or a folder."""
    if os.path.isdir(src):
        index = os.path.join(src, st.INDEX_NAME)
        single = os.path.join(src, "model.safetensors")
        if os.path.isfile(index):
            return st.open_index(index), "sharded safetensors (%s)" % index
        if os.path.isfile(single):
            return st.open_file(single), single
        files = sorted(os.listdir(src))
        sts = [f for f in files if f.endswith(".safetensors")]
        pths = [f for f in files if f.endswith((".pth", ".pt"))]
        if len(sts) == 1:
            return open_source(os.path.join(src, sts[0]))
        if not sts and len(pths) == 1:
            return open_source(os.path.join(src, pths[0]))
        raise ConvertError("%s: no model found (looked for %s, model.safetensors, or exactly one "
                           "*.safetensors or *.pth file; found %d and %d)"
                           % (src, st.INDEX_NAME, len(sts), len(pths)))
    if not os.path.exists(src):
        raise ConvertError("%s: no such file or folder" % src)
    if src.endswith(".json"):
        return st.open_index(src), "sharded safetensors (%s)" % src
    if src.endswith((".pth", ".pt", ".bin")) or _is_zip(src):
        return PthCheckpoint(src).tensors, "PyTorch checkpoint %s" % src
    return st.open_file(src), src


def strip_prefix(tensors):
    out = {}
    for name, t in tensors.items():
        short = name[len("model."):] if name.startswith("model.") else name
        if short in out:
            raise ConvertError("tensor %s appears twice (with and without a leading 'model.')"
                               % short)
        out[short] = t
    return out


def _names_list(names, limit=6):
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (", ... (%d more)" % (len(names) - limit) if len(names) > limit else "")


def validate(tensors, mc, cfg_path, have_gcache):
    """Check the source tensors against the config (names, shapes); error names what is wrong."""
    want = dict(cfgmod.expected_tensors(mc, g_only=mc.g_only, with_g=False))
    g_shape = [mc.L, 3, 1, mc.H, mc.dk, mc.dk]
    if mc.g_only:
        if G_NAME in tensors or (mc.custom_G_type != "identity" and not have_gcache):
            want[G_NAME] = g_shape
    missing = [n for n in want if n not in tensors]
    unexpected = [n for n in tensors if n not in want]
    problems = []
    if missing:
        hint = ""
        if not mc.g_only and G_NAME in tensors and all(cfgmod.is_a_net(n) for n in missing):
            hint = (" (the source looks G-only: %s present, no A-net; but %s has custom_G_type "
                    "null)" % (G_NAME, cfg_path))
        elif mc.g_only and missing == [G_NAME]:
            hint = " (custom_G_type %r needs it, or pass --gcache)" % mc.custom_G_type
        problems.append("missing tensors (%d): %s%s" % (len(missing), _names_list(missing), hint))
    if unexpected:
        hint = ""
        if mc.g_only and any(cfgmod.is_a_net(n) for n in unexpected):
            hint = (" (%s says custom_G_type %r, no A-net, but the source has A-net tensors)"
                    % (cfg_path, mc.custom_G_type))
        problems.append("unexpected tensors (%d): %s%s"
                        % (len(unexpected), _names_list(unexpected), hint))
    if problems:
        raise ConvertError("; ".join(problems))
    for name, shape in want.items():
        t = tensors[name]
        if list(t.shape) != list(shape):
            raise ConvertError("tensor %s has shape %s, expected %s from %s"
                               % (name, list(t.shape), list(shape), cfg_path))


# ---------------------------------------------------------------------------------------------
# Output plan

class OutTensor:
    """One tensor to write: where it comes from and how it is stored."""

    def __init__(self, name, shape, src, fmt):
        self.name = name
        self.shape = list(shape)          # logical shape
        self.src = src                    # source tensor, or a GCache
        self.fmt = fmt                    # "F32", "BF16", "q8_0", "q4_0"
        if fmt in quant.BLOCK_BYTES:
            rows = math.prod(shape[:-1])
            self.rows, self.cols = rows, shape[-1]
            self.dtype = "U8"
            self.stored_shape = [rows, quant.quantized_row_bytes(fmt, shape[-1])]
            self.nbytes = rows * self.stored_shape[1]
        else:
            self.dtype = fmt
            self.stored_shape = list(shape)
            self.nbytes = math.prod(shape) * dtypes.ITEMSIZE[fmt]


class GCache:
    """decoder.past_G_values [L,3,1,H,dk,dk] built from a raw float32 [L,H,dk,dk] G file."""

    def __init__(self, path, mc):
        self.path = path
        self.L = mc.L
        self.per_layer = mc.H * mc.dk * mc.dk * 4
        want = self.L * self.per_layer
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise ConvertError("%s: %s" % (path, e.strerror or e)) from None
        if size != want:
            raise ConvertError("%s: %d bytes, but the config needs float32 [L=%d, H=%d, dk=%d, "
                               "dk=%d] = %d bytes" % (path, size, mc.L, mc.H, mc.dk, mc.dk, want))
        self.source = path

    def chunks(self):
        zeros = bytes(self.per_layer)
        with open(self.path, "rb") as f:
            for _ in range(self.L):
                g = f.read(self.per_layer)
                if len(g) != self.per_layer:
                    raise ConvertError("%s: file ended early" % self.path)
                yield zeros  # slot 0 (A_LM in the reference cache): unused
                yield zeros  # slot 1: unused
                yield g      # slot 2: G_LM


def plan_tensors(tensors, mc, fmt, gcache):
    g_out = mc.g_only or gcache is not None
    has_g = gcache is not None or G_NAME in tensors
    outs = []
    for name, shape in cfgmod.expected_tensors(mc, g_only=g_out, with_g=has_g):
        src = gcache if (name == G_NAME and gcache is not None) else tensors[name]
        if name == G_NAME:
            f = "F32"  # G stays float32 whatever the weights' type
        elif fmt in ("q8_0", "q4_0"):
            f = fmt if cfgmod.quantizable(name) else "F32"
        else:
            f = fmt
        outs.append(OutTensor(name, shape, src, f))
    return outs


def _shard_meta(tensors):
    meta = {"format": "pt"}
    q = {t.name: {"format": t.fmt, "shape": [t.rows, t.cols]}
         for t in tensors if t.dtype == "U8"}
    if q:
        meta["pldr.quant"] = json.dumps(q, separators=(",", ":"))
    return meta


def _shard_layout(tensors):
    return st.layout([(t.name, t.dtype, t.stored_shape, t.nbytes) for t in tensors],
                     _shard_meta(tensors))


class _ShardSizer:
    """File size of a shard as tensors are appended, without re-serializing the whole header
    each time (header_bytes joins the same per-entry strings)."""

    def __init__(self):
        self.tensors = []
        self.entries_len = 0  # sum of entry_json lengths
        self.pos = 0          # end of the data section

    def size_with(self, t):
        begin = self.pos
        entry = len(st.entry_json(t.name, t.dtype, t.stored_shape, begin, begin + t.nbytes))
        meta = len(st.metadata_json(_shard_meta(self.tensors + [t])))
        n_parts = len(self.tensors) + 2
        head = 2 + meta + self.entries_len + entry + (n_parts - 1)
        return 8 + head + (-head % 8) + begin + t.nbytes, entry, begin

    def add(self, t, entry, begin):
        self.tensors.append(t)
        self.entries_len += entry
        self.pos = begin + t.nbytes


def plan_shards(outs, limit):
    """Greedy split in writing order: each shard's file size <= limit unless it holds a single
    tensor that alone is bigger."""
    shards = []
    cur = _ShardSizer()
    for t in outs:
        size, entry, begin = cur.size_with(t)
        if cur.tensors and size > limit:
            shards.append(cur.tensors)
            cur = _ShardSizer()
            size, entry, begin = cur.size_with(t)
        cur.add(t, entry, begin)
    if cur.tensors:
        shards.append(cur.tensors)
    for sh in shards:  # the incremental sizes must agree with what gets written
        size = _shard_layout(sh)[2]
        if size > limit and len(sh) > 1:
            raise ConvertError("shard plan of %d bytes exceeds the limit (internal error)" % size)
    return shards


# ---------------------------------------------------------------------------------------------
# Writing

class HashingFile:
    """Write-only file that keeps size and sha256 of what went through it."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b):
        self.f.write(b)
        self.sha.update(b)
        self.size += len(b)

    def close(self):
        self.f.close()


class Converter:
    def __init__(self, log, jobs):
        self.log = log
        self.jobs = jobs
        self._pool = None

    def pool(self):
        """Worker processes for quantization, or None to work in this process."""
        if self._pool is None and self.jobs > 1:
            try:
                import concurrent.futures
                import multiprocessing
                ctx = multiprocessing.get_context(
                    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
                self._pool = concurrent.futures.ProcessPoolExecutor(self.jobs, mp_context=ctx)
            except Exception as e:  # no process support here (sandbox, no semaphores...)
                self.log.warn("no worker processes (%s); quantizing in one process" % e)
                self.jobs = 1
        return self._pool

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def chunks(self, t):
        """Bytes of tensor `t` in its output format, in pieces."""
        if isinstance(t.src, GCache):
            yield from t.src.chunks()
            return
        src = t.src
        if t.fmt == "F32":
            yield src.read_f32()
        elif t.fmt == "BF16":
            yield src.read() if src.dtype == "BF16" else dtypes.f32_to_bf16(src.read_f32())
        else:
            yield from self._quantize(t, src.read_f32())

    def _quantize(self, t, raw):
        rows_per = max(1, QUANT_TASK_ELEMS // t.cols)
        row_bytes = 4 * t.cols
        tasks = [(t.fmt, raw[r * row_bytes:min(t.rows, r + rows_per) * row_bytes],
                  min(rows_per, t.rows - r), t.cols) for r in range(0, t.rows, rows_per)]
        del raw
        pool = self.pool() if len(tasks) > 1 else None
        results = (pool.map(quant.quantize_chunk, *zip(*tasks)) if pool
                   else (quant.quantize_chunk(*a) for a in tasks))
        start = last = time.monotonic()
        try:
            for i, out in enumerate(results):
                yield out
                now = time.monotonic()
                if now - last > 5:
                    last = now
                    self.log.info("    %s: %d%% (%.0fs)"
                                  % (t.name, 100 * (i + 1) // len(tasks), now - start))
        except BrokenExecutor:
            raise ConvertError("tensor %s: a quantization worker process died (out of memory?); "
                               "try --jobs 1" % t.name) from None
        except quant.NonFiniteError:
            raise ConvertError("tensor %s holds Inf or NaN values; cannot quantize it"
                               % t.name) from None
        except OverflowError:
            raise ConvertError("tensor %s: values too large for a float16 block scale; cannot "
                               "quantize it" % t.name) from None

    def write_shard(self, path, tensors, counter):
        head, spans, size = _shard_layout(tensors)
        out = HashingFile(path)
        try:
            out.write(len(head).to_bytes(8, "little"))
            out.write(head)
            base = out.size
            for t, (name, begin, end) in zip(tensors, spans):
                t0 = time.monotonic()
                for piece in self.chunks(t):
                    out.write(piece)
                if out.size - base != end:
                    raise ConvertError("tensor %s: wrote %d bytes, expected %d (internal error)"
                                       % (name, out.size - base - begin, end - begin))
                counter[0] += 1
                dt = time.monotonic() - t0
                if t.nbytes >= MIB or dt >= 1 or counter[0] == counter[1]:  # skip small ones
                    src_dtype = "G file" if isinstance(t.src, GCache) else t.src.dtype
                    self.log.info("[%*d/%d] %s %s %s -> %s (%.2fs)"
                                  % (len(str(counter[1])), counter[0], counter[1], name,
                                     t.shape, src_dtype, t.fmt, dt))
        finally:
            out.close()
        if out.size != size:
            raise ConvertError("%s: wrote %d bytes, expected %d (internal error)"
                               % (path, out.size, size))
        return out


def _write_json(path, obj):
    data = (json.dumps(obj, indent=1) + "\n").encode("utf-8")
    out = HashingFile(path)
    try:
        out.write(data)
    finally:
        out.close()
    return out


def _copy(src, dst):
    out = HashingFile(dst)
    try:
        with open(src, "rb") as f:
            while True:
                b = f.read(MIB)
                if not b:
                    break
                out.write(b)
    except OSError as e:
        raise ConvertError("%s: %s" % (src, e.strerror or e)) from None
    finally:
        out.close()
    return out


def write_folder(tmp, mc, outs, shards, tokenizer, fmt_name, torch_dtype, conv):
    files = []  # HashingFile records, in manifest order
    out_cfg = cfgmod.to_json(mc, torch_dtype)
    files.append(_write_json(os.path.join(tmp, "config.json"), out_cfg))
    if tokenizer:
        files.append(_copy(tokenizer, os.path.join(tmp, "tokenizer.model")))
    counter = [0, len(outs)]
    if len(shards) == 1:
        names = ["model.safetensors"]
    else:
        names = ["model-%05d-of-%05d.safetensors" % (i + 1, len(shards)) for i in range(len(shards))]
        index = {"metadata": {"total_size": sum(t.nbytes for t in outs)},
                 "weight_map": {t.name: names[i] for i, sh in enumerate(shards) for t in sh}}
        files.append(_write_json(os.path.join(tmp, st.INDEX_NAME), index))
    for name, sh in zip(names, shards):
        conv.log.info("writing %s (%d tensors)" % (name, len(sh)))
        files.append(conv.write_shard(os.path.join(tmp, name), sh, counter))
    manifest = {"format": "pldr-web-1",
                "files": [{"path": os.path.basename(f.path), "size": f.size,
                           "sha256": f.sha.hexdigest()} for f in files]}
    _write_json(os.path.join(tmp, "manifest.json"), manifest)
    return files


# ---------------------------------------------------------------------------------------------
# Command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print("convert: error: %s (see --help)" % message, file=sys.stderr)
        sys.exit(1)


def parse_args(argv):
    p = _Parser(
        prog="convert",
        description="Convert a PLDR-LLM checkpoint (.pth, .safetensors, or a Hugging Face folder) "
                    "into the folder layout of docs/FORMAT.md.")
    p.add_argument("src", metavar="SRC",
                   help="a .pth checkpoint, a .safetensors file, an index json, or a folder")
    p.add_argument("dst", metavar="DST", help="output folder (must not exist or be empty)")
    p.add_argument("--dtype", choices=sorted(OUT_DTYPES), default="f32",
                   help="weights type: f32 (default), bf16 (all tensors but G), q8 / q4 (q8_0 / "
                        "q4_0 blocks for the large matrices, everything else f32)")
    p.add_argument("--shard-mb", type=float, default=64, metavar="MB",
                   help="largest shard file in MiB (default 64); a single bigger tensor gets its "
                        "own shard")
    p.add_argument("--config", metavar="JSON",
                   help="config.json (HF or native names) or the reference's hyperparameter "
                        "dict as JSON; default: config.json beside SRC")
    p.add_argument("--tokenizer", metavar="MODEL",
                   help="SentencePiece tokenizer.model; default: tokenizer.model beside SRC")
    p.add_argument("--gcache", metavar="G.f32",
                   help="raw float32 [L,H,dk,dk] G_LM: write a G-only model (no A-net, no PLGA "
                        "weights, custom_G_type \"external\")")
    p.add_argument("--force", action="store_true", help="replace a non-empty DST")
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), metavar="N",
                   help="worker processes for quantization (default: CPUs, at most 8)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    a = p.parse_args(argv)
    if not a.shard_mb > 0:
        p.error("--shard-mb must be positive")
    if a.jobs < 1:
        p.error("--jobs must be at least 1")
    return a


def _check_dst(dst, force, src_dir):
    if os.path.exists(dst):
        if not os.path.isdir(dst):
            raise ConvertError("%s: exists and is not a folder" % dst)
        if os.path.samefile(dst, src_dir):
            raise ConvertError("%s: is the source folder; write somewhere else" % dst)
        if os.listdir(dst) and not force:
            raise ConvertError("%s: folder is not empty (use --force to replace it)" % dst)


def _install(tmp, dst):
    """Move the finished temporary folder to dst, replacing an existing dst."""
    if not os.path.exists(dst):
        os.rename(tmp, dst)
        return
    if not os.listdir(dst):
        os.rmdir(dst)
        os.rename(tmp, dst)
        return
    old = tmp + ".old"
    os.rename(dst, old)
    os.rename(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


def run(a, log):
    t_start = time.monotonic()
    src = os.path.normpath(a.src)
    dst = os.path.normpath(a.dst)
    src_dir = src if os.path.isdir(src) else (os.path.dirname(src) or ".")
    _check_dst(dst, a.force, src_dir)
    cfg_path = a.config or os.path.join(src_dir, "config.json")
    if not a.config and not os.path.isfile(cfg_path):
        raise ConvertError("no config.json beside %s; pass --config (config.json or the "
                           "hyperparameter JSON)" % src)
    mc = cfgmod.load(cfg_path)

    tok = a.tokenizer
    if tok:
        if not os.path.isfile(tok):
            raise ConvertError("%s: tokenizer not found" % tok)
    else:
        cand = os.path.join(src_dir, "tokenizer.model")
        if os.path.isfile(cand):
            tok = cand
        else:
            log.warn("no tokenizer.model beside %s and no --tokenizer; the output will have "
                     "none" % src)

    tensors, desc = open_source(src)
    tensors = strip_prefix(tensors)
    validate(tensors, mc, cfg_path, a.gcache is not None)
    gcache = GCache(a.gcache, mc) if a.gcache else None
    fmt, torch_dtype = OUT_DTYPES[a.dtype]
    if gcache is not None:
        mc.custom_G_type = "external"
    outs = plan_tensors(tensors, mc, fmt, gcache)
    shards = plan_shards(outs, int(a.shard_mb * MIB))
    n_params = sum(cfgmod.param_count([t.shape]) for t in outs)
    log.info("%s -> %s: %d tensors, %s parameters, %s, %d shard%s%s"
             % (desc, dst, len(outs), format(n_params, ","), fmt, len(shards),
                "" if len(shards) == 1 else "s",
                ", G-only (G from %s)" % a.gcache if gcache else ""))

    parent = os.path.dirname(os.path.abspath(dst))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(dst) + ".tmp-", dir=parent)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it private; DST should not be
    except OSError as e:
        raise ConvertError("%s: cannot create the output folder: %s"
                           % (dst, e.strerror or e)) from None
    conv = Converter(log, a.jobs)
    try:
        files = write_folder(tmp, mc, outs, shards, tok, fmt, torch_dtype, conv)
        _check_dst(dst, a.force, src_dir)
        _install(tmp, dst)
    except OSError as e:
        raise ConvertError("writing %s: %s%s" % (dst, e.strerror or e,
                                                 ": " + e.filename if e.filename else "")) from None
    finally:
        conv.close()
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    total = sum(f.size for f in files)
    log.info("wrote %s: %d files, %.1f MiB in %.1fs"
             % (dst, len(files) + 1, total / MIB, time.monotonic() - t_start))


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    log = Log(a.quiet)
    try:
        run(a, log)
    except ConvertError as e:
        print("convert: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convert: error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("convert: error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # a converter bug: still one line, traceback on request
        if os.environ.get("PLDR_CONVERT_DEBUG"):
            raise
        print("convert: error: internal error: %s: %s (set PLDR_CONVERT_DEBUG=1 for a traceback)"
              % (type(e).__name__, e), file=sys.stderr)
        return 1
    return 0
