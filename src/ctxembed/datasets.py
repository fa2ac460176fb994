"""Where the data ctxembed ships lives: the ``data`` folder inside the installed package.

In a checkout ``src/ctxembed/data`` is a link to the repository's ``data/`` folder (sources
and licenses in ``data/README.md``); a wheel holds a copy. Either way the evaluation sets and
training corpora are found from any working folder.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

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
