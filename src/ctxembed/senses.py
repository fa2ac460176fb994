"""Word sense induction: cluster the vectors of a word's uses, name each cluster by its
neighbour words and most typical sentences (``ctxembed senses``, the explorer page).

No gold labels: the number of senses comes from the vectors (silhouette over k-means, or
HDBSCAN's density clusters, both from scikit-learn). A static model gives every use the
same vector, so it always shows one sense.
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embedder import Embedder, Layers
from .errors import InputError
from .families import load
from .io import atomic_file, check_out_file, read_lines
from .options import layer_option, overwrite, positive
from .text.words import split_words

METHODS = ("silhouette", "hdbscan")
SMALL = 6  # below this many uses there is too little to cluster: uses are merged by cosine
MERGE_COSINE = 0.83  # two uses of a small set share a sense above this (average linkage)
MIN_SILHOUETTE = 0.05  # below it, k >= 2 clusters explain nothing: one sense
SAME = 1e-4  # uses whose vectors differ by less (cosine distance) are one point


@dataclass
class Use:
    text: str  # the sentence
    start: int  # character span of the word in it
    end: int


@dataclass
class Sense:
    label: int
    size: int
    neighbours: list[str]  # context words nearest the sense's centroid
    examples: list[int]  # indices into the uses, most typical first


@dataclass
class Senses:
    word: str
    uses: list[Use]
    labels: np.ndarray  # one sense per use, 0 the largest
    points: np.ndarray  # [n, 2] projection for plots
    senses: list[Sense] = field(default_factory=list)


# -- finding uses ----------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def sentences(lines: Sequence[str]) -> list[str]:
    """Split lines (paragraphs) at sentence ends; WikiText headings (`` = Title = ``) are skipped."""
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("="):
            continue
        out.extend(s for s in _SENTENCE_END.split(line) if s)
    return out


def find_uses(word: str, texts: Sequence[str], limit: int | None = None) -> list[Use]:
    """Every case-insensitive whole-word occurrence of ``word`` in ``texts``, in order."""
    target = word.lower()
    uses = []
    for text in texts:
        if target not in text.lower():  # most texts: skip the word splitter
            continue
        words, offsets = split_words(text)
        for w, (s, e) in zip(words, offsets, strict=True):
            if w.lower() == target:
                uses.append(Use(text, s, e))
                if limit is not None and len(uses) >= limit:
                    return uses
    return uses


def use_vectors(
    model: Embedder, uses: Sequence[Use], layers: Layers = -1, batch_size: int = 32
) -> tuple[np.ndarray, list]:
    """The word's vector at each use ``[n, dim]``, and the embedded texts (each text once)."""
    texts = list(dict.fromkeys(u.text for u in uses))
    res = model.embed_words(texts, layers=layers, batch_size=batch_size)
    by_text = dict(zip(texts, res, strict=True))
    vecs = []
    for u in uses:
        r = by_text[u.text]
        vecs.append(r.vectors[r.offsets.index((u.start, u.end))])
    return np.stack(vecs), [by_text[t] for t in texts]


# -- clustering ------------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def induce(
    vectors: np.ndarray,
    method: str = "silhouette",
    max_senses: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """A sense per use ``[n]``, 0 the largest cluster.

    ``silhouette``: k-means for k = 2..max_senses on the uses' centred unit vectors, the k
    with the best cosine silhouette, one sense if even that is below ``MIN_SILHOUETTE``.
    ``hdbscan``: density clusters (the ``max_senses`` largest stay; uses it calls noise and
    those of smaller clusters join the nearest). Fewer
    than ``SMALL`` uses are merged while their average cosine is at least ``MERGE_COSINE``.
    """
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import silhouette_score

    if method not in METHODS:
        raise InputError(f"method={method!r}: use one of {', '.join(METHODS)}")
    if max_senses < 1:
        raise InputError(f"max_senses must be at least 1, got {max_senses}")
    n = len(vectors)
    raw = np.asarray(vectors, dtype=np.float64)
    zero = np.flatnonzero(np.linalg.norm(raw, axis=1) == 0)
    if len(zero):
        raise InputError(
            f"use {zero[0]} (of {n}) has a zero vector: the model does not know the word "
            "there (a static model's out-of-vocabulary word); pick a word it knows"
        )
    unit = _unit(raw)
    centre = unit.mean(0)
    spread = 1 - unit @ centre / max(np.linalg.norm(centre), 1e-12)
    if n < 2 or max_senses == 1 or spread.max() < SAME:
        return np.zeros(n, dtype=np.int64)
    if n < SMALL:
        labels = AgglomerativeClustering(
            n_clusters=None,
            metric="cosine",
            linkage="average",
            distance_threshold=1 - MERGE_COSINE,
        ).fit_predict(unit)
        if labels.max() + 1 > max_senses:
            labels = AgglomerativeClustering(
                n_clusters=max_senses, metric="cosine", linkage="average"
            ).fit_predict(unit)
        return _by_size(labels)
    # centred: the uses of one word share a large common direction that hides their senses
    x = _unit(unit - unit.mean(0))
    if method == "hdbscan":
        labels = HDBSCAN(
            min_cluster_size=max(3, n // 20), metric="euclidean", copy=True
        ).fit_predict(x)
        found = sorted(set(labels) - {-1})
        if len(found) < 2:
            return np.zeros(n, dtype=np.int64)
        # the max_senses largest clusters stay; noise and the smaller ones join the nearest
        sizes = {k: int((labels == k).sum()) for k in found}
        kept = sorted(found, key=lambda k: -sizes[k])[:max_senses]
        cents = _unit(np.stack([x[labels == k].mean(0) for k in kept]))
        moved = ~np.isin(labels, kept)
        if moved.any():
            labels[moved] = np.asarray(kept)[(x[moved] @ cents.T).argmax(1)]
        return _by_size(labels)
    best, best_labels = MIN_SILHOUETTE, None
    for k in range(2, min(max_senses, n - 1) + 1):
        with warnings.catch_warnings():  # fewer distinct uses than k: k-means says so, we skip
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
        if len(set(labels)) < 2:
            continue
        score = silhouette_score(x, labels, metric="cosine")
        if score > best:
            best, best_labels = score, labels
    return np.zeros(n, dtype=np.int64) if best_labels is None else _by_size(best_labels)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0.. by size, largest first (ties: first seen)."""
    ids, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda j: (-counts[j], first[j]))
    new = {ids[j]: r for r, j in enumerate(order)}
    return np.array([new[v] for v in labels], dtype=np.int64)


def project(vectors: np.ndarray, how: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D points of the uses ``[n, 2]``: PCA of the unit vectors, or UMAP (``umap-learn``)."""
    x = _unit(np.asarray(vectors, dtype=np.float64))
    n = len(x)
    if n < 2 or np.abs(x - x.mean(0)).max() < 1e-6:
        return np.zeros((n, 2))
    if how == "umap" and n >= 5:
        try:
            import umap
        except ImportError:
            raise InputError(
                "projection 'umap' needs umap-learn: pip install umap-learn (or use 'pca')"
            ) from None
        return umap.UMAP(
            n_neighbors=min(15, n - 1), metric="cosine", random_state=seed, n_jobs=1
        ).fit_transform(x)
    if how not in ("pca", "umap"):
        raise InputError(f"projection {how!r}: use 'pca' or 'umap'")
    from sklearn.decomposition import PCA

    pts = PCA(n_components=min(2, n), random_state=seed).fit_transform(x)
    return np.pad(pts, ((0, 0), (0, 2 - pts.shape[1])))


def neighbour_words(
    centroids: np.ndarray, embedded: Sequence, exclude: str, k: int = 8
) -> list[list[str]]:
    """Per centroid, the ``k`` context words (by type, lower-cased; stop words, numbers and
    punctuation left out) whose mean vector is nearest to it. With several centroids both
    sides are centred first (centroids on their mean, words on theirs), so each sense is
    named by what sets it apart rather than by what all uses of the word share."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for r in embedded:
        for w, v in zip(r.words, r.vectors, strict=True):
            t = w.lower()
            if t == exclude or len(t) < 3 or not t.isalpha() or t in ENGLISH_STOP_WORDS:
                continue
            sums[t] = sums.get(t, 0) + v
            counts[t] = counts.get(t, 0) + 1
    if not sums:
        return [[] for _ in centroids]
    types = list(sums)
    table = np.stack([sums[t] / counts[t] for t in types])
    cents = np.asarray(centroids, dtype=np.float64)
    if len(cents) > 1:
        cents, table = cents - cents.mean(0), table - table.mean(0)
    sims = _unit(cents) @ _unit(table).T
    return [[types[j] for j in np.argsort(-row, kind="stable")[:k]] for row in sims]


def describe(
    word: str,
    uses: list[Use],
    vectors: np.ndarray,
    embedded: Sequence,
    method: str = "silhouette",
    max_senses: int = 5,
    projection: str = "pca",
    n_examples: int = 3,
    seed: int = 0,
) -> Senses:
    """Cluster the uses and describe each cluster."""
    labels = induce(vectors, method, max_senses, seed)
    unit = _unit(np.asarray(vectors, dtype=np.float64))
    cents = np.stack([unit[labels == k].mean(0) for k in range(labels.max() + 1)])
    near = neighbour_words(cents, embedded, word.lower())
    out = []
    for k in range(len(cents)):
        members = np.flatnonzero(labels == k)
        typical = members[np.argsort(-(unit[members] @ cents[k]), kind="stable")]
        out.append(Sense(k, len(members), near[k], typical[:n_examples].tolist()))
    return Senses(word, uses, labels, project(vectors, projection, seed), out)


def induce_senses(
    model: Embedder,
    word: str,
    texts: Sequence[str],
    layers: Layers = -1,
    max_uses: int = 500,
    **options,
) -> Senses:
    """Find ``word`` in ``texts``, embed its uses and cluster them (see ``describe``)."""
    if not word.strip() or len(split_words(word)[0]) != 1:
        raise InputError(f"{word!r}: give one word (as the word splitter sees it)")
    uses = find_uses(word, texts, max_uses)
    if not uses:
        raise InputError(f"{word!r} does not occur in the texts: pick a word they contain")
    vectors, embedded = use_vectors(model, uses, layers)
    return describe(word, uses, vectors, embedded, **options)


def plot(result: Senses, path: Path, title: str) -> None:
    """A PNG of the uses in 2-D, one colour per sense, the legend naming its neighbours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for s in result.senses:
        pts = result.points[result.labels == s.label]
        name = ", ".join(s.neighbours[:4]) or "-"
        ax.scatter(
            pts[:, 0], pts[:, 1], s=14, alpha=0.7, label=f"sense {s.label} ({s.size}): {name}"
        )
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)


# -- `ctxembed senses` -----------------------------------------------------------------------
HELP = "induce a word's senses from its uses in a corpus (clusters, neighbours, a PNG)"


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("word")
    s.add_argument("--model", required=True)
    s.add_argument(
        "--corpus",
        default=None,
        help="text file(s) (plain or .gz), one paragraph or sentence per line; "
        "default: WikiText-2 train",
        nargs="+",
    )
    s.add_argument("--layers", type=layer_option, default=-1)
    s.add_argument("--method", choices=METHODS, default="silhouette")
    s.add_argument("--max-senses", type=positive, default=5)
    s.add_argument("--max-uses", type=positive, default=500, help="uses read from the corpus")
    s.add_argument("--projection", choices=("pca", "umap"), default="pca")
    s.add_argument("--png", type=Path, default=None, help="write the plot here")
    overwrite(s, "an existing --png file")
    s.add_argument("--seed", type=seed, default=0)


def seed(value: str) -> int:
    n = int(value)
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"must be 0..{2**32 - 1}, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from .datasets import data_path

    corpus = args.corpus or [data_path("wikitext2", "wiki.train.tokens.gz")]
    if args.png is not None:
        if args.png.suffix.lower() != ".png":
            raise InputError(f"--png {args.png}: give a file name ending in .png")
        check_out_file(args.png, args.overwrite, [Path(p) for p in corpus])
    lines = [line for path in corpus for _, line in read_lines(path)]
    model = load(args.model)
    result = induce_senses(
        model,
        args.word,
        sentences(lines),
        args.layers,
        args.max_uses,
        method=args.method,
        max_senses=args.max_senses,
        projection=args.projection,
        seed=args.seed,
    )
    cut = (
        " (the first --max-uses; raise it to read more)"
        if len(result.uses) == args.max_uses
        else ""
    )
    print(
        f"{args.word!r}: {len(result.uses)} uses{cut}, {len(result.senses)} sense(s) ({args.model})"
    )
    for s in result.senses:
        print(f"\nsense {s.label}: {s.size} uses; neighbours: {', '.join(s.neighbours) or '-'}")
        for i in s.examples:
            u = result.uses[i]
            print(f"  - {u.text[: u.start]}[{u.text[u.start : u.end]}]{u.text[u.end :]}"[:240])
    if args.png is not None:
        plot(result, args.png, f"'{args.word}' in {args.model}: {len(result.senses)} sense(s)")
        print(f"\nwrote {args.png}")
    return 0
