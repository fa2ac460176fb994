"""Faster transformer inference against torch fp32, in one run: words/s, token cosine to fp32
(mean, 1st percentile, min), sentences/s, STS-B dev, then the bench tasks for the chosen rows.

    python benchmarks/quantized.py [--texts 400] [--out docs/results/quantized.json]

Rows: torch fp32; torch dynamic int8 (``ctxembed.load(..., quantize=...)``: ``int8``, and
``int8-ffn-fp32`` which keeps every feed-forward output projection fp32); ONNX exports run by
onnxruntime (``ctxembed export --format onnx [--quantize ...]``): fp32, ``int8`` and
``int8-early-ffn-fp32`` (the first two layers' feed-forward outputs fp32). The bench tasks
(``--tasks``, the same code as ``ctxembed bench``) run for ``--bench-rows``; ONNX fp32 is not
among them by default because its vectors equal torch's within 1e-5 (tests/test_onnx.py).
The bench tasks read and fill ``ctxembed bench``'s cache (keyed by model, options, files and
version), so torch fp32's vectors come from an earlier ``ctxembed bench`` run if one made
them; a fresh export is a new key.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_of, wikitext_sentences, write_json

import ctxembed
from ctxembed.datasets import sts_pairs
from ctxembed.eval.bench import default_cache, run_bench
from ctxembed.eval.sts import evaluate
from ctxembed.models.onnx import export_onnx

TORCH = {"torch fp32": None, "torch int8": "int8", "torch int8-ffn-fp32": "int8-ffn-fp32"}
ONNX = {"onnx fp32": None, "onnx int8": "int8", "onnx int8-early-ffn-fp32": "int8-early-ffn-fp32"}
BENCH_ROWS = "torch fp32,onnx int8-early-ffn-fp32"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--texts", type=int, default=400)
    p.add_argument("--tasks", default="sts,wic,coarsewsd,classify", help="'' for none")
    p.add_argument("--bench-rows", default=BENCH_ROWS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    texts = wikitext_sentences(args.texts, "valid")
    pairs = sts_pairs("stsb-dev")
    sents = [s for p in pairs for s in p[:2]]
    results: dict = {"command": " ".join(["python", *sys.argv]), "rows": {}, "tasks": {}}
    tmp = tempfile.TemporaryDirectory(prefix="ctxembed-onnx-")
    where: dict[str, tuple[str, dict]] = {
        k: (args.model, {"quantize": q}) for k, q in TORCH.items()
    }
    for key, recipe in ONNX.items():
        out = Path(tmp.name) / key.replace(" ", "-")
        start = time.perf_counter()
        print(export_onnx(args.model, out, False, recipe), flush=True)
        results["rows"][key] = {"export_s": time.perf_counter() - start}
        where[key] = (str(out), {})
    ref = None
    for key, (name, options) in where.items():
        model = ctxembed.load(name, **{k: v for k, v in options.items() if v is not None})
        model.embed_words(texts[:32], progress=False)
        res = model.embed_words(texts, progress=False)
        n_words = sum(len(r) for r in res)
        secs = best_of(lambda m=model: m.embed_words(texts, progress=False), 3)
        row = results["rows"].setdefault(key, {})
        row["words_per_s"] = n_words / secs
        if ref is None:
            ref = res
        else:
            cos = np.concatenate(
                [
                    (a.vectors * b.vectors).sum(1)
                    / np.linalg.norm(a.vectors, axis=1)
                    / np.linalg.norm(b.vectors, axis=1)
                    for a, b in zip(ref, res, strict=True)
                ]
            )
            row |= {
                "cosine_mean": float(cos.mean()),
                "cosine_p1": float(np.percentile(cos, 1)),
                "cosine_min": float(cos.min()),
            }
        v = model.embed_sentences(sents, progress=False)
        secs = best_of(lambda m=model: m.embed_sentences(sents, progress=False), 3)
        row["sentences_per_s"] = len(sents) / secs
        row["stsb-dev"] = evaluate(v[0::2], v[1::2], [p[2] for p in pairs])["spearman"]
        print(key, {k: round(v, 4) for k, v in row.items()}, flush=True)
    base = results["rows"]["torch fp32"]
    for row in results["rows"].values():
        row["speedup"] = row["words_per_s"] / base["words_per_s"]
        row["stsb-dev_delta"] = row["stsb-dev"] - base["stsb-dev"]
    if args.tasks:
        for key in [k.strip() for k in args.bench_rows.split(",")]:
            name, options = where[key]
            options = {k: v for k, v in options.items() if v is not None}
            start = time.perf_counter()
            bench = run_bench(
                [name],
                args.tasks,
                cache_dir=default_cache(),  # torch fp32: ctxembed bench's vectors, if cached
                progress=False,
                log=lambda _: None,
                options=options,
            )
            scores = {
                f"{r.task}/{r.dataset}/{r.split}/{r.protocol}": next(iter(r.metrics.values()))
                for r in bench.results
                if r.model == bench.models[0]
            }
            results["tasks"][key] = scores
            print(key, f"{len(scores)} scores in {time.perf_counter() - start:.0f}s", flush=True)
        base_tasks = results["tasks"].get("torch fp32")
        for key, scores in results["tasks"].items():
            if base_tasks is None or key == "torch fp32":
                continue
            deltas = {t: s - base_tasks[t] for t, s in scores.items() if t in base_tasks}
            worst = min(deltas, key=deltas.get)
            results["rows"][key] |= {"worst_task": worst, "worst_task_delta": deltas[worst]}
            print(key, "worst", worst, round(deltas[worst], 2), flush=True)
        # the same scores by task, for docs/results.md's table (one row per task)
        results["by_task"] = {
            task: {key: scores.get(task) for key, scores in results["tasks"].items()}
            for task in (base_tasks or {})
        }
    if args.out:
        write_json(args.out, results)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
