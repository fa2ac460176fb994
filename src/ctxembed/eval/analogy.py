"""Word analogy (Mikolov et al. 2013): a is to b as c is to ?, by 3CosAdd.

The answer is ``argmax_d cos(d, b - a + c)`` over the vocabulary's ``restrict`` most
frequent words (300k, or the whole vocabulary if smaller), leaving out a, b and c, with
unit-normalised vectors. Questions are lowercased and those with a word outside that
vocabulary are skipped, as gensim's ``evaluate_word_analogies`` does; accuracy is over the
answered questions and ``coverage`` says how many that was. Static models only: a
contextual model has no vocabulary of word vectors to search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import read_lines
from ..models.static import StaticEmbedder
from .common import DATA, Context, Result, TaskNotApplicable, checksum, unit

FILE = DATA / "analogy" / "questions-words.txt.gz"
SEMANTIC = 5  # the first five sections are semantic, the rest syntactic


def read_questions(path: Path = FILE) -> list[tuple[str, list[str]]]:
    """``(section, [a, b, c, d])`` per question."""
    out, section = [], None
    for n, line in read_lines(path):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if len(words) != 4 or section is None:
            raise InputError(f"{path}, line {n}: expected ': section' or four words")
        out.append((section, words))
    return out


def evaluate(
    model: StaticEmbedder, questions: list[tuple[str, list[str]]], restrict: int = 300_000
) -> dict:
    words = model.words[:restrict]
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w.lower(), i)
    vecs = unit(model.vectors[: len(words)])
    sections = list(dict.fromkeys(s for s, _ in questions))
    keep = [(s, [index[w] for w in q]) for s, q in questions if all(w in index for w in q)]
    correct = np.zeros(len(keep), dtype=bool)
    for c in range(0, len(keep), 256):
        ids = np.array([q for _, q in keep[c : c + 256]])
        target = vecs[ids[:, 1]] - vecs[ids[:, 0]] + vecs[ids[:, 2]]
        scores = target @ vecs.T
        rows = np.arange(len(ids))[:, None]
        scores[rows, ids[:, :3]] = -np.inf
        correct[c : c + len(ids)] = scores.argmax(1) == ids[:, 3]
    sec_of = np.array([sections.index(s) for s, _ in keep])
    sem = sec_of < SEMANTIC

    def acc(mask: np.ndarray) -> float:
        return 100 * float(correct[mask].mean()) if mask.any() else float("nan")

    return {
        "accuracy": acc(np.ones(len(keep), dtype=bool)),
        "semantic": acc(sem),
        "syntactic": acc(~sem),
        "coverage": 100 * len(keep) / len(questions),
        "answered": len(keep),
        "questions": len(questions),
        "per_section": {s: acc(sec_of == k) for k, s in enumerate(sections)},
    }


def run(ctx: Context) -> list[Result]:
    if not ctx.is_static:
        raise TaskNotApplicable(
            f"analogy needs a static model with a word vocabulary; {ctx.name} is "
            f"{ctx.embedder.family} (its vectors depend on the context)"
        )
    r = evaluate(ctx.embedder, ctx.take(read_questions()))
    return [
        Result(
            task="analogy",
            dataset="google",
            model=ctx.name,
            protocol="3CosAdd over the 300k most frequent words, questions with unknown words skipped",
            split="all",
            metrics={k: r[k] for k in ("accuracy", "semantic", "syntactic", "coverage")},
            checksum=checksum(FILE),
            details={k: r[k] for k in ("answered", "questions", "per_section")},
        )
    ]
