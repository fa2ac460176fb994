"""Peak memory of ``ctxembed embed`` grows with the chunk, not with the input file.

Embeds N lines of Multi30k's English training captions (13 words on average, repeated to
fill N) with glove-6b-50d into an .npz, each run in its own process, and prints its peak
resident memory (from ``wait4``), wall time, output size, and the size of all vectors
together (which the output once had to hold in memory twice over). A 1-line input gives the
cost of the model alone.

    OMP_NUM_THREADS=1 python benchmarks/embed_memory.py            # 1, 20k and 200k lines
    python benchmarks/embed_memory.py --model minilm-l6 runs/minilm-l6-onnx-int8 \
        --lines 1 5000 20000 --out docs/results/embed-memory.json

(the second folder from ``ctxembed export --model minilm-l6 --format onnx --quantize
int8-early-ffn-fp32 runs/minilm-l6-onnx-int8``).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data"


def captions() -> list[str]:
    with gzip.open(DATA / "multi30k" / "train.en.gz", "rt", encoding="utf-8") as f:
        return [s for line in f if (s := line.strip())]


def run(src: Path, out: Path, model: str) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one ``ctxembed embed`` process."""
    cmd = [sys.executable, "-m", "ctxembed.cli", "embed", "--model", model, "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen([*cmd, str(src), str(out)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {proc.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # KiB on Linux


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, nargs="+", default=[1, 20_000, 200_000])
    p.add_argument("--model", nargs="+", default=["glove-6b-50d"])
    p.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args()
    source = captions()
    results: dict = {"command": " ".join(["python", *sys.argv]), "rows": {}}
    print("| model | lines | words | peak RSS (MiB) | seconds | .npz (MB) | all vectors (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.model:
            for n in args.lines:
                src, out = Path(tmp) / f"in{n}.txt", Path(tmp) / f"out{n}.npz"
                lines = list(itertools.islice(itertools.cycle(source), n))
                src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
                rss, secs = run(src, out, model)
                with np.load(out, allow_pickle=False) as z:
                    words, dim = z["vectors"].shape
                size, vecs = out.stat().st_size / 1e6, words * dim * 4 / 1e6
                print(
                    f"| {model} | {n:,} | {words:,} | {rss:,.0f} | {secs:.1f} | {size:,.1f} "
                    f"| {vecs:,.1f} |",
                    flush=True,
                )
                results["rows"][f"{Path(model).name}/{n}"] = {
                    "words": words,
                    "peak_rss_mib": rss,
                    "seconds": secs,
                    "npz_mb": size,
                    "vectors_mb": vecs,
                }
                out.unlink()
    if args.out:
        from common import write_json

        write_json(args.out, results)


if __name__ == "__main__":
    main()
