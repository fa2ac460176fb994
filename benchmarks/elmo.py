"""ELMo training and inference speed on WikiText-2, against a plain torch.nn.LSTM biLM of the
same size (word embeddings instead of the character CNN, cuDNN/oneDNN-style fused LSTM with
projection but no clipping), in one run.

    python benchmarks/elmo.py [--config small] [--steps 20] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch
from common import DATA
from torch import nn

from ctxembed.models.elmo import (
    CONFIGS,
    BiLM,
    ElmoConfig,
    LmData,
    lm_vocab,
    sampled_softmax_nll,
    sequences,
)
from ctxembed.train.corpus import Corpus


class PlainBiLM(nn.Module):
    """The reference: word embeddings, two fused nn.LSTM stacks (proj_size), a shared softmax."""

    def __init__(self, cfg: ElmoConfig, n_types: int):
        super().__init__()
        self.embed = nn.Embedding(n_types, cfg.proj_dim)
        self.fwd = nn.LSTM(
            cfg.proj_dim, cfg.cell_dim, cfg.n_layers, batch_first=True, proj_size=cfg.proj_dim
        )
        self.bwd = nn.LSTM(
            cfg.proj_dim, cfg.cell_dim, cfg.n_layers, batch_first=True, proj_size=cfg.proj_dim
        )
        self.softmax = nn.Linear(cfg.proj_dim, cfg.vocab_size)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, n_samples: int) -> torch.Tensor:
        x = self.embed(ids.clamp(min=0))
        f, _ = self.fwd(x)
        b, _ = self.bwd(x.flip(1))  # padding handling is not this reference's concern
        b = b.flip(1)
        total = 0
        for h, y in ((f[:, :-1], targets[:, 1:]), (b[:, 1:], targets[:, :-1])):
            keep = y >= 0
            total = total + sampled_softmax_nll(
                self.softmax.weight, self.softmax.bias, h[keep], y[keep], n_samples
            )
        return total


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="small", choices=list(CONFIGS))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=1024)
    args = p.parse_args()
    lines = [
        line
        for _, line in zip(
            range(3000), Corpus(DATA / "wikitext2" / "wiki.train.tokens.gz"), strict=False
        )
    ]
    seqs = list(sequences(lines, 20))
    vocab = lm_vocab(Counter(w for s in seqs for w in s), 3)
    cfg = ElmoConfig.from_dict({**CONFIGS[args.config].to_dict(), "vocab_size": len(vocab)})
    data = LmData(lambda: seqs, vocab, cfg.max_chars)
    batches = data.batches(args.batch_size)[-args.steps - 2 :]  # full-length batches
    torch.manual_seed(0)
    elmo, plain = BiLM(cfg), PlainBiLM(cfg, len(data.chars))
    print(
        f"{args.config}: {sum(p.numel() for p in elmo.parameters()) / 1e6:.1f}M parameters "
        f"(plain reference {sum(p.numel() for p in plain.parameters()) / 1e6:.1f}M), "
        f"batch {args.batch_size} x 20 words, {torch.get_num_threads()} threads"
    )

    def elmo_step(ids):
        chars, lengths, targets = data.inputs(ids)
        f, b = elmo.lm_loss(chars, lengths, targets, args.samples)
        return f + b

    def plain_step(ids):
        return plain.loss(ids, data.inputs(ids)[2], args.samples)

    rows = []
    for name, model, step in (
        ("ctxembed ELMo", elmo, elmo_step),
        ("plain nn.LSTM biLM", plain, plain_step),
    ):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        step(batches[0]).backward()  # warm-up
        tokens, start = 0, time.perf_counter()
        for ids in batches[1 : args.steps + 1]:
            loss = step(ids)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tokens += int((ids >= 0).sum()) - 2 * len(ids)
        train_rate = tokens / (time.perf_counter() - start)
        model.eval()
        words, start = 0, time.perf_counter()
        with torch.inference_mode():
            for ids in batches[1 : args.steps + 1]:
                if model is elmo:
                    chars, lengths, _ = data.inputs(ids)
                    elmo.layers(chars, lengths)
                else:
                    x = plain.embed(ids.clamp(min=0))
                    plain.fwd(x), plain.bwd(x.flip(1))
                words += int((ids >= 0).sum()) - 2 * len(ids)
        rows.append((name, train_rate, words / (time.perf_counter() - start)))
    for name, tr, inf in rows:
        print(f"  {name:<20} training {tr:>8,.0f} tokens/s   inference {inf:>8,.0f} words/s")
    print(
        f"  ctxembed / plain:    training {rows[0][1] / rows[1][1]:.2f}x   inference {rows[0][2] / rows[1][2]:.2f}x"
    )


if __name__ == "__main__":
    main()
