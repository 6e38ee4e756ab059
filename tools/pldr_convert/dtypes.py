"""Element types and lossless/rounding conversions between them, on raw little-endian bytes.

Everything here works on whole `bytes` buffers with C-speed primitives (slice assignment,
`array`, `struct`, big-integer arithmetic) rather than per-element Python loops where possible.
"""

import array
import struct
import sys

# safetensors dtype name -> bytes per element: those the runtime reads (its table is the truth:
# pldr_dtype_name / pldr_dtype_block_bytes, include/pldr.h "Formats"; tests/formats.test.mjs
# checks this equals it), and F64, which only the converter reads
RUNTIME_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}
ITEMSIZE = {**RUNTIME_ITEMSIZE, "F64": 8}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")

_BIG_ENDIAN_HOST = sys.byteorder == "big"

# Conversions are done in chunks of this many elements so temporaries stay small.
CHUNK = 1 << 20


def f32_array(raw):
    """array('f') holding the little-endian float32 values of `raw`."""
    a = array.array("f")
    a.frombytes(raw)
    if _BIG_ENDIAN_HOST:
        a.byteswap()
    return a


def array_le_bytes(a):
    """Little-endian bytes of an array.array."""
    if _BIG_ENDIAN_HOST:
        a = array.array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def to_f32(dtype, raw):
    """Little-endian float32 bytes of `raw` (little-endian `dtype` elements).

    F32 is returned as is, BF16 and F16 widen exactly, F64 rounds to nearest float32.
    """
    if dtype == "F32":
        return raw
    if dtype == "BF16":
        # bf16 is the high half of a float32: put each 2-byte value in bytes 2..3 of a 4-byte slot
        out = bytearray(2 * len(raw))
        out[2::4] = raw[0::2]
        out[3::4] = raw[1::2]
        return bytes(out)
    if dtype == "F16":
        n = len(raw) // 2
        parts = []
        for s in range(0, n, CHUNK):
            k = min(CHUNK, n - s)
            vals = struct.unpack("<%de" % k, raw[2 * s:2 * (s + k)])
            parts.append(array_le_bytes(array.array("f", vals)))
        return b"".join(parts)
    if dtype == "F64":
        n = len(raw) // 8
        parts = []
        for s in range(0, n, CHUNK):
            d = array.array("d")
            d.frombytes(raw[8 * s:8 * min(n, s + CHUNK)])
            if _BIG_ENDIAN_HOST:
                d.byteswap()
            parts.append(array_le_bytes(array.array("f", d)))
        return b"".join(parts)
    raise ValueError("cannot convert %s to F32" % dtype)


# ---------------------------------------------------------------------------------------------
# F32 -> BF16, round to nearest even.
#
# Each float32 bit pattern u becomes (u + 0x7FFF + ((u >> 16) & 1)) >> 16.  Done without a
# per-element loop: the whole chunk is read as one big little-endian integer whose 32-bit "lanes"
# are the values, so one big-integer add/shift/and acts on every lane at once.  No lane can carry
# into the next once NaNs are excluded (the largest non-NaN pattern 0xFF800000 plus 0x8000 still
# fits in 32 bits); NaNs would round into Inf or spill, so a chunk holding a NaN takes the
# per-element path, which keeps them quiet NaNs.

_lane_cache = {}


def _repeated_lanes(n, *lanes):
    """Each 32-bit pattern of `lanes` repeated n times, as one little-endian integer (a few chunk
    sizes are kept: every chunk but the last has the same n)."""
    key = (n,) + lanes
    m = _lane_cache.get(key)
    if m is None:
        m = tuple(int.from_bytes(struct.pack("<I", lane) * n, "little") for lane in lanes)
        if len(_lane_cache) > 8:
            _lane_cache.clear()
        _lane_cache[key] = m
    return m


def _lanes(n):
    return _repeated_lanes(n, 0x7FFFFFFF, 0x007FFFFF, 0x80000000, 1, 0x7FFF)


def _bf16_slow(raw):
    u32 = array.array("I")
    u32.frombytes(raw)
    if _BIG_ENDIAN_HOST:
        u32.byteswap()
    out = array.array("H", [
        ((u >> 16) | 0x40) if (u & 0x7FFFFFFF) > 0x7F800000 else
        (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        for u in u32])
    return array_le_bytes(out)


def _bf16_chunk(raw):
    n = len(raw) // 4
    if n == 0:
        return b""
    abs_mask, nan_bias, bit31, one, half = _lanes(n)
    x = int.from_bytes(raw, "little")
    if ((x & abs_mask) + nan_bias) & bit31:  # some |u| > 0x7F800000: a NaN
        return _bf16_slow(raw)
    y = (x + half + ((x >> 16) & one)).to_bytes(4 * n, "little")
    out = bytearray(2 * n)
    out[0::2] = y[2::4]
    out[1::2] = y[3::4]
    return bytes(out)


def f32_to_bf16(raw):
    """BF16 bytes (round to nearest even, NaN stays NaN) of little-endian float32 bytes."""
    step = 4 * CHUNK
    return b"".join(_bf16_chunk(raw[s:s + step]) for s in range(0, len(raw), step))


def f32_to_bf16_reference(raw):
    """Per-element reference of f32_to_bf16 (for tests)."""
    return _bf16_slow(raw)


def has_nonfinite(raw):
    """True if little-endian float32 bytes hold an Inf or NaN (exponent field all ones).

    Same lane trick as the BF16 rounding: (u & 0x7F800000) + 0x00800000 reaches bit 31 exactly
    when the exponent is 0xFF, and never carries out of its 32-bit lane.
    """
    step = 4 * CHUNK
    for s in range(0, len(raw), step):
        part = raw[s:s + step]
        n = len(part) // 4
        exp_mask, exp_one, bit31 = _exp_lanes(n)
        if ((int.from_bytes(part, "little") & exp_mask) + exp_one) & bit31:
            return True
    return False


def _exp_lanes(n):
    return _repeated_lanes(n, 0x7F800000, 0x00800000, 0x80000000)
