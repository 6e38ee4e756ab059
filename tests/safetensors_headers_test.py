"""The converter's safetensors reader (tools/pldr_convert/safetensors.py) judges the shared corpus
of headers (tests/fixtures/safetensors-headers/cases.json) as the JavaScript loader and the native
CLI do (tests/safetensors-headers.test.mjs): the same decision, the same tensor list.
Run: python3 -m unittest tests/safetensors_headers_test.py from the repo root."""

import json
import os
import re
import shutil
import struct
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from pldr_convert import safetensors as st  # noqa: E402
from pldr_convert.errors import ConvertError  # noqa: E402

with open(os.path.join(ROOT, "tests", "fixtures", "safetensors-headers", "cases.json"), encoding="utf-8") as f:
    CASES = [c for c in json.load(f)["cases"] if "converter" in c.get("readers", ["converter"])]


def case_bytes(c):
    """The file of a corpus case (the rule is in cases.json's "about")."""
    if "raw_hex" in c:
        return bytes.fromhex(c["raw_hex"])
    header = bytes.fromhex(c["header_hex"]) if "header_hex" in c else c["header"].encode("utf-8")
    length = (bytes.fromhex(c["length_hex"]) if "length_hex" in c
              else struct.pack("<Q", c.get("length", len(header))))
    return length + header + bytes((i * 7 + 3) & 255 for i in range(c.get("data", 0)))


def canonical(rows):
    return sorted((tuple(json.dumps(x) for x in r) for r in rows),
                  key=lambda r: (int(r[3]), int(r[4]), r[0]))


class SafetensorsCorpus(unittest.TestCase):

    def test_every_case(self):
        tmp = tempfile.mkdtemp(prefix="st-corpus-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.assertGreater(len(CASES), 60)
        for i, c in enumerate(CASES):
            with self.subTest(c["name"]):
                path = os.path.join(tmp, "case-%d.safetensors" % i)
                with open(path, "wb") as f:
                    f.write(case_bytes(c))
                try:
                    tensors, _, _ = st.read_header(path)
                except ConvertError as e:
                    self.assertIn("error", c, "refused: %s" % e)
                    self.assertRegex(str(e), re.compile(c["error"], re.I))
                    self.assertNotIn("\n", str(e))
                    continue
                self.assertIn("tensors", c, "accepted, but it must be refused (%s)" % c.get("error"))
                got = [[t.name, t.dtype, t.shape, t.begin, t.end] + (list(t.quant) if t.quant else [])
                       for t in tensors]
                self.assertEqual(canonical(got), canonical(c["tensors"]))


if __name__ == "__main__":
    unittest.main()
