"""How the distilled table is made, chosen on STS-B **train** (dev and test untouched): the
teacher's token rows unit-normalised or not before PCA, and SIF's a.

    python benchmarks/distill_sif.py [--out docs/results/distill-sif.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from common import write_json
from sklearn.decomposition import PCA

import ctxembed
from ctxembed.datasets import data_path, sts_pairs
from ctxembed.eval.sts import evaluate
from ctxembed.io import read_lines
from ctxembed.models.distilled import DistilledEmbedder, token_counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="minilm-l6")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    teacher = ctxembed.load(args.teacher)
    tok, n = teacher.tokenizer, len(teacher.tokenizer)
    lines = [x for _, x in read_lines(data_path("wikitext2", "wiki.train.tokens.gz")) if x.strip()]
    counts = token_counts(tok, lines).astype(np.float64)
    prob = (counts + 1) / (counts.sum() + n)
    pairs = sts_pairs("stsb-train")
    a, b, gold = [x[0] for x in pairs], [x[1] for x in pairs], [x[2] for x in pairs]
    rows_out: dict = {}
    for normalize in (False, True):
        rows = teacher.embed_ids([[i] for i in range(n)], normalize=normalize, batch_size=512)
        base = PCA(n_components=args.dim, random_state=0).fit_transform(rows).astype(np.float32)
        for sif in (1e-3, 1e-4, 1e-5):
            table = base * (sif / (sif + prob))[:, None].astype(np.float32)
            m = DistilledEmbedder(tok, table, {"normalize": True})
            score = evaluate(m.embed_sentences(a), m.embed_sentences(b), gold)["spearman"]
            key = f"{'unit rows' if normalize else 'raw rows'}, a={sif:g}"
            rows_out[key] = {"stsb-train": score}
            print(key, round(score, 2), flush=True)
    if args.out:
        write_json(args.out, {"command": " ".join(["python", *sys.argv]), "rows": rows_out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
