"""One word across contexts: the cosine of its vectors, per model (``ctxembed compare``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from .embedder import Layers
from .errors import InputError
from .families import check_models, load
from .options import layer_option
from .text.words import split_words


def find_word(words: Sequence[str], word: str) -> int | None:
    """Position of the first case-insensitive match of ``word``, or None."""
    target = word.lower()
    for i, w in enumerate(words):
        if w.lower() == target:
            return i
    return None


def compare_table(
    model_name: str, word: str, contexts: list[str], layers: Layers = -1
) -> tuple[str, np.ndarray]:
    """Cosine of ``word``'s vector across contexts, as a printable matrix."""
    positions = []
    for k, ctx in enumerate(contexts, 1):
        words, _ = split_words(ctx)
        i = find_word(words, word)
        if i is None:
            raise InputError(f"context #{k} does not contain the word {word!r}: {ctx!r}")
        positions.append(i)
    model = load(model_name)
    res = model.embed_words(contexts, layers=layers, progress=False)
    vecs = np.stack([r.vectors[i] for r, i in zip(res, positions, strict=True)])
    if any(r.oov is not None and r.oov[i] for r, i in zip(res, positions, strict=True)):
        raise InputError(f"{model_name} has no vector for {word!r}")
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    n = len(contexts)
    lines = [f"{model_name} ({model.family}): cosine of '{word}' across contexts"]
    lines.append("      " + "".join(f"{'#' + str(j + 1):>8}" for j in range(n)))
    for i in range(n):
        lines.append(f"{'#' + str(i + 1):>5} " + "".join(f"{sim[i, j]:8.3f}" for j in range(n)))
    return "\n".join(lines), sim


# -- `ctxembed compare` --------------------------------------------------------------------
HELP = "cosine of one word's vectors across contexts, per model"


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", required=True, help="one or more models, comma-separated")
    s.add_argument("--word", required=True)
    s.add_argument("--layers", type=layer_option, default=-1)
    s.add_argument("contexts", nargs="+", help="two or more texts containing the word")


def run(args: argparse.Namespace) -> int:

    if len(args.contexts) < 2:
        raise InputError("give at least two contexts to compare")
    models = [m for m in args.model.split(",") if m]
    check_models(models)  # a typo in the second model is named before the first runs
    for k, ctx in enumerate(args.contexts, 1):
        print(f"#{k}: {ctx}")
    for name in models:
        table, _ = compare_table(name, args.word, args.contexts, args.layers)
        print()
        print(table)
    return 0
