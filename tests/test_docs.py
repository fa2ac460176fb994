"""docs/results.md shows only numbers that a committed run wrote down.

Tables are rendered from the results files by benchmarks/results_tables.py (a table edited by
hand, or a results file re-run without re-rendering, fails here). Every figure in the prose
(a number with a decimal point or a thousands separator, outside code) must be a number the
doc's tables show, a training record (docs/results/training.json), a published figure with
its source (docs/results/published.json), or the difference of two numbers quoted in the
same paragraph.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from itertools import permutations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
FIGURE = re.compile(
    r"(?<![\w.])[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])[+-]?\d+\.\d+(?![\w.]\d)"
)


def tables_module():
    spec = importlib.util.spec_from_file_location(
        "results_tables", ROOT / "benchmarks" / "results_tables.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["results_tables"] = mod  # dataclasses look their module up while defined
    spec.loader.exec_module(mod)
    return mod


def figures(text: str) -> list[str]:
    return [m.strip("+-") for m in FIGURE.findall(text)]


def as_number(s: str) -> float:
    return float(s.replace(",", ""))


def decimals(s: str) -> int:
    return len(s.split(".")[1]) if "." in s else 0


def json_numbers(path: Path) -> list[float]:
    out: list[float] = []

    def walk(x) -> None:
        if isinstance(x, bool):
            return
        if isinstance(x, int | float):
            out.append(float(x))
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(path.read_text()))
    return out


def prose_paragraphs(text: str) -> tuple[list[str], list[str]]:
    """(paragraphs of prose, table lines), with code blocks, inline code and links removed."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(
        r"<!-- table \S+ -->\n(.*?)<!-- /table -->",
        lambda m: "\0" + m[1] + "\0",
        text,
        flags=re.S,
    )
    tables = re.findall(r"\0(.*?)\0", text, flags=re.S)
    prose = re.sub(r"\0.*?\0", "", text, flags=re.S)
    prose = re.sub(r"`[^`]*`", "", prose)
    prose = re.sub(r"\]\([^)]*\)", "]", prose)
    return [p for p in prose.split("\n\n") if p.strip()], tables


def test_tables_are_rendered_from_the_results_files():
    mod = tables_module()
    text = DOC.read_text(encoding="utf-8")
    assert mod.rewrite(text, mod.TABLES) == text, "run python benchmarks/results_tables.py"


def unsourced(text: str, records: list[Path]) -> list[tuple[str, str]]:
    """Figures of the prose of ``text`` that no table, record file or difference backs."""
    paragraphs, tables = prose_paragraphs(text)
    known = [as_number(f) for t in tables for f in figures(t)]
    for path in records:
        if path.exists():
            known += json_numbers(path)

    def found(fig: str, pool: list[float]) -> bool:
        x, d = as_number(fig), decimals(fig)
        return any(round(k, d) == x for k in pool)

    missing = []
    for para in paragraphs:
        figs = figures(para)
        quoted = [as_number(f) for f in figs if found(f, known)]
        diffs = [abs(a - b) for a, b in permutations(quoted, 2)]
        missing += [(f, para.strip()[:80]) for f in figs if not found(f, known + diffs)]
    return missing


def test_every_figure_in_the_prose_comes_from_a_results_file():
    records = [ROOT / "docs" / "results" / name for name in ("training.json", "published.json")]
    missing = unsourced(DOC.read_text(encoding="utf-8"), records)
    assert not missing, f"figures with no source: {missing}"


def test_the_check_catches_a_figure_with_no_source(tmp_path):
    record = tmp_path / "r.json"
    record.write_text('{"a": 12.34, "b": [45.6, 1234]}')
    table = "<!-- table t -->\n| x | 77.7 |\n<!-- /table -->"
    doc = f"{table}\n\nText 12.3 and 45.6 (a gap of 33.3), 1,234 steps, 77.7.\n\n`7.7` is code"
    assert unsourced(doc, [record]) == []
    assert unsourced(doc.replace("45.6 (", "45.7 ("), [record]) == [
        ("45.7", "Text 12.3 and 45.7 (a gap of 33.3), 1,234 steps, 77.7."),
        ("33.3", "Text 12.3 and 45.7 (a gap of 33.3), 1,234 steps, 77.7."),
    ]
    assert unsourced("Only 2.5 here.", [record]) == [("2.5", "Only 2.5 here.")]
