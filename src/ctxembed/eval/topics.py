"""Topic quality as the BERTopic evaluation (Grootendorst 2022, after OCTIS) measures it.

- **NPMI**: gensim's ``CoherenceModel`` with ``c_npmi`` over each topic's top 10 words, the
  corpus itself (its documents as the bags of words saw them) as the reference;
- **diversity**: the share of unique words among all topics' top 25 (Dieng et al. 2020);
- **inverted RBO**: one minus the mean rank-biased overlap (Webber et al. 2010, extrapolated,
  p = 0.9) of every pair of topics' top 10 (OCTIS's ``InvertedRBO``).

``Coherence`` reads the corpus once for every topic set it will be asked about (gensim's
accumulator keeps the co-occurrence counts of the words those topics use).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def diversity(topics: Sequence[Sequence[str]], top: int = 25) -> float:
    words = [w for t in topics for w in t[:top]]
    return len(set(words)) / max(len(words), 1)


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two lists of the same length (Webber et al. 2010,
    eq. 32): ``(X_k / k) p^k + (1 - p) / p * sum_d (X_d / d) p^d``."""
    k = min(len(a), len(b))
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    overlap, total = 0, 0.0
    for d in range(1, k + 1):
        x, y = a[d - 1], b[d - 1]
        overlap += (x == y) + (x in seen_b) + (y in seen_a)
        seen_a.add(x)
        seen_b.add(y)
        total += overlap / d * p**d
    return overlap / k * p**k + (1 - p) / p * total


def inverted_rbo(topics: Sequence[Sequence[str]], top: int = 10, p: float = 0.9) -> float:
    pairs = list(itertools.combinations([list(t[:top]) for t in topics], 2))
    if not pairs:
        return 1.0
    return 1.0 - float(np.mean([rbo(a, b, p) for a, b in pairs]))


class Coherence:
    """NPMI of topics against reference documents (lists of words)."""

    def __init__(
        self, texts: Sequence[Sequence[str]], every_topic: Sequence[Sequence[str]], top=10
    ):
        from gensim.corpora import Dictionary
        from gensim.models.coherencemodel import CoherenceModel

        self.texts = [list(t) for t in texts]
        self.dictionary = Dictionary(self.texts)
        self.top = top
        known = [[w for w in t[:top] if w in self.dictionary.token2id] for t in every_topic]
        self.model = CoherenceModel(
            topics=[t for t in known if len(t) >= 2],
            texts=self.texts,
            dictionary=self.dictionary,
            coherence="c_npmi",
            topn=top,
            processes=1,
        )
        self.model.estimate_probabilities()  # once: later topic sets reuse the counts

    def npmi(self, topics: Sequence[Sequence[str]]) -> float:
        """Mean NPMI over the topics (words the reference never uses are left out)."""
        known = [[w for w in t[: self.top] if w in self.dictionary.token2id] for t in topics]
        known = [t for t in known if len(t) >= 2]
        if not known:
            return float("nan")
        self.model.topics = known
        return float(np.mean(self.model.get_coherence_per_topic()))


def scores(topics: Sequence[Sequence[str]], coherence: Coherence) -> dict[str, float]:
    return {
        "npmi": coherence.npmi(topics),
        "diversity": diversity(topics),
        "inverted_rbo": inverted_rbo(topics),
    }
