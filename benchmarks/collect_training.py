"""Collect the training figures docs/results.md quotes into one JSON file.

Each log is the output of one ``ctxembed train ...`` run under ``/usr/bin/time -v``, e.g.

    OMP_NUM_THREADS=1 /usr/bin/time -v ctxembed train elmo ... > runs/logs/elmo-small.log 2>&1
    python benchmarks/collect_training.py runs/logs/*.log --out docs/results/training.json

From the trainer's summary line it takes steps, tokens, seconds, tokens/s and the validation
figures; from ``time -v`` the wall time and peak resident memory. Figures are rounded as the
docs print them, so that a test can find every number of docs/results.md in a JSON file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

SUMMARY = re.compile(
    r"^(?P<what>.+?): (?P<steps>[\d,]+) steps, (?P<tokens>[\d,]+) tokens in (?P<secs>\d+)s "
    r"\((?P<rate>[\d,]+) tokens/s\), peak memory (?P<mib>[\d,]+) MiB(?P<valid>.*) -> (?P<out>\S+)$"
)
WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
BLEU = re.compile(r"^BLEU \S+ \((greedy|beam \d+), [^)]*\): ([\d.]+)", re.M)
RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def number(s: str) -> int:
    return int(s.replace(",", ""))


def parse(log: Path) -> dict:
    # progress bars redraw with \r: the summary is the last line of its own
    lines = [
        part for line in log.read_text(errors="replace").splitlines() for part in line.split("\r")
    ]
    found = [m for m in map(SUMMARY.match, lines) if m]
    if not found:
        raise SystemExit(f"{log}: no training summary line (did the run finish?)")
    m = found[-1]
    rec: dict = {
        "log": log.name,
        "model": m["what"],
        "out": m["out"],
        "steps": number(m["steps"]),
        "tokens": number(m["tokens"]),
        "seconds": number(m["secs"]),
        "minutes": round(number(m["secs"]) / 60, 1),
        "tokens_per_s": number(m["rate"]),
        "peak_mib": number(m["mib"]),
        "peak_gb": round(number(m["mib"]) / 1024, 1),
    }
    for key, value in re.findall(r", valid (\S+) ([-\d.]+)", m["valid"]):
        rec[f"valid_{key}"] = float(value)
    text = "\n".join(lines)
    if w := WALL.search(text):
        wall = int(w[1] or 0) * 3600 + int(w[2]) * 60 + float(w[3])
        rec["wall_minutes"] = round(wall / 60, 1)
    if r := RSS.search(text):
        rec["max_rss_gb"] = round(int(r[1]) / 1024**2, 1)
    for how, value in BLEU.findall(text):  # CoVe's test BLEU after training
        rec["test_bleu_" + ("greedy" if how == "greedy" else how.replace(" ", ""))] = float(value)
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    records = {r["out"]: r for r in map(parse, args.logs)}
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {**old, **records}  # runs logged on another day keep their record
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    tmp.replace(args.out)
    for r in records.values():
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
