"""Word2Vec (Mikolov et al. 2013): skip-gram or CBOW with negative sampling, trained by gensim.

gensim's trainer is the reference implementation in Python; this module only maps our
config onto it, shows progress and returns a ``StaticEmbedder``. Results are exactly
reproducible for a seed with ``workers=1`` (threads race on shared weights otherwise).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..embedder import Family, Trainer
from ..errors import InputError
from ..options import positive
from ..train import options
from ..train.corpus import Corpus, as_corpus
from ..train.distributed import single_process
from .static import STATIC_OPTIONS, StaticEmbedder, add_static_arguments, finish_static


@dataclass
class Word2VecConfig:
    dim: int = 100
    window: int = 5
    min_count: int = 5
    sg: bool = True  # skip-gram; False = CBOW
    negative: int = 5
    sample: float = 1e-3
    alpha: float = 0.025
    epochs: int = 5
    seed: int = 0
    workers: int = 2


def train_word2vec(
    corpus: Corpus | str | Path | Iterable[list[str]],
    config: Word2VecConfig | None = None,
    progress: bool = True,
) -> StaticEmbedder:
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    cfg = config or Word2VecConfig()
    corpus = as_corpus(corpus)

    class _Bar(CallbackAny2Vec):
        def __init__(self) -> None:
            self.bar = tqdm(total=cfg.epochs, desc="word2vec", unit="epoch", disable=not progress)

        def on_epoch_end(self, model: Word2Vec) -> None:
            self.bar.update(1)

    start = time.perf_counter()
    model = Word2Vec(
        vector_size=cfg.dim,
        window=cfg.window,
        min_count=cfg.min_count,
        sg=int(cfg.sg),
        hs=0,
        negative=cfg.negative,
        sample=cfg.sample,
        alpha=cfg.alpha,
        epochs=cfg.epochs,
        seed=cfg.seed,
        workers=cfg.workers,
    )
    # what Word2Vec(sentences=...) does, split so an empty vocabulary is named before training
    model.build_vocab(corpus)
    if not model.wv.index_to_key:
        raise InputError(
            f"no word occurs {cfg.min_count} times or more in the corpus "
            f"({model.corpus_total_words:,} words): lower min_count (--min-count) "
            "or give a bigger corpus"
        )
    bar = _Bar()
    model.train(
        corpus,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
        start_alpha=model.alpha,
        end_alpha=model.min_alpha,
        callbacks=[bar],
    )
    bar.bar.close()
    stats = {
        "tokens": int(model.corpus_total_words),
        "seconds": round(time.perf_counter() - start, 2),
    }
    kv = model.wv
    return StaticEmbedder(
        list(kv.index_to_key),
        kv.vectors,
        family="word2vec",
        config={"training": asdict(cfg), "stats": stats},
    )


# -- command line: `ctxembed train word2vec` ---------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    add_static_arguments(t, dim=100, window=5, epochs=5)
    t.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    t.add_argument("--negative", type=positive, default=5)
    t.add_argument("--workers", type=positive, default=2, help="1 for exact reproducibility")


def train_command(args: argparse.Namespace) -> int:
    single_process("Word2Vec (gensim's own threads)")
    options.check_out(args)
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    start = time.perf_counter()
    cfg = options.from_args(Word2VecConfig, args, sg=not args.cbow)
    model = train_word2vec(corpus, cfg, progress=not args.quiet)
    return finish_static(args, model, cfg.epochs, start)


FAMILY = Family(
    "word2vec",
    embedder=StaticEmbedder,
    load_options=STATIC_OPTIONS,
    trainer=Trainer(
        "train word2vec (gensim: skip-gram or CBOW, negative sampling)",
        add_train_arguments,
        train_command,
        "CORPUS: UTF-8 text (or .gz), one sentence or paragraph per line, words separated by spaces.",
    ),
)
