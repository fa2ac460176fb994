"""The report folder: ``results.json`` (every number), ``results.md`` (leaderboards) and plots."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..io import atomic_file, record_written
from .bench import Bench, environment
from .common import Result

GROUPS = {
    "wordsim": "Word similarity (Spearman x100)",
    "analogy": "Word analogy (3CosAdd accuracy %)",
    "coarsewsd": "Word sense: CoarseWSD-20 test (1-NN over sense centroids; mean over the 20 words)",
    "wic": "Word-in-Context, dev accuracy %",
    "sts": "Sentence similarity (cosine, x100)",
    "classify": "Sentence classification (SentEval data, logistic regression, accuracy %)",
    "lexsub": "Lexical substitution: candidate ranking, GAP x100",
}


def _columns(r: Result) -> list[tuple[str, float]]:
    """The cells a result fills in its task's leaderboard."""
    m = r.metrics
    if r.task == "wordsim":
        return [(r.dataset, m["spearman"])]
    if r.task == "analogy":
        return [(k, v) for k, v in m.items()]
    if r.task == "coarsewsd":
        shot = r.protocol.split(", ")[1].split(" ")[0]  # "full" or "10-shot"
        if shot == "full":
            return [("F1", m["macro_f1"]), ("accuracy", m["accuracy"])]
        return [(f"{shot} F1", m["macro_f1"])]
    if r.task == "wic":
        return [("threshold" if r.protocol.startswith("cosine") else "probe", m["accuracy"])]
    if r.task == "sts":
        return [(f"{r.dataset} Spearman", m["spearman"]), (f"{r.dataset} Pearson", m["pearson"])]
    if r.task == "lexsub":
        return [(r.dataset, m["gap"])]
    return [(r.dataset, m["accuracy"])]


def _fmt(x: float | None, best: bool) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    s = f"{x:.1f}"
    return f"**{s}**" if best else s


def leaderboard(
    results: list[Result], columns: Callable[[Result], list[tuple[str, float]]] = _columns
) -> str:
    rows: dict[str, dict[str, float]] = {}
    cols: list[str] = []
    for r in results:
        for col, value in columns(r):
            rows.setdefault(r.model, {})[col] = value
            if col not in cols:
                cols.append(col)
    best = {
        c: max((v[c] for v in rows.values() if c in v and not math.isnan(v[c])), default=None)
        for c in cols
    }
    lines = ["| model | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for model, vals in rows.items():
        cells = [
            _fmt(vals.get(c), c in vals and vals[c] == best[c] and len(rows) > 1) for c in cols
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def layer_tables(results: list[Result]) -> dict[str, list[tuple[str, dict[str, float]]]]:
    """Per model with layers: rows (layer, {column: score}) from CoarseWSD-20 and WiC."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        per = r.details.get("per_layer")
        if not per or len(per) < 2:
            continue
        for layer, scores in per.items():
            cell = out.setdefault(r.model, {}).setdefault(layer, {})
            if r.task == "coarsewsd":
                cell["CoarseWSD-20 F1"] = scores["macro_f1"]
            else:
                cell["WiC threshold"] = scores["threshold"]
                cell["WiC probe"] = scores["probe"]
    return {m: list(rows.items()) for m, rows in out.items()}


def layer_name(layer: str) -> str:
    """Layer 0 is the context-free input in every family (embeddings, char-CNN, GloVe, ...)."""
    return "0 (input)" if layer == "0" else layer


def plot_layers(model: str, rows: list[tuple[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [(int(k), v) for k, v in rows if k.isdigit()]
    mean = dict(rows).get("mean", {})
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    for col in sorted({c for _, v in rows for c in v}):
        (line,) = ax.plot(
            [k for k, _ in layers], [v.get(col, math.nan) for _, v in layers], marker="o", label=col
        )
        if col in mean:
            ax.axhline(mean[col], color=line.get_color(), ls=":", lw=1)
    ax.set_xticks([k for k, _ in layers], [layer_name(str(k)) for k, _ in layers])
    ax.set_xlabel("layer (every family: 0 = the context-free input); dotted: mean of all layers")
    ax.set_ylabel("score")
    ax.set_title(f"{model}: word sense by layer")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)
    plt.close(fig)


def png_name(model: str) -> str:
    return f"layers-{model.replace('/', '_')}.png"


def files(models: list[str]) -> list[str]:
    """Every file ``write`` may put in the report folder for these models (display names)."""
    return ["results.json", "results.md", *map(png_name, models)]


def write(bench: Bench, out: Path, command: str, wall: float) -> None:
    """The report: results.json, results.md and a plot per model with layers. The caller
    checks ``files(...)`` against the folder first (``io.check_files``)."""
    out.mkdir(parents=True, exist_ok=True)
    written = ["results.json", "results.md"]
    env = environment()
    payload = {
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "environment": env,
        "models": bench.models,
        "tasks": bench.tasks,
        "seconds_per_task": {k: round(v, 1) for k, v in bench.seconds.items()},
        "wall_seconds": round(wall, 1),
        "results": [r.to_json() for r in bench.results],
        "skipped": bench.skipped,
    }
    with atomic_file(out / "results.json", "w") as f:
        json.dump(payload, f, indent=1, ensure_ascii=False)
    md = [
        "# ctxembed bench results",
        "",
        f"Made by `{command}` ({payload['created']}; {env['machine']}; ctxembed {env['ctxembed']}, "
        f"torch {env['torch']}). Wall time {wall / 60:.1f} min. Best of each column in bold. "
        "Every number with its protocol, split and data checksum is in `results.json`.",
    ]
    for task, title in GROUPS.items():
        rs = [r for r in bench.results if r.task == task]
        if not rs:
            continue
        md += ["", f"## {title}", "", leaderboard(rs)]
        protocols = sorted({f"{r.protocol} ({r.split})" for r in rs})
        md += ["", "Protocol: " + "; ".join(protocols) + "."]
        layers = sorted({f"{r.model}: {r.details['layer']}" for r in rs if "layer" in r.details})
        if layers:
            md.append("Layer used: " + "; ".join(layers) + ".")
        if task == "wordsim":
            oov = [
                f"{r.model} {r.dataset} {r.details['oov_pairs']}"
                for r in rs
                if r.details.get("oov_pairs")
            ]
            md.append(
                "Pairs left out for an unknown word: " + ("; ".join(oov) if oov else "none") + "."
            )
        if task == "wic":
            maj = next(
                (r.details["majority_class"] for r in rs if "majority_class" in r.details), None
            )
            if maj is not None:
                md.append(f"Majority class on dev: {maj:.1f}%.")
    tables = layer_tables(bench.results)
    if tables:
        md += ["", "## Layer-wise view (CoarseWSD-20 macro-F1 and WiC dev accuracy per layer)"]
        for model, rows in tables.items():
            cols = sorted({c for _, v in rows for c in v})
            best = {c: max(v.get(c, -1) for _, v in rows) for c in cols}
            md += [
                "",
                f"### {model}",
                "",
                "| layer | " + " | ".join(cols) + " |",
                "| --- |" + " ---: |" * len(cols),
            ]
            for layer, v in rows:
                md.append(
                    f"| {layer_name(layer)} | "
                    + " | ".join(_fmt(v.get(c), v.get(c) == best[c]) for c in cols)
                    + " |"
                )
            png = png_name(model)
            plot_layers(model, rows, out / png)
            written.append(png)
            md += ["", f"![{model} by layer]({png})"]
    if bench.skipped:
        md += ["", "## Skipped", ""] + [
            f"- {s['model']} / {s['task']}: {s['reason']}" for s in bench.skipped
        ]
    md += ["", "## Time per task (all models)", "", "| task | seconds |", "| --- | ---: |"]
    md += [f"| {k} | {v:.1f} |" for k, v in bench.seconds.items()]
    with atomic_file(out / "results.md", "w") as f:
        f.write("\n".join(md) + "\n")
    record_written(out, written)
