"""ELMo (Peters et al. 2018): a character-CNN token encoder under a bidirectional LSTM language model.

The whole model is in this file, in the bilm-tf / AllenNLP design:
- characters: each word is its UTF-8 bytes between begin- and end-of-word markers, padded to
  ``max_chars`` (ids shifted by one so 0 means "no token"); sentences get <S> and </S>;
- token encoder: character embeddings, one convolution per (width, filters) with max-pooling
  over positions, highway layers, a linear projection to the LSTM size;
- biLM: separate forward and backward stacks of LSTMs with a projection (LSTMP) and cell /
  projection clipping, a residual connection between layers; both directions share the
  token encoder and the softmax;
- per word, layer 0 is the token encoding duplicated to ``[x; x]`` and layer k is
  ``[forward_k; backward_k]``, so every layer has width ``2 * proj_dim``.

Padding never reaches a real position: each sentence is run right-padded in both directions
(the backward stack reads it reversed within its own length), and no state is carried over
between batches.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
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
    invalid_folder,
    read_manifest,
    read_weights,
    read_words,
    write_model,
)
from ..errors import InputError, require
from ..io import atomic_dir
from ..options import count, positive, positive_float
from ..text.windows import batches
from ..text.words import Doc
from ..train import options
from ..train.corpus import Batches, Encoded, as_corpus
from ..train.loop import History, LoopConfig, train
from .layers import CharEncoder, LstmProjection, reverse_padded, sinusoid

# character ids before the +1 shift that frees 0 for padding (AllenNLP's ELMoCharacterMapper)
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260
N_CHARS = 262  # 0 (no token) + 261 ids
# words the transformer biLM reads at once: its attention is quadratic in length, and its
# sinusoidal positions only extrapolate so far beyond the 20-word training sequences
WINDOW = 64


@dataclass
class ElmoConfig:
    char_dim: int = 16
    filters: list[tuple[int, int]] = field(
        default_factory=lambda: [(1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)]
    )
    n_highway: int = 2
    activation: str = "relu"  # of the character convolutions: relu or tanh
    max_chars: int = 50
    cell_dim: int = 4096
    proj_dim: int = 512
    n_layers: int = 2
    cell_clip: float | None = 3.0
    proj_clip: float | None = 3.0
    dropout: float = 0.1
    encoder: str = "lstm"  # or "transformer" (Peters et al. 2018b)
    n_heads: int = 4  # transformer only
    ff_dim: int = 1024  # transformer only
    vocab_size: int = 0  # softmax words; 0 for an encoder without its LM head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ElmoConfig:
        d = dict(d)
        d["filters"] = [tuple(f) for f in d.get("filters", [])] or cls().filters
        return cls(**d)


CONFIGS = {
    # the released "original" ELMo sizes
    "base": ElmoConfig(),
    # sized for training on WikiText-2 on 2 CPU cores in under an hour
    "small": ElmoConfig(
        filters=[(1, 32), (2, 32), (3, 64), (4, 128), (5, 256)],
        n_highway=1,
        cell_dim=1024,
        proj_dim=128,
        n_layers=2,
    ),
    # the transformer biLM on the same token encoder, for comparisons on equal data
    "small-transformer": ElmoConfig(
        filters=[(1, 32), (2, 32), (3, 64), (4, 128), (5, 256)],
        n_highway=1,
        proj_dim=128,
        n_layers=4,
        n_heads=4,
        ff_dim=1024,
        encoder="transformer",
    ),
}


def word_chars(word: str, max_chars: int = 50) -> list[int]:
    """Character ids of one word: BOW, UTF-8 bytes (cut to fit), EOW, padding; then +1."""
    if word == "<S>":
        body = [BOS_CHAR]
    elif word == "</S>":
        body = [EOS_CHAR]
    else:
        body = list(word.encode("utf-8", errors="replace")[: max_chars - 2])
    ids = [BOW_CHAR, *body, EOW_CHAR] + [PAD_CHAR] * (max_chars - len(body) - 2)
    return [c + 1 for c in ids]


def batch_chars(
    sentences: list[list[str]], max_chars: int = 50
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T+2, max_chars]`` character ids with <S> and </S> added, and lengths (with them)."""
    lengths = torch.tensor([len(s) + 2 for s in sentences])
    out = torch.zeros((len(sentences), int(lengths.max()), max_chars), dtype=torch.long)
    for i, s in enumerate(sentences):
        for t, w in enumerate(["<S>", *s, "</S>"]):
            out[i, t] = torch.tensor(word_chars(w, max_chars))
    return out, lengths


class CausalTransformer(nn.Module):
    """One direction of the transformer biLM (Peters et al. 2018b): sinusoidal positions and
    pre-norm transformer layers under a causal mask. With right padding and the causal mask
    a real position never attends to padding, as with the LSTM."""

    def __init__(self, cfg: ElmoConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                cfg.proj_dim,
                cfg.n_heads,
                cfg.ff_dim,
                cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.proj_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        T = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        x = x + sinusoid(T, x.shape[2])
        outs = []
        for k, layer in enumerate(self.layers):
            x = layer(x, src_mask=mask, is_causal=True)
            outs.append(self.norm(x) if k == len(self.layers) - 1 else x)
        alive = (lengths.unsqueeze(1) > torch.arange(T)).unsqueeze(-1)
        return [o * alive for o in outs]


class BiLM(nn.Module):
    """The ELMo bidirectional language model: a shared token encoder, a forward and a backward
    stack (LSTMs, or causal transformers with ``encoder="transformer"``), a shared softmax."""

    def __init__(self, cfg: ElmoConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = CharEncoder(
            N_CHARS, cfg.char_dim, cfg.filters, cfg.n_highway, cfg.proj_dim, cfg.activation
        )
        if cfg.encoder not in ("lstm", "transformer"):
            raise InputError(f"encoder={cfg.encoder!r}: use lstm or transformer")

        def stack() -> nn.Module:
            if cfg.encoder == "transformer":
                return CausalTransformer(cfg)
            return nn.ModuleList(
                LstmProjection(
                    cfg.proj_dim, cfg.cell_dim, cfg.proj_dim, cfg.cell_clip, cfg.proj_clip
                )
                for _ in range(cfg.n_layers)
            )

        self.forward_lstm, self.backward_lstm = stack(), stack()
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.vocab_size:
            self.softmax = nn.Linear(cfg.proj_dim, cfg.vocab_size)

    def _run(self, layers: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        if isinstance(layers, CausalTransformer):
            return layers(self.dropout(x), lengths)
        outs = []
        for k, lstm in enumerate(layers):
            h = lstm(self.dropout(x), lengths)
            x = h + x if k > 0 else h  # residual between LSTM layers
            outs.append(x)
        return outs

    def forward(
        self, chars: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Token encodings ``[B, T, P]`` and each layer's forward and backward states."""
        tokens = self.encoder(chars)
        fwd = self._run(self.forward_lstm, tokens, lengths)
        bwd = [
            reverse_padded(h, lengths)
            for h in self._run(self.backward_lstm, reverse_padded(tokens, lengths), lengths)
        ]
        return tokens, fwd, bwd

    def layers(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[n_layers + 1, B, T, 2P]``: the representations ELMo mixes, boundaries included."""
        tokens, fwd, bwd = self(chars, lengths)
        return torch.stack(
            [torch.cat([tokens, tokens], -1)]
            + [torch.cat(p, -1) for p in zip(fwd, bwd, strict=True)]
        )

    def lm_loss(
        self, chars: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, n_samples: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean forward and backward negative log-likelihood per predicted token.

        ``targets`` ``[B, T]`` are word ids of the input positions (<S> and </S> included,
        -1 for words out of the softmax vocabulary and for padding). The forward LM at
        position t predicts t+1; the backward LM predicts t-1. ``n_samples > 0`` uses a
        sampled softmax (log-uniform candidates, as TensorFlow's) for training.
        """
        _, fwd, bwd = self(chars, lengths)
        f_states, f_gold = fwd[-1][:, :-1], targets[:, 1:]
        b_states, b_gold = bwd[-1][:, 1:], targets[:, :-1]
        return (
            self._nll(self.dropout(f_states), f_gold, n_samples),
            self._nll(self.dropout(b_states), b_gold, n_samples),
        )

    def _nll(self, states: torch.Tensor, gold: torch.Tensor, n_samples: int) -> torch.Tensor:
        keep = gold >= 0
        h, y = states[keep], gold[keep]
        if n_samples <= 0 or n_samples >= self.cfg.vocab_size:
            return F.cross_entropy(self.softmax(h), y)
        return sampled_softmax_nll(self.softmax.weight, self.softmax.bias, h, y, n_samples)


def log_uniform_log_q(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """log P(id) under the log-uniform (Zipf) sampler: ids must be in frequency order."""
    ids = ids.double()
    p = (torch.log(ids + 2) - torch.log(ids + 1)) / math.log(vocab_size + 1)
    return torch.log(p).float()


def log_inclusion(ids: torch.Tensor, vocab_size: int, tries: int) -> torch.Tensor:
    """log P(id is among the distinct candidates of ``tries`` log-uniform draws).

    This is the correction that keeps the sampled softmax consistent once duplicates are
    merged: ``1 - (1 - q)^tries``, TensorFlow's expected count for unique sampling.
    """
    q = torch.exp(log_uniform_log_q(ids, vocab_size).double())
    return torch.log(-torch.expm1(tries * torch.log1p(-q))).float()


def sampled_softmax_nll(
    weight: torch.Tensor, bias: torch.Tensor, h: torch.Tensor, y: torch.Tensor, n: int
) -> torch.Tensor:
    """Sampled softmax (Jean et al. 2015) with one shared set of log-uniform negatives.

    ``n`` draws with replacement are merged into distinct candidates; every logit (gold and
    negative) is corrected by the log of that word's inclusion probability, and a negative
    equal to the gold word of a row is masked out (TensorFlow's ``remove_accidental_hits``).
    """
    V = weight.shape[0]
    u = torch.rand(n, device=h.device, dtype=torch.float64)
    neg = (torch.exp(u * math.log(V + 1)) - 1).long().clamp_(0, V - 1).unique()
    true_logit = (h * weight[y]).sum(-1) + bias[y] - log_inclusion(y, V, n)
    neg_logit = h @ weight[neg].T + bias[neg] - log_inclusion(neg, V, n)
    neg_logit = neg_logit.masked_fill(neg.unsqueeze(0) == y.unsqueeze(1), float("-inf"))
    logits = torch.cat([true_logit.unsqueeze(1), neg_logit], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=h.device))


# -- the embedder ------------------------------------------------------------------------------
class ElmoEmbedder(Embedder):
    """A trained biLM behind the common interface: 3 layers (for 2 LSTM layers) per word."""

    family = "elmo"

    def __init__(self, model: BiLM, vocab: list[str] | None = None, window: int = WINDOW):
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InputError(f"window={window!r}: give a positive whole number of words")
        self.model = model.eval()
        self.cfg = model.cfg
        self.vocab = list(vocab or [])
        self.dim = 2 * self.cfg.proj_dim
        self.n_layers = self.cfg.n_layers + 1
        self.window = window

    def _layers(
        self, sentences: list[list[str]], batch_size: int, progress: bool, grad: bool = False
    ) -> list[torch.Tensor]:
        """Per sentence ``[n_layers, n_words, dim]`` without <S> and </S>; batches sorted by length.

        An LSTM has no window: a long text is read whole, nothing is cut. The transformer
        biLM attends over ``window`` words at most (attention is quadratic in length, and
        positions far past the training length are guesswork): a longer text is read in
        half-overlapping windows, each framed by
        <S> ... </S> as training sequences are, and each word takes its vectors from the
        window whose centre is nearest.
        """
        size = self.window if self.cfg.encoder == "transformer" else None
        out = [torch.empty(self.n_layers, len(s), self.dim) for s in sentences]
        pieces: list[list[tuple[int, torch.Tensor]]] = [[] for _ in sentences]
        for batch in batches([len(s) for s in sentences], size, batch_size, progress):
            chars, lengths = batch_chars(
                [sentences[i][s:e] for i, s, e, _, _ in batch], self.cfg.max_chars
            )
            with torch.inference_mode(not grad):
                layers = self.model.layers(chars, lengths)
            for r, (i, s, _, own_s, own_e) in enumerate(batch):
                piece = layers[:, r, 1 + own_s - s : 1 + own_e - s]
                if grad:  # kept in the graph; else copied out, so the batch can go
                    pieces[i].append((own_s, piece))
                else:
                    out[i][:, own_s:own_e] = piece
        if not grad:
            return out
        return [torch.cat([t for _, t in sorted(p, key=lambda x: x[0])], dim=1) for p in pieces]

    def tunable(self) -> torch.nn.Module:
        return self.model

    def word_layers(
        self, docs: list[Doc], batch_size: int = 32, layers: tuple[int, ...] | None = None
    ) -> list[torch.Tensor]:
        out = self._layers([d.words for d in docs], batch_size, False, grad=True)
        return out if layers is None else [s[list(layers)] for s in out]

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        stacked = self._layers([d.words for d in docs], batch_size, progress)
        return [(s[list(layers)].numpy(), None) for s in stacked]

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            state, lists = self.model.state_dict(), {"vocab.txt": self.vocab}
            write_model(tmp, self.family, self.cfg.to_dict(), state, lists, window=self.window)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> ElmoEmbedder:
        manifest = read_manifest(path)
        with invalid_folder(path, "ELMo"):
            model = BiLM(ElmoConfig.from_dict(manifest["config"]))
            model.load_state_dict(read_weights(path))
        vocab_file = path / "vocab.txt"
        vocab = read_words(vocab_file) if vocab_file.exists() else []
        return cls(model, vocab, window=options.get("window", manifest.get("window", WINDOW)))


# -- training ----------------------------------------------------------------------------------
@dataclass
class ElmoTrainConfig:
    max_len: int = 20  # words per training sequence (bilm-tf unrolls 20 steps)
    batch_size: int = 64
    min_count: int = 3  # softmax vocabulary: words seen this often
    n_samples: int = 1024  # sampled-softmax negatives; 0 = full softmax
    lr: float = 1e-3  # Adam
    epochs: int = 1
    clip: float = 10.0
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None


class LmData:
    """Training sequences as word-type ids on disk, with the tables that turn them into inputs.

    ``types`` are every distinct word of the sequences (their characters feed the CNN);
    ``vocab`` is the softmax's. Two passes over a restartable corpus: types, then the ids
    (``Encoded``), so memory holds the type tables and one batch, not the corpus.
    """

    def __init__(
        self,
        seqs: Callable[[], Iterable[list[str]]],
        vocab: list[str],
        max_chars: int,
        types: Iterable[str] | None = None,
    ):
        found = set(types) if types is not None else {w for s in seqs() for w in s}
        order = ["<S>", "</S>", *sorted(found - {"<S>", "</S>"})]
        self.type_id = {w: i for i, w in enumerate(order)}
        self.chars = torch.tensor([word_chars(w, max_chars) for w in order], dtype=torch.long)
        word_id = {w: i for i, w in enumerate(vocab)}
        self.target = torch.tensor([word_id.get(w, -1) for w in order], dtype=torch.long)
        tid = self.type_id
        self.rows = Encoded([0, *(tid[w] for w in s), 1] for s in seqs())

    def batches(self, batch_size: int) -> Batches:
        """``[B, T+2]`` type ids with <S>/</S>, -1 as padding; neighbours have similar lengths."""

        def make(group: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(self.rows.padded(group, -1)[0][..., 0])

        return Batches(self.rows.lengths, batch_size, make)

    def inputs(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pad = ids < 0
        chars = self.chars[ids.clamp(min=0)].masked_fill(pad.unsqueeze(-1), 0)
        targets = self.target[ids.clamp(min=0)].masked_fill(pad, -1)
        return chars, (~pad).sum(1), targets


def sequences(corpus: Iterable[list[str]], max_len: int) -> Iterator[list[str]]:
    """Lines cut into pieces of at most ``max_len`` words (each piece is one LM sequence)."""
    return (line[i : i + max_len] for line in corpus for i in range(0, len(line), max_len))


def lm_vocab(counts: Counter, min_count: int) -> list[str]:
    """Softmax words, most frequent first (the log-uniform sampler assumes that order)."""
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return ["</S>", "<S>", *words]


def train_elmo(
    corpus: Iterable[list[str]],
    valid: Iterable[list[str]] | None,
    model_cfg: ElmoConfig,
    cfg: ElmoTrainConfig,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[ElmoEmbedder, History]:
    """Train a biLM: the sum of the forward and backward LM losses, Adam, clipped gradients."""
    corpus = as_corpus(corpus)  # read twice: counts, then ids

    def train_seqs() -> Iterator[list[str]]:
        return sequences(corpus, cfg.max_len)

    counts = Counter(w for s in train_seqs() for w in s)
    if not counts:
        raise InputError("the training corpus is empty")
    vocab = lm_vocab(counts, cfg.min_count)
    torch.manual_seed(cfg.seed)
    model = BiLM(ElmoConfig.from_dict({**model_cfg.to_dict(), "vocab_size": len(vocab)}))
    data = LmData(train_seqs, vocab, model.cfg.max_chars, types=counts)
    batches = data.batches(cfg.batch_size)

    def loss_fn(ids: torch.Tensor) -> tuple[torch.Tensor, int, float]:
        chars, lengths, targets = data.inputs(ids)
        f, b = model.lm_loss(chars, lengths, targets, cfg.n_samples)
        # the objective is the sum of both directions' log-likelihoods (Peters et al. eq. 3)
        # a sampled-softmax loss is no perplexity (it normalises over the candidates only):
        # the bar shows one only for the full softmax; validation always uses the full one
        nll = float((f + b).detach()) / 2 if cfg.n_samples <= 0 else None
        return f + b, int((targets >= 0).sum()), nll

    validate = None
    if valid is not None:
        valid = as_corpus(valid)
        vdata = LmData(lambda: sequences(valid, cfg.max_len), vocab, model.cfg.max_chars)
        vbatches = vdata.batches(cfg.batch_size)

        def validate() -> dict[str, float]:
            sums, counts = torch.zeros(2), torch.zeros(2)
            for ids in vbatches:
                chars, lengths, targets = vdata.inputs(ids)
                # each direction's mean is over the tokens it predicts (next / previous word)
                n = torch.tensor([(targets[:, 1:] >= 0).sum(), (targets[:, :-1] >= 0).sum()])
                f, b = model.lm_loss(chars, lengths, targets, 0)
                sums += torch.tensor([float(f), float(b)]) * n
                counts += n
            f, b = (sums / counts.clamp(min=1)).tolist()
            return {
                "ppl_forward": math.exp(f),
                "ppl_backward": math.exp(b),
                "ppl_mean": math.exp((f + b) / 2),
            }

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loop = LoopConfig.like(cfg)
    history = train(
        model, opt, batches, loss_fn, loop, checkpoint, resume, validate, progress, desc="elmo"
    )
    return ElmoEmbedder(model.eval(), vocab), history


# -- the published format: bilm-tf / AllenNLP options.json + weights.hdf5 ----------------------
# hdf5 dataset                                         -> parameter (TF stores x @ W, torch W @ x)
# char_embed [261, char_dim]                           -> encoder.embed.weight[1:] (row 0: no token)
# CNN/W_cnn_{i} [1, width, char_dim, n], CNN/b_cnn_{i} -> encoder.convs[i].weight (n, char_dim, width), .bias
# CNN_high_{k}/W_transform, b_transform                -> encoder.highway.layers[k] first half, transposed
# CNN_high_{k}/W_carry, b_carry                        -> second half, negated: TF gates the transform,
#                                                         we gate the carry (g x + (1 - g) f(x))
# CNN_proj/W_proj, b_proj                              -> encoder.proj (transposed)
# RNN_{d}/RNN/MultiRNNCell/Cell{l}/LSTMCell/W_0        -> [input; state] weights of direction d
#   [in + proj, 4 cell], gates i, j(=g), f, o             (0 forward, 1 backward), layer l, reordered
#                                                         to i, f, g, o and split into input/state parts
#                                            .../B    -> state_linear.bias, reordered, +1 on the forget
#                                                         gate (TF adds forget_bias=1.0 at run time)
#                                            .../W_P_0 -> proj.weight (transposed)
# softmax/W [vocab, proj], softmax/b                   -> softmax (only in files ctxembed writes; the
#                                                         released files hold the encoder alone)


def _reorder(x: np.ndarray, cell: int) -> np.ndarray:
    """Swap the 2nd and 3rd gate blocks along axis 0 (TF i,j,f,o <-> torch i,f,g,o; its own inverse)."""
    out = x.copy()
    out[cell : 2 * cell], out[2 * cell : 3 * cell] = x[2 * cell : 3 * cell], x[cell : 2 * cell]
    return out


def options_of(cfg: ElmoConfig) -> dict:
    return {
        "lstm": {
            "use_skip_connections": True,
            "projection_dim": cfg.proj_dim,
            "cell_clip": cfg.cell_clip,
            "proj_clip": cfg.proj_clip,
            "dim": cfg.cell_dim,
            "n_layers": cfg.n_layers,
        },
        "char_cnn": {
            "activation": cfg.activation,
            "filters": [list(f) for f in cfg.filters],
            "n_highway": cfg.n_highway,
            "embedding": {"dim": cfg.char_dim},
            "n_characters": N_CHARS,
            "max_characters_per_token": cfg.max_chars,
        },
    }


def config_of(options: dict) -> ElmoConfig:
    try:
        lstm, cnn = options["lstm"], options["char_cnn"]
        if not lstm.get("use_skip_connections", True):
            raise InputError(
                "options.json: only biLMs with skip connections (use_skip_connections) are supported"
            )
        return ElmoConfig(
            char_dim=int(cnn["embedding"]["dim"]),
            filters=[(int(w), int(n)) for w, n in cnn["filters"]],
            n_highway=int(cnn["n_highway"]),
            activation=cnn.get("activation", "relu"),
            max_chars=int(cnn.get("max_characters_per_token", 50)),
            cell_dim=int(lstm["dim"]),
            proj_dim=int(lstm["projection_dim"]),
            n_layers=int(lstm["n_layers"]),
            cell_clip=lstm.get("cell_clip"),
            proj_clip=lstm.get("proj_clip"),
            dropout=0.0,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(
            f"options.json is not a bilm-tf/AllenNLP ELMo options file (missing or bad {e})"
        ) from None


def write_hdf5(model: BiLM, folder: str | os.PathLike, overwrite: bool = False) -> None:
    """Write ``options.json`` and ``weights.hdf5`` in the published layout (plus the softmax)."""
    require("elmo", "h5py")
    import h5py

    cfg = model.cfg
    if cfg.encoder != "lstm":
        raise InputError(
            "the bilm-tf hdf5 format holds LSTM biLMs only; save a transformer biLM as a ctxembed folder"
        )
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    with atomic_dir(folder, overwrite) as tmp:
        (tmp / "options.json").write_text(json.dumps(options_of(cfg), indent=1))
        with h5py.File(tmp / "weights.hdf5", "w") as f:
            f["char_embed"] = sd["encoder.embed.weight"][1:]
            for i in range(len(cfg.filters)):
                w = sd[f"encoder.convs.{i}.weight"]  # (n, char_dim, width)
                f[f"CNN/W_cnn_{i}"] = np.transpose(w, (2, 1, 0))[None]
                f[f"CNN/b_cnn_{i}"] = sd[f"encoder.convs.{i}.bias"]
            width = sum(n for _, n in cfg.filters)
            for k in range(cfg.n_highway):
                w, b = (
                    sd[f"encoder.highway.layers.{k}.weight"],
                    sd[f"encoder.highway.layers.{k}.bias"],
                )
                f[f"CNN_high_{k}/W_transform"] = w[:width].T
                f[f"CNN_high_{k}/W_carry"] = -w[width:].T
                f[f"CNN_high_{k}/b_transform"] = b[:width]
                f[f"CNN_high_{k}/b_carry"] = -b[width:]
            f["CNN_proj/W_proj"] = sd["encoder.proj.weight"].T
            f["CNN_proj/b_proj"] = sd["encoder.proj.bias"]
            for d, name in enumerate(("forward_lstm", "backward_lstm")):
                for layer in range(cfg.n_layers):
                    p = f"{name}.{layer}"
                    w = np.concatenate(
                        [sd[f"{p}.input_linear.weight"], sd[f"{p}.state_linear.weight"]], axis=1
                    )
                    bias = _reorder(sd[f"{p}.state_linear.bias"], cfg.cell_dim)
                    bias[2 * cfg.cell_dim : 3 * cfg.cell_dim] -= 1.0
                    g = f"RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                    f[f"{g}/W_0"] = _reorder(w, cfg.cell_dim).T
                    f[f"{g}/B"] = bias
                    f[f"{g}/W_P_0"] = sd[f"{p}.proj.weight"].T
            if cfg.vocab_size:
                f["softmax/W"] = sd["softmax.weight"]
                f["softmax/b"] = sd["softmax.bias"]


def read_hdf5(options_file: str | os.PathLike, weights_file: str | os.PathLike) -> BiLM:
    """Build a biLM from the published ``options.json`` + ``weights.hdf5`` (no pickles involved)."""
    require("elmo", "h5py")
    import h5py

    try:
        options = json.loads(Path(options_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such file: {options_file}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{options_file} is not valid JSON ({e})") from None
    cfg = config_of(options)
    try:
        f = h5py.File(weights_file, "r")
    except FileNotFoundError:
        raise InputError(f"no such file: {weights_file}") from None
    except OSError as e:
        raise InputError(f"{weights_file} is not an HDF5 file ({e})") from None
    with f:
        if "softmax" in f:
            cfg.vocab_size = int(f["softmax/W"].shape[0])
        model = BiLM(cfg)
        sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}

        def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
            if name not in f:
                raise InputError(
                    f"{weights_file}: dataset {name} is missing (options.json and weights do not match?)"
                )
            arr = np.asarray(f[name][...], dtype=np.float32)
            if arr.shape != shape:
                raise InputError(
                    f"{weights_file}: {name} has shape {arr.shape}, options.json implies {shape}"
                )
            return arr

        width = sum(n for _, n in cfg.filters)
        sd["encoder.embed.weight"][1:] = take("char_embed", (N_CHARS - 1, cfg.char_dim))
        sd["encoder.embed.weight"][0] = 0
        for i, (w, n) in enumerate(cfg.filters):
            sd[f"encoder.convs.{i}.weight"] = np.transpose(
                take(f"CNN/W_cnn_{i}", (1, w, cfg.char_dim, n))[0], (2, 1, 0)
            )
            sd[f"encoder.convs.{i}.bias"] = take(f"CNN/b_cnn_{i}", (n,))
        for k in range(cfg.n_highway):
            g = f"CNN_high_{k}"
            sd[f"encoder.highway.layers.{k}.weight"] = np.concatenate(
                [
                    take(f"{g}/W_transform", (width, width)).T,
                    -take(f"{g}/W_carry", (width, width)).T,
                ]
            )
            sd[f"encoder.highway.layers.{k}.bias"] = np.concatenate(
                [take(f"{g}/b_transform", (width,)), -take(f"{g}/b_carry", (width,))]
            )
        sd["encoder.proj.weight"] = take("CNN_proj/W_proj", (width, cfg.proj_dim)).T
        sd["encoder.proj.bias"] = take("CNN_proj/b_proj", (cfg.proj_dim,))
        C, P = cfg.cell_dim, cfg.proj_dim
        for d, name in enumerate(("forward_lstm", "backward_lstm")):
            for layer in range(cfg.n_layers):
                g = f"RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                w = _reorder(take(f"{g}/W_0", (P + P, 4 * C)).T, C)
                bias = take(f"{g}/B", (4 * C,)).copy()
                bias[2 * C : 3 * C] += 1.0  # TF's forget_bias
                p = f"{name}.{layer}"
                sd[f"{p}.input_linear.weight"], sd[f"{p}.state_linear.weight"] = w[:, :P], w[:, P:]
                sd[f"{p}.state_linear.bias"] = _reorder(bias, C)
                sd[f"{p}.proj.weight"] = take(f"{g}/W_P_0", (C, P)).T
        if cfg.vocab_size:
            sd["softmax.weight"] = take("softmax/W", (cfg.vocab_size, P))
            sd["softmax.bias"] = take("softmax/b", (cfg.vocab_size,))
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return model.eval()


# -- command line: `ctxembed train elmo` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    options.corpus_args(
        t, "perplexity after each epoch", "small, base, or a JSON file of ElmoConfig fields"
    )
    t.add_argument("--epochs", type=positive, default=1)
    t.add_argument("--batch-size", type=positive, default=64)
    t.add_argument("--max-len", type=positive, default=20, help="words per training sequence")
    t.add_argument("--min-count", type=positive, default=3, help="softmax vocabulary threshold")
    t.add_argument(
        "--samples",
        type=count,
        default=1024,
        help="sampled-softmax negatives (0 = full softmax)",
    )
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--lowercase", action="store_true")
    options.loop_args(t)


def train_command(args: argparse.Namespace) -> int:
    from ..train.corpus import Corpus

    ckpt = options.check_out(args)
    model_cfg = options.model_config(
        args.config,
        CONFIGS,
        ElmoConfig.from_dict,
        "ELMo",
        ElmoConfig(),
        build=lambda c: BiLM(ElmoConfig.from_dict({**c.to_dict(), "vocab_size": 8})),
    )
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    valid = Corpus(args.valid, lowercase=args.lowercase, what="--valid") if args.valid else None
    cfg = options.from_args(ElmoTrainConfig, args, n_samples=args.samples)
    start = time.perf_counter()
    model, hist = train_elmo(
        corpus, valid, model_cfg, cfg, ckpt, args.resume, progress=not args.quiet
    )
    what = f"elmo ({args.config}, vocabulary {model.cfg.vocab_size:,})"
    return options.finish_training(args, model.save, ckpt, hist, start, what)


def published_files(path: Path) -> tuple[Path, Path] | None:
    """The one ``*options.json`` and one ``*.hdf5`` of a bilm-tf / AllenNLP folder, if so."""
    if not path.is_dir():
        return None
    opts, weights = sorted(path.glob("*options.json")), sorted(path.glob("*.hdf5"))
    return (opts[0], weights[0]) if len(opts) == 1 and len(weights) == 1 else None


def open_published(path: Path, **options: Any) -> ElmoEmbedder:
    return ElmoEmbedder(read_hdf5(*published_files(path)), **options)  # type: ignore[misc]


def export_hdf5(model_path: str, output: str, overwrite: bool) -> str:
    from ..families import load
    from ..io import check_dir, inside

    inside(Path(output), [Path(model_path)])
    check_dir(output, overwrite)
    model = load(model_path)
    if not isinstance(model, ElmoEmbedder):
        raise InputError(f"elmo-hdf5 needs an ELMo model; {model_path} is {model.family}")
    write_hdf5(model.model, output, overwrite)
    return f"wrote options.json and weights.hdf5 (bilm-tf layout) -> {output}"


FAMILY = Family(
    "elmo",
    load_options=("window",),
    detect=lambda path: published_files(path) is not None,
    open=open_published,
    detect_order=1,  # after a Hugging Face folder, as before
    exports={"elmo-hdf5": export_hdf5},
    embedder=ElmoEmbedder,
    trainer=Trainer(
        "train an ELMo biLM (char-CNN + biLSTM)",
        add_train_arguments,
        train_command,
        "CORPUS and VALID: UTF-8 text (or .gz), one sentence or paragraph per line.",
    ),
)
