"""Render the tables of docs/results.md from the results.json files the bench wrote.

Every table in docs/results.md sits between ``<!-- table NAME -->`` and ``<!-- /table -->``
and is produced here from one results file (a ``ctxembed bench`` output or
docs/results/training.json), so no table can drift from the run that made it:

    python benchmarks/results_tables.py            # rewrite the tables in docs/results.md
    python benchmarks/results_tables.py --check    # exit 1 if a table differs (tests/test_docs.py)

A table is a list of rows (a label and the model name the bench reported) and columns (a
header and a selector of one record and one metric). Blank cells mean "not run / not
applicable". The best value of each column is bold when the spec asks for it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
RESULTS = ROOT / "docs" / "results"


@dataclass(frozen=True)
class Col:
    header: str
    task: str
    dataset: str | None = None
    metric: str = ""
    protocol: str | None = None  # substring of the record's protocol
    layer: str | None = None  # the record's details["layer"], where a task reports several
    digits: int = 1


@dataclass(frozen=True)
class Table:
    source: str  # results.json, relative to docs/results
    rows: list[tuple[str, str]]  # (label shown, model name in the results)
    cols: list[Col]
    bold: bool = True
    first: str = "model"
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> header -> text


def records(source: str) -> list[dict[str, Any]]:
    data = json.loads((RESULTS / source).read_text())
    return data["results"] if isinstance(data, dict) and "results" in data else data


def metric(rec: dict[str, Any], path: str) -> float | None:
    """``"accuracy"`` reads ``rec["metrics"]["accuracy"]``; a dotted path such as
    ``"details.per_layer.1.macro_f1"`` walks the record from its top."""
    node: Any = rec if "." in path else rec.get("metrics", {})
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def value(recs: list[dict[str, Any]], model: str, col: Col) -> float | None:
    found = [
        v
        for r in recs
        if r.get("model") == model
        and r.get("task") == col.task
        and (col.dataset is None or r.get("dataset") == col.dataset)
        and (col.protocol is None or col.protocol in r.get("protocol", ""))
        and (col.layer is None or str(r.get("details", {}).get("layer")) == col.layer)
        and (v := metric(r, col.metric)) is not None
    ]
    if len(found) > 1:
        raise SystemExit(f"{model} / {col}: {len(found)} records match; narrow the selector")
    return found[0] if found else None


def training_value(recs: dict[str, Any], out: str, key: str) -> float | None:
    rec = recs.get(out)
    return None if rec is None or key not in rec else float(rec[key])


def render(table: Table) -> str:
    if table.source == "training.json":
        train = json.loads((RESULTS / table.source).read_text())
        cells = [[training_value(train, m, c.metric) for c in table.cols] for _, m in table.rows]
    else:
        recs = records(table.source)
        cells = [[value(recs, m, c) for c in table.cols] for _, m in table.rows]
    best = [
        max((row[j] for row in cells if row[j] is not None), default=None)
        for j in range(len(table.cols))
    ]
    lines = [
        "| " + " | ".join([table.first] + [c.header for c in table.cols]) + " |",
        "| --- |" + " ---: |" * len(table.cols),
    ]
    for (label, _), row in zip(table.rows, cells, strict=True):
        shown = []
        for j, (c, v) in enumerate(zip(table.cols, row, strict=True)):
            text = table.extra.get(label, {}).get(c.header, "")
            if v is not None:
                text = f"{v:,.{c.digits}f}"
                if table.bold and v == best[j] and sum(r[j] is not None for r in cells) > 1:
                    text = f"**{text}**"
            shown.append(text)
        lines.append("| " + " | ".join([label, *shown]) + " |")
    return "\n".join(lines)


# -- the tables of docs/results.md ------------------------------------------------------------
TABLES: dict[str, Table] = {}


BLOCK = re.compile(r"(<!-- table (\S+) -->\n)(.*?)(\n<!-- /table -->)", re.S)


def rewrite(text: str, tables: dict[str, Table]) -> str:
    seen = set()

    def one(m: re.Match) -> str:
        name = m[2]
        if name not in tables:
            raise SystemExit(f"docs/results.md names table {name!r}, which no spec defines")
        seen.add(name)
        return m[1] + render(tables[name]) + m[4]

    out = BLOCK.sub(one, text)
    if missing := set(tables) - seen:
        raise SystemExit(f"specs without a place in docs/results.md: {sorted(missing)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    text = DOC.read_text(encoding="utf-8")
    new = rewrite(text, TABLES)
    if args.check:
        if new != text:
            print("docs/results.md: tables differ from the results files; run this script")
            return 1
        return 0
    if new != text:
        tmp = DOC.with_suffix(".tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
