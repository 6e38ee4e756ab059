"""Reading PyTorch zip checkpoints (`torch.save` format) without torch and without running code.

A checkpoint is a zip archive:

    <top>/data.pkl       the pickled object (here a dict holding 'model_state_dict')
    <top>/data/<key>     raw little-endian storage bytes, one file per storage
    <top>/version, <top>/byteorder, <top>/.data/...   bookkeeping

Tensors inside data.pkl are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
calls whose storage is a persistent id `('storage', torch.FloatStorage, key, location, numel)`.

`RestrictedUnpickler` resolves only the handful of globals a state dict needs, each to a small
function of ours that builds plain Python values (`TensorRef`, `dict`, `tuple`); it never imports a
module named in the pickle and never calls anything the pickle names. Every other global is
refused with an error naming it, before anything could run.
"""

import array
import io
import math
import pickle
import pickletools
import zipfile

from .dtypes import to_f32
from .errors import ConvertError

MAX_PICKLE = 256 << 20  # a state dict's data.pkl is kilobytes; refuse absurd sizes
MAX_PICKLE_OPS = 1 << 22  # a few opcodes per tensor: room for a million tensors
_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


# ---------------------------------------------------------------------------------------------
# Values the unpickler produces

class StorageType:
    """Stands for a class like torch.FloatStorage: a dtype tag, never called."""
    __slots__ = ("name", "dtype", "itemsize")

    def __init__(self, name, dtype, itemsize):
        self.name = name          # e.g. "torch.FloatStorage"
        self.dtype = dtype        # safetensors dtype name, or None if not a float type we convert
        self.itemsize = itemsize  # bytes per element

    def __call__(self, *args, **kwargs):
        raise _Refused("%s called as a function (not a state-dict storage reference)" % self.name)

    def __reduce__(self):  # never pickled back
        raise TypeError("not picklable")

    def __setstate__(self, state):  # BUILD must not change a shared allowed object
        raise _Refused("BUILD applied to %s" % self.name)


class _AllowedCall:
    """An allowed global function as the unpickler hands it out: callable, but BUILD cannot
    change it (a bare function's attributes could be rewritten for the rest of the process)."""
    __slots__ = ("name", "fn")

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __setstate__(self, state):
        raise _Refused("BUILD applied to %s" % self.name)


class StorageRef:
    """A persistent-id storage: zip entry `<top>/data/<key>` of `numel` elements."""
    __slots__ = ("stype", "key", "numel")

    def __init__(self, stype, key, numel):
        self.stype = stype
        self.key = key
        self.numel = numel

    def __setstate__(self, state):
        raise _Refused("BUILD applied to a storage")


class TensorRef:
    """A tensor view of a storage: element offset, sizes and strides (in elements)."""
    __slots__ = ("storage", "offset", "shape", "stride")

    def __init__(self, storage, offset, shape, stride):
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride

    def __setstate__(self, state):
        raise _Refused("BUILD applied to a tensor")


class StateDict(dict):
    """collections.OrderedDict as pickled by torch (may carry `_metadata` via BUILD: ignored)."""

    def __setstate__(self, state):
        if not isinstance(state, dict) and not (isinstance(state, tuple) and len(state) == 2):
            raise _Refused("BUILD on an OrderedDict with a %s state" % type(state).__name__)


class _Refused(Exception):
    """Raised inside the unpickler; turned into a ConvertError by load_pickle."""


# ---------------------------------------------------------------------------------------------
# The allowed globals, each mapped to a function of ours

def _check_int(v, what):
    if type(v) is not int or v < 0:
        raise _Refused("tensor record: %s is %r, expected a non-negative int" % (what, v))
    return v


def _int_tuple(v, what):
    if not isinstance(v, tuple):
        raise _Refused("tensor record: %s is a %s, expected a tuple" % (what, type(v).__name__))
    return tuple(_check_int(x, what) for x in v)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, StorageRef):
        raise _Refused("_rebuild_tensor_v2 called with a %s instead of a storage"
                       % type(storage).__name__)
    offset = _check_int(storage_offset, "storage offset")
    shape = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if len(shape) != len(stride):
        raise _Refused("tensor record: size %r and stride %r differ in length" % (shape, stride))
    if type(requires_grad) is not bool:
        raise _Refused("tensor record: requires_grad is %r" % (requires_grad,))
    return TensorRef(storage, offset, shape, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, TensorRef):
        raise _Refused("_rebuild_parameter called with a %s instead of a tensor"
                       % type(data).__name__)
    return data


def _ordered_dict(items=()):
    if not isinstance(items, (list, tuple, dict)):
        raise _Refused("OrderedDict called with a %s" % type(items).__name__)
    return StateDict(items)


def _torch_size(dims=()):
    return _int_tuple(tuple(dims) if isinstance(dims, list) else dims, "torch.Size")


def _set(items=()):
    if not isinstance(items, (list, tuple)):
        raise _Refused("set called with a %s" % type(items).__name__)
    return set(items)


def _frozenset(items=()):
    return frozenset(_set(items))


def _codecs_encode(text, encoding="utf-8"):
    # protocol 2 pickles bytes as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode called with unexpected arguments")
    return text.encode("latin1")


_STORAGES = {
    # name: (dtype we can convert to F32, or None; bytes per element)
    "FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2), "BFloat16Storage": ("BF16", 2),
    "DoubleStorage": ("F64", 8), "LongStorage": (None, 8), "IntStorage": (None, 4),
    "ShortStorage": (None, 2), "CharStorage": (None, 1), "ByteStorage": (None, 1),
    "BoolStorage": (None, 1), "ComplexFloatStorage": (None, 8),
    "ComplexDoubleStorage": (None, 16), "UntypedStorage": (None, 1),
}

_ALLOWED = {key: _AllowedCall("%s.%s" % key, fn) for key, fn in {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): _torch_size,
    ("builtins", "set"): _set,
    ("builtins", "frozenset"): _frozenset,
    ("__builtin__", "set"): _set,
    ("_codecs", "encode"): _codecs_encode,
}.items()}
for _name, (_dt, _sz) in _STORAGES.items():
    _ALLOWED[("torch", _name)] = StorageType("torch." + _name, _dt, _sz)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build a state dict; see the module docstring."""

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise _Refused("forbidden global %s.%s (only state-dict tensors are allowed)"
                           % (module, name))
        return obj

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[3], str) or type(pid[4]) is not int or pid[4] < 0):
            raise _Refused("unsupported persistent id %.80r" % (pid,))
        return StorageRef(pid[1], pid[2], pid[4])


def _prescan(data, where):
    """Bounds what CPython's unpickler would allocate on the pickle's word, before it runs: its
    memo grows to the largest PUT index (a 9-byte pickle naming index 2**28 asks for 4 GB), so
    every index must be below the number of opcodes before it (picklers number them 0, 1, ...);
    the opcode count is bounded; and every counted length must lie within the data
    (pickletools.genops reads the lengths without allocating them)."""
    ops = 0
    try:
        for op, arg, _ in pickletools.genops(data):
            ops += 1
            if ops > MAX_PICKLE_OPS:
                raise _Refused("more than %d opcodes: not a state dict" % MAX_PICKLE_OPS)
            if op.name in _MEMO_PUTS and (type(arg) is not int or not 0 <= arg < ops):
                raise _Refused("memo index %r at opcode %d is out of range (a state dict's pickle "
                               "numbers its memo from 0)" % (arg, ops))
    except _Refused as e:
        raise ConvertError("%s: %s" % (where, e)) from None
    except Exception as e:  # truncated data, unknown opcodes, lengths past the end...
        raise ConvertError("%s: malformed pickle (%s: %s)" % (where, type(e).__name__, e)) from None


def load_pickle(data, where):
    """Unpickle `data` (bytes) with RestrictedUnpickler; errors name `where`."""
    _prescan(data, where)
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except _Refused as e:
        raise ConvertError("%s: %s" % (where, e)) from None
    except RecursionError:
        raise ConvertError("%s: pickle nested too deeply" % where) from None
    except MemoryError:
        raise ConvertError("%s: pickle too large for memory" % where) from None
    except Exception as e:  # malformed pickle: opcodes, truncation, wrong argument counts...
        raise ConvertError("%s: malformed pickle (%s: %s)" % (where, type(e).__name__, e)) from None


# ---------------------------------------------------------------------------------------------
# The checkpoint

class PthTensor:
    """One tensor of a .pth checkpoint, read lazily."""

    def __init__(self, ckpt, name, ref):
        self._ckpt = ckpt
        self.name = name
        self._ref = ref
        self.dtype = ref.storage.stype.dtype
        self.shape = list(ref.shape)
        self.source = "%s (%s)" % (ckpt.path, name)

    def read(self):
        """Contiguous little-endian bytes in self.dtype."""
        return self._ckpt.read_tensor(self.name, self._ref)

    def read_f32(self):
        return to_f32(self.dtype, self.read())


class PthCheckpoint:
    """A torch zip checkpoint opened for reading its state dict."""

    def __init__(self, path):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            if _starts_with(path, b"\x80"):
                raise ConvertError("%s: a legacy (pre-zip) torch.save file; only the zip format "
                                   "of PyTorch >= 1.6 can be read" % path) from None
            raise ConvertError("%s: not a readable zip (truncated or corrupt PyTorch checkpoint?): %s"
                               % (path, e)) from None
        except OSError as e:
            raise ConvertError("%s: %s" % (path, e.strerror or e)) from None
        names = self._zip.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls and "data.pkl" in names:
            pkls = ["data.pkl"]
        if len(pkls) != 1:
            raise ConvertError("%s: expected one <folder>/data.pkl in the zip, found %d "
                               "(not a torch.save checkpoint?)" % (path, len(pkls)))
        self._top = pkls[0][:-len("data.pkl")]  # "archive/" or ""
        self._names = set(names)
        self._byteorder = "little"
        bo = self._top + "byteorder"
        if bo in self._names:
            value = self._read_entry(bo).decode("ascii", "replace").strip()
            if value not in ("little", "big"):
                raise ConvertError("%s: byteorder entry says %r" % (path, value))
            self._byteorder = value
        if self._zip.getinfo(pkls[0]).file_size > MAX_PICKLE:
            raise ConvertError("%s: %s is %d bytes, too large for a state dict"
                               % (path, pkls[0], self._zip.getinfo(pkls[0]).file_size))
        obj = load_pickle(self._read_entry(pkls[0]), "%s: %s" % (path, pkls[0]))
        self.tensors = self._state_dict(obj)
        self._cache = (None, None)

    def _read_entry(self, name, size=None):
        """Bytes of a zip member (its first `size` bytes if given), CRC-checked when read whole."""
        try:
            with self._zip.open(name) as f:
                return f.read() if size is None else f.read(size)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise ConvertError("%s: cannot read %s from the zip (truncated or corrupt?): %s"
                               % (self.path, name, e)) from None
        except Exception as e:  # zlib.error and friends on corrupt compressed data
            raise ConvertError("%s: cannot read %s from the zip (corrupt?): %s: %s"
                               % (self.path, name, type(e).__name__, e)) from None

    def _state_dict(self, obj):
        if not isinstance(obj, dict):
            raise ConvertError("%s: data.pkl holds a %s, expected a dict"
                               % (self.path, type(obj).__name__))
        sd = None
        for key in ("model_state_dict", "state_dict", "model"):
            if isinstance(obj.get(key), dict):
                sd = obj[key]
                break
        if sd is None:
            if obj and all(isinstance(v, TensorRef) for v in obj.values()):
                sd = obj  # a bare state dict
            else:
                raise ConvertError("%s: no 'model_state_dict' in the checkpoint (keys: %s)"
                                   % (self.path, ", ".join(sorted(map(str, obj))[:10])))
        out = {}
        for name, ref in sd.items():
            if not isinstance(name, str):
                raise ConvertError("%s: state dict key %r is not a string" % (self.path, name))
            if not isinstance(ref, TensorRef):
                raise ConvertError("%s: state dict entry %s is a %s, not a tensor"
                                   % (self.path, name, type(ref).__name__))
            if ref.storage.stype.dtype is None:
                raise ConvertError("%s: tensor %s has unsupported storage %s (need float)"
                                   % (self.path, name, ref.storage.stype.name))
            out[name] = PthTensor(self, name, ref)
        return out

    def read_tensor(self, name, ref):
        st = ref.storage
        isz = st.stype.itemsize
        entry = "%sdata/%s" % (self._top, st.key)
        if entry not in self._names:
            raise ConvertError("%s: tensor %s: storage file %s missing from the zip"
                               % (self.path, name, entry))
        need = st.numel * isz
        if self._cache[0] == entry:
            data = self._cache[1]
        else:
            self._cache = (None, None)
            declared = self._zip.getinfo(entry).file_size
            if declared < need:
                raise ConvertError("%s: tensor %s: storage %s has %d bytes, expected %d"
                                   % (self.path, name, entry, declared, need))
            # never inflate more than the storage needs (a hostile zip may declare more)
            data = self._read_entry(entry, None if declared == need else need)
            self._cache = (entry, data)
        if len(data) < need:
            raise ConvertError("%s: tensor %s: storage %s ended after %d of %d bytes"
                               % (self.path, name, entry, len(data), need))
        numel = math.prod(ref.shape)
        if numel == 0:
            return b""
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
        if last >= st.numel:
            raise ConvertError("%s: tensor %s: view (offset %d, size %s, stride %s) runs past "
                               "its storage of %d elements" % (self.path, name, ref.offset,
                                                               list(ref.shape), list(ref.stride),
                                                               st.numel))
        out = _gather(data, isz, ref.offset, ref.shape, ref.stride)
        if self._byteorder == "big" and isz > 1:
            out = _byteswap(out, isz)
        return out


def _starts_with(path, magic):
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def _contiguous_strides(shape):
    strides = []
    acc = 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


def _gather(data, isz, offset, shape, stride):
    """Bytes of the strided view, made contiguous (row-major)."""
    numel = math.prod(shape)
    dims = [(n, s) for n, s in zip(shape, stride) if n != 1]
    if [s for _, s in dims] == list(_contiguous_strides([n for n, _ in dims])):
        return bytes(data[offset * isz:(offset + numel) * isz])
    # element-typed view, so a strided run is one extended slice
    elems = memoryview(data)[:len(data) - len(data) % isz].cast({1: "B", 2: "H", 4: "I", 8: "Q"}[isz])
    inner_n, inner_s = dims[-1]
    outer = dims[:-1]
    parts = []
    idx = [0] * len(outer)
    while True:
        base = offset + sum(i * s for i, (_, s) in zip(idx, outer))
        if inner_s == 0:
            parts.append(elems[base:base + 1].tobytes() * inner_n)
        else:
            parts.append(elems[base:base + (inner_n - 1) * inner_s + 1:inner_s].tobytes())
        d = len(outer) - 1  # odometer increment over the outer dimensions
        while d >= 0:
            idx[d] += 1
            if idx[d] < outer[d][0]:
                break
            idx[d] = 0
            d -= 1
        if d < 0:
            break
    return b"".join(parts)


def _byteswap(raw, isz):
    a = array.array({2: "H", 4: "I", 8: "Q"}[isz])
    a.frombytes(raw)
    a.byteswap()
    return a.tobytes()


def open_pth(path):
    """name -> PthTensor for the model state dict of a .pth checkpoint."""
    return PthCheckpoint(path).tensors
