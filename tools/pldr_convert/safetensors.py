"""safetensors reading (validated; single file or sharded via an index) and writing.

File layout: 8-byte little-endian header length N, N bytes of JSON header, then the data.
Header entries: "name": {"dtype", "shape", "data_offsets": [begin, end]} relative to the data
section; optional "__metadata__": {str: str}.
"""

import json
import math
import os
import struct

from .dtypes import FLOAT_DTYPES, ITEMSIZE, to_f32
from .errors import ConvertError, read_json

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


def read_header(path):
    """(header dict without __metadata__, metadata dict, absolute data start), validated."""
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
            if 8 + n > size:
                raise ConvertError("%s: header length %d runs past the end of the %d-byte file "
                                   "(truncated?)" % (path, n, size))
            raw = f.read(n)
    except OSError as e:
        raise ConvertError("%s: %s" % (path, e.strerror or e)) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: header is not valid JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise ConvertError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise ConvertError("%s: __metadata__ must map strings to strings" % path)
    data_len = size - 8 - n
    spans = []
    for name, info in header.items():
        where = "%s: tensor %s" % (path, name)
        if not isinstance(info, dict):
            raise ConvertError("%s: header entry is not an object" % where)
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if dtype not in ITEMSIZE:
            raise ConvertError("%s: unsupported dtype %r" % (where, dtype))
        if (not isinstance(shape, list)
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise ConvertError("%s: bad shape %r" % (where, shape))
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(type(o) is int and o >= 0 for o in offs) or offs[0] > offs[1]):
            raise ConvertError("%s: bad data_offsets %r" % (where, offs))
        if offs[1] > data_len:
            raise ConvertError("%s: data_offsets %r run past the end of the data (%d bytes; "
                               "file truncated?)" % (where, offs, data_len))
        want = math.prod(shape) * ITEMSIZE[dtype]
        if offs[1] - offs[0] != want:
            raise ConvertError("%s: data_offsets %r hold %d bytes but %s %r needs %d"
                               % (where, offs, offs[1] - offs[0], dtype, shape, want))
        spans.append((offs[0], offs[1], name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0 and b1 != e1:  # empty tensors may sit anywhere
            raise ConvertError("%s: tensors %s and %s overlap" % (path, n0, n1))
    return header, meta, 8 + n


def open_file(path):
    """name -> SafetensorsTensor for one safetensors file (float tensors only)."""
    header, meta, base = read_header(path)
    out = {}
    for name, info in header.items():
        if info["dtype"] not in FLOAT_DTYPES:
            hint = " (already quantized; convert from the float model)" if "pldr.quant" in meta else ""
            raise ConvertError("%s: tensor %s has dtype %s; only float tensors can be read%s"
                               % (path, name, info["dtype"], hint))
        b, e = info["data_offsets"]
        out[name] = SafetensorsTensor(path, name, info["dtype"], list(info["shape"]),
                                      base + b, base + e)
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
