"""The fine-tuning table's runs: `ctxembed finetune` for each task and mode with the recipes
below (fixed before any run, not searched: see docs/results.md), several at a time, and each
run's head.json (settings, per-epoch dev scores, final dev/test scores, time, memory) copied
to --collect as NAME-TASK-MODE.json, which benchmarks/results_tables.py renders.

    python benchmarks/finetune_runs.py --model minilm-l6 --name minilm-l6 \
        --tasks sst2,stsb,wic,upos,wnut17,squad --modes frozen,full --jobs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (task, mode) -> options; every full run: AdamW, lr 5e-5 for the encoder, 1e-3 for the head,
# 10% warm-up then linear decay, the top layer; every frozen run: the head alone at 1e-3 on
# a learned mix of all layers (a 256-wide biLSTM for tag and span)
RECIPES = {
    ("sst2", "full"): "--epochs 3 --batch-size 32",
    ("stsb", "full"): "--epochs 4 --batch-size 16",
    ("wic", "full"): "--epochs 4 --batch-size 16",
    ("upos", "full"): "--epochs 3 --batch-size 32",
    ("wnut17", "full"): "--epochs 5 --batch-size 16",
    ("squad", "full"): "--epochs 3 --batch-size 16",
    ("sst2", "frozen"): "--epochs 3 --batch-size 32",
    ("stsb", "frozen"): "--epochs 10 --batch-size 32",
    ("wic", "frozen"): "--epochs 10 --batch-size 32",
    ("upos", "frozen"): "--epochs 5 --batch-size 32",
    ("wnut17", "frozen"): "--epochs 10 --batch-size 32",
    ("squad", "frozen"): "--epochs 5 --batch-size 32",
}
FULL_LR = "--lr 5e-5 --head-lr 1e-3"


def command(args: argparse.Namespace, task: str, mode: str, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "ctxembed", "finetune", task, "--model", args.model]
    cmd += ["--mode", mode, "--out", str(out), "--overwrite", "--quiet", "--seed", str(args.seed)]
    cmd += RECIPES[(task, mode)].split() + (FULL_LR.split() if mode == "full" else [])
    if args.device:
        cmd += ["--device", args.device]
    if args.max_minutes:
        cmd += ["--max-minutes", str(args.max_minutes)]
    return cmd + args.extra.split()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--name", required=True, help="the row name in the table")
    p.add_argument("--tasks", default="sst2,stsb,wic,upos,wnut17,squad")
    p.add_argument("--modes", default="frozen,full")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--extra", default="", help="more finetune options for every run")
    p.add_argument("--runs", default=str(ROOT / "runs" / "finetune"))
    p.add_argument("--collect", default=str(ROOT / "docs" / "results" / "finetune"))
    args = p.parse_args()
    jobs = [(t, m) for m in args.modes.split(",") for t in args.tasks.split(",")]
    unknown = [j for j in jobs if j not in RECIPES]
    if unknown:
        p.error(f"no recipe for {unknown}")
    collect = Path(args.collect)
    collect.mkdir(parents=True, exist_ok=True)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}

    def one(job: tuple[str, str]) -> str:
        task, mode = job
        tag = f"{args.name}-{task}-{mode}" + (f"-seed{args.seed}" if args.seed else "")
        out = runs / tag
        cmd = command(args, task, mode, out)
        start = time.perf_counter()
        with open(runs / f"{tag}.log", "w") as log:
            log.write(" ".join(cmd) + "\n")
            log.flush()
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        if rc == 0:
            shutil.copyfile(out / "head.json", collect / f"{tag}.json")
        return f"{tag}: exit {rc} in {(time.perf_counter() - start) / 60:.1f} min"

    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(one, jobs):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
