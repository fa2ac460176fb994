"""CoarseWSD-20 (Loureiro et al. 2021): 20 ambiguous nouns, 2-5 coarse senses each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io import read_lines

DATA = Path(__file__).resolve().parents[3] / "data" / "coarsewsd20"
WORDS = [
    "apple",
    "arm",
    "bank",
    "bass",
    "bow",
    "chair",
    "club",
    "crane",
    "deck",
    "digit",
    "hood",
    "java",
    "mole",
    "pitcher",
    "pound",
    "seal",
    "spring",
    "square",
    "trunk",
    "yard",
]


@dataclass
class Example:
    tokens: list[str]
    index: int  # position of the target word in tokens
    label: int  # sense id, a key of ``senses(word)``


def senses(word: str, root: Path = DATA) -> dict[int, str]:
    """Sense id -> sense name, e.g. ``{0: 'bank_bank', 1: 'bank_bank_(geography)'}``."""
    path = _word_dir(word, root) / "classes_map.txt"
    return {int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def load(word: str, split: str, root: Path = DATA) -> list[Example]:
    """The ``train`` or ``test`` examples of one word."""
    if split not in ("train", "test"):
        raise InputError(f"split={split!r}: use 'train' or 'test'")
    folder = _word_dir(word, root)
    data = [line for _, line in read_lines(folder / f"{split}.data.txt.gz")]
    gold = [line for _, line in read_lines(folder / f"{split}.gold.txt")]
    if len(data) != len(gold):
        raise InputError(f"{folder}: {len(data)} {split} sentences but {len(gold)} gold labels")
    out = []
    for n, (row, label) in enumerate(zip(data, gold, strict=True), 1):
        idx, _, sentence = row.partition("\t")
        tokens = sentence.split(" ")
        if not idx.isdigit() or int(idx) >= len(tokens):
            raise InputError(f"{folder}/{split}.data.txt.gz, line {n}: bad target index {idx!r}")
        out.append(Example(tokens, int(idx), int(label)))
    return out


def _word_dir(word: str, root: Path) -> Path:
    folder = root / word
    if not folder.is_dir():
        raise InputError(
            f"no CoarseWSD-20 data for {word!r} under {root}; words: {', '.join(WORDS)}"
        )
    return folder
