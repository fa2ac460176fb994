"""A task head on an encoder: features, training on the shared loop, save, load and predict.

Two modes. ``frozen`` (feature-based, Peters et al. 2018): the encoder's layers are computed
once per example with ``embed_words`` and cached (spans: per batch), and only the head,
with a learned mix over the layers, is trained. ``full``: every weight is trained through
the family's ``word_layers`` (AdamW; warm-up then linear decay; optionally layer-wise
learning-rate decay, Howard and Ruder 2018 / Clark et al. 2020), the top layer feeding the
head as in BERT's fine-tuning.

A tuned folder is the encoder's own folder (so ``ctxembed.load`` still embeds with it) plus
``head.json`` (task, labels, settings, scores) and ``head.safetensors``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F

from ..embedder import Embedder, read_weights, write_weights
from ..errors import InputError, ModelError
from ..io import atomic_dir
from ..text.words import Doc
from ..train.corpus import length_groups
from ..train.heads import (
    CRF,
    BiLSTM,
    LayerMix,
    accuracy,
    correlations,
    entity_scores,
    is_bio,
    mlp,
    span_scores,
    squad_scores,
)
from ..train.loop import LoopConfig, optimizer_steps, train
from ..train.tasks import METRICS, Example, check_splits

HEAD_CONFIG = "head.json"
HEAD_WEIGHTS = "head.safetensors"


@dataclass
class TuneConfig:
    task: str
    kind: str
    mode: str = "frozen"  # frozen | full
    epochs: int = 3
    lr: float = 2e-5  # the encoder's (full mode)
    head_lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    warmup: float = 0.1  # share of the steps with a rising learning rate
    layer_decay: float = 1.0  # full mode: each layer below the top trains at this times the lr
    weight_decay: float = 0.01
    dropout: float = 0.1
    hidden: int = 0  # MLP width; 0: the encoder's
    lstm: int = -1  # tag/span: biLSTM width over the words (0: none; -1: 256 frozen, 0 full)
    crf: bool = False
    layers: str = "auto"  # mix | top | auto (mix frozen, top full)
    patience: int = 2
    max_answer_words: int = 30
    clip: float = 1.0
    checkpoint_every: int = 500
    max_steps: int | None = None
    max_minutes: float | None = None  # stop training after this long (the best epoch is kept)
    max_train: int | None = None  # train on the first N examples (labels: all of train's)

    def __post_init__(self) -> None:
        if self.mode not in ("frozen", "full"):
            raise InputError(f"mode {self.mode!r}: use 'frozen' or 'full'")
        if self.layers not in ("auto", "mix", "top"):
            raise InputError(f"layers {self.layers!r}: use 'mix', 'top' or 'auto'")
        if not 0 < self.layer_decay <= 1:
            raise InputError(f"layer decay {self.layer_decay}: give a number in (0, 1]")
        if not 0 <= self.warmup < 1:
            raise InputError(f"warmup {self.warmup}: give a share of the steps in [0, 1)")
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout {self.dropout}: give a number in [0, 1)")
        if self.crf and self.kind != "tag":
            raise InputError("--crf is for tagging tasks only")
        if self.lstm > 0 and self.kind not in ("tag", "span"):
            raise InputError("--lstm is for tagging and span tasks only")

    @property
    def mixed(self) -> bool:
        return self.layers == "mix" or (self.layers == "auto" and self.mode == "frozen")

    @property
    def lstm_width(self) -> int:
        if self.lstm >= 0:
            return self.lstm
        return 256 if self.mode == "frozen" and self.kind in ("tag", "span") else 0


class Head(nn.Module):
    """The layer mix and the task's layers (see ``heads``); ``forward`` takes the features of
    a batch (``Features.parts``) and gives the scores the loss and the predictions read."""

    def __init__(self, cfg: TuneConfig, n_layers: int, dim: int, n_labels: int):
        super().__init__()
        self.kind = cfg.kind
        self.mix = LayerMix(n_layers, top=not cfg.mixed)
        hidden = cfg.hidden or dim
        self.lstm = BiLSTM(dim, cfg.lstm_width) if cfg.lstm_width else None
        width = self.lstm.out_dim if self.lstm else dim
        self.drop = nn.Dropout(cfg.dropout)
        if self.kind == "classify":
            self.out = mlp(dim, hidden, n_labels, cfg.dropout)
        elif self.kind == "pair-classify":
            self.out = mlp(4 * dim, hidden, n_labels, cfg.dropout)
        elif self.kind == "pair-score":
            self.proj = nn.Linear(dim, dim)
            with torch.no_grad():  # start from the encoder's own cosine
                self.proj.weight.copy_(torch.eye(dim))
                self.proj.bias.zero_()
        elif self.kind == "word-pair":
            self.out = mlp(5 * dim, hidden, n_labels, cfg.dropout)
        elif self.kind == "tag":
            self.out = nn.Linear(width, n_labels)
            self.crf = CRF(n_labels) if cfg.crf else None
        elif self.kind == "span":
            self.out = nn.Linear(width, 2)
        else:
            raise InputError(f"unknown task kind {self.kind!r}")

    def forward(self, parts: list[list[torch.Tensor]]) -> Any:
        k = self.kind
        if k in ("classify", "pair-classify", "pair-score", "word-pair"):
            # each part [L, D]: stack to [L, B, D], then mix
            cols = [self.mix(torch.stack([p[j] for p in parts], 1)) for j in range(len(parts[0]))]
            if k == "classify":
                return self.out(cols[0])
            if k == "pair-classify":
                u, v = cols
                return self.out(torch.cat([u, v, (u - v).abs(), u * v], -1))
            if k == "pair-score":
                u, v = (self.proj(self.drop(c)) for c in cols)
                return F.cosine_similarity(u, v, dim=-1)
            ta, tb, sa, sb = cols
            return self.out(torch.cat([ta, tb, (ta - tb).abs(), ta * tb, sa * sb], -1))
        # tag / span: each part [L, W, D]: pad to [L, B, W, D]
        lengths = torch.tensor([p[0].shape[1] for p in parts])
        L, D = parts[0][0].shape[0], parts[0][0].shape[2]
        x = parts[0][0].new_zeros(L, len(parts), int(lengths.max()), D)
        for b, p in enumerate(parts):
            x[:, b, : p[0].shape[1]] = p[0]
        h = self.drop(self.mix(x))
        if self.lstm is not None:
            h = self.drop(self.lstm(h, lengths))
        return self.out(h), lengths


class Tuned(nn.Module):
    """The trained parts: the head, and in full mode the encoder's module (so that the
    loop's optimizer, checkpoints and train/eval switches reach both)."""

    def __init__(self, head: Head, encoder: nn.Module | None):
        super().__init__()
        self.head = head
        self.encoder = encoder


class Features:
    """What the head reads for each example: the encoder's layers, reduced per kind.

    classify / pairs: per text the mean over its words ``[L, D]`` (the mix is linear, so
    the mean of the mixed words equals the mix of the means); word-pair: the two target
    words and the two texts' means, from one joint encoding of both texts; tag: the words'
    layers ``[L, W, D]``; span: the layers of question + separator + context.
    """

    def __init__(self, embedder: Embedder, cfg: TuneConfig, device: torch.device):
        self.embedder, self.kind, self.batch_size = embedder, cfg.kind, cfg.batch_size
        self.grad = cfg.mode == "full"  # through the encoder's weights, else its vectors
        self.mixed = cfg.mixed  # the head mixes all layers (else it reads the top one)
        self.device = device  # where the head is: features are moved there
        self.sep = _separator(embedder)
        self.caching = False
        self.cache: dict[int, tuple[Example, list[torch.Tensor]]] = {}

    def docs(self, e: Example) -> list[list[str]]:
        if self.kind in ("word-pair", "span"):
            return [e.texts[0] + self.sep + e.texts[1]]
        return list(e.texts)

    def context_start(self, e: Example) -> int:
        """Span: the index of the context's first word in the joint encoding."""
        return len(e.texts[0]) + len(self.sep)

    def layers(self, docs: list[list[str]]) -> list[torch.Tensor]:
        """Each doc's layers: all of them for a mix, the top one alone otherwise."""
        top = (self.embedder.n_layers - 1,)
        if self.grad:
            which = None if self.mixed else top
            return self.embedder.word_layers([Doc(d, None) for d in docs], self.batch_size, which)
        res = self.embedder.embed_words(
            docs,
            layers="all" if self.mixed else -1,
            return_layers=True,
            batch_size=self.batch_size,
            progress=False,
        )
        return [torch.from_numpy(r.layers) for r in res]

    def parts(self, examples: Sequence[Example]) -> list[list[torch.Tensor]]:
        """The features of ``examples``; while ``caching`` (training a frozen head on
        anything but spans), each example's are computed once and kept."""
        cache = self.caching and not self.grad and self.kind != "span"
        todo = [e for e in examples if not (cache and id(e) in self.cache)]
        docs = [d for e in todo for d in self.docs(e)]
        stacks = iter(self.layers(docs)) if docs else iter(())
        fresh = {id(e): self._reduce(e, [next(stacks) for _ in self.docs(e)]) for e in todo}
        if cache:  # keyed by identity, holding the example so that its id stays its own;
            # kept in the host's memory, each batch moved to the head's device when used
            self.cache.update({id(e): (e, fresh[id(e)]) for e in todo})
            chosen = [self.cache[id(e)][1] for e in examples]
        else:
            chosen = [fresh[id(e)] for e in examples]
        return [[t.to(self.device) for t in parts] for parts in chosen]

    def _reduce(self, e: Example, st: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.kind in ("classify", "pair-classify", "pair-score"):
            return [s.mean(1) for s in st]
        if self.kind == "word-pair":
            s, n_a = st[0], len(e.texts[0])
            b0 = n_a + len(self.sep)
            ta, tb = s[:, e.targets[0]], s[:, b0 + e.targets[1]]
            return [ta, tb, s[:, :n_a].mean(1), s[:, b0:].mean(1)]
        return [st[0]]


def _separator(embedder: Embedder) -> list[str]:
    """The word between two joint texts: the tokenizer's separator where the family has one
    (``[SEP]``, ``</s>``), else none (an LSTM reads the two texts as one passage)."""
    tokenizer = getattr(embedder, "tokenizer", None)
    sep = getattr(tokenizer, "sep_token", None)
    return [sep] if isinstance(sep, str) else []


# -- the task model: loss, predictions, scores ------------------------------------------------
class TaskModel:
    """An encoder with a head, trained or loaded, ready to predict."""

    def __init__(self, embedder: Embedder, cfg: TuneConfig, labels: list[str] | None, scale=None):
        self.embedder, self.cfg, self.labels = embedder, cfg, labels
        self.scale = scale or (0.0, 1.0)  # pair-score: gold = lo + cos * (hi - lo)
        if cfg.mode == "full" and embedder.tunable() is None:
            raise ModelError(
                f"the {embedder.family} family cannot be fine-tuned through its weights: "
                "use --mode frozen"
            )
        n_labels = len(labels) if labels else 1
        encoder = embedder.tunable()
        params = list(encoder.parameters()) if encoder is not None else []
        self.device = params[0].device if params else torch.device("cpu")
        self.head = Head(cfg, embedder.n_layers, embedder.dim, n_labels).to(self.device)
        self.module = Tuned(self.head, encoder if cfg.mode == "full" else None)
        self.features = Features(embedder, cfg, self.device)
        self.label_id = {y: i for i, y in enumerate(labels or [])}

    @property
    def metric(self) -> str:
        """What early stopping selects by on dev: entity F1 for BIO tags, else the kind's."""
        return (
            "f1" if self.cfg.kind == "tag" and is_bio(self.labels or []) else METRICS[self.cfg.kind]
        )

    # loss ------------------------------------------------------------------------------
    def loss(self, examples: list[Example]) -> torch.Tensor:
        out = self.head(self.features.parts(examples))
        k = self.cfg.kind
        if k in ("classify", "pair-classify", "word-pair"):
            gold = torch.tensor([self.label_id[e.label] for e in examples], device=out.device)
            return F.cross_entropy(out, gold)
        if k == "pair-score":
            lo, hi = self.scale
            gold = [(e.label - lo) / (hi - lo) for e in examples]
            gold = torch.tensor(gold, dtype=out.dtype, device=out.device)
            return F.mse_loss(out, gold)
        scores, lengths = out
        if k == "tag":
            gold = torch.full(scores.shape[:2], -100, dtype=torch.long)
            for b, e in enumerate(examples):
                gold[b, : len(e.label)] = torch.tensor([self.label_id[t] for t in e.label])
            gold = gold.to(scores.device)
            if self.head.crf is not None:
                mask = _mask(lengths, scores)
                return self.head.crf.nll(scores, gold.clamp(min=0), mask)
            return F.cross_entropy(scores.flatten(0, 1), gold.flatten(), ignore_index=-100)
        start_logits, end_logits = self._span_logits(scores, lengths, examples)
        starts = torch.tensor([e.span[0] for e in examples], device=scores.device)
        ends = torch.tensor([e.span[1] for e in examples], device=scores.device)
        return (F.cross_entropy(start_logits, starts) + F.cross_entropy(end_logits, ends)) / 2

    def _span_logits(self, scores, lengths, examples) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end scores over each example's context words, -inf past its end."""
        width = max(len(e.texts[1]) for e in examples)
        start = scores.new_full((len(examples), width), float("-inf"))
        end = start.clone()
        for b, e in enumerate(examples):
            c0, n = self.features.context_start(e), len(e.texts[1])
            start[b, :n] = scores[b, c0 : c0 + n, 0]
            end[b, :n] = scores[b, c0 : c0 + n, 1]
        return start, end

    # predictions -----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, examples: list[Example], batch_size: int | None = None) -> list[dict]:
        """One result per example: ``label`` + ``probs``, ``score``, ``tags`` or ``answer``."""
        self.module.eval()
        size = batch_size or self.cfg.batch_size
        out: list[dict] = []
        for b in range(0, len(examples), size):
            batch = examples[b : b + size]
            out.extend(self._predict_batch(batch))
        return out

    def _predict_batch(self, batch: list[Example]) -> list[dict]:
        res = self.head(self.features.parts(batch))
        k = self.cfg.kind
        if k in ("classify", "pair-classify", "word-pair"):
            probs = torch.softmax(res, -1)
            return [
                {
                    "label": self.labels[int(p.argmax())],
                    "probs": {y: round(float(q), 6) for y, q in zip(self.labels, p, strict=True)},
                }
                for p in probs
            ]
        if k == "pair-score":
            lo, hi = self.scale
            return [{"score": float(lo + c * (hi - lo))} for c in res]
        scores, lengths = res
        if k == "tag":
            if self.head.crf is not None:
                mask = _mask(lengths, scores)
                paths = self.head.crf.decode(scores, mask)
            else:
                paths = [scores[b, : int(n)].argmax(-1).tolist() for b, n in enumerate(lengths)]
            out = []
            for e, path in zip(batch, paths, strict=True):
                r = {"words": e.texts[0], "tags": [self.labels[t] for t in path]}
                if e.offsets is not None:
                    r["offsets"] = [list(o) for o in e.offsets[0]]
                out.append(r)
            return out
        start, end = self._span_logits(scores, lengths, batch)
        out = []
        for b, e in enumerate(batch):
            n = len(e.texts[1])
            s, t, score = span_scores(start[b, :n], end[b, :n], self.cfg.max_answer_words)
            cs, ce = e.offsets[1][s][0], e.offsets[1][t][1]
            out.append({"answer": e.raw[1][cs:ce], "start": cs, "end": ce, "score": score})
        return out

    def score(self, examples: list[Example]) -> dict[str, float]:
        """The task's metrics on labelled examples (the first is what early stopping reads)."""
        pred = self.predict(examples)
        k = self.cfg.kind
        if k in ("classify", "pair-classify", "word-pair"):
            return {"accuracy": accuracy([e.label for e in examples], [p["label"] for p in pred])}
        if k == "pair-score":
            return correlations([e.label for e in examples], [p["score"] for p in pred])
        if k == "tag":
            gold, tags = [e.label for e in examples], [p["tags"] for p in pred]
            flat = accuracy([t for g in gold for t in g], [t for p in tags for t in p])
            if self.metric == "f1":
                return {**entity_scores(gold, tags), "accuracy": flat}
            return {"accuracy": flat}
        return squad_scores([e.label for e in examples], [p["answer"] for p in pred])


def _mask(lengths: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``[B, T]``: True at each row's words."""
    return (
        torch.arange(scores.shape[1], device=scores.device)[None]
        < lengths.to(scores.device)[:, None]
    )


# -- training ------------------------------------------------------------------------------
def batches_by_length(examples: list[Example], size: int) -> list[list[int]]:
    """Indices in batches of similar length (little padding); the loop shuffles their order."""
    return length_groups([sum(map(len, e.texts)) for e in examples], size)


def optimizer(tm: TaskModel) -> torch.optim.Optimizer:
    """AdamW: the head at ``head_lr``; in full mode the encoder at ``lr``, each layer below
    the top at ``layer_decay`` times the one above; no weight decay on biases and norms."""
    cfg = tm.cfg
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}

    def add(p: nn.Parameter, lr: float, name: str) -> None:
        wd = 0.0 if p.dim() < 2 or "norm" in name.lower() else cfg.weight_decay
        groups.setdefault((lr, wd), []).append(p)

    for name, p in tm.head.named_parameters():
        add(p, cfg.head_lr, name)
    if cfg.layer_decay < 1 and tm.embedder.family != "transformer":
        raise InputError(
            f"--layer-decay is for transformer encoders, whose layers it can tell apart; "
            f"{tm.embedder.family} is not one: leave it at 1"
        )
    if tm.module.encoder is not None:
        n = tm.embedder.n_layers
        for name, p in tm.module.encoder.named_parameters():
            depth = _layer_of(name, n)
            add(p, cfg.lr * cfg.layer_decay ** (n - 1 - depth), name)
    return torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    )


def _layer_of(name: str, n_layers: int) -> int:
    """Which layer a parameter belongs to: embeddings 0, ``...layer.3...`` 4, the rest top."""
    if "embed" in name:
        return 0
    m = re.search(r"\.(\d+)\.", name)
    return min(int(m.group(1)) + 1, n_layers - 1) if m else n_layers - 1


def schedule(opt: torch.optim.Optimizer, total: int, warmup: float):
    """Linear warm-up over ``warmup`` of the steps, then linear decay to 0."""
    rise = max(1, math.ceil(warmup * total))

    def factor(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return max(0.0, (total - step) / max(1, total - rise))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class Outcome:
    model: TaskModel
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metrics
    history: Any = None


def fit(
    embedder: Embedder,
    cfg: TuneConfig,
    splits: dict[str, list[Example]],
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    model_name: str = "",
) -> Outcome:
    """Train a head (and in full mode the encoder) on ``splits['train']``, validating on
    ``splits['dev']`` each epoch; the best dev epoch is kept. Scores every split at the end."""
    labels = check_splits(splits, cfg.kind)
    scale = None
    if cfg.kind == "pair-score":
        ys = [e.label for e in splits["train"]]
        scale = (min(ys), max(ys)) if max(ys) > min(ys) else (min(ys), min(ys) + 1.0)
    torch.manual_seed(cfg.seed)  # the head's first weights
    tm = TaskModel(embedder, cfg, labels, scale)
    train_ex = splits["train"][: cfg.max_train]
    batches = batches_by_length(train_ex, cfg.batch_size)
    total = optimizer_steps(len(batches), cfg.epochs)  # --max-steps only cuts it short
    opt = optimizer(tm)
    loop = LoopConfig.like(cfg)
    loop.select, loop.patience = tm.metric, cfg.patience

    def loss_fn(batch: list[int]):
        examples = [train_ex[i] for i in batch]
        return tm.loss(examples), len(batch), None

    tm.features.caching = True
    settings = {"model": model_name, "n_train": len(train_ex), "n_dev": len(splits["dev"])}
    settings["epochs"] = cfg.epochs  # the schedule's length: a resume must keep it
    hist = train(
        tm.module,
        opt,
        batches,
        loss_fn,
        loop,
        checkpoint=checkpoint,
        resume=resume,
        validate=lambda: tm.score(splits["dev"]),
        progress=progress,
        desc=f"fine-tuning {cfg.task}",
        scheduler=schedule(opt, total, cfg.warmup),
        data=settings,
    )
    tm.module.eval()
    outcome = Outcome(tm, history=hist)
    for split, examples in splits.items():
        if split == "dev" and hist.best:  # the kept epoch's, scored as it was kept
            outcome.scores[split] = {k: v for k, v in hist.best.items() if k != "epoch"}
        elif split != "train":
            outcome.scores[split] = tm.score(examples)
    tm.features.caching = False
    tm.features.cache.clear()
    return outcome


# -- folders -------------------------------------------------------------------------------
def save(outcome: Outcome, path: str | os.PathLike, overwrite: bool, extra: dict) -> None:
    """The encoder's own folder, then ``head.json`` and ``head.safetensors`` beside it."""
    tm = outcome.model
    with atomic_dir(path, overwrite) as tmp:
        enc = tmp / "encoder"
        tm.embedder.save(enc)
        for item in enc.iterdir():
            shutil.move(str(item), str(tmp / item.name))
        enc.rmdir()
        write_weights(tmp, tm.head.state_dict(), HEAD_WEIGHTS)
        meta = {
            "settings": asdict(tm.cfg),
            "labels": tm.labels,
            "scale": list(tm.scale),
            "scores": outcome.scores,
            "epochs": outcome.history.valid if outcome.history else [],
            **extra,
        }
        (tmp / HEAD_CONFIG).write_text(json.dumps(meta, indent=2) + "\n")


def load(path: str | os.PathLike) -> TaskModel:
    """A folder ``save`` wrote: the encoder through ``ctxembed.load``, the head beside it."""
    from ..families import load as load_encoder

    folder = Path(path).expanduser()
    if not (folder / HEAD_CONFIG).is_file():
        raise ModelError(
            f"{folder}: no {HEAD_CONFIG}, so not a fine-tuned model (ctxembed finetune writes one)"
        )
    try:
        meta = json.loads((folder / HEAD_CONFIG).read_text(encoding="utf-8"))
        cfg = TuneConfig(**meta["settings"])
        labels, scale = meta["labels"], tuple(meta["scale"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{folder / HEAD_CONFIG}: not a valid head config ({e})") from None
    embedder = load_encoder(folder)
    tm = TaskModel(embedder, cfg, labels, scale)
    try:
        tm.head.load_state_dict(read_weights(folder, HEAD_WEIGHTS))
    except (OSError, RuntimeError, SafetensorError) as e:  # missing, damaged or mismatched
        raise ModelError(f"{folder / HEAD_WEIGHTS}: cannot be read ({e})") from None
    tm.module.eval()
    return tm
