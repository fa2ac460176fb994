"""Contextualized Topic Models (Bianchi, Terragni and Hovy, ACL 2021; Bianchi, Terragni,
Hovy, Nozza and Fersini, EACL 2021) on ProdLDA (Srivastava and Sutton, ICLR 2017).

The whole model is in this file. A document is its bag of words ``x`` (the ``vocab_size``
most frequent words after stop-word removal) and, for the contextual variants, a sentence
encoder's vector ``e`` of its raw text:

- the inference network reads ``x`` (ProdLDA), ``[x, W_e e]`` (**CombinedTM**: the embedding
  mapped to the vocabulary's width, then concatenated) or ``e`` alone (**ZeroShotTM**, which
  therefore gives topics to documents whose words it never saw); two softplus layers of 100,
  dropout 0.2, then the mean and log-variance of a Gaussian over ``K`` topics, each through
  a batch norm without learned scale;
- ``theta = softmax(z)``, ``z = mu + sigma * eps``: a logistic normal whose prior (learned,
  initialised at mean 0, variance 1 - 1/K) is the Laplace approximation of a Dirichlet with
  all alphas 1; dropout 0.2 on ``theta``;
- the product-of-experts decoder: ``p(w | theta) = softmax(BN(theta beta))`` with ``beta``
  ``[K, V]`` unnormalised; a topic's words are its row of ``beta`` in decreasing order;
- loss per document: ``KL(q(z | d) || p(z)) - sum_w x_w log p(w | theta)``, summed over the
  batch; Adam, learning rate 2e-3, betas (0.99, 0.99), batch 64, 100 epochs (the papers').

A document's topic distribution at inference is ``softmax(mu)``: the posterior mean's mix,
one deterministic value (the reference code averages 20 samples). The bag of words uses
scikit-learn's ``CountVectorizer`` (its English stop words; words of two or more letters).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
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
from ..errors import InputError, ModelError, require
from ..io import atomic_dir, read_lines
from ..options import positive, positive_float
from ..train import options
from ..train.loop import History, LoopConfig, epoch_order, train

INPUTS = ("combined", "zeroshot", "bow")  # CombinedTM, ZeroShotTM, ProdLDA
TOKENS = r"(?u)\b[^\W\d_]{2,}\b"  # words of two or more letters (no digits, no underscores)


@dataclass
class CTMConfig:
    topics: int = 50
    inputs: str = "combined"  # combined | zeroshot | bow
    vocab_size: int = 0
    embed_dim: int = 0  # the encoder's width (0 for bow)
    hidden: tuple[int, ...] = (100, 100)
    dropout: float = 0.2
    encoder: str = ""  # the sentence encoder's name, or a folder's absolute path

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs {self.inputs!r}: use one of {', '.join(INPUTS)}")
        if self.topics < 2:  # the prior's variance 1 - 1/K would be 0
            raise ValueError(f"topics {self.topics}: a topic model needs at least 2")

    @classmethod
    def from_dict(cls, d: dict) -> CTMConfig:
        return cls(**d)


class CTM(nn.Module):
    def __init__(self, cfg: CTMConfig):
        super().__init__()
        self.cfg = cfg
        V, K, E = cfg.vocab_size, cfg.topics, cfg.embed_dim
        if cfg.inputs == "combined":
            self.adapt = nn.Linear(E, V)  # the embedding at the vocabulary's width
            n_in = 2 * V
        else:
            n_in = E if cfg.inputs == "zeroshot" else V
        sizes = (n_in, *cfg.hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.drop = nn.Dropout(cfg.dropout)
        self.mu = nn.Linear(sizes[-1], K)
        self.logvar = nn.Linear(sizes[-1], K)
        self.mu_norm = nn.BatchNorm1d(K, affine=False)
        self.logvar_norm = nn.BatchNorm1d(K, affine=False)
        self.prior_mean = nn.Parameter(torch.zeros(K))
        self.prior_var = nn.Parameter(torch.full((K,), 1.0 - 1.0 / K))
        self.beta = nn.Parameter(torch.empty(K, V))
        nn.init.xavier_uniform_(self.beta)
        self.beta_norm = nn.BatchNorm1d(V, affine=False)
        self.theta_drop = nn.Dropout(cfg.dropout)

    def posterior(self, bow: torch.Tensor, emb: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        if self.cfg.inputs == "combined":
            h = torch.cat([bow, self.adapt(emb)], 1)
        else:
            h = emb if self.cfg.inputs == "zeroshot" else bow
        for layer in self.hidden:
            h = F.softplus(layer(h))
        h = self.drop(h)
        return self.mu_norm(self.mu(h)), self.logvar_norm(self.logvar(h))

    def loss(self, bow: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """``sum over documents of KL + reconstruction`` (the papers' objective)."""
        mu, logvar = self.posterior(bow, emb)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        theta = self.theta_drop(torch.softmax(z, 1))
        log_p = torch.log_softmax(self.beta_norm(theta @ self.beta), 1)
        rec = -(bow * log_p).sum(1)
        var = torch.exp(logvar)
        kl = 0.5 * (
            (var / self.prior_var).sum(1)
            + ((self.prior_mean - mu) ** 2 / self.prior_var).sum(1)
            - self.cfg.topics
            + torch.log(self.prior_var).sum()
            - logvar.sum(1)
        )
        return (kl + rec).sum()

    @torch.no_grad()
    def theta(self, bow: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        return torch.softmax(self.posterior(bow, emb)[0], 1)


# -- documents -> bags of words and embeddings ------------------------------------------------
def vectorizer(vocab: Sequence[str] | None = None, size: int = 2000):
    """scikit-learn's counts: lowercase, English stop words out, ``size`` most frequent words
    (or exactly ``vocab``)."""
    require("eval", "sklearn")
    from sklearn.feature_extraction.text import CountVectorizer

    if vocab is not None:
        return CountVectorizer(vocabulary=list(vocab), token_pattern=TOKENS, lowercase=True)
    return CountVectorizer(
        max_features=size, stop_words="english", token_pattern=TOKENS, lowercase=True
    )


def analyzer():
    """How a document becomes the words its bag counts (for coherence's reference texts)."""
    return vectorizer().build_analyzer()


def embed_texts(encoder: Embedder, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    return encoder.embed_sentences(list(texts), progress=progress)


# -- the model as an embedder: topic vectors of words and documents --------------------------
class CTMModel(Embedder):
    """``embed_sentences``: each text's topic distribution ``[K]``; ``embed_words``: each
    word's topic loadings (its column of ``beta``; context-free, zero outside the
    vocabulary); ``topics``: the top words of every topic."""

    family = "ctm"
    n_layers = 1

    def __init__(self, model: CTM, vocab: list[str], encoder: Embedder | None = None):
        self.model = model.eval()
        self.cfg = model.cfg
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.dim = self.cfg.topics
        self._encoder = encoder

    @property
    def encoder(self) -> Embedder | None:
        """The sentence encoder (loaded on first use; None for ProdLDA)."""
        if self.cfg.inputs == "bow":
            return None
        if self._encoder is None:
            from ..families import load

            try:
                encoder = load(self.cfg.encoder)
            except ModelError as e:
                raise ModelError(
                    f"this topic model reads the encoder {self.cfg.encoder!r}, which cannot be "
                    f"loaded here ({e})"
                ) from None
            if encoder.dim != self.cfg.embed_dim:
                raise ModelError(
                    f"the encoder {self.cfg.encoder!r} gives {encoder.dim}-d vectors; this "
                    f"topic model was trained on {self.cfg.embed_dim}-d ones"
                )
            self._encoder = encoder
        return self._encoder

    def topics(self, n: int = 10) -> list[list[str]]:
        if n < 1:
            raise InputError(f"n must be at least 1, got {n}")
        top = torch.argsort(self.model.beta.detach(), 1, descending=True)[:, :n]
        return [[self.vocab[i] for i in row] for row in top.tolist()]

    def doc_topics(
        self,
        texts: Sequence[str],
        embeddings: np.ndarray | None = None,
        batch_size: int = 256,
        progress: bool = False,
    ) -> np.ndarray:
        """``[n, K]`` topic distributions (``embeddings``: the encoder's, if computed)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.cfg.inputs == "bow":
            embeddings = None
        elif embeddings is None:
            embeddings = embed_texts(self.encoder, texts, progress)  # type: ignore[arg-type]
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
            if embeddings.shape != (len(texts), self.cfg.embed_dim):
                raise InputError(
                    f"embeddings of shape {embeddings.shape} for {len(texts)} texts: this model "
                    f"reads {self.cfg.embed_dim}-d vectors of its encoder {self.cfg.encoder!r}"
                )
        # counted once for all texts (sparse), each batch made dense when it is read
        counts = vectorizer(self.vocab).transform(texts).tocsr().astype(np.float32)
        out = []
        for b in range(0, len(texts), batch_size):
            bow = torch.from_numpy(counts[b : b + batch_size].toarray())
            emb = None if embeddings is None else torch.from_numpy(embeddings[b : b + batch_size])
            out.append(self.model.theta(bow, emb).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed_sentences(self, texts, pooling="mean", layers=-1, batch_size=32, progress=None):
        """Each text's topic distribution (its only "layer"; no pooling to choose)."""
        if layers not in (0, -1):
            raise InputError("a topic model has one layer: its topic distribution")
        raw = [t if isinstance(t, str) else " ".join(t) for t in texts]
        return self.doc_topics(raw, batch_size=max(batch_size, 1), progress=bool(progress))

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        beta = self.model.beta.detach().numpy()
        out = []
        for d in docs:
            ids = [self.index.get(w.lower()) for w in d.words]
            oov = np.array([i is None for i in ids])
            vecs = np.zeros((len(ids), self.dim), dtype=np.float32)
            for j, i in enumerate(ids):
                if i is not None:
                    vecs[j] = beta[:, i]
            out.append((vecs[None], oov))
        return out

    def save(self, path, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            state = self.model.state_dict()
            write_model(tmp, self.family, asdict(self.cfg), state, {"vocab.txt": self.vocab})

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> CTMModel:
        model, _, (vocab,) = read_model(
            path, "ctm", lambda c: CTM(CTMConfig.from_dict(c)), "vocab.txt"
        )
        if len(vocab) != model.cfg.vocab_size:
            raise ModelError(
                f"{path}: vocab.txt has {len(vocab)} words, the model {model.cfg.vocab_size}"
            )
        return cls(model, vocab)

    def __repr__(self) -> str:
        kind = {"combined": "CombinedTM", "zeroshot": "ZeroShotTM", "bow": "ProdLDA"}
        enc = f" encoder={self.cfg.encoder}" if self.cfg.inputs != "bow" else ""
        return (
            f"<CTMModel {kind[self.cfg.inputs]} topics={self.dim} vocabulary={len(self.vocab):,}"
            f"{enc}; word vectors are context-free topic loadings>"
        )


# -- training ----------------------------------------------------------------------------------
@dataclass
class CTMTrainConfig:
    vocab_size: int = 2000
    epochs: int = 100
    batch_size: int = 64
    lr: float = 2e-3
    momentum: float = 0.99  # Adam's betas (momentum, 0.99), as the reference code
    seed: int = 0
    checkpoint_every: int = 1000
    max_steps: int | None = None
    clip: float | None = None


class Shuffled:
    """Each epoch the documents in a new order fixed by ``(seed, epoch)``, cut into batches
    (as the reference's shuffling loader); a last batch of one document joins the one
    before, since the batch norms need two."""

    def __init__(self, docs: np.ndarray, size: int, seed: int):
        self.docs, self.size, self.seed = docs, size, seed
        self.n = max(1, len(docs) // size + (len(docs) % size > 1))

    def __len__(self) -> int:
        return self.n

    def __call__(self, epoch: int) -> list[np.ndarray]:
        order = self.docs[epoch_order(len(self.docs), self.seed, epoch)]
        cuts = [b * self.size for b in range(self.n)] + [len(order)]
        return [order[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def train_ctm(
    texts: Sequence[str],
    model_cfg: CTMConfig,
    cfg: CTMTrainConfig,
    encoder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[CTMModel, History]:
    """Fit on ``texts`` (raw documents; ``embeddings`` the encoder's vectors of them, computed
    here when not given). Documents with no vocabulary word are left out of training (they
    have nothing to reconstruct)."""
    texts = list(texts)
    if len(texts) < 2:
        raise InputError(f"a topic model needs at least two documents, got {len(texts)}")
    vec = vectorizer(size=cfg.vocab_size)
    try:
        counts = vec.fit_transform(texts).tocsr().astype(np.float32)
    except ValueError:  # scikit-learn: "empty vocabulary"
        raise InputError(
            "the documents have no words besides stop words: nothing to model"
        ) from None
    vocab = list(vec.get_feature_names_out())
    keep = np.flatnonzero(np.asarray(counts.sum(1)).ravel() > 0)
    contextual = model_cfg.inputs != "bow"
    if contextual and embeddings is None:
        if encoder is None:
            raise InputError(f"a {model_cfg.inputs} model needs a sentence encoder")
        embeddings = embed_texts(encoder, texts, progress)
    if contextual and len(embeddings) != len(texts):  # type: ignore[arg-type]
        raise InputError(f"{len(embeddings)} embeddings for {len(texts)} documents")  # type: ignore[arg-type]
    dim = int(embeddings.shape[1]) if contextual else 0  # type: ignore[union-attr]
    model_cfg = CTMConfig(**{**asdict(model_cfg), "vocab_size": len(vocab), "embed_dim": dim})
    torch.manual_seed(cfg.seed)
    model = CTM(model_cfg)
    emb = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)) if contextual else None
    if len(keep) < 2:
        raise InputError(
            f"{len(keep)} document(s) with a vocabulary word: a topic model needs at least two"
        )
    batches = Shuffled(keep, cfg.batch_size, cfg.seed)

    bows = torch.from_numpy(counts.toarray())  # dense once: a batch is then a row gather

    def loss_fn(group: np.ndarray):
        bow = bows[group]
        loss = model.loss(bow, emb[group] if emb is not None else None)
        return loss, int(bow.sum()), None

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.momentum, 0.99))
    loop = LoopConfig.like(cfg)
    data = {"n_docs": len(texts), "model": asdict(model_cfg)}
    history = train(
        model, opt, batches, loss_fn, loop, checkpoint, resume, None, progress, "topics", None, data
    )
    model.eval()
    return CTMModel(model, vocab, encoder), history


def read_documents(path: str | Path, jsonl: bool | None = None) -> list[str]:
    """Documents from JSON Lines (``{"text": ...}`` per line) or plain text (one per line);
    ``jsonl=None``: JSON Lines when the name ends in ``.jsonl`` (or ``.jsonl.gz``)."""
    docs = []
    field = "text"
    if jsonl is None:
        jsonl = str(path).endswith((".jsonl", ".jsonl.gz"))
    for n, line in read_lines(path):
        if not line.strip():
            continue
        if not jsonl:
            docs.append(line)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}, line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise InputError(f'{path}, line {n}: expected an object with a "{field}" string')
        if not obj[field].strip():
            raise InputError(f"{path}, line {n}: the text is empty")
        docs.append(obj[field])
    if not docs:
        raise InputError(f"{path}: no documents in the file")
    return docs


def predict_file(folder: Path, path: str, batch_size: int) -> list[dict]:
    """``ctxembed predict`` on a topic model: each document's distribution and top topics."""
    model = CTMModel.from_folder(folder)
    theta = model.doc_topics(read_documents(path, jsonl=True), batch_size=batch_size)
    out = []
    for row in theta:
        top = np.argsort(-row)[:3]
        out.append(
            {
                "topics": [round(float(p), 6) for p in row],
                "top": [[int(k), round(float(row[k]), 6)] for k in top],
            }
        )
    return out


# -- command line: `ctxembed train ctm` ---------------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument(
        "--corpus", required=True, help='documents: JSON Lines {"text": ...} or one per line'
    )
    t.add_argument("--out", required=True, help="folder to write the topic model to")
    t.add_argument("--topics", type=at_least_two, default=50, help="K, the number of topics")
    t.add_argument(
        "--encoder", default="minilm-l6", help="the sentence encoder (a model name or folder)"
    )
    kind = t.add_mutually_exclusive_group()
    kind.add_argument("--zeroshot", action="store_true", help="ZeroShotTM: the embedding alone")
    kind.add_argument("--bow", action="store_true", help="ProdLDA: the bag of words alone")
    t.add_argument("--vocab-size", type=positive, default=2000)
    t.add_argument("--epochs", type=positive, default=100)
    t.add_argument("--batch-size", type=positive, default=64)
    t.add_argument("--lr", type=positive_float, default=2e-3)
    options.loop_args(t, checkpoint_every=1000)


def at_least_two(value: str) -> int:
    n = positive(value)
    if n < 2:
        raise argparse.ArgumentTypeError(f"a topic model needs at least 2 topics, got {value}")
    return n


def train_command(args: argparse.Namespace) -> int:
    from ..families import check_models, load
    from ..io import inside

    ckpt = options.check_out(args)
    inside(Path(args.out), [Path(args.corpus), Path(args.encoder)])
    if args.batch_size < 2:
        raise InputError("--batch-size must be at least 2 (the batch norms need two documents)")
    inputs = "zeroshot" if args.zeroshot else "bow" if args.bow else "combined"
    encoder_name = ""
    encoder = None
    if inputs != "bow":
        check_models([args.encoder])
        p = Path(args.encoder).expanduser()
        encoder_name = str(p.resolve()) if p.exists() else args.encoder
        encoder = load(args.encoder)
    docs = read_documents(args.corpus)
    model_cfg = CTMConfig(topics=args.topics, inputs=inputs, encoder=encoder_name)
    cfg = options.from_args(CTMTrainConfig, args)
    start = time.perf_counter()
    model, hist = train_ctm(
        docs, model_cfg, cfg, encoder, checkpoint=ckpt, resume=args.resume, progress=not args.quiet
    )
    what = f"{model!r} on {len(docs):,} documents (its topics: ctxembed topics {args.out})"
    return options.finish_training(args, model.save, ckpt, hist, start, what)


FAMILY = Family(
    "ctm",
    embedder=CTMModel,
    predict=predict_file,
    trainer=Trainer(
        "train a contextualized topic model (CombinedTM, ZeroShotTM, or ProdLDA with --bow)",
        add_train_arguments,
        train_command,
        'CORPUS: documents, JSON Lines with a "text" field (or plain text, one per line). '
        "The bag of words keeps the --vocab-size most frequent words after English stop words; "
        "the encoder reads the raw text.",
    ),
)
