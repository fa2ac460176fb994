"""WiC (Pilehvar and Camacho-Collados 2019): is the target word used in the same sense in both?

Two protocols, trained on train and scored on dev (the test split is held out):
- ``threshold``: the cosine of the two target vectors, with the threshold that maximises
  train accuracy;
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


def best_threshold(cos: np.ndarray, y: np.ndarray) -> float:
    """The cut (midpoint between neighbouring cosines) with the best accuracy on (cos, y)."""
    order = np.argsort(cos)
    c, t = cos[order], y[order].astype(int)
    # predicting "same" above cut k: correct = negatives below + positives at/above
    neg_below = np.r_[0, np.cumsum(1 - t)]
    pos_above = t.sum() - np.r_[0, np.cumsum(t)]
    k = int(np.argmax(neg_below + pos_above))
    if k == 0:
        return float(c[0] - 1e-6)
    if k == len(c):
        return float(c[-1] + 1e-6)
    return float((c[k - 1] + c[k]) / 2)


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

    def threshold_acc(layers) -> tuple[float, float]:
        cos = {
            s: (unit(pick(a, layers)) * unit(pick(b, layers))).sum(1) for s, (a, b) in vec.items()
        }
        cut = best_threshold(cos["train"], y_tr)
        return 100 * float(((cos["dev"] > cut) == y_dev).mean()), cut

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

    acc, cut = threshold_acc(ctx.layers)
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
