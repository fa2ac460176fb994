"""Sense induction on CoarseWSD-20: cluster each word's uses (no gold labels), then score the
clusters against the gold senses with purity and the adjusted Rand index.

    python benchmarks/senses.py [--models minilm-l6,glove-6b-50d] [--max-uses 400]
                                [--out docs/results/senses.json]

Uses: the test sentences of each word (a seeded sample of at most --max-uses), embedded
once per model; both methods of ``ctxembed.senses.induce`` cluster the same vectors.
Purity is the share of uses whose cluster's majority sense is their own: one cluster
scores the most frequent sense's share (the "majority" column), which a static model,
one vector for every use, cannot beat. ARI is 0 for chance and for one cluster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import write_json
from sklearn.metrics import adjusted_rand_score

import ctxembed
from ctxembed.eval import coarsewsd
from ctxembed.senses import METHODS, induce


def purity(labels: np.ndarray, gold: np.ndarray) -> float:
    return sum(np.bincount(gold[labels == k]).max() for k in np.unique(labels)) / len(gold)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="minilm-l6,glove-6b-50d")
    p.add_argument("--max-uses", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    rows: dict[str, dict] = {}
    per_word: dict[str, dict] = {}
    dropped: dict[str, int] = {}
    for name in args.models.split(","):
        model = ctxembed.load(name)
        for method in METHODS:
            rows[f"{name}/{method}"] = {"purity": [], "ari": [], "senses": [], "seconds": 0.0}
        for word in coarsewsd.WORDS:
            every = coarsewsd.load(word, "test")
            # a few rows point at another token (club's test set has one ','): left out
            ex = [e for e in every if e.tokens[e.index].lower() == word]
            dropped[word] = len(every) - len(ex)
            rng = np.random.default_rng(args.seed)
            if len(ex) > args.max_uses:
                ex = [ex[i] for i in sorted(rng.choice(len(ex), args.max_uses, replace=False))]
            gold = np.array([e.label for e in ex])
            res = model.embed_words([e.tokens for e in ex], progress=False)
            vecs = np.stack([r.vectors[e.index] for r, e in zip(res, ex, strict=True)])
            for method in METHODS:
                t0 = time.perf_counter()
                labels = induce(vecs, method=method, seed=args.seed)
                row = rows[f"{name}/{method}"]
                row["seconds"] += time.perf_counter() - t0
                scores = {
                    "uses": len(ex),
                    "gold_senses": len(np.unique(gold)),
                    "majority": float(np.bincount(gold).max() / len(gold)),
                    "senses": int(labels.max() + 1),
                    "purity": float(purity(labels, gold)),
                    "ari": float(adjusted_rand_score(gold, labels)),
                }
                per_word.setdefault(f"{name}/{method}", {})[word] = scores
                for k in ("purity", "ari", "senses"):
                    row[k].append(scores[k])
                print(f"{name:14s} {method:10s} {word:8s} " + " ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items()
                ), flush=True)  # fmt: skip
    words = per_word[next(iter(per_word))]
    summary = {
        key: {
            "purity": float(np.mean(r["purity"])),
            "ari": float(np.mean(r["ari"])),
            "senses": float(np.mean(r["senses"])),
            "words_with_several": int(sum(s > 1 for s in r["senses"])),
            "majority": float(np.mean([w["majority"] for w in words.values()])),
            "gold_senses": float(np.mean([w["gold_senses"] for w in words.values()])),
            "cluster_seconds": r["seconds"],
        }
        for key, r in rows.items()
    }
    for key, s in summary.items():
        print(f"{key:26s} " + " ".join(f"{k}={v:.3f}" for k, v in s.items()))
    if args.out:
        out = {
            "command": " ".join(["python", *sys.argv]),
            "rows": summary,
            "per_word": per_word,
            "dropped_rows": {w: n for w, n in dropped.items() if n},
        }
        write_json(args.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
