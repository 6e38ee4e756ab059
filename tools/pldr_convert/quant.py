"""q8_0 and q4_0 block quantization (docs/FORMAT.md "Quantized tensors").

A matrix [rows, cols] is cut row by row into blocks of QK = 32 values (the last block of a row
zero-padded), stored row after row:

    block_q8_0 { uint16 d; int8  qs[32]; }   34 bytes, x[i] = d * qs[i]
    block_q4_0 { uint16 d; uint8 qs[16]; }   18 bytes, x[i] = d * (q[i] - 8),
                                             q[j] = qs[j] & 15, q[j+16] = qs[j] >> 4

These are the bytes the runtime's load-time quantizer makes (src/kernels/kernels_common.c,
tests/formats.test.mjs compares them): every decision is float64 arithmetic in the same order,
codes are round-half-even, and scales are rounded float64 -> float32 -> binary16 (array 'f', then
struct's 'e').

Speed without numpy: values are handled as "lanes" (lane k = value k of every block), so one
comprehension does one step for all blocks and the per-block sums still run in index order;
rounding adds 1.5 * 2**52 to a double |v| < 2**51, which rounds it to an integer (ties to even)
held in the low mantissa bits: the low byte of each double is then round(v) as an int8.
"""

import array
import struct
import sys

from .dtypes import f32_array, has_nonfinite

QK = 32
BLOCK_BYTES = {"q8_0": 2 + QK, "q4_0": 2 + QK // 2}
# q4_0 scales tried, as divisors of the block's value of largest magnitude: the reference's first
Q4_DIVISORS = (-8.0, -8.5, -7.5)
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


def _values(raw_f32, rows, cols):
    """The matrix as one list of floats, each row padded with zeros to whole blocks."""
    if has_nonfinite(raw_f32):
        raise NonFiniteError("Inf or NaN values cannot be quantized")
    vals = f32_array(raw_f32).tolist()
    if len(vals) != rows * cols:
        raise ValueError("expected %d values, got %d" % (rows * cols, len(vals)))
    pad = blocks_per_row(cols) * QK - cols
    if pad:
        zeros = [0.0] * pad
        padded = []
        for r in range(rows):
            padded.extend(vals[r * cols:(r + 1) * cols])
            padded.extend(zeros)
        vals = padded
    return vals


def _f16_scales(scales):
    """(binary16 bytes, their values) of float64 scales rounded to float32 first; OverflowError
    when one exceeds binary16."""
    f32 = array.array("f", scales)
    packed = struct.pack("<%de" % len(f32), *f32)
    return packed, struct.unpack("<%de" % len(f32), packed)


def _codes(blocks, dhs, lo, hi):
    """round(x / d) per value (ties to even) as int8 bytes, clamped to [lo, hi] where needed.

    With a normal (not subnormal) f16 d every code is already in range (|x / d| <= 127.07 for
    q8_0); the rare blocks with a subnormal d are recomputed with an explicit clamp.
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
    """q8_0 bytes of a little-endian float32 matrix [rows, cols]: rows * nb * 34 bytes.

    d = max|x| / 127, q = round(x / d) (0 when d = 0).
    """
    vals = _values(raw_f32, rows, cols)
    blocks = [vals[i:i + QK] for i in range(0, len(vals), QK)]
    n = len(blocks)
    dbytes, dhs = _f16_scales([abs(max(max(b), -min(b))) / 127.0 for b in blocks])
    qb = _codes(blocks, dhs, -127, 127)
    out = bytearray(n * 34)
    out[0::34] = dbytes[0::2]
    out[1::34] = dbytes[1::2]
    for k in range(QK):
        out[2 + k::34] = qb[k::QK]
    return bytes(out)


def _q4_errors(lanes, ds):
    """Per block, the squared error sum((d * q - x)^2) of the codes q = clamp(round(x / d), -8, 7)
    (0 when d = 0), summed in value order, for the block scales ds."""
    magic = _MAGIC
    zero = [b for b, d in enumerate(ds) if d == 0]
    if zero:  # their codes are 0: computed apart below, so the hot loop needs no test for them
        ds = [d if d else 1.0 for d in ds]
    err = [0.0] * len(ds)
    for xs in lanes:
        err = [e + (t := d * (7.0 if (v := (x / d + magic) - magic) > 7.0 else -8.0 if v < -8.0 else v) - x) * t
               for e, x, d in zip(err, xs, ds)]
    for b in zero:  # d * 0 - x = -x: the error is the sum of x^2, in order
        e = 0.0
        for xs in lanes:
            e = e + xs[b] * xs[b]
        err[b] = e
    return err


def quantize_q4_0(raw_f32, rows, cols):
    """q4_0 bytes of a little-endian float32 matrix [rows, cols]: rows * nb * 18 bytes.

    Per block, m = the value of largest magnitude (the positive one on a tie); each scale
    d = m / divisor of Q4_DIVISORS is tried with the codes q = clamp(round(x / d) + 8, 0, 15), and
    the one of least squared error sum((d * (q - 8) - x)^2) is kept (the first on a tie).
    """
    vals = _values(raw_f32, rows, cols)
    lanes = [vals[k::QK] for k in range(QK)]  # lanes[k][b]: value k of block b
    del vals
    n = len(lanes[0])
    ms = [hi if hi >= -lo else lo for hi, lo in zip(map(max, *lanes), map(min, *lanes))]
    best_d = best_e = None
    for divisor in Q4_DIVISORS:
        _, ds = _f16_scales([m / divisor for m in ms])
        es = _q4_errors(lanes, ds)
        if best_d is None:
            best_d, best_e = ds, es
            continue
        best_d = [d if e < be else bd for d, e, bd, be in zip(ds, es, best_d, best_e)]
        best_e = [e if e < be else be for e, be in zip(es, best_e)]
    dbytes = struct.pack("<%de" % n, *best_d)  # binary16 values: packed back bit for bit
    div = [d if d else _INF for d in best_d]
    # |x / d| stays below 18 (d is within a factor of two of m / divisor, or 0): the low byte
    # of x / d + 1.5 * 2**52 is round(x / d) as an int8, which _Q4_CODE clamps.
    codes = [array.array("d", [x / s + _MAGIC for x, s in zip(xs, div)]).tobytes()[_LOW_BYTE::8]
             .translate(_Q4_CODE) for xs in lanes]
    out = bytearray(n * 18)
    out[0::18] = dbytes[0::2]
    out[1::18] = dbytes[1::2]
    for j in range(QK // 2):
        # byte j of every block: value j in the low nibble, value j + 16 in the high nibble.
        # Each byte of `hi` is < 16, so shifting the whole big integer by 4 cannot carry
        # between bytes.
        lo = int.from_bytes(codes[j], "little")
        hi = int.from_bytes(codes[j + QK // 2], "little")
        out[2 + j::18] = (lo | (hi << 4)).to_bytes(n, "little")
    return bytes(out)


QUANTIZERS = {"q8_0": quantize_q8_0, "q4_0": quantize_q4_0}


def quantize_chunk(fmt, raw_f32, rows, cols):
    """Module-level entry point (picklable for worker processes)."""
    return QUANTIZERS[fmt](raw_f32, rows, cols)
