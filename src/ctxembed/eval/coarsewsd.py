"""CoarseWSD-20 (Loureiro et al. 2021): 20 ambiguous nouns, 2-5 coarse senses each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from ..errors import InputError
from ..io import read_lines
from .common import DATA as ROOT
from .common import Context, Result, checksum, layer_label, pick, unit

DATA = ROOT / "coarsewsd20"
WORDS = [
    "apple",
    "arm",
    "bank",
    "bass",
    "bow",
    "chair",
    "club",
    "crane",
    "deck",
    "digit",
    "hood",
    "java",
    "mole",
    "pitcher",
    "pound",
    "seal",
    "spring",
    "square",
    "trunk",
    "yard",
]


@dataclass
class Example:
    tokens: list[str]
    index: int  # position of the target word in tokens
    label: int  # sense id, a key of ``senses(word)``


def senses(word: str, root: Path = DATA) -> dict[int, str]:
    """Sense id -> sense name, e.g. ``{0: 'bank_bank', 1: 'bank_bank_(geography)'}``."""
    path = _word_dir(word, root) / "classes_map.txt"
    return {int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def load(word: str, split: str, root: Path = DATA) -> list[Example]:
    """The ``train`` or ``test`` examples of one word."""
    if split not in ("train", "test"):
        raise InputError(f"split={split!r}: use 'train' or 'test'")
    folder = _word_dir(word, root)
    data = [line for _, line in read_lines(folder / f"{split}.data.txt.gz")]
    gold = [line for _, line in read_lines(folder / f"{split}.gold.txt")]
    if len(data) != len(gold):
        raise InputError(f"{folder}: {len(data)} {split} sentences but {len(gold)} gold labels")
    out = []
    for n, (row, label) in enumerate(zip(data, gold, strict=True), 1):
        idx, _, sentence = row.partition("\t")
        tokens = sentence.split(" ")
        if not idx.isdigit() or int(idx) >= len(tokens) or not tokens[int(idx)]:
            raise InputError(f"{folder}/{split}.data.txt.gz, line {n}: bad target index {idx!r}")
        out.append(Example(tokens, int(idx), int(label)))
    return out


def _word_dir(word: str, root: Path) -> Path:
    folder = root / word
    if not folder.is_dir():
        raise InputError(
            f"no CoarseWSD-20 data for {word!r} under {root}; words: {', '.join(WORDS)}"
        )
    return folder


# -- the task ----------------------------------------------------------------------------
SHOTS = (1, 3, 10, 30)
SHOT_REPEATS = 5  # few-shot scores are the mean over this many seeded samples


def nearest_centroid(
    train: np.ndarray, train_y: np.ndarray, test: np.ndarray, labels: list[int]
) -> np.ndarray:
    """1-NN over sense centroids (the mean training vector of each sense), by cosine.

    Ties go to the sense more frequent in training: a static model gives every use of a
    word one vector, all its centroids coincide, and it falls back to the most frequent sense.
    """
    counts = {s: int((train_y == s).sum()) for s in labels}
    order = sorted(labels, key=lambda s: -counts[s])
    dim = train.shape[1]
    cents = np.stack([train[train_y == s].mean(0) if counts[s] else np.zeros(dim) for s in order])
    scores = unit(test) @ unit(cents).T
    best = scores >= scores.max(1, keepdims=True) - 1e-6
    return np.asarray(order)[best.argmax(1)]


def _scores(gold: np.ndarray, pred: np.ndarray, labels: list[int]) -> tuple[float, float]:
    f1 = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
    return 100 * float(f1), 100 * float((gold == pred).mean())


def _sample(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` training examples of each sense."""
    idx = [
        rng.choice(np.flatnonzero(y == s), size=min(k, int((y == s).sum())), replace=False)
        for s in np.unique(y)
    ]
    return np.concatenate(idx)


def run(ctx: Context) -> list[Result]:
    """Feature extraction protocol of Loureiro et al. 2021, per layer, plus MFS and few-shot."""
    files = [
        DATA / w / f
        for w in WORDS
        for f in ("train.data.txt.gz", "test.data.txt.gz", "train.gold.txt", "test.gold.txt")
    ]
    sha = checksum(*files)
    per_layer: dict[str, dict[str, tuple[float, float]]] = {}
    mfs: dict[str, tuple[float, float]] = {}
    shots: dict[int, dict[str, tuple[float, float]]] = {k: {} for k in SHOTS}
    choices = [("main", ctx.layers)] + ctx.layer_choices()
    for word in WORDS:
        train, test = ctx.take(load(word, "train")), ctx.take(load(word, "test"))
        labels = sorted(senses(word))
        vec = ctx.target_vectors(
            [(e.tokens, e.index) for e in train + test], f"CoarseWSD-20 {word}"
        )
        tr_y = np.array([e.label for e in train])
        te_y = np.array([e.label for e in test])
        for name, layers in choices:
            X = pick(vec, layers)
            pred = nearest_centroid(X[: len(train)], tr_y, X[len(train) :], labels)
            per_layer.setdefault(name, {})[word] = _scores(te_y, pred, labels)
        common = np.bincount(tr_y).argmax()
        mfs[word] = _scores(te_y, np.full_like(te_y, common), labels)
        X = pick(vec, ctx.layers)
        rng = np.random.default_rng(ctx.seed)
        for k in SHOTS:
            runs = []
            for _ in range(SHOT_REPEATS):
                idx = _sample(tr_y, k, rng)
                runs.append(
                    _scores(
                        te_y, nearest_centroid(X[idx], tr_y[idx], X[len(train) :], labels), labels
                    )
                )
            shots[k][word] = tuple(np.mean(runs, axis=0))

    def summary(scores: dict[str, tuple[float, float]]) -> dict[str, float]:
        return {
            "macro_f1": float(np.mean([f for f, _ in scores.values()])),
            "accuracy": float(np.mean([a for _, a in scores.values()])),
        }

    def per_word(scores: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
        return {w: {"macro_f1": f, "accuracy": a} for w, (f, a) in scores.items()}

    n_layers = ctx.embedder.n_layers
    base = dict(task="coarsewsd", dataset="CoarseWSD-20", split="test", checksum=sha)
    results = [
        Result(
            **base,
            model=ctx.name,
            protocol="1-NN sense centroids, full train",
            metrics=summary(per_layer["main"]),
            details={
                "layer": layer_label(ctx.layers, n_layers),
                "per_word": per_word(per_layer["main"]),
                "per_layer": {n: summary(s) for n, s in per_layer.items() if n != "main"},
            },
        ),
        Result(
            **base,
            model="most frequent sense",
            protocol="1-NN sense centroids, full train",
            metrics=summary(mfs),
            details={"per_word": per_word(mfs)},
        ),
    ]
    for k in SHOTS:
        results.append(
            Result(
                **base,
                model=ctx.name,
                protocol=f"1-NN sense centroids, {k}-shot (mean of {SHOT_REPEATS} seeded samples)",
                metrics=summary(shots[k]),
                details={
                    "layer": layer_label(ctx.layers, n_layers),
                    "per_word": per_word(shots[k]),
                },
            )
        )
    return results
