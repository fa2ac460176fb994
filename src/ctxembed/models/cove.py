"""CoVe (McCann, Bradbury, Xiong and Socher 2017, "Learned in Translation").

The whole model is in this file. An attentional encoder-decoder is trained to translate
English into German; its encoder (the MT-LSTM) is then the contextual embedder:
- input: fixed GloVe vectors of the English words (never trained; unknown words are zero);
- encoder: a 2-layer bidirectional LSTM (``hidden_dim`` per direction), each layer's
  ``[forward; backward]`` states kept;
- decoder: a 2-layer LSTM fed ``[z_{t-1}; h~_{t-1}]`` (previous target embedding and the
  previous attentional state: input feeding); attention ``a_t = softmax(H (W1 h_t + b1))``
  over the top encoder states ``H``; ``h~_t = tanh(W2 [H^T a_t; h_t] + b2)``; a softmax over
  the German vocabulary on ``h~_t`` (the paper's equations 2-4).

Per English word the embedder returns ``[GloVe(w); CoVe(w)]`` (what the paper's downstream
models read), or ``part="cove"`` / ``part="glove"`` alone. Layers are numbered as in every
family, layer 0 being the context-free input: layer 0 is the GloVe vector (zero-padded to the
output width, so its cosines are GloVe's), layer 1 the first biLSTM layer and layer 2 (the
last, the default: the paper's CoVe) the second. ``part="glove"`` has only layer 0.

The released encoder ``wmtlstm-*.pth`` is a state dict of ``nn.LSTM(300, 300, num_layers=2,
bidirectional=True)``; ``read_wmtlstm`` loads it (``weights_only=True``) onto the GloVe the
user gives (840B 300-d in the paper).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..datasets import DATA_DIR
from ..embedder import (
    Embedder,
    Family,
    Trainer,
    invalid_folder,
    read_manifest,
    read_weights,
    read_words,
    write_manifest,
    write_weights,
    write_words,
)
from ..errors import InputError, ModelError, require
from ..io import atomic_dir
from ..options import fraction, positive, positive_float
from ..text.windows import batches
from ..text.words import split_words
from ..train import options
from ..train.distributed import is_main
from ..train.loop import History, LoopConfig, train
from .static import StaticEmbedder

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
PARTS = ("both", "cove", "glove")


@dataclass
class CoveConfig:
    input_dim: int = 300  # the GloVe width
    hidden_dim: int = 300  # per direction and layer, as the released MT-LSTM
    tgt_vocab_size: int = 0
    tgt_embed_dim: int = 300
    dec_hidden: int = 600
    dropout: float = 0.2
    lowercase: bool = True  # target words are lowercased; GloVe 6B is lowercase too

    @classmethod
    def from_dict(cls, d: dict) -> CoveConfig:
        return cls(**d)


CONFIGS = {
    "small": CoveConfig(tgt_embed_dim=256, dec_hidden=300),
    "paper": CoveConfig(),
}


class MTLSTM(nn.Module):
    """The encoder: two bidirectional LSTM layers, both outputs returned."""

    def __init__(self, input_dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.rnn1 = nn.LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.rnn2 = nn.LSTM(2 * hidden_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        out, T = [], x.shape[1]
        for rnn in (self.rnn1, self.rnn2):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=T)[0]
            out.append(h)
            x = self.drop(h)
        return out


class Decoder(nn.Module):
    def __init__(self, cfg: CoveConfig):
        super().__init__()
        enc = 2 * cfg.hidden_dim
        self.embed = nn.Embedding(cfg.tgt_vocab_size, cfg.tgt_embed_dim, padding_idx=0)
        self.cells = nn.ModuleList(
            [
                nn.LSTMCell(cfg.tgt_embed_dim + cfg.dec_hidden, cfg.dec_hidden),
                nn.LSTMCell(cfg.dec_hidden, cfg.dec_hidden),
            ]
        )
        self.w1 = nn.Linear(cfg.dec_hidden, enc)
        self.w2 = nn.Linear(enc + cfg.dec_hidden, cfg.dec_hidden)
        self.out = nn.Linear(cfg.dec_hidden, cfg.tgt_vocab_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.dec_hidden = cfg.dec_hidden

    def init_state(self, n: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        zero = torch.zeros(n, self.dec_hidden)
        return [(zero, zero), (zero, zero)], zero

    def step(
        self,
        prev: torch.Tensor,  # [B] previous target ids
        state: list[tuple[torch.Tensor, torch.Tensor]],
        feed: torch.Tensor,  # [B, dec] previous attentional state h~
        H: torch.Tensor,  # [B, S, enc]
        src_mask: torch.Tensor,  # [B, S] True on real source words
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        x = torch.cat([self.drop(self.embed(prev)), feed], dim=-1)
        new_state = []
        for cell in self.cells:
            h, c = cell(x, state[len(new_state)])
            new_state.append((h, c))
            x = self.drop(h)
        scores = torch.einsum("bse,be->bs", H, self.w1(h))
        alpha = scores.masked_fill(~src_mask, float("-inf")).softmax(-1)
        context = torch.einsum("bs,bse->be", alpha, H)
        tilde = torch.tanh(self.w2(torch.cat([context, h], dim=-1)))
        return self.out(self.drop(tilde)), new_state, tilde


class Seq2Seq(nn.Module):
    def __init__(self, cfg: CoveConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = MTLSTM(cfg.input_dim, cfg.hidden_dim, cfg.dropout)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        H = self.encoder(x, lengths)[-1]
        return H, torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``[B, T-1, V]`` for targets ``<s> y_1 .. y_m </s>`` (+ padding)."""
        H, mask = self.encode(x, lengths)
        state, feed = self.decoder.init_state(len(x))
        logits = []
        for t in range(tgt.shape[1] - 1):
            out, state, feed = self.decoder.step(tgt[:, t], state, feed, H, mask)
            logits.append(out)
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def greedy(self, x: torch.Tensor, lengths: torch.Tensor, max_len: int) -> list[list[int]]:
        H, mask = self.encode(x, lengths)
        state, feed = self.decoder.init_state(len(x))
        prev = torch.full((len(x),), 2, dtype=torch.long)  # <s>
        out = torch.zeros(len(x), 0, dtype=torch.long)
        done = torch.zeros(len(x), dtype=torch.bool)
        for _ in range(max_len):
            logits, state, feed = self.decoder.step(prev, state, feed, H, mask)
            prev = logits.argmax(-1)
            out = torch.cat([out, prev.unsqueeze(1)], dim=1)
            done |= prev == 3
            if done.all():
                break
        return [_until_eos(row.tolist()) for row in out]

    @torch.no_grad()
    def beam(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        max_len: int,
        width: int = 5,
        alpha: float = 0.6,
    ) -> list[int]:
        """Beam search for one sentence; finished hypotheses ranked by GNMT's length penalty."""
        H, mask = self.encode(x, lengths)
        state, feed = self.decoder.init_state(1)
        hyps = [([], 0.0, state, feed)]
        finished: list[tuple[list[int], float]] = []
        for _ in range(max_len):
            prev = torch.tensor([h[0][-1] if h[0] else 2 for h in hyps])
            st = [
                (torch.cat([h[2][k][0] for h in hyps]), torch.cat([h[2][k][1] for h in hyps]))
                for k in range(2)
            ]
            fd = torch.cat([h[3] for h in hyps])
            logits, st, fd = self.decoder.step(
                prev, st, fd, H.expand(len(hyps), -1, -1), mask.expand(len(hyps), -1)
            )
            logp = logits.log_softmax(-1) + torch.tensor([h[1] for h in hyps]).unsqueeze(1)
            top = logp.view(-1).topk(width)
            V = logits.shape[1]
            nxt = []
            for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                r, tok = divmod(flat, V)
                seq = [*hyps[r][0], tok]
                if tok == 3:
                    finished.append((seq[:-1], score / ((5 + len(seq)) / 6) ** alpha))
                else:
                    state_r = [(st[k][0][r : r + 1], st[k][1][r : r + 1]) for k in range(2)]
                    nxt.append((seq, score, state_r, fd[r : r + 1]))
            hyps = nxt
            if not hyps or len(finished) >= width:
                break
        if not finished:
            finished = [(h[0], h[1] / ((5 + len(h[0])) / 6) ** alpha) for h in hyps]
        return max(finished, key=lambda f: f[1])[0]


def _until_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(3)] if 3 in ids else ids


# -- the embedder ------------------------------------------------------------------------------
class CoveEmbedder(Embedder):
    family = "cove"

    def __init__(
        self,
        encoder: MTLSTM,
        glove: StaticEmbedder,
        cfg: CoveConfig,
        part: str = "both",
        decoder: Decoder | None = None,
        tgt_vocab: list[str] | None = None,
    ):
        if part not in PARTS:
            raise InputError(f"part={part!r}: use one of {', '.join(PARTS)}")
        if glove.dim != cfg.input_dim:
            raise ModelError(
                f"the encoder reads {cfg.input_dim}-d inputs but the GloVe given is {glove.dim}-d"
            )
        self.encoder = encoder.eval()
        self.glove = glove
        self.cfg = cfg
        self.part = part
        self.decoder = decoder
        self.tgt_vocab = tgt_vocab or []
        cove = 2 * cfg.hidden_dim
        self.dim = {"both": glove.dim + cove, "cove": cove, "glove": glove.dim}[part]
        if part == "cove" and glove.dim > cove:
            raise ModelError(
                f"part='cove' puts the {glove.dim}-d GloVe input (layer 0) in the "
                f"{cove}-d biLSTM width, which is narrower: use part='both'"
            )
        self.n_layers = 1 if part == "glove" else 3

    def inputs(self, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor, list]:
        """GloVe inputs ``[B, T, d]``, lengths and per-sentence OOV masks."""
        lengths = torch.tensor([len(s) for s in sentences])
        x = torch.zeros(len(sentences), int(lengths.max()), self.glove.dim)
        oovs = []
        for r, s in enumerate(sentences):
            vecs, oov = self.glove.table_vectors(s)
            x[r, : len(s)] = torch.from_numpy(vecs)
            oovs.append(oov)
        return x, lengths, oovs

    def _layer(self, g: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """One layer's output from GloVe inputs ``g`` and biLSTM states ``h`` (None: layer 0)."""
        if h is None:  # the input layer: GloVe, zero-padded where the biLSTM states go
            return F.pad(g, (0, self.dim - g.shape[1]))
        return torch.cat([g, h], dim=-1) if self.part == "both" else h

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        out: list = [None] * len(docs)
        sizes = [len(d.words) for d in docs]
        for batch in batches(sizes, None, batch_size, progress, unit="text"):
            idx = [i for i, *_ in batch]
            x, lengths, oovs = self.inputs([docs[i].words for i in idx])
            if any(k > 0 for k in layers):
                with torch.inference_mode():
                    hs = self.encoder(x, lengths)
            for r, i in enumerate(idx):
                n = len(docs[i].words)
                g = x[r, :n]
                stack = [self._layer(g, hs[k - 1][r, :n] if k else None) for k in layers]
                out[i] = (torch.stack(stack).numpy().astype(np.float32), oovs[r])
        return out

    def translate(self, texts: Sequence[str], beam: int = 5, max_len: int = 80) -> list[str]:
        """English -> German with the decoder trained beside the encoder (beam 1 = greedy)."""
        if self.decoder is None:
            raise ModelError("this CoVe model has no decoder (a released encoder holds none)")
        model = Seq2Seq(self.cfg)
        model.encoder, model.decoder = self.encoder, self.decoder.eval()
        return translate(model, self, [source_words(t) for t in texts], beam, max_len)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            state = {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}
            if self.decoder is not None:
                state |= {f"decoder.{k}": v for k, v in self.decoder.state_dict().items()}
            write_weights(tmp, state)
            write_words(tmp / "target_vocab.txt", self.tgt_vocab)
            self.glove.save(tmp / "glove")
            write_manifest(tmp, self.family, {**asdict(self.cfg), "part": self.part})

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> CoveEmbedder:
        config = dict(read_manifest(path)["config"])
        part = options.pop("part", config.pop("part", "both"))
        with invalid_folder(path, "CoVe"):
            cfg = CoveConfig.from_dict(config)
            state = read_weights(path)
            encoder = MTLSTM(cfg.input_dim, cfg.hidden_dim)
            encoder.load_state_dict(_strip(state, "encoder."))
            decoder = None
            if any(k.startswith("decoder.") for k in state):
                decoder = Decoder(cfg)
                decoder.load_state_dict(_strip(state, "decoder."))
            tgt = read_words(path / "target_vocab.txt")
        glove = StaticEmbedder.from_folder(path / "glove")
        return cls(encoder, glove, cfg, part=part, decoder=decoder, tgt_vocab=tgt)


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


# -- the released encoder ----------------------------------------------------------------------
def read_wmtlstm(
    path: str | os.PathLike, glove: StaticEmbedder, part: str = "both"
) -> CoveEmbedder:
    """Load the released MT-LSTM (a 2-layer bidirectional ``nn.LSTM`` state dict).

    Keys ``{weight_ih,weight_hh,bias_ih,bias_hh}_l{0,1}[_reverse]`` (an ``rnn.`` prefix is
    accepted); layer ``l0`` becomes the first biLSTM (our layer 1), ``l1`` the second (2).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle and zip errors of all kinds
        raise ModelError(f"{path}: not a readable PyTorch state dict ({e})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: holds a {type(state).__name__}, not a state dict")
    state = {k.removeprefix("rnn."): v for k, v in state.items()}
    names = [
        f"{w}_l{layer}{rev}"
        for layer in (0, 1)
        for rev in ("", "_reverse")
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    missing = [n for n in names if n not in state]
    if missing:
        raise ModelError(f"{path}: not an MT-LSTM state dict, missing {missing[:4]}")
    hidden, input_dim = state["weight_hh_l0"].shape[1], state["weight_ih_l0"].shape[1]
    cfg = CoveConfig(input_dim=input_dim, hidden_dim=hidden)
    encoder = MTLSTM(input_dim, hidden)
    mapped = {}
    for n in names:
        layer = "rnn1" if "_l0" in n else "rnn2"
        mapped[f"{layer}.{n.replace('_l1', '_l0')}"] = state[n]
    try:
        encoder.load_state_dict(mapped)
    except RuntimeError as e:
        raise ModelError(f"{path}: shapes do not fit a 2-layer biLSTM ({e})") from None
    return CoveEmbedder(encoder, glove, cfg, part=part)


# -- data and training -------------------------------------------------------------------------
def source_words(text: str) -> list[str]:
    return split_words(text)[0]


def target_words(text: str, lowercase: bool = True) -> list[str]:
    words = split_words(text)[0]
    return [w.lower() for w in words] if lowercase else words


def target_vocab(sentences: list[list[str]], min_count: int) -> list[str]:
    counts = Counter(w for s in sentences for w in s)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, UNK, BOS, EOS, *words]


def translate(
    model: Seq2Seq, embedder: CoveEmbedder, sources: list[list[str]], beam: int, max_len: int
) -> list[str]:
    model.eval()
    out: list[str] = [""] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]), reverse=True)
    step = 64 if beam == 1 else 1
    for b in range(0, len(order), step):
        idx = order[b : b + step]
        x, lengths, _ = embedder.inputs([sources[i] or ["."] for i in idx])
        if beam == 1:
            ids = model.greedy(x, lengths, max_len)
        else:
            ids = [model.beam(x, lengths, max_len, beam)]
        for r, i in enumerate(idx):
            out[i] = " ".join(embedder.tgt_vocab[t] for t in ids[r])
    return out


def bleu(hypotheses: list[str], references: list[str], lowercase: bool = True) -> float:
    """Corpus BLEU (sacrebleu) on our tokenization, lowercased: ``multi-bleu.perl`` style."""
    require("eval", "sacrebleu")
    import sacrebleu

    refs = [" ".join(target_words(r, lowercase)) for r in references]
    return sacrebleu.corpus_bleu(hypotheses, [refs], tokenize="none", force=True).score


@dataclass
class CoveTrainConfig:
    batch_size: int = 64
    min_count: int = 2  # target vocabulary
    max_len: int = 50  # longer pairs are skipped in training (none in Multi30k train)
    lr: float = 1e-3  # Adam
    label_smoothing: float = 0.0
    epochs: int = 8
    clip: float = 5.0
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None


def train_cove(
    src: list[str],
    tgt: list[str],
    glove: StaticEmbedder,
    model_cfg: CoveConfig,
    cfg: CoveTrainConfig,
    valid: tuple[list[str], list[str]] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[CoveEmbedder, History]:
    """Teacher-forced cross-entropy of the German words; validation loss and greedy BLEU."""
    if len(src) != len(tgt):
        raise InputError(f"{len(src)} source lines but {len(tgt)} target lines: they must align")
    pairs = [
        (source_words(s), target_words(t, model_cfg.lowercase))
        for s, t in zip(src, tgt, strict=True)
    ]
    pairs = [
        (s, t) for s, t in pairs if s and t and len(s) <= cfg.max_len and len(t) <= cfg.max_len
    ]
    if not pairs:
        raise InputError("no usable sentence pair (both sides non-empty)")
    vocab = target_vocab([t for _, t in pairs], cfg.min_count)
    torch.manual_seed(cfg.seed)
    mcfg = CoveConfig(**{**asdict(model_cfg), "input_dim": glove.dim, "tgt_vocab_size": len(vocab)})
    model = Seq2Seq(mcfg)
    embedder = CoveEmbedder(model.encoder, glove, mcfg, decoder=model.decoder, tgt_vocab=vocab)
    index = {w: i for i, w in enumerate(vocab)}

    def batches_of(ps: list[tuple[list[str], list[str]]]) -> list[tuple[torch.Tensor, ...]]:
        order = sorted(range(len(ps)), key=lambda i: (len(ps[i][0]), len(ps[i][1])))
        out = []
        for b in range(0, len(order), cfg.batch_size):
            chunk = [ps[i] for i in order[b : b + cfg.batch_size]]
            x, lengths, _ = embedder.inputs([s for s, _ in chunk])
            ys = [[2, *(index.get(w, 1) for w in t), 3] for _, t in chunk]
            y = torch.zeros(len(ys), max(map(len, ys)), dtype=torch.long)
            for r, row in enumerate(ys):
                y[r, : len(row)] = torch.tensor(row)
            out.append((x, lengths, y))
        return out

    batches = batches_of(pairs)

    def loss_fn(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int, float]:
        x, lengths, y = batch
        logits = model(x, lengths, y)
        gold = y[:, 1:]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            gold.reshape(-1),
            ignore_index=0,
            label_smoothing=cfg.label_smoothing,
        )
        nll = (
            loss
            if cfg.label_smoothing == 0
            else F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=0
            )
        )
        return loss, int((gold > 0).sum()), float(nll.detach())

    validate = None
    if valid is not None:
        vsrc, vtgt = valid
        vpairs = [
            (source_words(s) or ["."], target_words(t, model_cfg.lowercase))
            for s, t in zip(vsrc, vtgt, strict=True)
        ]
        vbatches = batches_of(vpairs)

        def validate() -> dict[str, float]:
            total, n = 0.0, 0
            for x, lengths, y in vbatches:
                logits = model(x, lengths, y)
                k = int((y[:, 1:] > 0).sum())
                total += float(
                    F.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]),
                        y[:, 1:].reshape(-1),
                        ignore_index=0,
                        reduction="sum",
                    )
                )
                n += k
            hyps = translate(model, embedder, [s for s, _ in vpairs], beam=1, max_len=80)
            return {"ppl": math.exp(total / n), "bleu_greedy": bleu(hyps, vtgt)}

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loop = LoopConfig.like(cfg)
    history = train(
        model, opt, batches, loss_fn, loop, checkpoint, resume, validate, progress, "cove"
    )
    model.eval()
    return embedder, history


# -- command line: `ctxembed train cove` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    m30k = DATA_DIR / "multi30k"  # shipped inside the package: found from any folder
    t.add_argument("--src", default=str(m30k / "train.en.gz"))
    t.add_argument("--tgt", default=str(m30k / "train.de.gz"))
    t.add_argument(
        "--valid",
        nargs=2,
        metavar=("SRC", "TGT"),
        default=[str(m30k / "val.en.gz"), str(m30k / "val.de.gz")],
    )
    t.add_argument(
        "--test",
        nargs=2,
        metavar=("SRC", "TGT"),
        default=[str(m30k / "test_2016_flickr.en.gz"), str(m30k / "test_2016_flickr.de.gz")],
        help="BLEU on these after training",
    )
    t.add_argument("--out", required=True)
    t.add_argument("--glove", default="glove-6b-50d", help="input word vectors (kept fixed)")
    t.add_argument("--config", default="small", help="small, paper, or a JSON config file")
    t.add_argument("--epochs", type=positive, default=8)
    t.add_argument("--batch-size", type=positive, default=64)
    t.add_argument("--min-count", type=positive, default=2)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--label-smoothing", type=fraction, default=0.0)
    t.add_argument("--beam", type=positive, default=5)
    options.loop_args(t)


def read_parallel(src: str, tgt: str) -> tuple[list[str], list[str]]:
    from ..io import read_lines

    s = [line for _, line in read_lines(Path(src))]
    t = [line for _, line in read_lines(Path(tgt))]
    if len(s) != len(t):
        raise InputError(f"{src} has {len(s):,} lines but {tgt} has {len(t):,}: they must align")
    if not s:
        raise InputError(f"{src} is empty")
    return s, t


def train_command(args: argparse.Namespace) -> int:
    from ..families import load
    from .static import StaticEmbedder

    if args.valid or args.test:  # BLEU after each epoch and at the end
        require("eval", "sacrebleu")
    ckpt = options.check_out(args)
    model_cfg = options.model_config(
        args.config, CONFIGS, CoveConfig.from_dict, "CoVe", CoveConfig()
    )
    glove = load(args.glove)
    if not isinstance(glove, StaticEmbedder):
        raise InputError(f"--glove {args.glove}: need static word vectors, got {glove.family}")
    src, tgt = read_parallel(args.src, args.tgt)
    valid = read_parallel(*args.valid) if args.valid else None
    cfg = options.from_args(CoveTrainConfig, args)
    start = time.perf_counter()
    model, hist = train_cove(
        src, tgt, glove, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )
    what = f"cove ({args.config}, German vocabulary {len(model.tgt_vocab):,})"
    options.finish_training(args, model.save, ckpt, hist, start, what)
    if args.test and is_main():
        tsrc, ttgt = read_parallel(*args.test)
        for beam in (1, args.beam):
            t0 = time.perf_counter()
            hyps = model.translate(tsrc, beam=beam)
            print(
                f"BLEU {args.test[0]} ({'greedy' if beam == 1 else f'beam {beam}'}, lowercased, "
                f"tokenized): {bleu(hyps, ttgt):.2f} ({time.perf_counter() - t0:.0f}s)"
            )
    return 0


FAMILY = Family(
    "cove",
    load_options=("part",),
    embedder=CoveEmbedder,
    trainer=Trainer(
        "train CoVe (attentional English->German translation; its encoder embeds)",
        add_train_arguments,
        train_command,
        "SRC and TGT: aligned UTF-8 files (or .gz), one sentence per line. "
        "Defaults: Multi30k task 1, shipped with ctxembed (ctxembed/data/multi30k).",
    ),
)
