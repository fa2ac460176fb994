"""Trains a tiny sentence encoder through the shared loop; run alone or under torchrun.

    python tests/ddp_script.py OUT.json [--group 2] [--max-steps N] [--checkpoint DIR [--resume]]

Rank 0 writes the per-step losses and the final weights' checksum to OUT.json.
"""

import argparse
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ctxembed.models.use import stsb_train
from ctxembed.train.distributed import is_main
from ctxembed.train.loop import LoopConfig, train


class Encoder(nn.Module):
    """Mean of word embeddings, then a layer (no dropout: the loss is a function of the
    batch and the weights alone, so 1 and 2 processes must agree)."""

    def __init__(self, vocab: dict[str, int]):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.EmbeddingBag(len(vocab) + 1, 32, mode="mean")
        self.out = nn.Linear(32, 32)

    def forward(self, texts: list[list[str]]) -> torch.Tensor:
        ids = [torch.tensor([self.vocab.get(w.lower(), 0) for w in t] or [0]) for t in texts]
        offsets = torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(0)
        return self.out(torch.tanh(self.embed(torch.cat(ids), offsets)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--group", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    pairs = stsb_train()[:384]
    vocab = {
        w: i + 1 for i, w in enumerate(sorted({w.lower() for a, b, _ in pairs for w in a + b}))
    }
    torch.manual_seed(0)
    model = Encoder(vocab)
    batches = [pairs[i : i + 16] for i in range(0, len(pairs), 16)]

    def loss_fn(batch):
        u, v = model([a for a, _, _ in batch]), model([b for _, b, _ in batch])
        gold = torch.tensor([s for *_, s in batch], dtype=torch.float32)
        return F.mse_loss(F.cosine_similarity(u, v), gold), len(batch), None

    cfg = LoopConfig(
        epochs=2, seed=0, checkpoint_every=4, max_steps=args.max_steps, batches_per_step=args.group
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    hist = train(model, opt, batches, loss_fn, cfg, args.checkpoint, args.resume, progress=False)
    if is_main():
        weights = float(sum(p.detach().double().abs().sum() for p in model.parameters()))
        args.out.write_text(json.dumps({"losses": hist.losses, "weights": weights}))


if __name__ == "__main__":
    main()
