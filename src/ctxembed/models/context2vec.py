"""context2vec (Melamud, Goldberger and Dagan 2016): a biLSTM that embeds a word's context.

The whole model is in this file:
- a left-to-right LSTM reads ``<S> w_1 .. w_{i-1}`` and a right-to-left LSTM reads
  ``</S> w_n .. w_{i+1}``, each over its own input embeddings;
- the two states around slot ``i`` are concatenated and passed through an MLP
  (``2h -> 2h -> ReLU -> d``): that is the context vector ``c_i``;
- target word embeddings ``t_w`` (``d`` wide) are trained with it by word2vec's negative
  sampling: ``log s(t_{w_i} . c_i) + sum_k log s(-t_{n_k} . c_i)``, negatives drawn from the
  unigram distribution raised to 0.75 (the paper's and its code's choice).

The word at slot ``i`` never enters ``c_i``. So an embedder gives two layers per word:
layer 0 is its target embedding (static) and layer 1 the context vector of its slot; the
mean of both (``layers="all"``) is a word-in-context vector.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    write_model,
)
from ..errors import InputError, ModelError, OutOfVocabularyError
from ..io import atomic_dir
from ..options import positive, positive_float
from ..text.windows import batches
from ..train import options
from ..train.corpus import Batches, Corpus, Encoded, as_corpus, sentences
from ..train.loop import History, LoopConfig, train
from .layers import reverse_padded

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<S>", "</S>"
SLOT = "[]"  # marks the slot in a context given as text: "I went to the [] to deposit money"


@dataclass
class Context2VecConfig:
    vocab_size: int = 0
    embed_dim: int = 300  # input embeddings of each LSTM
    hidden_dim: int = 300  # each LSTM; the paper's best model uses 600
    out_dim: int = 300  # context vectors and target embeddings
    dropout: float = 0.0
    lowercase: bool = True  # look words up lowercased (the vocabulary was built so)

    @classmethod
    def from_dict(cls, d: dict) -> Context2VecConfig:
        return cls(**d)


CONFIGS = {
    "small": Context2VecConfig(embed_dim=200, hidden_dim=300, out_dim=300),
    "paper": Context2VecConfig(embed_dim=600, hidden_dim=600, out_dim=600),
}


class Context2Vec(nn.Module):
    def __init__(self, cfg: Context2VecConfig):
        super().__init__()
        self.cfg = cfg
        self.l2r_embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.r2l_embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.l2r = nn.LSTM(cfg.embed_dim, cfg.hidden_dim, batch_first=True)
        self.r2l = nn.LSTM(cfg.embed_dim, cfg.hidden_dim, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(2 * cfg.hidden_dim, 2 * cfg.hidden_dim),
            nn.ReLU(),
            nn.Linear(2 * cfg.hidden_dim, cfg.out_dim),
        )
        self.target = nn.Embedding(cfg.vocab_size, cfg.out_dim, padding_idx=0)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.zeros_(self.target.weight)  # as word2vec's output vectors

    def _lstm(self, lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Context vectors ``[B, T-2, out]`` for ids ``[B, T]`` = ``<S> w_1..w_n </S>`` + padding.

        ``lengths`` counts <S> and </S>; row ``b`` has ``lengths[b] - 2`` real slots.
        """
        left = self._lstm(self.l2r, self.drop(self.l2r_embed(ids)), lengths)
        rev = reverse_padded(ids.unsqueeze(-1), lengths).squeeze(-1)
        right = self._lstm(self.r2l, self.drop(self.r2l_embed(rev)), lengths)
        right = reverse_padded(right, lengths)
        # slot i (1-based in ids) sees left[i-1] (after <S>..w_{i-1}) and right[i+1]
        both = torch.cat([left[:, :-2], right[:, 2:]], dim=-1)
        return self.mlp(self.drop(both))

    def loss(
        self, ids: torch.Tensor, lengths: torch.Tensor, noise: torch.Tensor, n_negative: int
    ) -> torch.Tensor:
        """Mean negative-sampling loss over all real slots of the batch."""
        c = self(ids, lengths)
        gold = ids[:, 1:-1]
        mask = torch.arange(gold.shape[1]).unsqueeze(0) < (lengths - 2).unsqueeze(1)
        c, gold = c[mask], gold[mask]  # [N, out], [N]
        neg = torch.multinomial(noise, len(gold) * n_negative, replacement=True)
        neg = neg.view(len(gold), n_negative)
        pos_score = (c * self.target(gold)).sum(-1)
        neg_score = torch.einsum("nd,nkd->nk", c, self.target(neg))
        return -(F.logsigmoid(pos_score) + F.logsigmoid(-neg_score).sum(-1)).mean()


# -- the embedder ------------------------------------------------------------------------------
class Context2VecEmbedder(Embedder):
    """Layer 0: target embedding of each word; layer 1: the context vector of its slot."""

    family = "context2vec"
    lexical_layer = 0  # the target embeddings
    n_layers = 2

    def __init__(self, model: Context2Vec, vocab: list[str]):
        self.model = model.eval()
        self.cfg = model.cfg
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.dim = self.cfg.out_dim

    # words -> ids
    def _key(self, word: str) -> str:
        return word.lower() if self.cfg.lowercase else word

    def target_index(self, word: str) -> int | None:
        """Row of ``word``'s target embedding (lowercased where the model is), or None."""
        return self.index.get(self._key(word))

    def _id(self, word: str) -> int:
        return self.index.get(self._key(word), self.index[UNK])

    def _batch(self, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) + 2 for s in sentences])
        ids = torch.zeros(len(sentences), int(lengths.max()), dtype=torch.long)
        for r, s in enumerate(sentences):
            row = [self.index[BOS], *(self._id(w) for w in s), self.index[EOS]]
            ids[r, : len(row)] = torch.tensor(row)
        return ids, lengths

    def contexts(
        self, sentences: list[list[str]], batch_size: int, progress: bool = False
    ) -> list[torch.Tensor]:
        """Context vectors ``[n_words, out]`` per sentence; batches sorted by length."""
        out: list[torch.Tensor] = [torch.empty(0)] * len(sentences)
        for batch in batches([len(s) for s in sentences], None, batch_size, progress, unit="text"):
            idx = [i for i, *_ in batch]
            ids, lengths = self._batch([sentences[i] for i in idx])
            with torch.inference_mode():
                c = self.model(ids, lengths)
            for r, i in enumerate(idx):
                out[i] = c[r, : len(sentences[i])].clone()
        return out

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        words = [d.words for d in docs]
        contexts = self.contexts(words, batch_size, progress) if 1 in layers else [None] * len(docs)
        out = []
        for ws, ctx in zip(words, contexts, strict=True):
            ids = torch.tensor([self._id(w) for w in ws])
            oov = np.array([self._key(w) not in self.index for w in ws])
            target = (
                self.model.target.weight[ids]
                .detach()
                .masked_fill(torch.from_numpy(oov).unsqueeze(1), 0.0)
            )
            stack = [target if i == 0 else ctx for i in layers]
            out.append((torch.stack(stack).numpy().astype(np.float32), oov))
        return out

    # the slot API ---------------------------------------------------------------------------
    def _slot(self, tokens: str | Sequence[str], index: int | None) -> tuple[list[str], int]:
        words = tokens.split() if isinstance(tokens, str) else list(tokens)
        if index is not None and SLOT in words:
            raise InputError(
                f"both a {SLOT!r} slot and index={index} given: mark the slot one way only"
            )
        if index is None:
            slots = [i for i, w in enumerate(words) if w == SLOT]
            if len(slots) != 1:
                raise InputError(
                    f"mark exactly one slot with {SLOT!r} or pass index= "
                    f"(found {len(slots)} slots in {' '.join(words)[:60]!r})"
                )
            index = slots[0]
        if len(words) < 2:
            raise InputError("the context is empty: give at least one word besides the slot")
        if not -len(words) <= index < len(words):
            raise InputError(
                f"index {index} is out of range for a context of {len(words)} words "
                f"(0..{len(words) - 1})"
            )
        if any(not w.strip() for w in words):
            raise InputError("a word of the context is empty or only whitespace")
        return words, index % len(words)

    def context_vector(self, tokens: str | Sequence[str], index: int | None = None) -> np.ndarray:
        """The context vector of slot ``index`` (the word there is ignored)."""
        words, index = self._slot(tokens, index)
        return self.contexts([words], 1)[0][index].numpy()

    def target_vector(self, word: str) -> np.ndarray:
        key = self._key(word)
        if key not in self.index or key in (PAD, UNK, BOS, EOS):
            raise OutOfVocabularyError(f"{word!r} is not in this context2vec vocabulary")
        return self.model.target.weight[self.index[key]].detach().numpy()

    def similarity(
        self, context: str | Sequence[str], word: str, index: int | None = None
    ) -> float:
        """Cosine of a slot's context vector and a word's target embedding."""
        c, t = self.context_vector(context, index), self.target_vector(word)
        return float(c @ t / max(np.linalg.norm(c) * np.linalg.norm(t), 1e-12))

    def substitutes(
        self, tokens: str | Sequence[str], index: int | None = None, k: int = 10
    ) -> list[tuple[str, float]]:
        """The ``k`` vocabulary words whose target embedding is closest (cosine) to the slot."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        c = torch.from_numpy(self.context_vector(tokens, index))
        t = self.model.target.weight.detach()
        scores = (t @ c) / (t.norm(dim=1) * c.norm()).clamp(min=1e-12)
        scores[[self.index[w] for w in (PAD, UNK, BOS, EOS)]] = -2.0
        top = scores.topk(min(k, len(self.vocab) - 4))
        return [(self.vocab[i], float(s)) for s, i in zip(top.values, top.indices, strict=True)]

    # folders --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            state = self.model.state_dict()
            write_model(tmp, self.family, asdict(self.cfg), state, {"vocab.txt": self.vocab})

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> Context2VecEmbedder:
        model, _, (vocab,) = read_model(
            path, "context2vec", lambda c: Context2Vec(Context2VecConfig.from_dict(c)), "vocab.txt"
        )
        if len(vocab) != model.cfg.vocab_size:
            raise ModelError(
                f"{path}: vocab.txt has {len(vocab)} words, the model {model.cfg.vocab_size}"
            )
        return cls(model, vocab)


# -- training ----------------------------------------------------------------------------------
@dataclass
class Context2VecTrainConfig:
    max_len: int = 64  # longer sentences are cut into pieces of this many words
    batch_size: int = 100
    min_count: int = 3
    n_negative: int = 10  # the paper's 10 negatives per target
    power: float = 0.75
    lr: float = 1e-3  # Adam, as the paper's code
    epochs: int = 3
    clip: float = 5.0
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None


def build_vocab(counts: Counter, min_count: int) -> tuple[list[str], np.ndarray]:
    """Specials then words by falling frequency; the counts (0 for specials) for the noise."""
    counts = Counter({w: c for w, c in counts.items() if w != UNK})
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    vocab = [PAD, UNK, BOS, EOS, *words]
    freq = np.array([0, 0, 0, 0, *(counts[w] for w in words)], dtype=np.float64)
    return vocab, freq


def train_context2vec(
    corpus: Iterable[list[str]],
    model_cfg: Context2VecConfig,
    cfg: Context2VecTrainConfig,
    valid: Iterable[list[str]] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[Context2VecEmbedder, History]:
    lower = model_cfg.lowercase

    def sents_of(lines: Corpus) -> Callable[[], Iterator[list[str]]]:
        return lambda: sentences(
            ([w.lower() for w in s] if lower else s for s in lines), cfg.max_len
        )

    train_sents = sents_of(as_corpus(corpus))  # read twice: counts, then ids
    counts = Counter(w for s in train_sents() for w in s)
    if not counts:
        raise InputError("the training corpus has no sentence of two or more words")
    vocab, freq = build_vocab(counts, cfg.min_count)
    if not freq.any():  # only the specials: nothing to predict, no noise to sample
        raise InputError(
            f"no word occurs {cfg.min_count} times or more in the corpus: "
            "lower min_count (--min-count) or give a bigger corpus"
        )
    torch.manual_seed(cfg.seed)
    model = Context2Vec(Context2VecConfig(**{**asdict(model_cfg), "vocab_size": len(vocab)}))
    embedder = Context2VecEmbedder(model, vocab)
    noise = torch.from_numpy(freq**cfg.power).float()

    def batches_of(sents: Callable[[], Iterator[list[str]]]) -> Batches:
        """Rows ``<s> ids </s>`` on disk; a batch pads them with 0 (<pad>)."""
        bos, eos = embedder.index[BOS], embedder.index[EOS]
        rows = Encoded([bos, *(embedder._id(w) for w in s), eos] for s in sents())

        def make(group: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            ids, lengths = rows.padded(group, 0)  # 0: <pad>
            return torch.from_numpy(ids[..., 0]), torch.from_numpy(lengths)

        return Batches(rows.lengths, cfg.batch_size, make)

    batches = batches_of(train_sents)

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int, float]:
        ids, lengths = batch
        loss = model.loss(ids, lengths, noise, cfg.n_negative)
        return loss, int((lengths - 2).sum()), None  # not a likelihood: no perplexity

    validate = None
    if valid is not None:
        vbatches = batches_of(sents_of(as_corpus(valid)))

        def validate() -> dict[str, float]:
            # the sampled loss with a fixed seed, so epochs compare; and the rank of the gold
            # word among the vocabulary by cosine (mean reciprocal rank), the substitution view,
            # over the slots whose gold word is known (an <unk> slot has no rank)
            g = torch.get_rng_state()
            torch.manual_seed(12345)
            total, n, rr, n_ranked = 0.0, 0, 0.0, 0
            t = F.normalize(model.target.weight, dim=1)
            for ids, lengths in vbatches[:: max(1, len(vbatches) // 50)]:
                total += float(model.loss(ids, lengths, noise, cfg.n_negative)) * int(
                    (lengths - 2).sum()
                )
                c = model(ids, lengths)
                gold = ids[:, 1:-1]
                mask = torch.arange(gold.shape[1]).unsqueeze(0) < (lengths - 2).unsqueeze(1)
                scores = F.normalize(c[mask], dim=1) @ t.T
                keep = gold[mask] != 1  # <unk>
                gold_score = scores.gather(1, gold[mask].unsqueeze(1))
                rank = (scores > gold_score).sum(1) + 1
                rr += float((1.0 / rank.float())[keep].sum())
                n += int((lengths - 2).sum())
                n_ranked += int(keep.sum())
            torch.set_rng_state(g)
            return {"loss": total / max(n, 1), "mrr": rr / max(n_ranked, 1)}

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loop = LoopConfig.like(cfg)
    history = train(
        model, opt, batches, loss_fn, loop, checkpoint, resume, validate, progress, "context2vec"
    )
    model.eval()
    return embedder, history


# -- command line: `ctxembed train context2vec` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    options.corpus_args(t, "loss and gold-word MRR", "small, paper, or a JSON config file")
    t.add_argument("--epochs", type=positive, default=3)
    t.add_argument("--batch-size", type=positive, default=100)
    t.add_argument("--min-count", type=positive, default=3)
    t.add_argument("--negative", type=positive, default=10)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--cased", action="store_true", help="keep case (default: lowercase)")
    options.loop_args(t)


def train_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..train.corpus import Corpus

    ckpt = options.check_out(args)
    model_cfg = options.model_config(
        args.config,
        CONFIGS,
        Context2VecConfig.from_dict,
        "context2vec",
        Context2VecConfig(),
        build=lambda c: Context2Vec(replace(c, vocab_size=8)),
    )
    model_cfg = replace(model_cfg, lowercase=not args.cased)
    cfg = options.from_args(Context2VecTrainConfig, args, n_negative=args.negative)
    corpus = Corpus(args.corpus)
    valid = Corpus(args.valid, what="--valid") if args.valid else None
    start = time.perf_counter()
    model, hist = train_context2vec(
        corpus, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )
    what = f"context2vec ({args.config}, vocabulary {len(model.vocab):,})"
    return options.finish_training(args, model.save, ckpt, hist, start, what)


FAMILY = Family(
    "context2vec",
    embedder=Context2VecEmbedder,
    trainer=Trainer(
        "train context2vec (biLSTM context + negative sampling)",
        add_train_arguments,
        train_command,
        "CORPUS: UTF-8 text (or .gz); lines are split into sentences at . ! ?",
    ),
)
