"""Sentence similarity: Spearman and Pearson x100 of the cosine of two sentence vectors.

STS-B train and dev (the test split is held out) and SICK-R (SemEval-2014 test split),
unsupervised: no training, the embedding's cosine against the gold score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from ..datasets import STS_SETS, sts_pairs
from .common import DATA, Context, Result, checksum, unit

SETS = {name: (DATA / path, split) for name, (path, split) in STS_SETS.items()}


def evaluate(a: np.ndarray, b: np.ndarray, gold: list[float]) -> dict[str, float]:
    cos = (unit(a) * unit(b)).sum(1)
    return {
        "spearman": 100 * float(stats.spearmanr(cos, gold).statistic),
        "pearson": 100 * float(stats.pearsonr(cos, gold).statistic),
    }


def run(ctx: Context) -> list[Result]:
    out = []
    for name, (path, split) in SETS.items():
        pairs = ctx.take(sts_pairs(name))
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
