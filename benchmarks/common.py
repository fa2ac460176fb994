"""Shared helpers for the benchmark scripts: real sentences, a timer, results files."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parents[1] / "data"


def wikitext_sentences(n: int, split: str = "train") -> list[str]:
    """The first ``n`` sentences (3+ words) of WikiText-2, split at ' . '."""
    out: list[str] = []
    with gzip.open(DATA / "wikitext2" / f"wiki.{split}.tokens.gz", "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("="):
                continue
            for sent in line.split(" . "):
                if len(sent.split()) >= 3:
                    out.append(sent if sent.endswith(" .") else sent + " .")
                    if len(out) == n:
                        return out
    return out


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def write_json(path: Path, data: object) -> None:
    """A results file, written whole or not at all (temporary file, then rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
