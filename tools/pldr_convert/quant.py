"""q8_0 and q4_0 block quantization (docs/FORMAT.md "Quantized tensors").

A matrix [rows, cols] is cut row by row into blocks of QK = 32 values (the last block of a row
zero-padded), stored row after row:

    block_q8_0 { uint16 d; int8  qs[32]; }   34 bytes, x[i] = d * qs[i]
    block_q4_0 { uint16 d; uint8 qs[16]; }   18 bytes, x[i] = d * (q[i] - 8),
                                             q[j] = qs[j] & 15, q[j+16] = qs[j] >> 4

d is IEEE binary16, rounded correctly from the exact scale by struct's 'e' format. The integer
codes are computed against the *rounded* d, so |x - d*q| <= d/2 holds for every unclamped value.
The per-element work is one Python comprehension; block assembly uses strided slice assignment
(one per byte position of a block, independent of the number of blocks) and big-integer ORs.
"""

import array
import struct
import sys

from .dtypes import f32_array, has_nonfinite

QK = 32
BLOCK_BYTES = {"q8_0": 2 + QK, "q4_0": 2 + QK // 2}
_INF = float("inf")
_MAGIC = 6755399441055744.0  # 1.5 * 2**52
_LOW_BYTE = 0 if sys.byteorder == "little" else 7  # least significant byte of a double
_F16_MIN_NORMAL = 2.0 ** -14


class NonFiniteError(ValueError):
    """The input holds Inf or NaN."""

# signed byte v (as its unsigned bit pattern) -> clamp(v + 8, 0, 15)
_Q4_CODE = bytes(max(0, min(15, ((i ^ 0x80) - 0x80) + 8)) for i in range(256))


def blocks_per_row(cols):
    return (cols + QK - 1) // QK


def quantized_row_bytes(fmt, cols):
    """Bytes of one quantized row of `cols` values."""
    return blocks_per_row(cols) * BLOCK_BYTES[fmt]


def _blocks(raw_f32, rows, cols):
    """List of 32-value lists, rows padded with zeros to whole blocks."""
    if has_nonfinite(raw_f32):
        raise NonFiniteError("Inf or NaN values cannot be quantized")
    vals = f32_array(raw_f32).tolist()
    if len(vals) != rows * cols:
        raise ValueError("expected %d values, got %d" % (rows * cols, len(vals)))
    nb = blocks_per_row(cols)
    pad = nb * QK - cols
    if pad:
        zeros = [0.0] * pad
        padded = []
        for r in range(rows):
            padded.extend(vals[r * cols:(r + 1) * cols])
            padded.extend(zeros)
        vals = padded
    return [vals[i:i + QK] for i in range(0, len(vals), QK)]


def _f16_scales(scales):
    """(binary16 bytes, the rounded scales as floats); OverflowError if a scale exceeds f16."""
    fmt = "<%de" % len(scales)
    packed = struct.pack(fmt, *scales)
    return packed, struct.unpack(fmt, packed)


def _codes(blocks, dhs, lo, hi):
    """round(x / d) per value (ties to even) as int8 bytes, clamped to [lo, hi] where needed.

    Adding 1.5 * 2**52 to a double |v| < 2**51 rounds it to an integer (ties to even) held in
    the low mantissa bits, so the low byte of each double is round(v) as a two's-complement int8:
    one comprehension of a divide and an add, then a strided byte slice. With a normal (not
    subnormal) f16 d every code is already in range (|x / d| <= 127.07 for q8_0, 8.01 for q4_0);
    the rare blocks with a subnormal d are recomputed with an explicit clamp.
    """
    div = [dh if dh else _INF for dh in dhs]  # d == 0: the block is all zeros -> codes 0
    y = array.array("d", [x / dh + _MAGIC for b, dh in zip(blocks, div) for x in b])
    codes = y.tobytes()[_LOW_BYTE::8]
    coarse = [i for i, dh in enumerate(dhs) if 0 < abs(dh) < _F16_MIN_NORMAL]
    if coarse:
        codes = bytearray(codes)
        for i in coarse:
            dh = dhs[i]
            qs = [min(hi, max(lo, round(x / dh))) for x in blocks[i]]
            codes[i * QK:(i + 1) * QK] = array.array("b", qs).tobytes()
        codes = bytes(codes)
    return codes


def quantize_q8_0(raw_f32, rows, cols):
    """q8_0 bytes of a little-endian float32 matrix [rows, cols]: rows * nb * 34 bytes."""
    blocks = _blocks(raw_f32, rows, cols)
    n = len(blocks)
    dbytes, dhs = _f16_scales([max(max(b), -min(b)) / 127.0 for b in blocks])
    qb = _codes(blocks, dhs, -127, 127)
    out = bytearray(n * 34)
    out[0::34] = dbytes[0::2]
    out[1::34] = dbytes[1::2]
    for k in range(QK):
        out[2 + k::34] = qb[k::QK]
    return bytes(out)


def quantize_q4_0(raw_f32, rows, cols):
    """q4_0 bytes of a little-endian float32 matrix [rows, cols]: rows * nb * 18 bytes.

    Reference quantizer: m = the value of largest magnitude (with its sign), d = m / -8,
    q = clamp(round(x / d) + 8, 0, 15).
    """
    blocks = _blocks(raw_f32, rows, cols)
    n = len(blocks)
    ms = []
    for b in blocks:
        mx = max(b)
        mn = min(b)
        ms.append((mx if mx >= -mn else mn) / -8.0)
    dbytes, dhs = _f16_scales(ms)
    codes = _codes(blocks, dhs, -128, 127).translate(_Q4_CODE)  # now 0..15
    out = bytearray(n * 18)
    out[0::18] = dbytes[0::2]
    out[1::18] = dbytes[1::2]
    for j in range(QK // 2):
        # byte j of every block: value j in the low nibble, value j + 16 in the high nibble.
        # Each byte of `hi` is < 16, so shifting the whole big integer by 4 cannot carry
        # between bytes.
        lo = int.from_bytes(codes[j::QK], "little")
        hi = int.from_bytes(codes[j + QK // 2::QK], "little")
        out[2 + j::18] = (lo | (hi << 4)).to_bytes(n, "little")
    return bytes(out)


QUANTIZERS = {"q8_0": quantize_q8_0, "q4_0": quantize_q4_0}


def quantize_chunk(fmt, raw_f32, rows, cols):
    """Module-level entry point (picklable for worker processes)."""
    return QUANTIZERS[fmt](raw_f32, rows, cols)
