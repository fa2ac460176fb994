"""Sentence similarity: Spearman and Pearson x100 of the cosine of two sentence vectors.

STS-B train and dev (the test split is held out) and SICK-R (SemEval-2014 test split),
unsupervised: no training, the embedding's cosine against the gold score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import InputError
from ..io import read_lines
from .common import DATA, Context, Result, checksum, unit

SETS = {
    "stsb-train": (DATA / "stsb" / "sts-train.csv.gz", "train"),
    "stsb-dev": (DATA / "stsb" / "sts-dev.csv.gz", "dev"),
    "sick-r": (DATA / "sick" / "SICK_test_annotated.txt.gz", "test"),
}


def load(name: str) -> list[tuple[str, str, float]]:
    """``(sentence1, sentence2, gold score)`` per pair."""
    if name not in SETS:
        raise InputError(f"unknown sentence-similarity set {name!r}; known: {', '.join(SETS)}")
    path, _ = SETS[name]
    out = []
    for n, line in read_lines(path):
        f = line.split("\t")
        try:
            if name.startswith("stsb"):
                out.append((f[5], f[6], float(f[4])))
            elif n > 1:  # SICK has a header
                out.append((f[1], f[2], float(f[3])))
        except (IndexError, ValueError):
            raise InputError(f"{path}, line {n}: cannot read a sentence pair and score") from None
    return out


def evaluate(a: np.ndarray, b: np.ndarray, gold: list[float]) -> dict[str, float]:
    cos = (unit(a) * unit(b)).sum(1)
    return {
        "spearman": 100 * float(stats.spearmanr(cos, gold).statistic),
        "pearson": 100 * float(stats.pearsonr(cos, gold).statistic),
    }


def run(ctx: Context) -> list[Result]:
    out = []
    for name, (path, split) in SETS.items():
        pairs = ctx.take(load(name))
        texts = [s for p in pairs for s in p[:2]]
        vecs = ctx.sentence_vectors(texts, name)
        out.append(
            Result(
                task="sts",
                dataset=name,
                model=ctx.name,
                protocol="cosine of sentence vectors, x100",
                split=split,
                metrics=evaluate(vecs[0::2], vecs[1::2], [p[2] for p in pairs]),
                checksum=checksum(Path(path)),
                details={"pairs": len(pairs)},
            )
        )
    return out
