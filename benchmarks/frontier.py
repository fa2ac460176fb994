"""The speed/quality frontier of ctxembed's sentence encoders on this machine: sentences/s
(log scale, as a multiple of minilm-l6 torch fp32's in the same run, since the shared
machine's speed moves between runs) against STS-B dev, from the results files of
benchmarks/distill.py and benchmarks/quantized.py (so every point comes from a number those
runs wrote).

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


def points() -> tuple[list[tuple[str, float, float]], float]:
    """(label, speed as a multiple of minilm-l6 torch fp32's in the same run, STS-B dev) per
    encoder, and the teacher's sentences/s in distill.py's run. Each run's timings are of one
    minute of a shared machine, so speeds are compared within a run, never across runs."""
    out = []
    run = json.loads((RESULTS / "distill.json").read_text())["models"]
    names = {
        "minilm-l6": "minilm-l6 fp32 (torch)",
        "distilled": "distilled minilm-l6 (ours)",
        "dan student": "DAN student of minilm-l6 (ours)",
        "model2vec (peer)": "model2vec of minilm-l6 (peer)",
        "glove-6b-50d": "glove-6b-50d, mean",
        "wikitext2-elmo": "ELMo, WikiText-2, mean",
        "wikitext2-use-dan": "USE DAN, WikiText-2 multi-task",
    }
    # models whose folders were not there for the latest run: their row of the run before
    earlier = json.loads((RESULTS / "distill-earlier.json").read_text())["models"]
    for key, label in names.items():
        row = run.get(key)
        if row is None and key in earlier:
            row, label = earlier[key], f"{label} (earlier run)"
        if row and "stsb-dev" in row:
            out.append((label, row["speed_vs_teacher"], row["stsb-dev"]))
    quant = json.loads((RESULTS / "quantized.json").read_text())["rows"]
    base = quant["torch fp32"]["sentences_per_s"]
    for key in ("onnx fp32", "onnx int8-early-ffn-fp32", "torch int8"):
        row = quant.get(key)
        if row:  # quantized.py's own run: its torch fp32 is the 1
            out.append((f"minilm-l6 {key}", row["sentences_per_s"] / base, row["stsb-dev"]))
    return out, run["minilm-l6"]["sentences_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/frontier.png"))
    args = p.parse_args()
    fig, ax = plt.subplots(figsize=(9.5, 4.5), dpi=120)
    rows, teacher = points()
    for label, speed, sts in rows:
        ax.scatter(speed, sts, s=40, label=label)
    # beside the axes: labels on the points would overlap, and no corner is empty
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xscale("log")
    ax.set_xlabel("sentences/s as a multiple of minilm-l6 torch fp32's in the same run (log)")
    top = ax.secondary_xaxis("top", functions=(lambda x: x * teacher, lambda s: s / teacher))
    top.set_xlabel(f"sentences/s at the teacher's {teacher:.0f}/s of distill.py's run")
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
