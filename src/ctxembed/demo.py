"""``make demo``: why contextual embeddings exist, on the word "bank", fully offline.

1. The cosine table of "bank" in money and river contexts for a static model
   (``glove-6b-50d``: the same vector every time) and a contextual one (``minilm-l6``).
2. A 2-D t-SNE map of the ``minilm-l6`` vectors of "bank" in the CoarseWSD-20 test
   sentences, coloured by gold sense, written to a PNG.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import require

CONTEXTS = [
    "I went to the bank to deposit money.",
    "The bank approved my loan and the money arrived on Monday.",
    "I sat by the bank of the river.",
    "Fish swam near the muddy bank of the stream.",
]
MONEY, RIVER = [0, 1], [2, 3]


def bank_table(models: list[str]) -> None:
    from .compare import compare_table

    print('The word "bank" in four contexts:')
    for k, ctx in enumerate(CONTEXTS, 1):
        print(f"  #{k} {'(money)' if k - 1 in MONEY else '(river)'} {ctx}")
    for name in models:
        table, sim = compare_table(name, "bank", CONTEXTS, -1)
        print()
        print(table)
        within = np.mean([sim[0, 1], sim[2, 3]])
        across = np.mean([sim[i, j] for i in MONEY for j in RIVER])
        print(f"  same sense: {within:.3f}   different senses: {across:.3f}")


def sense_plot(out: Path) -> Path:
    require("eval", "matplotlib", "sklearn")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    from . import load
    from .eval import coarsewsd

    examples = coarsewsd.load("bank", "test")
    names = coarsewsd.senses("bank")
    model = load("minilm-l6")
    res = model.embed_words([e.tokens for e in examples], progress=False)
    X = np.stack([r.vectors[e.index] for r, e in zip(res, examples, strict=True)])
    y = np.array([e.label for e in examples])
    # nearest sense centroid, leave-one-out: how separable the senses are in the full space
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    correct = 0
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        cents = np.stack([unit[keep & (y == s)].mean(0) for s in sorted(names)])
        correct += sorted(names)[int(np.argmax(cents @ unit[i]))] == y[i]
    xy = TSNE(n_components=2, metric="cosine", init="pca", random_state=0).fit_transform(X)
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=120)
    for s, name in sorted(names.items()):
        m = y == s
        label = name.split("_", 1)[1].replace("_", " ")
        ax.scatter(xy[m, 0], xy[m, 1], s=14, alpha=0.75, label=f"{label} ({m.sum()})")
    ax.set_title('minilm-l6 vectors of "bank" in CoarseWSD-20 test sentences (t-SNE)')
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(title="gold sense")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, out)
    plt.close(fig)
    print(
        f"\n{len(X)} uses of 'bank' ({', '.join(f'{(y == s).sum()} {n}' for s, n in sorted(names.items()))}): "
        f"leave-one-out nearest-sense-centroid accuracy {correct / len(X):.1%}"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default="out/demo/bank_senses.png", help="where to write the plot")
    args = p.parse_args(argv)
    start = time.perf_counter()
    bank_table(["glove-6b-50d", "minilm-l6"])
    path = sense_plot(Path(args.out))
    print(f"plot of the senses of 'bank': {path.resolve()}")
    print(f"demo done in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
