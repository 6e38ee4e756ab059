"""safetensors reading (validated; single file or sharded via an index) and writing.

File layout: 8-byte little-endian header length N, N bytes of JSON header, then the data.
Header entries: "name": {"dtype", "shape", "data_offsets": [begin, end]} relative to the data
section; optional "__metadata__": {str: str}. The rules a header must follow are those of
docs/FORMAT.md "Header rules".
"""

import json
import math
import os
import struct

from .dtypes import FLOAT_DTYPES, ITEMSIZE, to_f32
from .errors import ConvertError, read_json
from .quant import BLOCK_BYTES, QK

MAX_HEADER = 100_000_000  # the limit the reference safetensors library applies
INDEX_NAME = "model.safetensors.index.json"


class SafetensorsTensor:
    """One tensor of a safetensors file, read lazily."""

    def __init__(self, path, name, dtype, shape, begin, end):
        self.path = path
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self._begin = begin  # absolute file offsets
        self._end = end
        self.source = "%s (%s)" % (path, name)

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._begin)
                data = f.read(self._end - self._begin)
        except OSError as e:
            raise ConvertError("%s: %s" % (self.path, e.strerror or e)) from None
        if len(data) != self._end - self._begin:
            raise ConvertError("%s: tensor %s: file ended early (truncated?)"
                               % (self.path, self.name))
        return data

    def read_f32(self):
        return to_f32(self.dtype, self.read())


# docs/FORMAT.md "Header rules": the JavaScript loader and the native CLI follow the same ones
# (tests/fixtures/safetensors-headers/cases.json, checked against all three readers)
MAX_DEPTH = 64            # JSON nesting, the top value at depth 1
MAX_COUNT = 2 ** 53 - 1   # data offsets (JavaScript's safe integers)
MAX_DIM = 2 ** 31 - 1     # shape dimensions (the runtime's int32)


class HeaderTensor:
    """One tensor of a safetensors header: offsets relative to the data section; quant is
    (format, [rows, cols]) for a pldr.quant tensor."""
    __slots__ = ("name", "dtype", "shape", "begin", "end", "quant")

    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end
        self.quant = None


def _refuse_constant(name):
    raise ValueError("%s is not JSON" % name)


def _json_limits(value):
    """Why a parsed JSON value is outside the header rules (too deep, U+0000), or None."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "is nested deeper than %d" % MAX_DEPTH
        if isinstance(v, str):
            if "\0" in v:
                return "holds a string with U+0000"
        elif isinstance(v, dict):
            for k, child in v.items():
                if "\0" in k:
                    return "holds a key with U+0000"
                stack.append((child, depth + 1))
        elif isinstance(v, list):
            stack.extend((child, depth + 1) for child in v)
    return None


def _loads(text, what):
    """Strict JSON (no NaN or Infinity) within the header rules; ConvertError names `what`."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ConvertError("%s is not valid JSON: nested deeper than %d" % (what, MAX_DEPTH)) from None
    except ValueError as e:
        raise ConvertError("%s is not valid JSON: %s" % (what, e)) from None
    why = _json_limits(value)
    if why:
        raise ConvertError("%s %s" % (what, why))
    return value


def _count(v, top):
    """v as an int when it is an integral JSON number in [0, top] (4, 4.0 and 4e0 alike)."""
    if type(v) is int:
        return v if 0 <= v <= top else None
    if type(v) is float and math.isfinite(v) and v.is_integer() and 0 <= v <= top:
        return int(v)
    return None


def _entry(name, info, where, dtypes):
    if not isinstance(info, dict):
        raise ConvertError("%s: header entry is not an object" % where)
    dtype = info.get("dtype")
    if not isinstance(dtype, str):
        raise ConvertError('%s: missing "dtype"' % where)
    shape = info.get("shape")
    dims = [_count(d, MAX_DIM) for d in shape] if isinstance(shape, list) else [None]
    if None in dims:
        raise ConvertError('%s: "shape" must be an array of integers from 0 to %d' % (where, MAX_DIM))
    offs = info.get("data_offsets")
    span = [_count(o, MAX_COUNT) for o in offs] if isinstance(offs, list) and len(offs) == 2 else [None]
    if None in span:
        raise ConvertError('%s: "data_offsets" must be [begin, end] with integers from 0 to 2^53 - 1'
                           % where)
    if span[1] < span[0]:
        raise ConvertError("%s: data_offsets %r end before they begin" % (where, span))
    if dtype not in dtypes:
        raise ConvertError("%s: dtype %r is not supported (%s)" % (where, dtype, ", ".join(dtypes)))
    want = math.prod(dims) * dtypes[dtype]
    if span[1] - span[0] != want:
        raise ConvertError("%s: shape %s of %s needs %d bytes but data_offsets %r span %d"
                           % (where, dims, dtype, want, span, span[1] - span[0]))
    return HeaderTensor(name, dtype, dims, span[0], span[1])


def _quant_map(meta, path):
    """name -> (format, [rows, cols]) of the pldr.quant metadata (docs/FORMAT.md)."""
    if "pldr.quant" not in meta:
        return {}
    qmap = _loads(meta["pldr.quant"], '%s: "pldr.quant" metadata' % path)
    if not isinstance(qmap, dict):
        raise ConvertError('%s: "pldr.quant" metadata is not a JSON object' % path)
    out = {}
    for name, q in qmap.items():
        shape = q.get("shape") if isinstance(q, dict) else None
        dims = [_count(d, MAX_DIM) for d in shape] if isinstance(shape, list) and len(shape) == 2 else [None]
        if (not isinstance(q, dict) or q.get("format") not in BLOCK_BYTES or None in dims
                or not dims[1]):
            raise ConvertError('%s: tensor %s: "pldr.quant" entry must be {"format": "q8_0"|"q4_0", '
                               '"shape": [rows, cols]}' % (path, name))
        out[name] = (q["format"], dims)
    return out


def read_header(path, dtypes=ITEMSIZE):
    """([HeaderTensor] in data order, metadata dict, absolute data start) of a safetensors file,
    checked by the header rules; `dtypes` maps the dtypes accepted to their element sizes."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ConvertError("%s: %d bytes, too short for a safetensors file"
                                   % (path, len(head)))
            n = struct.unpack("<Q", head)[0]
            if n > MAX_HEADER:
                raise ConvertError("%s: header length %d is over the %d-byte limit "
                                   "(not a safetensors file?)" % (path, n, MAX_HEADER))
            if n < 2:
                raise ConvertError("%s: header length %d is too small for a JSON object" % (path, n))
            if 8 + n > size:
                raise ConvertError("%s: header length %d runs past the end of the %d-byte file "
                                   "(truncated?)" % (path, n, size))
            raw = f.read(n)
    except OSError as e:
        raise ConvertError("%s: %s" % (path, e.strerror or e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConvertError("%s: header is not valid JSON: not UTF-8 (%s)" % (path, e)) from None
    header = _loads(text, "%s: header" % path)
    if not isinstance(header, dict):
        raise ConvertError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ConvertError('%s: "__metadata__" must map strings to strings' % path)
    tensors = [_entry(name, info, "%s: tensor %s" % (path, name), dtypes)
               for name, info in header.items()]
    tensors.sort(key=lambda t: (t.begin, t.end))
    end = 0
    for t in tensors:
        if t.begin < end:
            raise ConvertError("%s: tensor %s (bytes %d-%d) overlaps the tensor before it (which "
                               "ends at %d)" % (path, t.name, t.begin, t.end, end))
        if t.begin > end:
            raise ConvertError("%s: gap of %d bytes before tensor %s in the data section"
                               % (path, t.begin - end, t.name))
        end = t.end
    qmap = _quant_map(meta, path)
    for t in tensors:
        q = qmap.get(t.name)
        if q is None:
            if t.dtype == "U8":
                raise ConvertError('%s: tensor %s is U8 but has no "pldr.quant" entry saying how '
                                   "it is quantized" % (path, t.name))
            continue
        fmt, (rows, cols) = q
        row_bytes = -(-cols // QK) * BLOCK_BYTES[fmt]
        if t.dtype != "U8" or t.shape != [rows, row_bytes]:
            raise ConvertError("%s: tensor %s: %s of [%d, %d] is stored as U8 [%d, %d], but the "
                               "header has %s %s (%d bytes)" % (path, t.name, fmt, rows, cols, rows,
                                                               row_bytes, t.dtype, t.shape,
                                                               t.end - t.begin))
        t.quant = q
    if 8 + n + end > size:
        cut = next(t for t in tensors if 8 + n + t.end > size)
        raise ConvertError("%s: file truncated: the header promises %d bytes but the file has %d "
                           "(tensor %s is cut)" % (path, 8 + n + end, size, cut.name))
    if 8 + n + end < size:
        raise ConvertError("%s: %d bytes at the end of the file belong to no tensor"
                           % (path, size - 8 - n - end))
    return tensors, meta, 8 + n


def open_file(path):
    """name -> SafetensorsTensor for one safetensors file (float tensors only)."""
    tensors, meta, base = read_header(path)
    out = {}
    for t in tensors:
        if t.dtype not in FLOAT_DTYPES:
            hint = " (already quantized; convert from the float model)" if "pldr.quant" in meta else ""
            raise ConvertError("%s: tensor %s has dtype %s; only float tensors can be read%s"
                               % (path, t.name, t.dtype, hint))
        out[t.name] = SafetensorsTensor(path, t.name, t.dtype, list(t.shape),
                                        base + t.begin, base + t.end)
    return out


def open_index(path):
    """name -> SafetensorsTensor for a sharded model described by an index json."""
    folder = os.path.dirname(path)
    index = read_json(path)
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict) or not wmap:
        raise ConvertError("%s: no weight_map object" % path)
    shards = {}
    for name, shard in wmap.items():
        if (not isinstance(shard, str) or not shard or os.path.isabs(shard)
                or ".." in shard.replace("\\", "/").split("/")):
            raise ConvertError("%s: weight_map[%s] = %r is not a file name in the folder"
                               % (path, name, shard))
        shards.setdefault(shard, []).append(name)
    out = {}
    for shard, names in shards.items():
        spath = os.path.join(folder, shard)
        if not os.path.isfile(spath):
            raise ConvertError("%s: shard %s (listed for %s) does not exist"
                               % (path, shard, names[0]))
        tensors = open_file(spath)
        for name in names:
            if name not in tensors:
                raise ConvertError("%s: tensor %s is mapped to %s but that shard does not hold it"
                                   % (path, name, shard))
        for name, t in tensors.items():
            if wmap.get(name) != shard:
                raise ConvertError("%s: shard %s holds tensor %s which the weight_map %s"
                                   % (path, shard, name,
                                      "puts in %s" % wmap[name] if name in wmap else "does not list"))
            out[name] = t
    return out


# ---------------------------------------------------------------------------------------------
# Writing

def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def entry_json(name, dtype, shape, begin, end):
    """One header member, exactly as header_bytes writes it."""
    return "%s:%s" % (_dumps(name), _dumps({"dtype": dtype, "shape": list(shape),
                                              "data_offsets": [begin, end]}))


def metadata_json(metadata):
    return '"__metadata__":' + _dumps(metadata)


def header_bytes(entries, metadata):
    """Serialized header for [(name, dtype, shape, begin, end)], padded with spaces so the data
    section starts on an 8-byte boundary."""
    parts = [metadata_json(metadata)] if metadata else []
    parts += [entry_json(*e) for e in entries]
    raw = ("{" + ",".join(parts) + "}").encode("utf-8")
    return raw + b" " * (-len(raw) % 8)


def layout(tensors, metadata):
    """Offsets for [(name, dtype, shape, nbytes)] written in order with no gaps between them (the
    safetensors rule). Returns (header bytes, [(name, begin, end)], file size)."""
    entries = []
    pos = 0
    for name, dtype, shape, nbytes in tensors:
        entries.append((name, dtype, shape, pos, pos + nbytes))
        pos += nbytes
    head = header_bytes(entries, metadata)
    return head, [(e[0], e[3], e[4]) for e in entries], 8 + len(head) + pos
