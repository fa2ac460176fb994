"""Universal-Sentence-Encoder-style encoders (Cer et al. 2018), trained multi-task from scratch.

Two encoders, as in the paper, with the same input (lowercased words) and output width:
- ``dan``: a deep averaging network (Iyyer et al. 2015): the embeddings of the words and of
  the word bigrams (hashed into buckets) are averaged, then feed-forward layers. In
  training, whole words and bigrams are dropped before the average (``word_dropout``,
  Iyyer et al.'s word dropout; at least one survives);
- ``transformer``: a transformer encoder over the words (sinusoidal positions) whose
  outputs are summed over positions and divided by sqrt(n) (``pooling="sqrt"``, as the
  paper's encoder does; ``"mean"`` divides by n). A cosine cannot tell the two apart, the
  NLI head's features can. Attention costs the square of the length, and positions past
  the training length were never seen: a text longer than ``window`` words is read in
  half-overlapping windows, each word taking its vectors from the window whose centre is
  nearest, as the Hugging Face path does; the sentence vector pools over all the words.

The word table can start from pretrained vectors (``init_vectors``, e.g. glove-6b-50d):
words the two vocabularies share take the pretrained vector in their first dimensions.

Trained multi-task, one task per step, with the objectives this world has data for:
- ``neighbour``: skip-thought-like, the next sentence of the corpus must score highest
  among the batch's (in-batch softmax over scaled cosines, both directions). Pairs are
  shuffled before batching, and a candidate whose text is the row's own sentence or its
  gold neighbour is masked out: it is not a negative;
- ``nli``: SICK train entailment labels from ``[u; v; |u - v|; u * v]`` (a linear layer);
- ``sts``: STS-B train, the cosine regressed on the gold score / 5 (mean squared error);
- ``teacher`` (``--teacher M``): distillation, no labels. The sentence vector must point
  where a teacher's does (cosine loss), on the corpus sentences and the STS-B and SICK
  train sentences; the encoder then has the teacher's width.

The paper's trade-off is speed (DAN: linear in the length, tiny) against accuracy
(transformer: attention, quadratic); ``benchmarks/use.py`` measures both.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..embedder import (
    Embedder,
    Family,
    Trainer,
    read_model,
    write_model,
)
from ..errors import InputError
from ..io import atomic_dir, read_lines
from ..options import positive, positive_float
from ..text.windows import batches
from ..train import options
from ..train.corpus import Encoded, as_corpus, sentences
from ..train.loop import History, LoopConfig, train
from .layers import sinusoid
from .static import StaticEmbedder

PAD, UNK = "<pad>", "<unk>"
VARIANTS = ("dan", "transformer")
NLI_LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")


@dataclass
class UseConfig:
    variant: str = "dan"
    vocab_size: int = 0
    dim: int = 256  # embeddings and the sentence vector
    n_buckets: int = 100_000  # DAN: hashed bigram embeddings
    hidden: int = 512  # DAN: feed-forward width
    dan_layers: int = 2
    n_layers: int = 4  # transformer
    n_heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    word_dropout: float = 0.3  # DAN, training only: each word and bigram dropped with this
    pooling: str = "sqrt"  # transformer: sum / sqrt(n) ("sqrt", the paper) or sum / n ("mean")
    window: int = 128  # transformer: words read at once (training sentences hold <= 64)

    def __post_init__(self) -> None:
        if self.variant == "transformer" and self.dim % self.n_heads:
            raise InputError(
                f"dim {self.dim} is not a multiple of the {self.n_heads} attention heads: "
                "choose a dim that the heads divide (--dim 256)"
            )

    @classmethod
    def from_dict(cls, d: dict) -> UseConfig:
        # folders saved before these fields existed were trained without them
        return cls(**{"word_dropout": 0.0, "pooling": "mean", **d})


def bigram_bucket(a: str, b: str, n_buckets: int) -> int:
    return zlib.crc32(f"{a} {b}".encode()) % n_buckets  # stable across runs, unlike hash()


class SentenceEncoder(nn.Module):
    def __init__(self, cfg: UseConfig):
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise InputError(f"variant {cfg.variant!r}: use one of {', '.join(VARIANTS)}")
        if cfg.pooling not in ("sqrt", "mean"):
            raise InputError(f"pooling {cfg.pooling!r}: use 'sqrt' or 'mean'")
        if not 0 <= cfg.word_dropout < 1:
            raise InputError(f"word_dropout {cfg.word_dropout}: use a value in [0, 1)")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=0)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.variant == "dan":
            self.bigrams = nn.Embedding(cfg.n_buckets, cfg.dim)
            layers: list[nn.Module] = []
            width = cfg.dim
            for _ in range(cfg.dan_layers):
                layers += [nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
                width = cfg.hidden
            self.ff = nn.Sequential(*layers, nn.Linear(width, cfg.dim))
        else:
            self.layers = nn.ModuleList(
                nn.TransformerEncoderLayer(
                    cfg.dim, cfg.n_heads, cfg.ff_dim, cfg.dropout, batch_first=True, norm_first=True
                )
                for _ in range(cfg.n_layers)
            )
            self.norm = nn.LayerNorm(cfg.dim)

    def forward(
        self, ids: torch.Tensor, bigrams: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Sentence vectors ``[B, dim]`` and the per-word layers (input embeddings first)."""
        mask = ids > 0
        x = self.embed(ids)
        if self.cfg.variant == "dan":
            bmask = bigrams >= 0
            if self.training and self.cfg.word_dropout > 0:
                mask, bmask = self._drop_words(mask, bmask)
            total = (self.drop(x) * mask.unsqueeze(-1)).sum(1) + (
                self.drop(self.bigrams(bigrams.clamp(min=0))) * bmask.unsqueeze(-1)
            ).sum(1)
            mean = total / (mask.sum(1) + bmask.sum(1)).clamp(min=1).unsqueeze(-1)
            return self.ff(mean), [x]
        h = self.drop(x + sinusoid(ids.shape[1], self.cfg.dim))
        states = [x]
        for i, layer in enumerate(self.layers):
            h = layer(h, src_key_padding_mask=~mask)
            states.append(self.norm(h) if i + 1 == len(self.layers) else h)
        return self.pool(states[-1], mask), states

    def pool(self, top: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The transformer's sentence vector from its top layer ``[B, T, dim]``."""
        n = mask.sum(1, keepdim=True).clamp(min=1)
        total = (top * mask.unsqueeze(-1)).sum(1)
        return total / (n.sqrt() if self.cfg.pooling == "sqrt" else n)

    def _drop_words(
        self, mask: torch.Tensor, bmask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Iyyer et al.'s word dropout: whole tokens leave the average; a row keeps at least one."""
        p = self.cfg.word_dropout
        kept = mask & (torch.rand(mask.shape) >= p)
        bkept = bmask & (torch.rand(bmask.shape) >= p)
        empty = (kept.sum(1) + bkept.sum(1)) == 0
        kept[empty], bkept[empty] = mask[empty], bmask[empty]
        return kept, bkept


class UseModel(nn.Module):
    """The encoder with the task heads used in training (the NLI classifier)."""

    def __init__(self, cfg: UseConfig):
        super().__init__()
        self.encoder = SentenceEncoder(cfg)
        self.nli = nn.Linear(4 * cfg.dim, len(NLI_LABELS))


# -- the embedder ------------------------------------------------------------------------------
class UseEmbedder(Embedder):
    """Sentence vectors from the encoder; word vectors from its input or transformer layers."""

    family = "use"

    def __init__(self, encoder: SentenceEncoder, vocab: list[str]):
        self.encoder = encoder.eval()
        self.cfg = encoder.cfg
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.dim = self.cfg.dim
        self.n_layers = 1 if self.cfg.variant == "dan" else self.cfg.n_layers + 1

    def batch(self, texts: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Word ids (and DAN's bigram buckets, -1 as padding) of lowercased word lists."""
        T = max(len(t) for t in texts)
        ids = torch.zeros(len(texts), T, dtype=torch.long)
        bigrams = torch.full((len(texts), max(T - 1, 1)), -1, dtype=torch.long)
        for r, words in enumerate(texts):
            low = [w.lower() for w in words]
            ids[r, : len(low)] = torch.tensor([self.index.get(w, 1) for w in low])
            if self.cfg.variant == "dan" and len(low) > 1:
                bigrams[r, : len(low) - 1] = torch.tensor(
                    [bigram_bucket(a, b, self.cfg.n_buckets) for a, b in itertools.pairwise(low)]
                )
        return ids, (bigrams if self.cfg.variant == "dan" else None)

    def _run(self, texts: list[list[str]], batch_size: int, progress: bool = False):
        """Per text: the sentence vector and the per-word layers; batches sorted by length."""
        size = self.cfg.window if self.cfg.variant == "transformer" else None
        sent: list[Any] = [None] * len(texts)
        layers = [torch.empty(self.n_layers, len(w), self.dim) for w in texts]
        for batch in batches([len(w) for w in texts], size, batch_size, progress):
            with torch.inference_mode():
                vecs, states = self.encoder(*self.batch([texts[t][s:e] for t, s, e, _, _ in batch]))
            for r, (t, s, e, own_s, own_e) in enumerate(batch):
                for k, st in enumerate(states):
                    layers[t][k, own_s:own_e] = st[r, own_s - s : own_e - s]
                if (s, e) == (0, len(texts[t])):  # read whole: the encoder's own vector
                    sent[t] = vecs[r].clone()
        for t, v in enumerate(sent):
            if v is None:  # read in windows: pool over all its words
                top = layers[t][-1].unsqueeze(0)
                sent[t] = self.encoder.pool(top, torch.ones(top.shape[:2], dtype=torch.bool))[0]
        return list(zip(sent, [list(x) for x in layers], strict=True))

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        res = self._run([d.words for d in docs], batch_size, progress)
        out = []
        for d, (_, states) in zip(docs, res, strict=True):
            oov = np.array([w.lower() not in self.index for w in d.words])
            out.append((torch.stack([states[i] for i in layers]).numpy(), oov))
        return out

    def embed_sentences(
        self,
        texts,
        pooling: str = "mean",
        batch_size: int = 64,
        progress: bool | None = None,
        **options: Any,
    ) -> np.ndarray:
        """The encoder's sentence vectors (its own pooling; ``pooling`` must stay ``mean``)."""
        from ..text.words import prepare

        if pooling != "mean":
            raise InputError("a USE encoder has its own pooling (the mean); pooling must be 'mean'")
        docs = prepare(texts)
        res = self._run([d.words for d in docs], batch_size)
        return np.stack([s.numpy() for s, _ in res]).astype(np.float32)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            state = self.encoder.state_dict()
            write_model(tmp, self.family, asdict(self.cfg), state, {"vocab.txt": self.vocab})

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> UseEmbedder:
        encoder, _, (vocab,) = read_model(
            path, "USE", lambda c: SentenceEncoder(UseConfig.from_dict(c)), "vocab.txt"
        )
        return cls(encoder, vocab)


# -- training data -----------------------------------------------------------------------------
class NeighbourPairs(Sequence):
    """(sentence, next sentence) pairs within each line (paragraph), read back from disk.

    Sentences are stored once as ids over ``types`` (every distinct word, so a pair reads
    back exactly as written); memory holds the type table and one int per pair.
    """

    def __init__(self, lines: Iterable[list[str]], max_len: int, types: Iterable[str]):
        self.types = sorted(types)
        type_id = {w: i for i, w in enumerate(self.types)}
        firsts = array("q")  # index of each pair's first sentence

        def rows() -> Iterator[list[int]]:
            j = 0
            for line in lines:
                sents = list(sentences([line], max_len))
                firsts.extend(range(j, j + len(sents) - 1))
                j += len(sents)
                yield from ([type_id[w] for w in s] for s in sents)

        self._sents = Encoded(rows())
        self._firsts = np.frombuffer(firsts, dtype=np.int64) if firsts else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._firsts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        j = int(self._firsts[i])
        return self._words(j), self._words(j + 1)

    def _words(self, j: int) -> list[str]:
        return [self.types[t] for t in self._sents[j][:, 0]]


def sick_nli(path: Path | None = None) -> list[tuple[list[str], list[str], int]]:
    """SICK train pairs with their entailment label (the relatedness score is not used)."""
    from ..datasets import data_path
    from ..text.words import split_words

    path = path or data_path("sick", "SICK_train.txt.gz")
    out = []
    for n, line in read_lines(path):
        f = line.split("\t")
        if n == 1:
            continue
        if len(f) < 5 or f[4] not in NLI_LABELS:
            raise InputError(f"{path}, line {n}: expected pair_ID, A, B, score, entailment label")
        out.append((split_words(f[1])[0], split_words(f[2])[0], NLI_LABELS.index(f[4])))
    return out


def stsb_train() -> list[tuple[list[str], list[str], float]]:
    """STS-B train pairs, the gold score scaled to [0, 1]."""
    from ..datasets import sts_pairs
    from ..text.words import split_words

    return [(split_words(a)[0], split_words(b)[0], s / 5) for a, b, s in sts_pairs("stsb-train")]


def teacher_targets(
    teacher: Embedder, texts: Iterable[list[str]], max_len: int, progress: bool = True
) -> list[tuple[list[str], np.ndarray]]:
    """Each distinct text (cut to ``max_len`` words) with the teacher's unit sentence vector."""
    seen: dict[tuple[str, ...], None] = {}
    for words in texts:
        if words:
            seen.setdefault(tuple(words[:max_len]))
    items = [list(w) for w in seen]
    texts = [" ".join(w) for w in items]
    # in chunks: a transformer holds each call's hidden states, and vectors do not depend on
    # batch mates, so the chunks change nothing but memory
    vecs = np.concatenate(
        [
            teacher.embed_sentences(texts[i : i + 4096], progress=progress)
            for i in range(0, len(texts), 4096)
        ]
    )
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return list(zip(items, vecs, strict=True))


@dataclass
class UseTrainConfig:
    batch_size: int = 64
    min_count: int = 3
    max_len: int = 64
    lr: float = 1e-3
    epochs: int = 1
    scale: float = 20.0  # neighbour task: cosines times this before the softmax
    clip: float = 5.0
    seed: int = 0
    checkpoint_every: int = 1000
    max_steps: int | None = None
    tasks: tuple[str, ...] = ("neighbour", "nli", "sts")
    init_vectors: str | None = "glove-6b-50d"  # a name or path ctxembed.load knows; None: random
    teacher: str | None = None  # the "teacher" task's model (recorded: a resume must match)


def neighbour_batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """Batches of pair indices ``0..n-1``, shuffled.

    In corpus order, batch mates (s_i, s_i+1) and (s_i+1, s_i+2) put a row's own sentence
    among its negatives; shuffled, such neighbours rarely share a batch, and
    ``neighbour_loss`` masks the rest.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return [order[b : b + batch_size] for b in range(0, n, batch_size)]


def neighbour_loss(
    u: torch.Tensor,
    v: torch.Tensor,
    a_texts: Sequence[Sequence[str]],
    b_texts: Sequence[Sequence[str]],
    scale: float,
) -> torch.Tensor:
    """In-batch softmax over scaled cosines, both directions, with no false negatives.

    Row r's gold is column r. A candidate whose text equals the row's own sentence or its
    gold neighbour is masked out: its cosine with the row is (near) 1 by construction, so
    pushing it down would fight the task.
    """
    a, b = [tuple(t) for t in a_texts], [tuple(t) for t in b_texts]
    n = len(a)
    own = {r: {a[r], b[r]} for r in range(n)}
    fwd = torch.tensor([[c != r and b[c] in own[r] for c in range(n)] for r in range(n)])
    bwd = torch.tensor([[c != r and a[c] in own[r] for c in range(n)] for r in range(n)])
    sim = F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T * scale
    gold = torch.arange(n)
    return (
        F.cross_entropy(sim.masked_fill(fwd, float("-inf")), gold)
        + F.cross_entropy(sim.T.masked_fill(bwd, float("-inf")), gold)
    ) / 2


def init_word_table(embed: nn.Embedding, vocab: list[str], table: Embedder, seed: int) -> int:
    """Start the word table from pretrained vectors where the vocabularies meet.

    A shared word takes the pretrained vector in its first dimensions (zeros after, for
    training to fill). Other words are drawn at random with the pretrained vectors' mean
    norm, so no group dominates an average by scale alone. Returns the number shared.
    """
    if not isinstance(table, StaticEmbedder):
        raise InputError("init_vectors must be a static model (word vectors), e.g. glove-6b-50d")
    index = table.index
    pre = torch.from_numpy(np.asarray(table.vectors, dtype=np.float32))
    d = min(pre.shape[1], embed.embedding_dim)
    norm = float(pre[:, :d].norm(dim=1).mean())
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(embed.weight.shape, generator=g) * norm / math.sqrt(embed.embedding_dim)
    rows = [(r, index[w]) for r, w in enumerate(vocab) if w in index and w not in (PAD, UNK)]
    if rows:
        ours, theirs = (torch.tensor(c) for c in zip(*rows, strict=True))
        weight[ours] = 0.0
        weight[ours, :d] = pre[theirs, :d]
    weight[0] = 0.0  # padding
    with torch.no_grad():
        embed.weight.copy_(weight)
    return len(rows)


def train_use(
    corpus: Iterable[list[str]],
    model_cfg: UseConfig,
    cfg: UseTrainConfig,
    nli: list[tuple[list[str], list[str], int]] | None = None,
    sts: list[tuple[list[str], list[str], float]] | None = None,
    teacher: list[tuple[list[str], np.ndarray]] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[UseEmbedder, History]:
    """One epoch = every neighbour batch once, each followed by the next NLI and STS batch."""
    corpus = as_corpus(corpus)  # read twice: counts, then the neighbour pairs

    def lines() -> Iterator[list[str]]:
        return ([w.lower() for w in words] for words in corpus)

    counts = Counter(w for s in lines() for w in s)
    use_pairs = "neighbour" in cfg.tasks
    pairs = NeighbourPairs(lines(), cfg.max_len, counts) if use_pairs else []
    nli = [(a, b, y) for a, b, y in (nli or [])] if "nli" in cfg.tasks else []
    sts = list(sts or []) if "sts" in cfg.tasks else []
    teacher = (
        [([w.lower() for w in s], t) for s, t in teacher or []] if "teacher" in cfg.tasks else []
    )
    if not (len(pairs) or nli or sts or teacher):
        raise InputError("no training data: the corpus has no two consecutive sentences")
    if teacher and len(teacher[0][1]) != model_cfg.dim:
        raise InputError(
            f"the teacher's vectors have {len(teacher[0][1])} dimensions and the encoder "
            f"{model_cfg.dim}: give --dim {len(teacher[0][1])} (or leave --dim out)"
        )
    counts.update(w.lower() for a, b, _ in [*nli, *sts] for w in (*a, *b))
    counts.update(w for words, _ in teacher for w in words)
    words = sorted(
        (w for w, c in counts.items() if c >= cfg.min_count), key=lambda w: (-counts[w], w)
    )
    vocab = [PAD, UNK, *[w for w in words if w not in (PAD, UNK)]]
    if model_cfg.variant == "transformer" and cfg.max_len > model_cfg.window:
        raise InputError(
            f"max_len {cfg.max_len} is longer than the transformer's window {model_cfg.window}:"
            " raise window or lower max_len"
        )
    torch.manual_seed(cfg.seed)
    model = UseModel(UseConfig(**{**asdict(model_cfg), "vocab_size": len(vocab)}))
    embedder = UseEmbedder(model.encoder, vocab)
    if cfg.init_vectors:
        from ..families import load

        init_word_table(model.encoder.embed, vocab, load(cfg.init_vectors), cfg.seed)
        if model_cfg.variant == "dan":  # bigrams start as no-ops: the average starts as GloVe's
            nn.init.zeros_(model.encoder.bigrams.weight)

    def chunks(items: list, kind: str) -> list[tuple[str, Any]]:
        return [(kind, items[b : b + cfg.batch_size]) for b in range(0, len(items), cfg.batch_size)]

    main = [("neighbour", ids) for ids in neighbour_batches(len(pairs), cfg.batch_size, cfg.seed)]
    order = torch.randperm(len(teacher), generator=torch.Generator().manual_seed(cfg.seed))
    extra = [chunks([teacher[i] for i in order], "teacher"), chunks(nli, "nli"), chunks(sts, "sts")]
    batches: list[tuple[str, Any]] = []
    for k in range(max(len(main), *(len(e) for e in extra))):
        if main and k < len(main):
            batches.append(main[k])
        elif main:
            break
        batches += [e[k % len(e)] for e in extra if e]

    def encode(texts: list[list[str]]) -> torch.Tensor:
        return model.encoder(*embedder.batch(texts))[0]

    def loss_fn(batch: tuple[str, Any]):
        kind, items = batch
        if kind == "teacher":
            u = encode([words for words, _ in items])
            target = torch.from_numpy(np.stack([t for _, t in items]))
            loss = (1 - F.cosine_similarity(u, target)).mean()
            return loss, sum(len(w) for w, _ in items), None
        if kind == "neighbour":  # pair indices: read the pairs back
            items = [pairs[i] for i in items]
        u, v = encode([a for a, *_ in items]), encode([b for _, b, *_ in items])
        if kind == "neighbour":
            loss = neighbour_loss(u, v, [a for a, _ in items], [b for _, b in items], cfg.scale)
        elif kind == "nli":
            logits = model.nli(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))
            loss = F.cross_entropy(logits, torch.tensor([y for *_, y in items]))
        else:
            cos = F.cosine_similarity(u, v)
            loss = F.mse_loss(cos, torch.tensor([y for *_, y in items], dtype=torch.float32))
        return loss, sum(len(a) + len(b) for a, b, *_ in items), None

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loop = LoopConfig.like(cfg)
    history = train(model, opt, batches, loss_fn, loop, checkpoint, resume, None, progress, "use")
    model.eval()
    return embedder, history


# -- command line: `ctxembed train use` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--variant", default="dan", choices=("dan", "transformer"))
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--dim", type=positive, default=None, help="default 256, or the teacher's")
    t.add_argument(
        "--without",
        nargs="*",
        default=[],
        choices=("neighbour", "nli", "sts"),
        help="leave these tasks out",
    )
    t.add_argument(
        "--teacher",
        default=None,
        help="distil this model's sentence vectors (cosine loss) on the corpus sentences and "
        "the STS-B and SICK train sentences; with --without neighbour nli sts, nothing else",
    )
    t.add_argument("--epochs", type=positive, default=1)
    t.add_argument("--batch-size", type=positive, default=64)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    options.loop_args(t, checkpoint_every=1000)


def train_command(args: argparse.Namespace) -> int:
    from ..train.corpus import Corpus

    ckpt = options.check_out(args)
    tasks = tuple(t for t in ("neighbour", "nli", "sts") if t not in args.without)
    tasks += ("teacher",) if args.teacher else ()
    if not tasks:
        raise InputError("--without leaves no task: keep one, or give --teacher")
    cfg = options.from_args(UseTrainConfig, args, tasks=tasks)
    start = time.perf_counter()
    targets = None
    dim = args.dim or 256
    if args.teacher:
        from ..families import check_models, load

        check_models([args.teacher])
        teacher = load(args.teacher)
        dim = args.dim or teacher.dim
        texts = itertools.chain(
            sentences(Corpus(args.corpus), cfg.max_len),
            (s for a, b, _ in [*stsb_train(), *sick_nli()] for s in (a, b)),
        )
        targets = teacher_targets(teacher, texts, cfg.max_len, progress=not args.quiet)
    model_cfg = UseConfig(variant=args.variant, dim=dim)
    nli = sick_nli() if "nli" in tasks else None
    sts = stsb_train() if "sts" in tasks else None
    model, hist = train_use(
        Corpus(args.corpus),
        model_cfg,
        cfg,
        nli,
        sts,
        targets,
        ckpt,
        args.resume,
        progress=not args.quiet,
    )
    what = f"use ({args.variant}, tasks {'+'.join(tasks)}, vocabulary {len(model.vocab):,})"
    return options.finish_training(args, model.save, ckpt, hist, start, what)


FAMILY = Family(
    "use",
    embedder=UseEmbedder,
    trainer=Trainer(
        "train a Universal-Sentence-Encoder-style encoder (DAN or transformer)",
        add_train_arguments,
        train_command,
        "Multi-task: next-sentence prediction on CORPUS (in-batch), SICK train "
        "entailment, STS-B train similarity (both shipped in data/).",
    ),
)
