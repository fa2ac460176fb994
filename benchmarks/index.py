"""Corpus indexes: build speed in-process and on Ray, approximate-search recall, and how
often contextual search returns uses of the query's sense.

    python benchmarks/index.py [--words 300000] [--out docs/results/index.json]

1. The first ``--words`` words of WikiText-2 train (whole paragraphs), embedded as word
   vectors with minilm-l6 three ways: in this process (torch on both cores), on a local Ray
   with 1 actor (2 threads) and with 2 actors (1 thread each). Words/s counts from the
   start of the build (model loading and Ray's start included) to the last shard written.
   The 2-actor build makes an HNSW index (``flat_max`` below its size) and reports its
   recall@10 against exact search.
2. CoarseWSD-20: an index of the train sentences (the 20 target words' rows), then each
   test sentence (at most ``--queries`` per word) asks for the 10 train uses nearest to its
   target word: the share of those with the query's gold sense (precision@10), for
   minilm-l6 and glove-6b-50d, with the share a random pick would get (the train share of
   the query's sense).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import write_json

from ctxembed.datasets import data_path
from ctxembed.eval.coarsewsd import WORDS, load
from ctxembed.scale.index import Index, build_index


def wikitext(n_words: int, path: Path) -> int:
    out, total = [], 0
    with gzip.open(data_path("wikitext2", "wiki.train.tokens.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("="):
                continue
            out.append(line)
            total += len(line.split())
            if total >= n_words:
                break
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return total


def speed(args, tmp: Path) -> dict:
    corpus = tmp / "wiki.txt"
    n = wikitext(args.words, corpus)
    rows = {}
    for key, address, actors, flat_max in (
        ("in-process", None, 1, 10**9),
        ("ray, 1 actor", "local", 1, 10**9),
        ("ray, 2 actors", "local", 2, 100_000),
    ):
        info = build_index(
            args.model,
            [corpus],
            tmp / key.replace(" ", "").replace(",", "-"),
            ray_address=address,
            actors=actors,
            shard_size=args.shard_size,
            flat_max=flat_max,
            progress=False,
        )
        rows[key] = {
            "words": n,
            "seconds": info["embed_seconds"],
            "words_per_s": n / info["embed_seconds"],
        }
        if "recall_at_10" in info:
            rows[key] |= {
                "index": info["kind"],
                "vectors": info["vectors"],
                "recall_at_10": info["recall_at_10"],
            }
        print(
            key,
            {k: round(v, 3) if isinstance(v, float) else v for k, v in rows[key].items()},
            flush=True,
        )
    base = rows["in-process"]["words_per_s"]
    for row in rows.values():
        row["speedup"] = row["words_per_s"] / base
    return rows


def unblank(tokens: list[str], index: int) -> tuple[list[str], int]:
    """The tokens without the empty ones CoarseWSD-20 has (double spaces), and the target's
    index among them."""
    keep = [i for i, t in enumerate(tokens) if t.strip()]
    return [tokens[i] for i in keep], keep.index(index)


def senses(args, tmp: Path) -> dict:
    train = {w: load(w, "train") for w in WORDS}
    corpus = tmp / "coarsewsd-train.jsonl"
    owner = []  # text id -> (word, label)
    with open(corpus, "w", encoding="utf-8") as f:
        for w, examples in train.items():
            for e in examples:
                f.write(json.dumps({"words": unblank(e.tokens, e.index)[0]}) + "\n")
                owner.append((w, e.label))
    rows = {}
    for model in ("minilm-l6", "glove-6b-50d"):
        folder = tmp / f"coarsewsd-{model}"
        t0 = time.perf_counter()
        build_index(model, [corpus], folder, only_words=WORDS, ray_address="local", progress=False)
        build = time.perf_counter() - t0
        index = Index(folder)
        per_word, chance = {}, {}
        for w in WORDS:
            share = np.mean(
                [
                    [e.label == k for e in train[w]]
                    for k in range(max(e.label for e in train[w]) + 1)
                ],
                axis=1,
            )
            precision = []
            for e in load(w, "test")[: args.queries]:
                words, at = unblank(e.tokens, e.index)
                if words[at].lower() != w:  # a few gold indices miss the word by one
                    at = None  # its first use in the sentence
                hits = index.search_word(w, words, k=10, at=at)
                own = [owner[h.text_id] for h in hits if h.word.lower() == w]
                precision.append(np.mean([lab == e.label and word == w for word, lab in own]))
                chance.setdefault(w, []).append(share[e.label])
            per_word[w] = float(np.mean(precision))
        rows[model] = {
            "precision_at_10": float(np.mean(list(per_word.values()))),
            "chance": float(np.mean([np.mean(v) for v in chance.values()])),
            "build_seconds": build,
            "per_word": per_word,
        }
        print(model, {k: v for k, v in rows[model].items() if k != "per_word"}, flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--words", type=int, default=300_000)
    p.add_argument("--shard-size", type=int, default=200)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--parts", nargs="+", choices=("speed", "senses"), default=["speed", "senses"])
    p.add_argument("--out", type=Path, default=None, help="parts not run keep their results")
    args = p.parse_args()
    results: dict = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="ctxembed-index-") as tmp:
        for part in args.parts:
            results[part] = {"speed": speed, "senses": senses}[part](args, Path(tmp))
            results[f"{part}_command"] = " ".join(["python", *sys.argv])
            if args.out:
                write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
