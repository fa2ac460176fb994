"""Text files of texts: one per line, or JSON Lines; plain or gzip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..io import read_lines
from .words import Doc, prepare


class TextFile:
    """The texts of a file: one per line, or JSONL with ``{"text": ...}`` or ``{"words": [...]}``.

    Iterating yields ``(line number, text)``. Blank lines are skipped and counted in
    ``blank`` (a trailing one is normal); with ``keep_blank`` they are texts like any other,
    and ``count`` then fails on them.
    """

    def __init__(self, path: Path, keep_blank: bool = False):
        self.path = self.name = path  # ``name`` in messages: a spooled pipe keeps its own
        self.keep_blank = keep_blank
        self.blank = 0

    def __iter__(self) -> Iterator[tuple[int, str | list[str]]]:
        as_json = self.name.suffix == ".jsonl" or self.name.name.endswith(".jsonl.gz")
        self.blank = 0
        for n, line in read_lines(self.path, name=self.name):
            if not line.strip() and not self.keep_blank:
                self.blank += 1
                continue
            yield n, self._parse(n, line) if as_json else line

    def checked(self) -> Iterator[tuple[int, str | list[str], Doc]]:
        """``(line number, text, its words)``: every text checked, so that an error names
        its file and line."""
        for n, text in self:
            try:
                (doc,) = prepare([text])
            except InputError as e:
                raise InputError(
                    f"{self.name}, line {n}: {str(e).replace('text 0', 'the text', 1)}; "
                    "mend or remove that line"
                ) from None
            yield n, text, doc

    def count(self) -> tuple[int, int]:
        """``(texts, words)``, checking every text."""
        n_texts = n_words = 0
        for _, _, doc in self.checked():
            n_texts += 1
            n_words += len(doc.words)
        return n_texts, n_words

    def _parse(self, n: int, line: str) -> str | list[str]:
        if not line.strip():  # only with --keep-blank
            raise InputError(f"{self.name}, line {n}: a blank line (drop --keep-blank to skip it)")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{self.name}, line {n}: not valid JSON ({e.msg})") from None
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return obj["text"]
        if isinstance(obj, dict) and isinstance(obj.get("words"), list):
            return obj["words"]
        raise InputError(f'{self.name}, line {n}: expected {{"text": "..."}} or {{"words": [...]}}')
