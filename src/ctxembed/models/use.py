"""Universal-Sentence-Encoder-style encoders (Cer et al. 2018), trained multi-task from scratch.

Two encoders, as in the paper, with the same input (lowercased words) and output width:
- ``dan``: a deep averaging network (Iyyer et al. 2015): the embeddings of the words and of
  the word bigrams (hashed into buckets) are averaged, then feed-forward layers;
- ``transformer``: a transformer encoder over the words (sinusoidal positions, so any
  length is read whole) whose outputs are averaged over positions.

Trained multi-task, one task per step, with the objectives this world has data for:
- ``neighbour``: skip-thought-like, the next sentence of the corpus must score highest
  among the batch's (in-batch softmax over scaled cosines, both directions);
- ``nli``: SICK train entailment labels from ``[u; v; |u - v|; u * v]`` (a linear layer);
- ``sts``: STS-B train, the cosine regressed on the gold score / 5 (mean squared error).

The paper's trade-off is speed (DAN: linear in the length, tiny) against accuracy
(transformer: attention, quadratic); ``benchmarks/use.py`` measures both.
"""

from __future__ import annotations

import itertools
import math
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from ..api import Embedder, read_manifest, write_manifest
from ..errors import InputError, ModelError
from ..io import atomic_dir, read_lines
from ..train.loop import History, LoopConfig, train
from .context2vec import sentences

WEIGHTS = "model.safetensors"
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

    @classmethod
    def from_dict(cls, d: dict) -> UseConfig:
        return cls(**d)


def bigram_bucket(a: str, b: str, n_buckets: int) -> int:
    return zlib.crc32(f"{a} {b}".encode()) % n_buckets  # stable across runs, unlike hash()


def sinusoid(T: int, dim: int) -> torch.Tensor:
    pos = torch.arange(T, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(T, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


class SentenceEncoder(nn.Module):
    def __init__(self, cfg: UseConfig):
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise InputError(f"variant {cfg.variant!r}: use one of {', '.join(VARIANTS)}")
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
        top = states[-1]
        return (top * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1), states


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

    def _run(self, texts: list[list[str]], batch_size: int):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[Any] = [None] * len(texts)
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            with torch.inference_mode():
                sent, states = self.encoder(*self.batch([texts[i] for i in idx]))
            for r, i in enumerate(idx):
                out[i] = (sent[r].clone(), [s[r, : len(texts[i])].clone() for s in states])
        return out

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        res = self._run([d.words for d in docs], batch_size)
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

    def save(self, path: str | os.PathLike) -> None:
        with atomic_dir(path) as tmp:
            state = {k: v.contiguous() for k, v in self.encoder.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS))
            (tmp / "vocab.txt").write_text("".join(w + "\n" for w in self.vocab), encoding="utf-8")
            write_manifest(tmp, self.family, asdict(self.cfg))

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> UseEmbedder:
        manifest = read_manifest(path)
        try:
            encoder = SentenceEncoder(UseConfig.from_dict(manifest["config"]))
            encoder.load_state_dict(load_file(str(path / WEIGHTS)))
            vocab = (path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
        except (TypeError, KeyError, RuntimeError, OSError, SafetensorError) as e:
            raise ModelError(f"{path}: not a valid USE folder ({e})") from None
        return cls(encoder, vocab)


# -- training data -----------------------------------------------------------------------------
def neighbour_pairs(corpus: Iterable[list[str]], max_len: int) -> list[tuple[list[str], list[str]]]:
    """Consecutive sentences of a line (paragraph): (sentence, next sentence)."""
    pairs = []
    for line in corpus:
        sents = sentences([line], max_len)
        pairs += list(itertools.pairwise(sents))
    return pairs


def sick_nli(path: Path | None = None) -> list[tuple[list[str], list[str], int]]:
    """SICK train pairs with their entailment label (the relatedness score is not used)."""
    from ..eval.common import DATA
    from ..text.words import split_words

    path = path or DATA / "sick" / "SICK_train.txt.gz"
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
    from ..eval.sts import load
    from ..text.words import split_words

    return [(split_words(a)[0], split_words(b)[0], s / 5) for a, b, s in load("stsb-train")]


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


def train_use(
    corpus: Iterable[list[str]],
    model_cfg: UseConfig,
    cfg: UseTrainConfig,
    nli: list[tuple[list[str], list[str], int]] | None = None,
    sts: list[tuple[list[str], list[str], float]] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[UseEmbedder, History]:
    """One epoch = every neighbour batch once, each followed by the next NLI and STS batch."""
    lines = [[w.lower() for w in words] for words in corpus if words]
    pairs = neighbour_pairs(lines, cfg.max_len) if "neighbour" in cfg.tasks else []
    nli = [(a, b, y) for a, b, y in (nli or [])] if "nli" in cfg.tasks else []
    sts = list(sts or []) if "sts" in cfg.tasks else []
    if not (pairs or nli or sts):
        raise InputError("no training data: the corpus has no two consecutive sentences")
    counts = Counter(w for s in lines for w in s)
    counts.update(w.lower() for a, b, _ in [*nli, *sts] for w in (*a, *b))
    words = sorted(
        (w for w, c in counts.items() if c >= cfg.min_count), key=lambda w: (-counts[w], w)
    )
    vocab = [PAD, UNK, *[w for w in words if w not in (PAD, UNK)]]
    torch.manual_seed(cfg.seed)
    model = UseModel(UseConfig(**{**asdict(model_cfg), "vocab_size": len(vocab)}))
    embedder = UseEmbedder(model.encoder, vocab)

    def chunks(items: list, kind: str) -> list[tuple[str, Any]]:
        return [(kind, items[b : b + cfg.batch_size]) for b in range(0, len(items), cfg.batch_size)]

    main = chunks(pairs, "neighbour")
    extra = [chunks(nli, "nli"), chunks(sts, "sts")]
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
        u, v = encode([a for a, *_ in items]), encode([b for _, b, *_ in items])
        if kind == "neighbour":
            sim = F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T * cfg.scale
            gold = torch.arange(len(items))
            loss = (F.cross_entropy(sim, gold) + F.cross_entropy(sim.T, gold)) / 2
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
