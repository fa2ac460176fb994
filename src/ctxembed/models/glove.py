"""GloVe (Pennington, Socher and Manning 2014): co-occurrence counts, then weighted least squares.

1. Vocabulary: words with at least ``min_count`` occurrences, most frequent first.
2. Co-occurrences, as the reference ``cooccur.c``: out-of-vocabulary words are dropped
   from the stream first, windows never cross a line, a pair at distance ``d`` adds
   ``1/d``, and the window is symmetric (both orders are counted). Counting runs over
   chunks of ``chunk_tokens`` tokens; each chunk is reduced to sorted unique pairs and
   merged, so memory is one chunk plus the distinct pairs (the matrix itself).
3. AdaGrad on ``J = sum f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2`` with
   ``f(x) = min(1, (x / x_max)^alpha)``, in shuffled mini-batches, with the reference
   ``glove.c``'s per-pair rule (stanfordnlp/GloVe, ``glove_thread``): the gradient is
   scaled by the learning rate *before* it enters the accumulator, and the step divides by
   the accumulator as it was *before* this gradient (accumulators start at 1). Word-vector
   gradients are clipped to ``grad_clip`` before the scaling, as in glove.c since 1.2; the
   biases get the learning rate too, as in the paper's release (later glove.c versions drop
   it for the biases). The saved vector of a word is ``w + w~``, as in the paper (section 4.2).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..embedder import Family, Trainer
from ..errors import InputError
from ..options import positive, positive_float
from ..train import options
from ..train.corpus import Corpus, as_corpus
from ..train.distributed import single_process
from ..train.loop import LoopConfig, resume_key, train
from .static import STATIC_OPTIONS, StaticEmbedder, add_static_arguments, finish_static


@dataclass
class GloVeConfig:
    dim: int = 50
    window: int = 10
    min_count: int = 5
    max_vocab: int | None = None
    x_max: float = 100.0
    alpha: float = 0.75
    lr: float = 0.05
    epochs: int = 25
    batch_size: int = 16384
    grad_clip: float = 100.0
    seed: int = 0
    chunk_tokens: int = 4_000_000


def build_vocab(
    corpus: Corpus, min_count: int, max_vocab: int | None = None
) -> tuple[list[str], int]:
    """Words with ``count >= min_count``, most frequent first (ties by word); and the token total."""
    counts: Counter[str] = Counter()
    total = 0
    for words in corpus:
        counts.update(words)
        total += len(words)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    if not kept:
        raise InputError(f"no word occurs {min_count} times or more; lower min_count")
    return kept, total


def _reduce(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the values of equal keys; keys come back sorted and unique."""
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv, weights=vals, minlength=len(uniq))


def count_cooccurrences(
    corpus: Corpus, vocab: list[str], window: int, chunk_tokens: int = 4_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric, 1/distance-weighted co-occurrences: ``(rows, cols, values)``, sorted."""
    index = {w: i for i, w in enumerate(vocab)}
    V = len(vocab)
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    ids: list[int] = []
    line_of: list[int] = []

    def flush() -> None:
        if not ids:
            return
        a = np.asarray(ids, dtype=np.int64)
        line = np.asarray(line_of, dtype=np.int64)
        keys, vals = [], []
        for d in range(1, window + 1):
            same = line[:-d] == line[d:]
            left, right = a[:-d][same], a[d:][same]
            w = np.full(len(left), 1.0 / d)
            keys += [left * V + right, right * V + left]
            vals += [w, w]
        runs.append(_reduce(np.concatenate(keys), np.concatenate(vals)))
        ids.clear()
        line_of.clear()
        if len(runs) >= 8:  # merge now and then so runs stay few
            merged = _reduce(
                np.concatenate([k for k, _ in runs]), np.concatenate([v for _, v in runs])
            )
            runs[:] = [merged]

    for n, words in enumerate(corpus):
        kept = [index[w] for w in words if w in index]
        ids.extend(kept)
        line_of.extend([n] * len(kept))
        if len(ids) >= chunk_tokens:
            flush()
    flush()
    if len(runs) > 1:
        runs = [_reduce(np.concatenate([k for k, _ in runs]), np.concatenate([v for _, v in runs]))]
    if not runs or len(runs[0][0]) == 0:
        raise InputError("no co-occurring words: the corpus lines are too short for any pair")
    keys, vals = runs[0]
    return (keys // V).astype(np.int32), (keys % V).astype(np.int32), vals.astype(np.float32)


class _Params(torch.nn.Module):
    """Word and context vectors, biases and their AdaGrad accumulators, as buffers: the
    updates are glove.c's own (``glove_step``), not autograd's, and the shared loop's
    checkpoint saves a module's buffers."""

    NAMES = ("W", "C", "bw", "bc", "gW", "gC", "gbw", "gbc")  # glove.c's order

    def __init__(self, V: int, dim: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        # the reference code's init: uniform in [-0.5, 0.5] / dim, accumulators at 1
        self.register_buffer("W", (torch.rand(V, dim, generator=g) - 0.5) / dim)
        self.register_buffer("C", (torch.rand(V, dim, generator=g) - 0.5) / dim)
        self.register_buffer("bw", (torch.rand(V, generator=g) - 0.5) / dim)
        self.register_buffer("bc", (torch.rand(V, generator=g) - 0.5) / dim)
        for name, shape in (("gW", (V, dim)), ("gC", (V, dim)), ("gbw", (V,)), ("gbc", (V,))):
            self.register_buffer(name, torch.ones(shape))


def _adagrad(
    param: torch.Tensor, acc: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor, lr: float
) -> None:
    """glove.c's AdaGrad step for each pair, batched.

    Per pair, in batch order: ``g = lr * grad``, ``param -= g / sqrt(acc)``, then
    ``acc += g^2``. Every pair takes its own step (summing a row's gradients first would
    give a frequent word one step per batch instead of one per pair), and a pair divides by
    the accumulator as glove.c has it when the pair comes: the row's accumulator plus the
    squared steps of the earlier pairs of the batch on that row. Only the gradients are
    batched: they are all taken at the batch's start.
    """
    g = grad * lr
    order = torch.argsort(rows, stable=True)  # a row's pairs together, in batch order
    r, g = rows[order], g[order]
    sq = g * g
    upto = sq.double().cumsum(0) - sq.double()  # squares of all earlier pairs
    first = torch.ones_like(r, dtype=torch.bool)
    first[1:] = r[1:] != r[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(r)), 0), 0).values
    earlier = (upto - upto[start]).float()  # ... of the earlier pairs on the same row
    param.index_add_(0, r, g / (acc.index_select(0, r) + earlier).sqrt(), alpha=-1.0)
    acc.index_add_(0, r, sq)


def glove_step(
    p: _Params,
    i: torch.Tensor,
    j: torch.Tensor,
    logx: torch.Tensor,
    weight: torch.Tensor,
    lr: float,
    grad_clip: float,
) -> float:
    """One update on the pairs ``(i[k], j[k])``; returns their summed cost ``0.5 f diff^2``."""
    wi, cj = p.W.index_select(0, i), p.C.index_select(0, j)
    diff = (wi * cj).sum(1) + p.bw.index_select(0, i) + p.bc.index_select(0, j) - logx
    fdiff = weight * diff
    gw = (fdiff[:, None] * cj).clamp_(-grad_clip, grad_clip)
    gc = (fdiff[:, None] * wi).clamp_(-grad_clip, grad_clip)
    _adagrad(p.W, p.gW, i, gw, lr)
    _adagrad(p.C, p.gC, j, gc, lr)
    _adagrad(p.bw, p.gbw, i, fdiff, lr)
    _adagrad(p.bc, p.gbc, j, fdiff, lr)
    return 0.5 * float((fdiff * diff).sum())


class PairBatches:
    """An epoch's batches of co-occurrence pairs: a permutation fixed by (seed, epoch), so a
    resumed run meets the pairs in the order an uninterrupted one would."""

    def __init__(self, n_pairs: int, batch_size: int, seed: int):
        self.n_pairs, self.batch_size, self.seed = n_pairs, batch_size, seed

    def __len__(self) -> int:
        return -(-self.n_pairs // self.batch_size)

    def __call__(self, epoch: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(self.n_pairs, generator=g)
        return [perm[b : b + self.batch_size] for b in range(0, self.n_pairs, self.batch_size)]


def train_glove(
    corpus: Corpus | str | Path | Iterable[list[str]],
    config: GloVeConfig | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> StaticEmbedder:
    """Train GloVe on a corpus.

    With ``checkpoint_dir`` the state is saved after every epoch, and ``resume=True``
    continues from it (also with more epochs than before); the result equals an
    uninterrupted run, since each epoch's order depends only on the seed and its number.
    """
    cfg = config or GloVeConfig()
    corpus = as_corpus(corpus)
    start = time.perf_counter()
    vocab, n_tokens = build_vocab(corpus, cfg.min_count, cfg.max_vocab)
    rows, cols, vals = count_cooccurrences(corpus, vocab, cfg.window, cfg.chunk_tokens)
    count_seconds = time.perf_counter() - start
    rows_t, cols_t = torch.from_numpy(rows).long(), torch.from_numpy(cols).long()
    logx = torch.from_numpy(np.log(vals))
    weight = torch.from_numpy(np.minimum(1.0, (vals / cfg.x_max) ** cfg.alpha).astype(np.float32))
    p = _Params(len(vocab), cfg.dim, cfg.seed)
    nnz = len(vals)

    epoch_batches = PairBatches(nnz, cfg.batch_size, cfg.seed)

    def step(idx: torch.Tensor) -> tuple[torch.Tensor, int, None]:
        i, j = rows_t[idx], cols_t[idx]
        cost = glove_step(p, i, j, logx[idx], weight[idx], cfg.lr, cfg.grad_clip)
        return torch.tensor(cost, dtype=torch.float64), len(idx), None  # summed cost, no likelihood

    # epochs may grow on resume: a run resumed with more epochs equals a longer uninterrupted one
    data = {**resume_key(cfg), "vocab": len(vocab)}
    loop = LoopConfig(epochs=cfg.epochs, clip=None, seed=cfg.seed, checkpoint_every=0)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    history = train(
        p, None, epoch_batches, step, loop, ckpt, resume, None, progress, "glove", data=data
    )
    n_b = len(epoch_batches)
    losses = [sum(history.losses[k : k + n_b]) / nnz for k in range(0, len(history.losses), n_b)]
    stats = {
        "tokens": n_tokens,
        "vocab": len(vocab),
        "nonzeros": nnz,
        "count_seconds": round(count_seconds, 2),
        "seconds": round(time.perf_counter() - start, 2),
        "loss_per_epoch": [round(x, 6) for x in losses],
    }
    vectors = (p.W + p.C).numpy()
    return StaticEmbedder(
        vocab, vectors, family="glove", config={"training": asdict(cfg), "stats": stats}
    )


# -- command line: `ctxembed train glove` ------------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    add_static_arguments(t, dim=50, window=10, epochs=25)
    t.add_argument("--x-max", type=positive_float, default=100.0)
    t.add_argument("--alpha", type=positive_float, default=0.75)
    t.add_argument("--lr", type=positive_float, default=0.05)
    t.add_argument("--batch-size", type=positive, default=16384)
    t.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")


def train_command(args: argparse.Namespace) -> int:
    single_process("GloVe (its AdaGrad steps inside the loss)")
    ckpt = options.check_out(args)
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    start = time.perf_counter()
    cfg = options.from_args(GloVeConfig, args)
    model = train_glove(
        corpus, cfg, progress=not args.quiet, checkpoint_dir=ckpt, resume=args.resume
    )
    return finish_static(args, model, cfg.epochs, start, ckpt)


FAMILY = Family(
    "glove",
    embedder=StaticEmbedder,
    load_options=STATIC_OPTIONS,
    trainer=Trainer(
        "train GloVe (co-occurrence counts, weighted least squares, as glove.c)",
        add_train_arguments,
        train_command,
        "CORPUS: UTF-8 text (or .gz), one sentence or paragraph per line, words separated by spaces.",
    ),
)
