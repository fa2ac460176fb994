"""Word similarity: Spearman x100 of cosine against gold scores (SimLex-999, WS-353, MEN, ...).

Out-of-vocabulary pairs are handled as gensim's ``evaluate_word_pairs`` does by default:
a pair with a word the model lacks is left out of the correlation and counted in
``oov_pairs``. Contextual models embed each word on its own, as a one-word text, and are
treated alike: a word their embedder marks out of vocabulary (context2vec's target table,
CoVe's GloVe inputs), or whose vector is zero, leaves its pairs out, never scored as cosine 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..embedder import Embedder, Layers
from ..errors import InputError
from ..io import read_lines
from ..models.static import StaticEmbedder
from .common import DATA as ROOT
from .common import Context, Result, checksum, layer_label

DATA = ROOT / "word_similarity"
SETS = {
    "simlex999": "EN-SIMLEX-999.txt",
    "ws353": "EN-WS-353-ALL.txt",
    "ws353-sim": "EN-WS-353-SIM.txt",
    "ws353-rel": "EN-WS-353-REL.txt",
    "men": "EN-MEN-TR-3k.txt",
    "rw": "EN-RW-STANFORD.txt",
    "simverb3500": "EN-SimVerb-3500.txt",
}


@dataclass
class WordSimResult:
    name: str
    spearman: float  # x100
    pearson: float  # x100
    pairs: int
    oov_pairs: int


def read_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """``word1 word2 score`` per line (tabs or spaces)."""
    pairs = []
    for n, line in read_lines(path):
        parts = line.split()
        if not parts or line.startswith("#"):
            continue
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            raise InputError(
                f"{path}, line {n}: expected 'word1 word2 score', got {line!r}"
            ) from None
    if not pairs:
        raise InputError(f"{path} has no word pairs")
    return pairs


def word_table(
    embedder: Embedder, words: list[str], layers: Layers = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of isolated words and a mask of the ones the model knows (reported out of
    vocabulary or a zero vector: unknown)."""
    if isinstance(embedder, StaticEmbedder):
        rows = [embedder.lookup(w) for w in words]
        known = np.array([r is not None for r in rows])
        vecs = np.zeros((len(words), embedder.dim), dtype=np.float32)
        vecs[known] = embedder.vectors[[r for r in rows if r is not None]]
    else:
        res = embedder.embed_words([[w] for w in words], layers=layers, progress=False)
        vecs = np.stack([r.vectors.mean(0) for r in res])
        known = np.array([r.oov is None or not r.oov.any() for r in res])
    return vecs, known & np.any(vecs != 0, axis=1)


def evaluate(
    embedder: Embedder,
    pairs: list[tuple[str, str, float]],
    name: str = "pairs",
    layers: Layers = -1,
) -> WordSimResult:
    r = correlate(embedder, pairs, name, layers)
    if r.pairs < 2:
        raise InputError(f"{name}: fewer than 2 pairs have both words in the vocabulary")
    return r


def correlate(
    embedder: Embedder, pairs: list[tuple[str, str, float]], name: str, layers: Layers
) -> WordSimResult:
    """The correlations over the pairs the model knows both words of (NaN under 2 pairs)."""
    words = sorted({w for a, b, _ in pairs for w in (a, b)})
    vecs, known = word_table(embedder, words, layers)
    pos = {w: i for i, w in enumerate(words)}
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    sims, gold, oov = [], [], 0
    for a, b, score in pairs:
        i, j = pos[a], pos[b]
        if not (known[i] and known[j]):
            oov += 1
            continue
        sims.append(float(unit[i] @ unit[j]))
        gold.append(score)
    few = len(sims) < 2
    return WordSimResult(
        name=name,
        spearman=math.nan if few else 100 * float(stats.spearmanr(sims, gold).statistic),
        pearson=math.nan if few else 100 * float(stats.pearsonr(sims, gold).statistic),
        pairs=len(sims),
        oov_pairs=oov,
    )


def evaluate_set(embedder: Embedder, name: str, layers: Layers = -1) -> WordSimResult:
    if name not in SETS:
        raise InputError(f"unknown word-similarity set {name!r}; known: {', '.join(SETS)}")
    return evaluate(embedder, read_pairs(DATA / SETS[name]), name=name, layers=layers)


def run(ctx: Context) -> list[Result]:
    """Every set, Spearman and Pearson x100; contextual models at ``ctx.layers`` (or at their
    ``lexical_layer``, where they have one). A set the model knows under 2 pairs of scores
    NaN (an empty cell in the report), not an error that would lose the other sets."""
    out = []
    lexical = ctx.embedder.lexical_layer
    layers = ctx.layers if lexical is None else lexical
    for name, file in SETS.items():
        pairs = ctx.take(read_pairs(DATA / file))
        r = correlate(ctx.embedder, pairs, name, layers)
        out.append(
            Result(
                task="wordsim",
                dataset=name,
                model=ctx.name,
                protocol="cosine, Spearman x100 (pairs with an unknown word left out, as gensim)",
                split="all",
                metrics={"spearman": r.spearman, "pearson": r.pearson},
                checksum=checksum(DATA / file),
                details={
                    "pairs": r.pairs,
                    "oov_pairs": r.oov_pairs,
                    "layer": layer_label(layers, ctx.embedder.n_layers),
                },
            )
        )
    return out
