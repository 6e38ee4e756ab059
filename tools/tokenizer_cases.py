#!/usr/bin/env python3
"""Random tokenizer cases, encoded by SentencePiece itself: the yardstick for js/tokenizer/tokenizer.js on
strings nobody wrote by hand.

    python3 tools/tokenizer_cases.py TOKENIZER.model OUT.json [--count 2000] [--seed 1]

Needs the `sentencepiece` package (the device machine has it; CI does not run this). Writes
{"tokenizer", "generator", "seed", "cases": [{"text", "kind", "ids", "decoded"}]}, the format of
tests/fixtures/tokenizers/*/cases.json. Strings are built from pieces that stress the normaliser
(NFKC through precompiled_charsmap, whitespace runs, control characters), byte fallback (scripts
and emoji outside the vocabulary), digits and user-defined symbols.
"""
import argparse
import json
import os
import random

WORDS = ["the", "The", "model", "Python", "language", "is", "a", "of", "and", "power", "law",
         "attention", "decoder", "G_LM", "tensor", "don't", "it's", "U.S.A.", "e-mail", "co-op",
         "hello", "World", "print(x)", "def", "return", "[END]", "<unk>", "<s>", "</s>", "[PAD]"]
PUNCT = list(".,;:!?'\"()[]{}<>/\\|@#$%^&*-_=+`~") + ["...", "--", "—", "–", "«", "»", "“", "”", "‘", "’"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\u200b",
          "\u2028", "\ufeff", " \n ", "\t\t"]
UNICODE = ["é", "e\u0301", "ß", "İ", "ı", "ﬁ", "ﬀ", "Ａ", "１２３", "²", "½", "Ⅻ", "①", "™", "℃", "Å",
           "漢字", "日本語", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "한국어", "\u1100\u1161\u11a8", "العربية",
           "עברית", "हिन्दी", "ไทย", "Ελληνικά", "русский", "ქართული", "𝔘𝔫𝔦", "𝟙𝟚", "😀", "👍🏽",
           "👩\u200d💻", "🇫🇷", "❤\ufe0f", "\ue000", "\ufffd", "\u0000", "\u0007", "\u001b[0m", "\u007f",
           "\u0085", "\u00ad", "\u0301", "\u200d", "\u2060", "𐍈", "\U0001f9ea", "Ǆ", "ǅ", "ﷺ", "㍿", "㌀"]
DIGITS = ["0", "7", "42", "1234567890", "3.14159", "1,000,000", "2026-11-28", "0x1F", "1e-6", "٣٤", "৪২"]


def piece(rng):
    pool = rng.choices([WORDS, PUNCT, SPACES, UNICODE, DIGITS], weights=[5, 2, 3, 3, 1])[0]
    return rng.choice(pool)


def random_text(rng, kind):
    if kind == "mixed":
        return "".join(piece(rng) + (" " if rng.random() < 0.5 else "") for _ in range(rng.randint(1, 14)))
    if kind == "codepoints":  # any scalar value of the BMP and the first supplementary planes
        out = []
        for _ in range(rng.randint(1, 10)):
            c = rng.randint(0, 0x2FFFF)
            out.append(" " if 0xD800 <= c <= 0xDFFF else chr(c))
        return "".join(out)
    if kind == "spaces":
        return "".join(rng.choice(SPACES + WORDS[:6]) for _ in range(rng.randint(1, 10)))
    return "".join(rng.choice(UNICODE + DIGITS) for _ in range(rng.randint(1, 6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    import sentencepiece as spm  # only here: --help works without it

    sp = spm.SentencePieceProcessor(model_file=args.model)
    rng = random.Random(args.seed)
    kinds = ["mixed", "codepoints", "spaces", "unicode"]
    cases, seen = [], set()
    while len(cases) < args.count:
        kind = kinds[len(cases) % len(kinds)]
        text = random_text(rng, kind)
        if text in seen:
            continue
        seen.add(text)
        ids = sp.encode(text)
        cases.append({"text": text, "kind": kind, "ids": ids, "decoded": sp.decode(ids)})
    name = os.path.basename(os.path.dirname(os.path.abspath(args.model)))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"tokenizer": name, "generator": "sentencepiece " + spm.__version__, "seed": args.seed,
                   "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
