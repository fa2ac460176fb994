"""The experiment Cross-View Training is about: supervised-only against CVT on the same tagger
and the same number of labelled steps, with 10% and 100% of the labels, on UD English-EWT
UPOS (accuracy) and WNUT-17 (entity F1); unlabelled text from WikiText-2 train.
UPOS at 10% runs with three seeds (mean and spread), the rest with one.

    python benchmarks/cvt.py --jobs 2 --out docs/results/cvt.json

Each run is one ``ctxembed train cvt`` command (its folder under ``runs/cvt``, kept: a
finished folder is not trained again); the table is collected from the training record in
each folder's ``ctxembed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "cvt"
UNLABELLED = ROOT / "data" / "wikitext2" / "wiki.train.tokens.gz"


def grid(seeds: list[int]) -> list[dict]:
    out = []
    for task in ("upos", "wnut17"):
        for frac in (0.1, 1.0):
            for seed in seeds if (task, frac) == ("upos", 0.1) else seeds[:1]:
                for method in ("cvt", "supervised"):
                    out.append({"task": task, "fraction": frac, "seed": seed, "method": method})
    return out


def folder(run: dict) -> Path:
    pct = round(100 * run["fraction"])
    return RUNS / f"{run['task']}-{pct}-{run['method']}-s{run['seed']}"


def train(run: dict, steps: int, threads: int) -> None:
    out = folder(run)
    if (out / "ctxembed.json").exists():
        return
    cmd = [sys.executable, "-m", "ctxembed", "train", "cvt", "--task", run["task"]]
    cmd += ["--labeled-fraction", str(run["fraction"]), "--seed", str(run["seed"])]
    cmd += ["--steps", str(steps), "--out", str(out), "--quiet", "--overwrite"]
    if run["method"] == "cvt":
        cmd += ["--unlabeled", str(UNLABELLED)]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with (RUNS / f"{out.name}.log").open("w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)


def collect(runs: list[dict]) -> dict:
    rows = {}
    for run in runs:
        if not (folder(run) / "ctxembed.json").exists():
            continue  # not run (--collect): its row stays blank
        rec = json.loads((folder(run) / "ctxembed.json").read_text())["training"]
        key = f"{run['task']} {round(100 * run['fraction'])}%"
        metric = "f1" if run["task"] == "wnut17" else "accuracy"
        r = rows.setdefault(key, {"metric": metric, "n_train": rec["n_train"]})
        m = r.setdefault(run["method"], {"dev": [], "test": [], "minutes": []})
        m["dev"].append(round(rec["scores"]["dev"][metric], 2))
        m["test"].append(round(rec["scores"]["test"][metric], 2))
        m["minutes"].append(round(rec["seconds"] / 60, 1))
        if run["seed"] == 0:  # dev after every eval_every labelled steps (the EMA weights)
            m["curve"] = [round(v[metric], 2) for v in rec["dev_curve"]]
    for key in [k for k, r in rows.items() if not {"cvt", "supervised"} <= set(r)]:
        del rows[key]  # a pair is compared only when both ran
    for r in rows.values():
        for method in ("cvt", "supervised"):
            m = r[method]
            for split in ("dev", "test"):
                v = m[split]
                m[f"{split}_mean"] = round(statistics.mean(v), 2)
                m[f"{split}_std"] = round(statistics.stdev(v), 2) if len(v) > 1 else None
        r["gain_test"] = round(r["cvt"]["test_mean"] - r["supervised"]["test_mean"], 2)
        r["gain_dev"] = round(r["cvt"]["dev_mean"] - r["supervised"]["dev_mean"], 2)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="labelled minibatches per run")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "cvt.json")
    p.add_argument("--collect", action="store_true", help="train nothing: table the runs made")
    args = p.parse_args()
    RUNS.mkdir(parents=True, exist_ok=True)
    runs = grid(args.seeds)
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    if not args.collect:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda r: train(r, args.steps, threads), runs))
    table = {"steps": args.steps, "unlabelled": "WikiText-2 train", "rows": collect(runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
