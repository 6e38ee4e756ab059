"""The converter's own tables, printed as JSON for tests/formats.test.mjs to compare with the
runtime's (C through WebAssembly): run `python3 tests/helpers/converter_tables.py < request.json`.

Request: {"configs": [config.json objects], "quantize": [{"format": "q4_0", "rows": R, "cols": C,
"src": raw float32 file, "dst": file to write}]}. Reply: {"dtypes": {...}, "quant": {...},
"hparam_names": [[hf, native], ...], "tables": [one per config: {"error": message} or
{"tensors": [[name, shape, quantizable], ...], "g_tensor": [name, shape]}], "quantized": [one per
request: null, or the error's message]}.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from pldr_convert import cli, config, dtypes, quant  # noqa: E402
from pldr_convert.errors import ConvertError  # noqa: E402


def table(cfg):
    try:
        mc = config.parse(cfg, "config.json")
    except ConvertError as e:
        return {"error": str(e)}
    names = config.expected_tensors(mc, g_only=mc.g_only, with_g=False)
    return {"tensors": [[n, s, config.quantizable(n)] for n, s in names],
            "g_tensor": [cli.G_NAME, [mc.L, 3, 1, mc.H, mc.dk, mc.dk]]}


def quantize(job):
    with open(job["src"], "rb") as f:
        raw = f.read()
    try:
        out = quant.quantize_chunk(job["format"], raw, job["rows"], job["cols"])
    except quant.NonFiniteError as e:
        return "non-finite: %s" % e
    except OverflowError as e:
        return "overflow: %s" % e
    with open(job["dst"], "wb") as f:
        f.write(out)
    return None


def main():
    request = json.load(sys.stdin)
    json.dump({
        "dtypes": {"runtime_itemsize": dtypes.RUNTIME_ITEMSIZE, "itemsize": dtypes.ITEMSIZE,
                   "float": list(dtypes.FLOAT_DTYPES)},
        "quant": {"block_values": quant.QK, "block_bytes": quant.BLOCK_BYTES},
        "hparam_names": [list(p) for p in config.RUNTIME_NAMES],
        "tables": [table(c) for c in request.get("configs", [])],
        "quantized": [quantize(j) for j in request.get("quantize", [])],
    }, sys.stdout)


if __name__ == "__main__":
    main()
