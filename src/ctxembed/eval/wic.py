"""WiC (Pilehvar and Camacho-Collados 2019): is the target word used in the same sense in both?

Two protocols, trained on train and scored on dev (the test split is held out):
- ``threshold``: the cosine of the two target vectors (float64), with the threshold that
  maximises train accuracy; cosines within ``TIE`` of each other count as one value, so a cut
  never falls between equal vectors whose cosines differ only by rounding;
- ``probe``: logistic regression on ``[u, v, |u - v|, u * v]`` (standardised), its L2
  strength chosen by 5-fold cross-validation on train at the main layer.
Both are also scored for every layer and for the mean of all layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import InputError
from ..io import read_lines
from .common import DATA, Context, Result, checksum, layer_label, pick, unit

ROOT = DATA / "wic"
C_GRID = (0.01, 0.1, 1.0)
# cosines closer than this are one value: float64 cosines of identical float32 vectors differ
# in the last bits with summation order and memory layout (cosines are at most 1 in size, so
# this is ~1e-9 relative where it matters, near 1)
TIE = 1e-9


@dataclass
class Pair:
    word: str
    pos: str
    a: tuple[list[str], int]
    b: tuple[list[str], int]
    same: bool


def files(split: str) -> tuple[Path, Path]:
    if split not in ("train", "dev"):
        raise InputError(f"WiC split {split!r}: use 'train' or 'dev' (the test split is held out)")
    return ROOT / f"{split}.data.txt.gz", ROOT / f"{split}.gold.txt"


def load(split: str) -> list[Pair]:
    data_path, gold_path = files(split)
    gold = [line.strip() for _, line in read_lines(gold_path)]
    pairs = []
    for n, line in read_lines(data_path):
        try:
            word, pos, idx, s1, s2 = line.split("\t")
            i1, i2 = (int(x) for x in idx.split("-"))
        except ValueError:
            raise InputError(
                f"{data_path}, line {n}: expected word, PoS, i-j and two sentences"
            ) from None
        pairs.append(Pair(word, pos, (s1.split(" "), i1), (s2.split(" "), i2), gold[n - 1] == "T"))
    if len(pairs) != len(gold):
        raise InputError(f"{data_path}: {len(pairs)} pairs but {len(gold)} gold labels")
    return pairs


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine in float64 (float32 rounding alone moves identical pairs around 1)."""
    return (unit(a.astype(np.float64)) * unit(b.astype(np.float64))).sum(-1)


def threshold_accuracy(cos: np.ndarray, y: np.ndarray, cut: float) -> float:
    """Accuracy x100 of predicting "same" where ``cos > cut``."""
    return 100 * float(((cos > cut) == y).mean())


def best_threshold(cos: np.ndarray, y: np.ndarray) -> float:
    """The cut with the best accuracy on (cos, y), only between distinct cosines.

    Cosines within ``TIE`` of their neighbour are merged into one value; the cut is the
    midpoint between two merged values (or just outside all of them), so it reproduces the
    accuracy it was chosen for whatever the rounding of equal pairs.
    """
    order = np.argsort(cos, kind="stable")
    c, t = cos[order], y[order].astype(int)
    starts = np.r_[0, np.flatnonzero(np.diff(c) > TIE) + 1]  # first index of each value
    # cutting below value g: correct = negatives in values < g + positives in values >= g
    neg_below = np.r_[0, np.cumsum(1 - t)][np.r_[starts, len(c)]]
    pos_above = t.sum() - np.r_[0, np.cumsum(t)][np.r_[starts, len(c)]]
    g = int(np.argmax(neg_below + pos_above))
    if g == 0:
        cut = float(c[0] - 1e-6)
    elif g == len(starts):
        cut = float(c[-1] + 1e-6)
    else:
        cut = float((c[starts[g] - 1] + c[starts[g]]) / 2)
    # the cut must reproduce the count it was chosen for
    if round(threshold_accuracy(cos, y, cut) * len(c) / 100) != neg_below[g] + pos_above[g]:
        raise RuntimeError(f"WiC threshold {cut} does not reproduce the count it was chosen for")
    return cut


def features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def run(ctx: Context) -> list[Result]:
    train, dev = ctx.take(load("train")), ctx.take(load("dev"))
    sha = checksum(*files("train"), *files("dev"))
    vec = {}
    for split, pairs in (("train", train), ("dev", dev)):
        items = [p.a for p in pairs] + [p.b for p in pairs]
        v = ctx.target_vectors(items, f"WiC {split}")
        vec[split] = (v[: len(pairs)], v[len(pairs) :])
    y_tr = np.array([p.same for p in train])
    y_dev = np.array([p.same for p in dev])

    def threshold_acc(layers) -> tuple[float, float, float]:
        """Dev accuracy, the cut, and the train accuracy the cut gives."""
        cos = {s: cosines(pick(a, layers), pick(b, layers)) for s, (a, b) in vec.items()}
        cut = best_threshold(cos["train"], y_tr)
        return (
            threshold_accuracy(cos["dev"], y_dev, cut),
            cut,
            threshold_accuracy(cos["train"], y_tr, cut),
        )

    def probe(layers, C: float | None = None) -> tuple[float, float]:
        X_tr = features(pick(vec["train"][0], layers), pick(vec["train"][1], layers))
        X_dev = features(pick(vec["dev"][0], layers), pick(vec["dev"][1], layers))
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        if C is None:
            search = GridSearchCV(model, {"logisticregression__C": C_GRID}, cv=5)
            search.fit(X_tr, y_tr)
            C = float(search.best_params_["logisticregression__C"])
        model.set_params(logisticregression__C=C).fit(X_tr, y_tr)
        return 100 * float(model.score(X_dev, y_dev)), C

    acc, cut, train_acc = threshold_acc(ctx.layers)
    p_acc, C = probe(ctx.layers)
    per_layer = {}
    for name, layers in ctx.layer_choices():
        per_layer[name] = {"threshold": threshold_acc(layers)[0], "probe": probe(layers, C)[0]}
    label = layer_label(ctx.layers, ctx.embedder.n_layers)
    base = dict(task="wic", dataset="WiC", model=ctx.name, split="dev", checksum=sha)
    majority = 100 * max(y_dev.mean(), 1 - y_dev.mean())
    return [
        Result(
            **base,
            protocol="cosine threshold (chosen on train)",
            metrics={"accuracy": acc},
            details={
                "threshold": cut,
                "train_accuracy": train_acc,
                "layer": label,
                "per_layer": per_layer,
                "majority_class": majority,
            },
        ),
        Result(
            **base,
            protocol="logistic-regression probe on [u, v, |u-v|, u*v]",
            metrics={"accuracy": p_acc},
            details={"C": C, "layer": label, "majority_class": majority},
        ),
    ]
