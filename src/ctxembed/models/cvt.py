"""Cross-View Training (Clark, Luong, Manning and Le, EMNLP 2018): a semi-supervised tagger.

The whole model is in this file, after the paper and its code (tensorflow/models,
research/cvt_text):
- each word is its (lowercased) word embedding concatenated with a character CNN (widths
  2, 3, 4, ReLU, max-pooled over the windows inside the word): ``x_t``;
- two biLSTM layers read ``x``; the **primary** prediction module (a projection + ReLU, then
  a softmax over the tags) reads both layers ``[h1_t; h2_t]``;
- five **auxiliary** modules read restricted (or noised) views, on unlabelled text only:
  ``fwd`` the first layer's forward state ``h1f_t``, ``bwd`` its backward state ``h1b_t``,
  ``future`` the forward state of the previous word ``h1f_{t-1}`` (it never sees word
  ``t``), ``past`` the backward state of the next word ``h1b_{t+1}``, and ``full`` the
  primary's input under dropout (a projection without ReLU, as the code).

Training alternates labelled and unlabelled minibatches 1:1. On a labelled batch the primary
module is trained by cross-entropy with label smoothing 0.1 (dropout 0.5). On an unlabelled
batch the primary module, run without dropout and without gradient, is the teacher: each
auxiliary module is trained to match its (smoothed) distribution, ``sum_j CE(p_primary,
p_j)`` (dropout 0.2). SGD with momentum, warm-up then ``lr / (1 + 0.005 sqrt(step))``,
gradient clipping 1, and an exponential moving average of the weights (0.998) that is what
gets evaluated and saved. Without unlabelled data the same tagger trains supervised-only:
the baseline the paper compares with.

Scaled to this project's CPUs (see ``CONFIGS``); the LSTMs have no projection inside, the
tags stay BIO (the code converts entity tags to BIOES), and the first word has no ``future``
view and the last no ``past`` view (the code adds sentence-boundary tokens that give them one).

The embedder gives three layers per word, each ``2 * hidden`` wide: 0 the input ``x_t``
(repeated twice, as ELMo's token layer), 1 the first biLSTM, 2 the second. A trained
tagger's folder holds its tags, so ``ctxembed predict DIR`` tags a JSON Lines file.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..embedder import (
    Embedder,
    Family,
    Trainer,
    read_model,
    read_words,
    write_model,
)
from ..errors import InputError, ModelError, require
from ..io import atomic_dir
from ..options import positive, positive_float
from ..text.windows import batches as embed_batches
from ..text.words import Doc
from ..train import options
from ..train.corpus import Corpus, Encoded, length_groups, sentences
from ..train.distributed import is_main
from ..train.heads import accuracy, entity_scores, is_bio
from ..train.loop import History, LoopConfig, train
from ..train.tasks import TASKS, Example, check_splits, read_jsonl

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1 in both the word and the character vocabularies
VIEWS = ("fwd", "bwd", "future", "past")  # on the first layer; "full" reads both


@dataclass
class CVTConfig:
    vocab_size: int = 0
    n_chars: int = 0
    n_tags: int = 0
    word_dim: int = 50  # glove-6b-50d initialises it where the word is there
    char_dim: int = 30
    char_filters: int = 18  # per width
    char_widths: tuple[int, ...] = (2, 3, 4)
    projection: int = 128  # the prediction modules' hidden layer
    max_word_chars: int = 20  # the character CNN reads a word's first this many characters

    def __post_init__(self) -> None:
        self.char_widths = tuple(self.char_widths)
        if self.char_widths and max(self.char_widths) > self.max_word_chars:
            raise ValueError("max_word_chars must be at least the widest character filter")

    @property
    def hidden(self) -> int:
        """Each LSTM's width per direction: the input's, so that all layers are as wide."""
        return self.word_dim + self.char_filters * len(self.char_widths)

    @classmethod
    def from_dict(cls, d: dict) -> CVTConfig:
        return cls(**d)


# the reference: word 300 (GloVe), char CNN 3 x 100, biLSTM 1024 then 512, projection 512;
# "small" fits this project's 2-core CPUs (a labelled step of 32 sentences in about 0.1 s)
CONFIGS = {
    "small": CVTConfig(),  # input 50 + 3 x 18 = 104, biLSTMs 104 per direction, projection 128
    "tiny": CVTConfig(word_dim=32, char_dim=8, char_filters=16, projection=64),  # tests
}


def prediction_module(n_in: int, cfg: CVTConfig, relu: bool = True) -> nn.Sequential:
    """A projection (+ ReLU), then the tag scores."""
    return nn.Sequential(
        nn.Linear(n_in, cfg.projection),
        nn.ReLU() if relu else nn.Identity(),
        nn.Linear(cfg.projection, cfg.n_tags),
    )


class Spellings(NamedTuple):
    """A batch's distinct words as character ids ``[U, L]`` with their ``lengths [U]``, and
    ``where [B, T]``: each position's word among them (``U`` at padding)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    where: torch.Tensor

    def to(self, device: torch.device) -> Spellings:
        return Spellings(*(t.to(device) for t in self))


class CVTTagger(nn.Module):
    def __init__(self, cfg: CVTConfig):
        super().__init__()
        self.cfg = cfg
        H = cfg.hidden
        self.word = nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=0)
        self.char = nn.Embedding(cfg.n_chars, cfg.char_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.char_dim, cfg.char_filters, w) for w in cfg.char_widths
        )
        self.lstm1 = nn.LSTM(H, H, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * H, H, batch_first=True, bidirectional=True)
        self.primary = prediction_module(4 * H, cfg)
        self.aux = nn.ModuleDict({v: prediction_module(H, cfg) for v in VIEWS})
        self.aux["full"] = prediction_module(4 * H, cfg, relu=False)

    def inputs(self, ids: torch.Tensor, chars: Spellings) -> torch.Tensor:
        """``x [B, T, hidden]`` from word ids ``[B, T]`` and the batch's spellings: the CNN
        runs once per distinct word, max-pooled over the windows inside the word (so padding
        to the batch's longest word changes nothing)."""
        c = self.char(chars.ids).transpose(1, 2)  # [U, char_dim, L]
        feats = []
        for conv, w in zip(self.convs, self.cfg.char_widths, strict=True):
            y = conv(c)  # [U, filters, L - w + 1]
            inside = torch.arange(y.shape[2], device=y.device) < (chars.lengths - w + 1).clamp(
                min=1
            ).unsqueeze(1)
            pooled = y.masked_fill(~inside.unsqueeze(1), float("-inf")).max(-1).values
            feats.append(torch.relu(pooled))  # = max of the ReLU, as the code
        f = torch.cat(feats, -1)
        f = torch.cat([f, f.new_zeros(1, f.shape[1])])  # the row padding positions read
        return torch.cat([self.word(ids), f[chars.where]], -1)

    @staticmethod
    def _lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def forward(
        self, ids: torch.Tensor, chars: Spellings, lengths: torch.Tensor, drop: float = 0.0,
        depth: int = 2,
    ) -> tuple[torch.Tensor, ...]:  # fmt: skip
        """``(x, h1[, h2])``, each ``[B, T, .]``; dropout ``drop`` on each LSTM's input."""
        x = self.inputs(ids, chars)
        h1 = self._lstm(self.lstm1, F.dropout(x, drop, self.training), lengths)
        if depth == 1:
            return x, h1
        h2 = self._lstm(self.lstm2, F.dropout(h1, drop, self.training), lengths)
        return x, h1, h2

    def primary_logits(self, h1: torch.Tensor, h2: torch.Tensor, drop: float = 0.0) -> torch.Tensor:
        return self.primary(F.dropout(torch.cat([h1, h2], -1), drop, self.training))

    def view_logits(
        self, h1: torch.Tensor, h2: torch.Tensor, drop: float
    ) -> dict[str, torch.Tensor]:
        """Each auxiliary module's scores ``[B, T, K]`` for the tag at position ``t``; the
        ``future`` and ``past`` views have no input for the first and last word (zeros,
        masked out by ``cvt_loss``)."""
        H = self.cfg.hidden
        full = F.dropout(torch.cat([h1, h2], -1), drop, self.training)
        h1 = F.dropout(h1, drop, self.training)
        fw, bw = h1[..., :H], h1[..., H:]
        out = {
            "fwd": self.aux["fwd"](fw),
            "bwd": self.aux["bwd"](bw),
            "full": self.aux["full"](full),
        }
        future = self.aux["future"](fw[:, :-1])  # h1f_{t-1} predicts y_t, t >= 1
        past = self.aux["past"](bw[:, 1:])  # h1b_{t+1} predicts y_t, t <= n - 2
        out["future"] = F.pad(future, (0, 0, 1, 0))
        out["past"] = F.pad(past, (0, 0, 0, 1))
        return out


def cvt_loss(
    teacher: torch.Tensor,
    views: dict[str, torch.Tensor],
    lengths: torch.Tensor,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """``sum_j`` of the mean over words of ``CE(teacher, p_j)``, the teacher's distribution
    smoothed as the labels are; ``future`` and ``past`` over the words that have a
    previous (next) word."""
    teacher = teacher * (1 - smoothing) + smoothing / teacher.shape[-1]
    T = teacher.shape[1]
    mask = torch.arange(T)[None] < lengths[:, None]
    inner = mask.clone()
    inner[:, 0] = False  # future: no word before the first
    masks = {"future": inner, "past": torch.roll(inner, -1, 1)}  # the others: every word
    total = teacher.new_zeros(())
    for name, logits in views.items():
        ce = -(teacher * F.log_softmax(logits, -1)).sum(-1)
        m = masks.get(name, mask)
        total = total + ce[m].sum() / m.sum().clamp(min=1)
    return total


# -- words and characters to ids -------------------------------------------------------------
class Vocab:
    """Lowercased words for the word embeddings, cased characters for the CNN."""

    def __init__(self, words: list[str], chars: list[str], cfg: CVTConfig):
        self.words, self.chars = words, chars
        self.word_index = {w: i for i, w in enumerate(words)}
        self.char_index = {c: i for i, c in enumerate(chars)}
        self.max_chars = cfg.max_word_chars
        self.min_chars = max(cfg.char_widths, default=1)  # the widest filter fits

    def word_id(self, w: str) -> int:
        return self.word_index.get(w.lower(), 1)

    def batch(self, sents: Sequence[Sequence[str]]) -> tuple[torch.Tensor, Spellings, torch.Tensor]:
        """``(word ids [B, T], spellings, lengths [B])``, padded with 0."""
        lengths = np.array([len(s) for s in sents])
        ids = np.zeros((len(sents), int(lengths.max())), dtype=np.int64)
        where = np.full(ids.shape, -1, dtype=np.int64)
        distinct: dict[str, int] = {}
        for r, s in enumerate(sents):
            ids[r, : len(s)] = [self.word_id(w) for w in s]
            where[r, : len(s)] = [distinct.setdefault(w, len(distinct)) for w in s]
        where[where < 0] = len(distinct)
        n_chars = [min(len(w), self.max_chars) for w in distinct]
        chars = np.zeros((len(distinct), max(max(n_chars), self.min_chars)), dtype=np.int64)
        for u, w in enumerate(distinct):
            chars[u, : n_chars[u]] = [self.char_index.get(c, 1) for c in w[: self.max_chars]]
        spell = Spellings(torch.from_numpy(chars), torch.tensor(n_chars), torch.from_numpy(where))
        return torch.from_numpy(ids), spell, torch.from_numpy(lengths)


# -- the embedder ------------------------------------------------------------------------------
class CVTEmbedder(Embedder):
    """Layer 0: the input (word embedding + character CNN, doubled); 1, 2: the biLSTMs."""

    family = "cvt"
    n_layers = 3

    def __init__(self, model: CVTTagger, vocab: Vocab, tags: list[str] | None = None, record=None):
        self.model = model.eval()
        self.cfg = model.cfg
        self.vocab = vocab
        self.tags = tags  # the primary module's classes
        self.record = record or {}  # how it was trained and scored (saved in the manifest)
        self.dim = 2 * self.cfg.hidden

    def _layers(self, sents: list[list[str]], which: tuple[int, ...]) -> torch.Tensor:
        """``[len(which), B, T, dim]`` under the caller's grad mode."""
        ids, chars, lengths = self.vocab.batch(sents)
        device = next(self.model.parameters()).device
        out = self.model(
            ids.to(device), chars.to(device), lengths, depth=1 if max(which) < 2 else 2
        )
        x = torch.cat([out[0], out[0]], -1)  # the input layer, as wide as the others
        return torch.stack([(x, *out[1:])[i] for i in which])

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        words = [d.words for d in docs]
        out: list[Any] = [None] * len(docs)
        for batch in embed_batches([len(w) for w in words], None, batch_size, progress, "text"):
            idx = [i for i, *_ in batch]
            with torch.inference_mode():
                st = self._layers([words[i] for i in idx], layers)
            for r, i in enumerate(idx):
                out[i] = (st[:, r, : len(words[i])].cpu().numpy().astype(np.float32), None)
        return out

    def tunable(self) -> nn.Module:
        return self.model

    def word_layers(self, docs: list[Doc], batch_size: int = 32, layers=None) -> list[Any]:
        which = tuple(range(self.n_layers)) if layers is None else tuple(layers)
        out: list[Any] = [None] * len(docs)
        words = [d.words for d in docs]
        for batch in embed_batches([len(w) for w in words], None, batch_size, False, "text"):
            idx = [i for i, *_ in batch]
            st = self._layers([words[i] for i in idx], which)
            for r, i in enumerate(idx):
                out[i] = st[:, r, : len(words[i])]
        return out

    def tag_logits(self, sents: list[list[str]]) -> torch.Tensor:
        """The primary module's tag scores ``[B, T, K]`` (inference mode)."""
        ids, chars, lengths = self.vocab.batch(sents)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            out = self.model(ids.to(device), chars.to(device), lengths)
            return self.model.primary_logits(*out[1:]).cpu()

    def save(self, path, overwrite: bool = False) -> None:
        lists = {"vocab.txt": self.vocab.words, "chars.txt": self.vocab.chars}
        lists |= {"tags.txt": self.tags} if self.tags else {}
        state = self.model.state_dict()
        with atomic_dir(path, overwrite) as tmp:
            write_model(tmp, self.family, asdict(self.cfg), state, lists, training=self.record)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> CVTEmbedder:
        model, manifest, (words, chars) = read_model(
            path, "cvt", lambda c: CVTTagger(CVTConfig.from_dict(c)), "vocab.txt", "chars.txt"
        )
        cfg = model.cfg
        tags = read_words(path / "tags.txt") if (path / "tags.txt").is_file() else None
        if (len(words), len(chars), len(tags or [0] * cfg.n_tags)) != (
            cfg.vocab_size, cfg.n_chars, cfg.n_tags
        ):  # fmt: skip
            raise ModelError(f"{path}: its word, character or tag list does not match the model")
        return cls(model, Vocab(words, chars, cfg), tags, manifest.get("training"))

    def __repr__(self) -> str:
        return (
            f"<CVTEmbedder dim={self.dim} layers=3 (input, biLSTM 1, biLSTM 2) "
            f"vocabulary={len(self.vocab.words):,}>"
        )


# -- training ----------------------------------------------------------------------------------
@dataclass
class CVTTrainConfig:
    task: str = "upos"
    labeled_fraction: float = 1.0  # of the training split, a fixed sample (seed 0)
    steps: int = 2000  # labelled minibatches; CVT adds as many unlabelled ones
    eval_every: int = 500  # labelled steps between dev scores (the loop's epochs)
    batch_size: int = 32
    lr: float = 0.5  # SGD with momentum, as the reference
    momentum: float = 0.9
    warmup: int = 300  # steps (labelled and unlabelled) with a rising learning rate
    lr_decay: float = 0.005  # lr / (1 + lr_decay * sqrt(step))
    clip: float = 1.0
    ema: float = 0.998
    label_smoothing: float = 0.1
    dropout: float = 0.5  # labelled batches
    unlabeled_dropout: float = 0.2
    max_len: int = 60  # unlabelled sentences are cut into pieces of this many words
    min_count: int = 2  # unlabelled words: rarer ones are <unk> (labelled words all count)
    word_vectors: str | None = "glove-6b-50d"
    pretrained_words: int = 50_000  # the most frequent words of word_vectors join the vocab
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None
    unlabeled: bool = False  # set by the trainer: CVT (True) or supervised-only
    corpus_lines: int = 0  # the unlabelled corpus's size, for the resume check

    @property
    def epochs(self) -> int:
        return math.ceil(self.steps / self.eval_every)


class Training(nn.Module):
    """The tagger being trained and its exponential moving average (what is evaluated)."""

    def __init__(self, tagger: CVTTagger):
        super().__init__()
        self.tagger = tagger
        self.ema = copy.deepcopy(tagger).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def average(self, decay: float) -> None:
        # 0.998 as the reference, with TensorFlow's num_updates warm-up (which the reference
        # leaves off) so that our shorter runs do not average in the random start
        n = int(self.updates)
        d = min(decay, (1 + n) / (10 + n))
        for e, p in zip(self.ema.parameters(), self.tagger.parameters(), strict=True):
            e.lerp_(p, 1 - d)
        self.updates += 1


def labelled_subset(examples: list[Example], share: float) -> list[Example]:
    """A fixed sample (seed 0, whatever the training seed) so every run sees the same."""
    if share >= 1:
        return list(examples)
    idx = list(range(len(examples)))
    random.Random(0).shuffle(idx)
    keep = sorted(idx[: max(1, round(share * len(idx)))])
    return [examples[i] for i in keep]


def build_vocab(
    labelled: list[list[str]], unlabelled: Counter, cfg: CVTTrainConfig, pretrained
) -> tuple[list[str], list[str]]:
    """Words (lowercased): every labelled one, unlabelled ones seen ``min_count`` times, and
    the pretrained table's most frequent; characters (cased): those of the labelled words and
    of the kept unlabelled ones."""
    counts = Counter(w.lower() for s in labelled for w in s)
    kept = Counter({w: c for w, c in unlabelled.items() if c >= cfg.min_count})
    words = set(counts) | {w.lower() for w in kept}
    if pretrained is not None:
        words |= set(pretrained.words[: cfg.pretrained_words])
    words -= {PAD, UNK}
    chars = {c for s in labelled for w in s for c in w} | {c for w in kept for c in w}
    return [PAD, UNK, *sorted(words)], [PAD, UNK, *sorted(chars - {PAD, UNK})]


def train_cvt(
    splits: dict[str, list[Example]],
    model_cfg: CVTConfig,
    cfg: CVTTrainConfig,
    unlabelled: Corpus | None = None,
    pretrained: Embedder | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    labels: list[str] | None = None,
) -> tuple[CVTEmbedder, list[str], History]:
    """Train on ``splits['train']`` (already cut to the labelled share), score ``dev`` every
    ``eval_every`` labelled steps; ``pretrained`` (a static embedder) starts the word
    embeddings; ``labels``: the tag set (default: the training split's, which a labelled
    share may lack a rare tag of). Returns the averaged tagger, its tags and the history."""
    labels = labels or check_splits(splits, "tag")
    assert labels is not None
    tag_id = {t: i for i, t in enumerate(labels)}
    lab = splits["train"]
    cfg.unlabeled = unlabelled is not None
    # unlabelled sentences as ids of their (cased) word types, on disk
    types: dict[str, int] = {}
    un_counts: Counter = Counter()
    rows = None
    if unlabelled is not None:

        def type_ids():
            for s in sentences(unlabelled, cfg.max_len):
                un_counts.update(s)
                yield [types.setdefault(w, len(types)) for w in s]

        rows = Encoded(type_ids())
        if not len(rows):
            raise InputError("the unlabelled corpus has no sentence of two or more words")
    type_words = list(types)
    cfg.corpus_lines = len(rows) if rows is not None else 0
    vocab_words, chars = build_vocab([e.texts[0] for e in lab], un_counts, cfg, pretrained)
    model_cfg = CVTConfig(
        **{**asdict(model_cfg), "vocab_size": len(vocab_words), "n_chars": len(chars),
           "n_tags": len(labels)}
    )  # fmt: skip
    vocab = Vocab(vocab_words, chars, model_cfg)
    torch.manual_seed(cfg.seed)
    tagger = CVTTagger(model_cfg)
    if pretrained is not None:
        _init_words(tagger, vocab, pretrained)
    model = Training(tagger)

    lab_batches = [
        [lab[i] for i in g] for g in length_groups([len(e.texts[0]) for e in lab], cfg.batch_size)
    ]
    un_groups = length_groups(list(rows.lengths), cfg.batch_size) if rows is not None else []

    class Rounds:
        """Round ``r`` (an epoch of the loop): ``eval_every`` labelled batches, each followed
        by an unlabelled one for CVT; both drawn in a seeded order, cycling."""

        def __len__(self) -> int:
            return cfg.eval_every * (2 if un_groups else 1)

        def __call__(self, r: int) -> list[tuple[str, int]]:
            items = []
            for k in range(r * cfg.eval_every, (r + 1) * cfg.eval_every):
                items.append(("labelled", _cycle(len(lab_batches), k, cfg.seed)))
                if un_groups:
                    items.append(("unlabelled", _cycle(len(un_groups), k, cfg.seed + 1)))
            return items

    def loss_fn(item: tuple[str, int]):
        kind, b = item
        tagger = model.tagger
        if kind == "labelled":
            batch = lab_batches[b]
            ids, ch, lengths = vocab.batch([e.texts[0] for e in batch])
            _, h1, h2 = tagger(ids, ch, lengths, cfg.dropout)
            logits = tagger.primary_logits(h1, h2, cfg.dropout)
            gold = torch.full(ids.shape, -100, dtype=torch.long)
            for r, e in enumerate(batch):
                gold[r, : len(e.label)] = torch.tensor([tag_id[t] for t in e.label])
            loss = F.cross_entropy(
                logits.flatten(0, 1), gold.flatten(), ignore_index=-100,
                label_smoothing=cfg.label_smoothing,
            )  # fmt: skip
            return loss, int(lengths.sum()), None
        sents = [[type_words[t] for t in rows[i][:, 0]] for i in un_groups[b]]  # type: ignore[index]
        ids, ch, lengths = vocab.batch(sents)
        tagger.eval()  # the teacher: the full view, no dropout, no gradient
        with torch.no_grad():
            teacher = torch.softmax(tagger.primary_logits(*tagger(ids, ch, lengths)[1:]), -1)
        tagger.train()
        _, h1, h2 = tagger(ids, ch, lengths, cfg.unlabeled_dropout)
        views = tagger.view_logits(h1, h2, cfg.unlabeled_dropout)
        loss = cvt_loss(teacher, views, lengths, cfg.label_smoothing)
        return loss, int(lengths.sum()), None

    embedder = CVTEmbedder(model.ema, vocab, labels)
    metric = "f1" if is_bio(labels) else "accuracy"

    def validate() -> dict[str, float]:
        return {metric: score(embedder, splits["dev"])[metric]}

    opt = torch.optim.SGD(model.tagger.parameters(), lr=cfg.lr, momentum=cfg.momentum)

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / max(cfg.warmup, 1)) / (1 + cfg.lr_decay * math.sqrt(step))

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loop = LoopConfig.like(cfg)
    planned = cfg.steps * (2 if un_groups else 1)  # the last round may be cut short
    loop.max_steps = min(loop.max_steps or planned, planned)
    data = {"n_train": len(lab), "n_dev": len(splits["dev"])}
    history = train(
        model, opt, Rounds(), loss_fn, loop, checkpoint, resume, validate, progress,
        "cvt" if un_groups else "supervised", scheduler, data,
        after_step=lambda: model.average(cfg.ema),
    )  # fmt: skip
    model.eval()
    return embedder, labels, history


def _init_words(tagger: CVTTagger, vocab: Vocab, pretrained) -> None:
    """Rows of words the pretrained table has start from its vectors."""
    check_word_vectors(pretrained, tagger.cfg)
    index = {w: i for i, w in enumerate(pretrained.words)}
    rows = [(i, index[w]) for i, w in enumerate(vocab.words) if w in index]
    if not rows:
        raise InputError("--word-vectors: none of the training words has a vector there")
    ours, theirs = zip(*rows, strict=True)
    with torch.no_grad():
        tagger.word.weight[list(ours)] = torch.from_numpy(pretrained.vectors[list(theirs)])


def check_word_vectors(pretrained: Any, cfg: CVTConfig) -> None:
    """A static table (words and vectors) as wide as the word embedding."""
    if not hasattr(pretrained, "words") or not hasattr(pretrained, "vectors"):
        raise InputError(
            f"--word-vectors: a {pretrained.family} model has no word table: give a static "
            "model (glove-6b-50d, a word2vec or GloVe file) or none"
        )
    if pretrained.dim != cfg.word_dim:
        raise InputError(
            f"--word-vectors: {pretrained.dim}-d vectors for a {cfg.word_dim}-d word "
            "embedding: give vectors of the config's word_dim, or none"
        )


def _cycle(n: int, k: int, seed: int) -> int:
    """The ``k``-th draw from ``n`` batches: seeded permutations, one after another."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + k // n))
    return int(perm[k % n])


def predict_tags(embedder: CVTEmbedder, sents: list[list[str]], batch_size: int = 64) -> list:
    out: list[list[str]] = [[] for _ in sents]
    for batch in embed_batches([len(s) for s in sents], None, batch_size, False, "text"):
        idx = [i for i, *_ in batch]
        logits = embedder.tag_logits([sents[i] for i in idx])
        for r, i in enumerate(idx):
            out[i] = [embedder.tags[t] for t in logits[r, : len(sents[i])].argmax(-1).tolist()]  # type: ignore[index]
    return out


def score(embedder: CVTEmbedder, examples: list[Example]) -> dict[str, float]:
    """Per-word accuracy, and entity F1 (seqeval) for BIO tags."""
    gold = [e.label for e in examples]
    pred = predict_tags(embedder, [e.texts[0] for e in examples])
    flat = accuracy([t for g in gold for t in g], [t for p in pred for t in p])
    if is_bio(embedder.tags or []):
        return {**entity_scores(gold, pred), "accuracy": flat}
    return {"accuracy": flat}


def predict_file(folder: Path, path: str, batch_size: int) -> list[dict]:
    """``ctxembed predict`` on a tagger: the tags of each example of a JSON Lines file."""
    model = CVTEmbedder.from_folder(folder)
    if not model.tags:
        raise ModelError(f"{folder}: this cvt folder has no tags.txt, so it cannot tag")
    examples = read_jsonl(path, "tag", labelled=False)
    out = []
    for e, tags in zip(
        examples, predict_tags(model, [e.texts[0] for e in examples], batch_size), strict=True
    ):
        r: dict[str, Any] = {"words": e.texts[0], "tags": tags}
        if e.offsets is not None:
            r["offsets"] = [list(o) for o in e.offsets[0]]
        out.append(r)
    return out


# -- command line: `ctxembed train cvt` ---------------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    tags = [n for n, task in TASKS.items() if task.kind == "tag"]
    t.add_argument("--task", default="upos", help=f"{', '.join(tags)}, or 'tag' with --train/--dev")
    t.add_argument("--train", default=None, help="--task tag: JSON Lines {words, tags}")
    t.add_argument("--dev", default=None, help="--task tag: JSON Lines dev file")
    t.add_argument("--test", default=None, help="--task tag: JSON Lines test file")
    t.add_argument(
        "--unlabeled", default=None,
        help="unlabelled text (UTF-8 or .gz) for CVT; without it the tagger trains supervised-only",
    )  # fmt: skip
    t.add_argument(
        "--labeled-fraction", type=share, default=1.0, help="share of the train split (0, 1]"
    )
    t.add_argument("--out", required=True, help="folder to write the tagger to")
    t.add_argument("--config", default="small", help="small, tiny, or a JSON config file")
    t.add_argument("--steps", type=positive, default=2000, help="labelled minibatches")
    t.add_argument("--eval-every", type=positive, default=500)
    t.add_argument("--batch-size", type=positive, default=32)
    t.add_argument("--lr", type=positive_float, default=0.5)
    t.add_argument("--warmup", type=int, default=300)
    t.add_argument(
        "--word-vectors", default="glove-6b-50d",
        help="vectors that start the word embeddings (a model name or path; 'none')",
    )  # fmt: skip
    options.loop_args(t)


def share(value: str) -> float:
    """A share of the training split: above 0, at most 1 (all of it)."""
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"give a share above 0 and at most 1, got {value!r}")
    return x


def train_command(args: argparse.Namespace) -> int:
    from ..families import check_models, load
    from ..io import inside, remove_own_dir
    from ..train.options import peak_memory_mib

    require("eval", "seqeval")  # entity F1 for BIO tags
    ckpt = options.check_out(args)
    given = [args.unlabeled, args.train, args.dev, args.test, args.word_vectors]
    inside(Path(args.out), [Path(p) for p in given if p])
    model_cfg = options.model_config(
        args.config, CONFIGS, CVTConfig.from_dict, "cvt", CVTConfig(),
        build=lambda c: CVTTagger(CVTConfig(**{**asdict(c), "vocab_size": 4, "n_chars": 4, "n_tags": 2})),
    )  # fmt: skip
    splits = _splits(args)
    labels = check_splits(splits, "tag")  # of the whole training split
    splits["train"] = labelled_subset(splits["train"], args.labeled_fraction)
    vectors = None if args.word_vectors.lower() == "none" else args.word_vectors
    if vectors is not None:
        check_models([vectors])
    cfg = options.from_args(CVTTrainConfig, args, word_vectors=vectors)
    unlabelled = Corpus(args.unlabeled, what="--unlabeled") if args.unlabeled else None
    pretrained = load(vectors) if vectors is not None else None
    if pretrained is not None:  # before the unlabelled corpus is read
        check_word_vectors(pretrained, model_cfg)
    start = time.perf_counter()
    embedder, labels, hist = train_cvt(
        splits, model_cfg, cfg, unlabelled, pretrained, ckpt, args.resume, not args.quiet, labels
    )
    scores = {s: score(embedder, ex) for s, ex in splits.items() if s != "train"}
    embedder.record = {
        **asdict(cfg),
        "n_train": len(splits["train"]),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_memory_mib": round(peak_memory_mib()),
        "dev_curve": hist.valid,
        "scores": scores,
    }
    if not is_main():  # under torchrun: rank 0 writes the one model
        return 0
    embedder.save(args.out, overwrite=args.overwrite)
    remove_own_dir(ckpt)
    shown = "; ".join(
        f"{s} " + ", ".join(f"{k} {v:.2f}" for k, v in m.items()) for s, m in scores.items()
    )
    what = "cvt" if unlabelled is not None else "supervised-only"
    print(
        f"{what} tagger ({cfg.task}, {len(splits['train']):,} labelled sentences): "
        f"{len(hist.losses):,} steps in {embedder.record['seconds']:.0f}s; {shown} -> {args.out}"
    )
    return 0


def _splits(args: argparse.Namespace) -> dict[str, list[Example]]:
    if args.task == "tag":
        if not args.train or not args.dev:
            raise InputError("--task tag needs --train and --dev JSON Lines files")
        out = {"train": read_jsonl(args.train, "tag"), "dev": read_jsonl(args.dev, "tag")}
        if args.test:
            out["test"] = read_jsonl(args.test, "tag")
        return out
    task = TASKS.get(args.task)
    if task is None or task.kind != "tag":
        tags = [n for n, t in TASKS.items() if t.kind == "tag"]
        raise InputError(
            f"--task {args.task!r}: a tagging task ({', '.join(tags)}) or 'tag' with your files"
        )
    if args.train or args.dev or args.test:
        raise InputError(f"{args.task} has its own data: drop --train/--dev/--test")
    return task.read()  # type: ignore[misc]


FAMILY = Family(
    "cvt",
    embedder=CVTEmbedder,
    predict=predict_file,
    trainer=Trainer(
        "train a Cross-View Training tagger (char-CNN + biLSTM; semi-supervised)",
        add_train_arguments,
        train_command,
        "Labelled data from --task's train split (a fixed --labeled-fraction of it); with "
        "--unlabeled, auxiliary views learn to match the primary module on unlabelled text.",
    ),
)
