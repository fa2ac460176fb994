"""A BERT masked language model trained from scratch (Devlin et al. 2019).

What is ours is the recipe; the parts are the field's own:
- a WordPiece vocabulary trained on the corpus with ``tokenizers``;
- ``transformers.BertForMaskedLM`` from a ``BertConfig``, randomly initialised;
- masking: 15% of the positions (or of the words, ``whole_word=True``) are chosen; of
  those 80% become [MASK], 10% a random token, 10% stay as they are; the loss is the
  cross-entropy on the chosen positions only (the head runs on those alone);
- AdamW with linear warmup and decay (``get_linear_schedule_with_warmup``).

The result is a plain Hugging Face folder (config.json, model.safetensors, tokenizer)
plus ``ctxembed.json``: ``transformers.AutoModel`` and ``ctxembed.load`` both read it.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..embedder import Family, Trainer
from ..errors import InputError
from ..io import atomic_dir
from ..options import positive, positive_float
from ..train import options
from ..train.corpus import Batches, Encoded, as_corpus
from ..train.loop import LoopConfig, optimizer_steps, train

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

CONFIGS: dict[str, dict[str, Any]] = {
    # BertConfig fields; "small" trains on WikiText-2 within an hour on 2 CPU cores
    "small": dict(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=128,
    ),
    "base": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    ),
}


def bert_fields(data: Any) -> dict[str, Any]:
    """A config file's BertConfig fields, checked: BertConfig itself keeps a misspelt field
    as an extra attribute and trains the default model without a word."""
    from transformers import BertConfig

    if not isinstance(data, dict):
        raise TypeError("expected a JSON object of BertConfig fields")
    unknown = sorted(set(data) - set(BertConfig().to_dict()))
    if unknown:
        raise TypeError(f"unknown BertConfig field(s): {', '.join(unknown)}")
    return data


@dataclass
class BertTrainConfig:
    vocab_size: int = 16000  # WordPiece vocabulary
    lowercase: bool = True
    max_len: int = 128  # tokens per sequence, [CLS] and [SEP] included
    batch_size: int = 32
    mask_prob: float = 0.15
    whole_word: bool = False
    lr: float = 5e-4
    warmup: float = 0.06  # fraction of all steps
    weight_decay: float = 0.01
    epochs: int = 1
    clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    max_steps: int | None = None


def train_tokenizer(lines: Iterable[list[str]], vocab_size: int, lowercase: bool):
    """A WordPiece tokenizer (BERT's normaliser and pre-tokenizer) trained on the corpus.

    Not bit-for-bit reproducible: tokenizers' trainer numbers the ``##`` pieces in hash-map
    order, which breaks merge ties differently from run to run (huggingface/tokenizers#1794,
    open). The model given a tokenizer is deterministic; the saved folder keeps the tokenizer.
    """
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase)
    wp.train_from_iterator(
        (" ".join(words) for words in lines),
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
    )
    return BertTokenizerFast(tokenizer_object=wp._tokenizer, do_lower_case=lowercase)


def mask_tokens(
    ids: torch.Tensor,
    word_ids: torch.Tensor,
    special: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    prob: float = 0.15,
    whole_word: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: returns (inputs, labels) with labels -100 where nothing is predicted.

    ``word_ids`` numbers the words of each row (-1 on specials and padding) so that with
    ``whole_word`` all subwords of a chosen word are chosen together.
    """
    if whole_word:
        n_words = int(word_ids.max()) + 2
        pick = torch.rand(ids.shape[0], n_words) < prob
        chosen = pick.gather(1, (word_ids + 1).clamp(min=0)) & (word_ids >= 0)
    else:
        chosen = torch.rand(ids.shape) < prob
    chosen &= ~special
    labels = ids.masked_fill(~chosen, -100)
    action = torch.rand(ids.shape)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    random = chosen & (action >= 0.8) & (action < 0.9)
    inputs[random] = torch.randint(len(SPECIALS), vocab_size, (int(random.sum()),))
    return inputs, labels


class MlmData:
    """Lines -> WordPiece rows of at most ``max_len`` tokens with word numbers, on disk."""

    def __init__(self, lines: Iterable[list[str]], tokenizer, max_len: int):
        self.rows = Encoded(self._rows(lines, tokenizer, max_len - 2), columns=2)
        self.cls, self.sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad = tokenizer.pad_token_id

    @staticmethod
    def _rows(lines: Iterable[list[str]], tokenizer, body: int) -> Iterator[np.ndarray]:
        for words in lines:
            enc = tokenizer(
                words, is_split_into_words=True, add_special_tokens=False, verbose=False
            )
            ids, wids = enc["input_ids"], enc.word_ids()
            for s in range(0, len(ids), body):
                piece = wids[s : s + body]
                yield np.array([ids[s : s + body], [w - piece[0] for w in piece]]).T

    def batches(self, batch_size: int) -> Batches:
        def make(group: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            body, lengths = self.rows.padded(group, (self.pad, -1))
            # [CLS] body [SEP], then padding; word numbers -1 outside the body
            ids = np.pad(body[..., 0], ((0, 0), (1, 1)), constant_values=self.pad)
            ids[:, 0], ids[np.arange(len(group)), lengths + 1] = self.cls, self.sep
            wids = np.pad(body[..., 1], ((0, 0), (1, 1)), constant_values=-1)
            return torch.from_numpy(ids), torch.from_numpy(wids)

        return Batches(self.rows.lengths, batch_size, make)


def mlm_loss(model, ids: torch.Tensor, wids: torch.Tensor, tok, cfg: BertTrainConfig):
    """Mean cross-entropy over the chosen positions; the LM head runs on those alone."""
    attention = (ids != tok.pad_token_id).long()
    special = (wids < 0) | (attention == 0)
    inputs, labels = mask_tokens(
        ids, wids, special, tok.mask_token_id, len(tok), cfg.mask_prob, cfg.whole_word
    )
    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    chosen = labels >= 0
    if not chosen.any():
        zero = hidden.sum() * 0.0
        return zero, 0
    logits = model.cls(hidden[chosen])
    return F.cross_entropy(logits, labels[chosen]), int(chosen.sum())


def train_bert(
    corpus: Iterable[list[str]],
    model_cfg: dict[str, Any],
    cfg: BertTrainConfig,
    valid: Iterable[list[str]] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
):
    """Train the tokenizer, then the masked LM; returns (TransformerEmbedder, model, History)."""
    from transformers import BertConfig, BertForMaskedLM, get_linear_schedule_with_warmup

    from .transformer import TransformerEmbedder

    lines = as_corpus(corpus)  # read twice: the tokenizer, then the ids
    tok = train_tokenizer(lines, cfg.vocab_size, cfg.lowercase)
    tok.model_max_length = model_cfg.get("max_position_embeddings", 512)
    if cfg.max_len > tok.model_max_length:
        raise InputError(
            f"max_len {cfg.max_len} exceeds the model's {tok.model_max_length} positions"
        )
    torch.manual_seed(cfg.seed)
    bert_cfg = BertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, **model_cfg)
    model = BertForMaskedLM(bert_cfg)
    batches = MlmData(lines, tok, cfg.max_len).batches(cfg.batch_size)

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]):
        loss, n = mlm_loss(model, *batch, tok, cfg)
        return loss, n, float(loss.detach())

    validate = None
    if valid is not None:
        vbatches = MlmData(as_corpus(valid), tok, cfg.max_len).batches(cfg.batch_size)

        def validate() -> dict[str, float]:
            state = torch.get_rng_state()
            torch.manual_seed(12345)  # the same masks every epoch
            total, n = 0.0, 0
            for ids, wids in vbatches:
                loss, k = mlm_loss(model, ids, wids, tok, cfg)
                total, n = total + float(loss) * k, n + k
            torch.set_rng_state(state)
            return {"mlm_loss": total / max(n, 1), "mlm_ppl": math.exp(total / max(n, 1))}

    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    total = optimizer_steps(len(batches), cfg.epochs) if cfg.max_steps is None else cfg.max_steps
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup * total), total)
    loop = LoopConfig.like(cfg)
    history = train(
        model,
        opt,
        batches,
        loss_fn,
        loop,
        checkpoint,
        resume,
        validate,
        progress,
        "bert",
        scheduler=sched,
    )
    model.eval()
    return TransformerEmbedder(model.bert, tok), model, history


def save_bert(
    model, tokenizer, path: str | os.PathLike, config: dict[str, Any], overwrite: bool = False
) -> None:
    """A Hugging Face folder (the MLM head kept, so training can go on) plus ctxembed.json."""
    from ..embedder import write_manifest

    with atomic_dir(path, overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_manifest(tmp, "transformer", config)


# -- command line: `ctxembed train bert` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    options.corpus_args(
        t, "MLM loss and perplexity", "small, base, or a JSON file of BertConfig fields"
    )
    t.add_argument("--vocab-size", type=positive, default=16000)
    t.add_argument("--epochs", type=positive, default=1)
    t.add_argument("--batch-size", type=positive, default=32)
    t.add_argument("--max-len", type=positive, default=128)
    t.add_argument("--lr", type=positive_float, default=5e-4)
    t.add_argument("--whole-word", action="store_true", help="mask whole words")
    t.add_argument("--cased", action="store_true")
    options.loop_args(t)


def train_command(args: argparse.Namespace) -> int:
    from ..train.corpus import Corpus

    ckpt = options.check_out(args)
    from transformers import BertConfig, BertForMaskedLM

    model_cfg = options.model_config(
        args.config,
        CONFIGS,
        bert_fields,
        "BERT",
        BertConfig().to_dict(),
        build=lambda c: BertForMaskedLM(BertConfig(vocab_size=8, **c)),
    )
    cfg = options.from_args(BertTrainConfig, args, lowercase=not args.cased)
    corpus = Corpus(args.corpus)
    valid = Corpus(args.valid, what="--valid") if args.valid else None
    start = time.perf_counter()
    embedder, model, hist = train_bert(
        corpus, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )

    def save(out: str, overwrite: bool) -> None:
        save_bert(model, embedder.tokenizer, out, embedder.config(), overwrite)

    what = f"bert ({args.config}, WordPiece vocabulary {len(embedder.tokenizer):,})"
    return options.finish_training(args, save, ckpt, hist, start, what)


FAMILY = Family(
    "bert",
    embedder=None,
    trainer=Trainer(
        "train a BERT masked LM from scratch (WordPiece + transformers)",
        add_train_arguments,
        train_command,
        "CORPUS: UTF-8 text (or .gz), one sentence or paragraph per line; "
        "lines longer than --max-len tokens become several sequences.",
    ),
)
