"""Data-parallel training on this machine: the same ``ctxembed train`` command in one process
and under ``torchrun --nproc-per-node 2``, tokens trained per second.

    python benchmarks/ddp.py [--steps 30] [--out docs/results/ddp.json]

One process uses torch's threads on both cores; two processes get one thread each (torchrun
sets OMP_NUM_THREADS=1) and each takes one batch per step, so a step of two processes
covers twice the tokens. The first ``--steps`` steps of each run are timed by the
command's own summary (tokens / training seconds). On 2 cores the point is not speed but
that the same command scales where there are more cores or machines.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from common import write_json

from ctxembed.datasets import data_path

FAMILIES = {  # family -> options for a short run on WikiText-2 train
    "bert": ["--batch-size", "16", "--max-len", "64"],
    "use": ["--variant", "dan", "--without", "nli", "sts"],
}


def run(cmd: list[str]) -> float:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    m = re.search(r"\(([\d,]+) tokens/s\)", done.stdout)
    if m is None:
        raise SystemExit(f"no tokens/s in: {done.stdout}")
    return float(m[1].replace(",", ""))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    corpus = str(data_path("wikitext2", "wiki.train.tokens.gz"))
    results: dict = {"command": " ".join(["python", *sys.argv]), "rows": {}}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    with tempfile.TemporaryDirectory() as tmp:
        for family, extra in FAMILIES.items():
            base = ["-m", "ctxembed.cli", "train", family, "--corpus", corpus, *extra]
            base += ["--max-steps", str(args.steps), "--quiet", "--overwrite"]
            one = run([sys.executable, *base, "--out", f"{tmp}/{family}-1"])
            two = run([*torchrun, "--nproc-per-node", "2", *base, "--out", f"{tmp}/{family}-2"])
            results["rows"][family] = {
                "one_process_tokens_per_s": one,
                "two_processes_tokens_per_s": two,
                "speedup": two / one,
            }
            print(family, results["rows"][family], flush=True)
    if args.out:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
