"""The speed/quality frontier of ctxembed's sentence encoders on this machine: sentences/s
(log scale) against STS-B dev, from the results files of benchmarks/distill.py and
benchmarks/quantized.py (so every point is a number those runs wrote).

    python benchmarks/frontier.py [--out docs/frontier.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def points() -> list[tuple[str, float, float]]:
    """(label, sentences/s, STS-B dev) per encoder."""
    out = []
    distill = json.loads((RESULTS / "distill.json").read_text())["models"]
    names = {
        "minilm-l6": "minilm-l6 fp32 (torch)",
        "distilled": "distilled minilm-l6 (ours)",
        "dan student": "DAN student of minilm-l6 (ours)",
        "model2vec (peer)": "model2vec of minilm-l6 (peer)",
        "glove-6b-50d": "glove-6b-50d, mean",
        "wikitext2-elmo": "ELMo, WikiText-2, mean",
        "wikitext2-use-dan": "USE DAN, WikiText-2 multi-task",
    }
    for key, label in names.items():
        row = distill.get(key)
        if row and "stsb-dev" in row:
            out.append((label, row["sentences_per_s"], row["stsb-dev"]))
    quant = json.loads((RESULTS / "quantized.json").read_text())["rows"]
    for key in ("onnx fp32", "onnx int8-early-ffn-fp32", "torch int8"):
        row = quant.get(key)
        if row:  # timed in another run than distill.py's rows: same machine, same texts
            out.append((f"minilm-l6 {key}", row["sentences_per_s"], row["stsb-dev"]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/frontier.png"))
    args = p.parse_args()
    fig, ax = plt.subplots(figsize=(9.5, 4.5), dpi=120)
    for label, speed, sts in points():
        ax.scatter(speed, sts, s=40, label=label)
    # beside the axes: labels on the points would overlap, and no corner is empty
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xscale("log")
    ax.set_xlabel("sentences per second (one process, 2 cores, log scale)")
    ax.set_ylabel("STS-B dev, Spearman x100")
    ax.set_title("Speed and quality of sentence encoders (benchmarks/frontier.py)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp)
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
