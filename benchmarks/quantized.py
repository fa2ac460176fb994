"""int8 inference for transformer families against fp32 torch, in one run: words/s, token
cosine to fp32 (mean, 1st percentile, min) and STS-B dev.

    python benchmarks/quantized.py [--texts 400] [--out docs/results/quantized.json]

Recipes (``ctxembed.load(..., quantize=...)``): ``int8`` quantizes every Linear layer
dynamically (weights per output channel); ``int8-ffn-fp32`` leaves each layer's feed-forward
output projection in fp32.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import best_of, wikitext_sentences, write_json

import ctxembed
from ctxembed.datasets import sts_pairs
from ctxembed.eval.sts import evaluate

RECIPES = (None, "int8", "int8-ffn-fp32")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--texts", type=int, default=400)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    texts = wikitext_sentences(args.texts, "valid")
    sets = {"stsb-dev": sts_pairs("stsb-dev")}  # SICK-R and the other tasks: not run here
    results: dict = {"command": " ".join(["python", *sys.argv]), "rows": {}}
    ref = None
    for recipe in RECIPES:
        model = ctxembed.load(args.model, quantize=recipe)
        model.embed_words(texts[:32], progress=False)
        res = model.embed_words(texts, progress=False)
        n_words = sum(len(r) for r in res)
        secs = best_of(lambda m=model: m.embed_words(texts, progress=False), 3)
        row = {"words_per_s": n_words / secs}
        if ref is None:
            ref = res
        else:
            cos = np.concatenate(
                [
                    (a.vectors * b.vectors).sum(1)
                    / np.linalg.norm(a.vectors, axis=1)
                    / np.linalg.norm(b.vectors, axis=1)
                    for a, b in zip(ref, res, strict=True)
                ]
            )
            row |= {
                "cosine_mean": float(cos.mean()),
                "cosine_p1": float(np.percentile(cos, 1)),
                "cosine_min": float(cos.min()),
            }
        for name, pairs in sets.items():
            sents = [s for p in pairs for s in p[:2]]
            t0 = time.perf_counter()
            v = model.embed_sentences(sents, progress=False)
            row["sentences_per_s"] = len(sents) / (time.perf_counter() - t0)  # one pass
            row[name] = evaluate(v[0::2], v[1::2], [p[2] for p in pairs])["spearman"]
        key = recipe or "fp32"
        results["rows"][key] = row
        print(key, {k: round(v, 4) for k, v in row.items()}, flush=True)
    base = results["rows"]["fp32"]
    for row in results["rows"].values():
        row["speedup"] = row["words_per_s"] / base["words_per_s"]
        for name in sets:
            row[f"{name}_delta"] = row[name] - base[name]
    if args.out:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
