"""Word2Vec and GloVe trained on WikiText-2 train: speed and word-similarity quality.

Trains both on the lowercased corpus, prints tokens/s and wall time, then the SimLex-999
and WS-353 Spearman (x100) of each, beside glove-6b-50d. It also checks our word-similarity
scorer against gensim's `evaluate_word_pairs` on glove-6b-50d (they must agree to 0.01).
Saves the models to runs/wikitext2-{word2vec,glove} (read by `ctxembed bench --models`).
    python benchmarks/train_static.py [--glove-epochs 25] [--w2v-epochs 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import DATA

import ctxembed
from ctxembed.eval import wordsim
from ctxembed.models.glove import GloVeConfig, train_glove
from ctxembed.models.word2vec import Word2VecConfig, train_word2vec
from ctxembed.train.corpus import Corpus

RUNS = Path(__file__).resolve().parents[1] / "runs"
SETS = ["simlex999", "ws353", "ws353-sim", "ws353-rel", "men"]


def scores(model) -> str:
    parts = []
    for name in SETS:
        r = wordsim.evaluate_set(model, name)
        parts.append(f"{name} {r.spearman:5.1f} (oov pairs {r.oov_pairs})")
    return "; ".join(parts)


def gensim_check(model) -> None:
    """Our scorer against gensim's on the same file and vectors."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(model.dim)
    kv.add_vectors(model.words, model.vectors)
    for name in ("simlex999", "ws353"):
        path = wordsim.DATA / wordsim.SETS[name]
        _, (g_rho, _), g_oov = kv.evaluate_word_pairs(
            str(path), delimiter="\t", restrict_vocab=len(model)
        )
        ours = wordsim.evaluate_set(model, name)
        print(
            f"  {name}: ours {ours.spearman:.4f} vs gensim {100 * g_rho:.4f} "
            f"(diff {abs(ours.spearman - 100 * g_rho):.4f}); oov pairs ours {ours.oov_pairs}, gensim {g_oov:.1f}%"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--glove-epochs", type=int, default=25)
    p.add_argument("--w2v-epochs", type=int, default=5)
    p.add_argument("--dim", type=int, default=100)
    args = p.parse_args()
    corpus = Corpus(DATA / "wikitext2" / "wiki.train.tokens.gz", lowercase=True)

    t = time.perf_counter()
    w2v = train_word2vec(
        corpus, Word2VecConfig(dim=args.dim, epochs=args.w2v_epochs, workers=2), progress=False
    )
    w2v_s = time.perf_counter() - t
    w2v.save(RUNS / "wikitext2-word2vec")

    t = time.perf_counter()
    # x_max=10 and lr=0.1 suit a 2M-token corpus (GloVe's own demo uses x_max=10 on text8);
    # the paper's x_max=100 weights almost every pair of so small a corpus near zero.
    gcfg = GloVeConfig(
        dim=args.dim, window=10, min_count=5, epochs=args.glove_epochs, x_max=10, lr=0.1
    )
    glove = train_glove(corpus, gcfg, progress=False)
    glove_s = time.perf_counter() - t
    glove.save(RUNS / "wikitext2-glove")

    tokens = w2v.config["stats"]["tokens"]
    print(f"WikiText-2 train, lowercased: {tokens:,} tokens")
    print(
        f"word2vec skip-gram d={args.dim} w=5 neg=5, {args.w2v_epochs} epochs, 2 workers: "
        f"{w2v_s:.1f}s wall, {tokens * args.w2v_epochs / w2v_s:,.0f} tokens/s, vocab {len(w2v):,}"
    )
    gs = glove.config["stats"]
    print(
        f"glove d={args.dim} w=10 x_max=10, {args.glove_epochs} epochs: {glove_s:.1f}s wall "
        f"(counting {gs['count_seconds']:.1f}s, {gs['nonzeros']:,} pairs), "
        f"{tokens * args.glove_epochs / glove_s:,.0f} tokens/s, vocab {len(glove):,}"
    )
    print("Spearman x100 (pairs with an unknown word are left out, as gensim does):")
    print(f"  word2vec (WikiText-2): {scores(w2v)}")
    print(f"  glove    (WikiText-2): {scores(glove)}")
    g6 = ctxembed.load("glove-6b-50d")
    print(f"  glove-6b-50d         : {scores(g6)}")
    print("Our scorer vs gensim evaluate_word_pairs on glove-6b-50d:")
    gensim_check(g6)


if __name__ == "__main__":
    main()
