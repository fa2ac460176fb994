"""Distilled encoders against their teacher: quality (STS-B dev, SICK-R, SentEval-style
classification) and sentences per second, in one run; the peer is the ``model2vec`` package
distilling the same teacher folder in its own venv.

    python benchmarks/distill.py [--out docs/results/distill.json]

The peer's venv, made once: ``python3 -m venv /work/peers/model2vec &&
/work/peers/model2vec/bin/pip install "model2vec[distill,quantization]" torch==2.13.0``
(model2vec 0.10 needs scikit-learn, its quantization extra, to import its distiller).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_of, write_json

import ctxembed
from ctxembed.assets import ASSETS
from ctxembed.cli import main as cli
from ctxembed.datasets import data_path, sts_pairs
from ctxembed.eval.bench import default_cache, run_bench
from ctxembed.eval.sts import evaluate
from ctxembed.io import read_lines
from ctxembed.models.distilled import distill

ROOT = Path(__file__).resolve().parents[1]
PEER = Path("/work/peers/model2vec/bin/python")
PEER_SCRIPT = """
import json, sys, time
import numpy as np
from model2vec.distill import distill
folder, out, texts_file, speed_file = sys.argv[1:5]
t0 = time.perf_counter()
m = distill(model_name=folder, pca_dims=256, device="cpu")
seconds = time.perf_counter() - t0
np.save(out, np.asarray(m.encode(json.load(open(texts_file))), dtype=np.float32))
texts = json.load(open(speed_file))
m.encode(texts[:64])
best = None
for _ in range(3):
    t0 = time.perf_counter(); m.encode(texts); dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
import model2vec
print(json.dumps({"distill_seconds": seconds, "sentences_per_s": len(texts) / best,
                  "version": model2vec.__version__}))
"""


def sts_scores(vectors: dict[str, np.ndarray], sets: dict[str, list]) -> dict[str, float]:
    out = {}
    for name, pairs in sets.items():
        v = vectors[name]
        out[name] = evaluate(v[0::2], v[1::2], [p[2] for p in pairs])["spearman"]
    return out


def run_peer(root: Path, sets: dict[str, list], speed_texts: list[str]) -> dict | None:
    """The model2vec package distilling the teacher folder: its STS scores, and its speed
    timed as ours (encode of the STS-B dev sentences, best of three). A failure is printed
    and the peer left out, so that the run's own rows are still written."""
    folder = root / "model" if (root / "model" / "config.json").exists() else root
    with tempfile.TemporaryDirectory() as tmp:
        texts = [s for name in sets for p in sets[name] for s in p[:2]]
        (Path(tmp) / "texts.json").write_text(json.dumps(texts))
        (Path(tmp) / "speed.json").write_text(json.dumps(speed_texts))
        (Path(tmp) / "peer.py").write_text(PEER_SCRIPT)
        done = subprocess.run(
            [str(PEER), str(Path(tmp) / "peer.py"), str(folder), str(Path(tmp) / "v.npy"),
             str(Path(tmp) / "texts.json"), str(Path(tmp) / "speed.json")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            print(f"the model2vec peer failed, left out:\n{done.stderr[-3000:]}", flush=True)
            return None
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        vecs = np.load(Path(tmp) / "v.npy")
    at, split = 0, {}
    for name, pairs in sets.items():
        split[name] = vecs[at : at + 2 * len(pairs)]
        at += 2 * len(pairs)
    row = {**sts_scores(split, sets), **peer}
    print("model2vec", row, flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="minilm-l6")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--student", type=Path, default=ROOT / "runs" / "distilled-minilm-l6")
    p.add_argument("--dan", type=Path, default=ROOT / "runs" / "dan-minilm-l6")
    p.add_argument("--dan-epochs", type=int, default=3)
    p.add_argument(
        "--dan-lines",
        type=int,
        default=3000,
        help="WikiText-2 train paragraphs the DAN learns from (with the STS-B and SICK train "
        "sentences); the teacher embeds each of their sentences once",
    )
    p.add_argument("--tasks", default="sts,classify")
    p.add_argument(
        "--extra",
        nargs="*",
        type=Path,
        default=[ROOT / "runs" / "wikitext2-elmo", ROOT / "runs" / "wikitext2-use-dan"],
        help="more encoders for the frontier (STS and speed only); missing folders are skipped",
    )
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    results: dict = {"command": " ".join(["python", *sys.argv]), "models": {}}

    teacher = ctxembed.load(args.teacher)
    lines = [line for _, line in read_lines(data_path("wikitext2", "wiki.train.tokens.gz"))]
    t0 = time.perf_counter()
    student = distill(teacher, args.dim, [x for x in lines if x.strip()], teacher_name=args.teacher)
    results["distill_seconds"] = time.perf_counter() - t0
    student.save(args.student, overwrite=True)
    print(f"distilled in {results['distill_seconds']:.0f} s -> {args.student}", flush=True)

    # the second student: a USE-style DAN trained on the teacher's sentence vectors alone
    t0 = time.perf_counter()
    paragraphs = [x for x in lines if x.strip() and not x.strip().startswith("=")]
    scratch = tempfile.TemporaryDirectory()  # removed when the run ends
    dan_corpus = Path(scratch.name) / "wikitext2-train-part.txt"
    dan_corpus.write_text("\n".join(paragraphs[: args.dan_lines]) + "\n", encoding="utf-8")
    dan = [
        "train", "use", "--variant", "dan", "--teacher", args.teacher,
        "--without", "neighbour", "nli", "sts", "--epochs", str(args.dan_epochs),
        "--corpus", str(dan_corpus),
        "--out", str(args.dan), "--overwrite", "--quiet",
    ]  # fmt: skip
    if cli(dan) != 0:
        raise SystemExit("training the DAN student failed")
    results["dan_seconds"] = time.perf_counter() - t0
    print(f"DAN student in {results['dan_seconds']:.0f} s -> {args.dan}", flush=True)

    models = {
        args.teacher: args.teacher,
        "distilled": str(args.student),
        "dan student": str(args.dan),
        "glove-6b-50d": "glove-6b-50d",
    }
    extra = {p.name: str(p) for p in args.extra if p.is_dir()}
    # ctxembed bench's cache (keyed by model, files and version): the teacher's and GloVe's
    # vectors from an earlier run are read back, the new students are embedded
    bench = run_bench(list(models.values()), args.tasks, cache_dir=default_cache(), progress=False)
    if extra:
        more = run_bench(list(extra.values()), "sts", cache_dir=default_cache(), progress=False)
        bench.results += more.results
        bench.models += more.models
        models |= extra
    names = dict(zip(models.values(), bench.models, strict=True))
    sets = {name: sts_pairs(name) for name in ("stsb-dev", "sick-r")}
    speed_texts = [s for p in sets["stsb-dev"] for s in p[:2]]
    for label, ref in models.items():
        row: dict = {}
        for r in bench.results:
            if r.model != names[ref]:
                continue
            if r.task == "sts" and r.dataset in sets:
                row[r.dataset] = r.metrics["spearman"]
            if r.task == "classify":
                row[f"classify_{r.dataset}"] = r.metrics["accuracy"]
        accs = [v for k, v in row.items() if k.startswith("classify_")]
        if accs:
            row["classify_mean"] = float(np.mean(accs))
        model = ctxembed.load(ref)
        model.embed_sentences(speed_texts[:64])
        secs = best_of(lambda m=model: m.embed_sentences(speed_texts), 3)
        row["sentences_per_s"] = len(speed_texts) / secs
        results["models"][label] = row
        print(label, {k: round(v, 2) for k, v in row.items()}, flush=True)

    if PEER.exists():
        peer = run_peer(ASSETS[args.teacher].path(), sets, speed_texts)
        if peer is not None:
            results["models"]["model2vec (peer)"] = peer
    else:
        print(f"no model2vec venv at {PEER}: the peer is left out", flush=True)

    rows = results["models"]
    t = rows[args.teacher]
    for row in rows.values():
        row["speed_vs_teacher"] = row["sentences_per_s"] / t["sentences_per_s"]
        if "classify_mean" in row and "classify_mean" in t:
            row["classify_vs_teacher"] = row["classify_mean"] - t["classify_mean"]
    if args.out:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
