"""Where the data ctxembed ships lives: the ``data`` folder inside the installed package.

In a checkout ``src/ctxembed/data`` is a link to the repository's ``data/`` folder (sources
and licenses in ``data/README.md``); a wheel holds a copy. Either way the evaluation sets and
training corpora are found from any working folder.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .io import read_lines

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_path(*parts: str) -> Path:
    """The shipped file or folder ``data/<parts...>``, e.g. ``data_path("wic", "dev.gold.txt")``."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise InputError(missing_message(path))
    return path


def missing_message(path: Path) -> str:
    """The message for a data file that is not there."""
    return (
        f"data not found: {path}. ctxembed ships its data inside the package "
        f"({DATA_DIR}; data/README.md lists the sets): reinstall it from a wheel or a "
        "checkout that has the data/ folder"
    )


# sentence-pair sets with a gold similarity: (file under data/, split)
STS_SETS = {
    "stsb-train": ("stsb/sts-train.csv.gz", "train"),
    "stsb-dev": ("stsb/sts-dev.csv.gz", "dev"),
    "sick-r": ("sick/SICK_test_annotated.txt.gz", "test"),
}


def sts_pairs(name: str) -> list[tuple[str, str, float]]:
    """``(sentence1, sentence2, gold score)`` per pair of an STS-B split or SICK-R.

    Used by the evaluation and, for STS-B train only, by USE's training; the STS-B test
    split is held out and not shipped."""
    if name not in STS_SETS:
        raise InputError(f"unknown sentence-similarity set {name!r}; known: {', '.join(STS_SETS)}")
    path = data_path(STS_SETS[name][0])
    out = []
    for n, line in read_lines(path):
        f = line.split("\t")
        try:
            if name.startswith("stsb"):
                out.append((f[5], f[6], float(f[4])))
            elif n > 1:  # SICK has a header
                out.append((f[1], f[2], float(f[3])))
        except (IndexError, ValueError):
            raise InputError(f"{path}, line {n}: cannot read a sentence pair and score") from None
    return out
