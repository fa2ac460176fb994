"""Training corpora: one sentence (or paragraph) per line, words separated by whitespace."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError
from ..io import read_lines


class Corpus:
    """A restartable iterable of token lists, from a text file (plain or .gz) or from lists.

    Empty lines are skipped. Reading a file is lazy, so a corpus larger than memory
    streams; bad UTF-8 fails with the line number.
    """

    def __init__(
        self,
        source: str | os.PathLike | Iterable[list[str]],
        lowercase: bool = False,
        max_lines: int | None = None,
        what: str = "corpus",
    ):
        self.lowercase = lowercase
        self.max_lines = max_lines
        if isinstance(source, str | os.PathLike):
            self.path: Path | None = Path(source)
            self._lists: list[list[str]] | None = None
            if not self.path.exists():
                raise InputError(f"no such {what} file: {self.path}")
            if self.path.is_dir():
                raise InputError(f"{what} {self.path} is a folder, expected a text file")
            if not self.path.is_file():  # a pipe is gone after one read
                raise InputError(
                    f"{what} {self.path} is not a regular file (a pipe?): training reads it "
                    "once per epoch, so save it to a file first"
                )
            if not any(True for _ in self):
                raise InputError(f"{what} {self.path} is empty (no words)")
        else:
            self.path = None
            self._lists = [list(s) for s in source]
            if not any(self._lists):
                raise InputError(f"the {what} is empty (no words)")

    def __iter__(self) -> Iterator[list[str]]:
        n = 0
        if self._lists is not None:
            lines: Iterable[list[str]] = self._lists
        else:
            lines = (line.split() for _, line in read_lines(self.path))  # type: ignore[arg-type]
        for words in lines:
            if not words:
                continue
            if self.max_lines is not None and n >= self.max_lines:
                return
            n += 1
            yield [w.lower() for w in words] if self.lowercase else words

    def __repr__(self) -> str:
        return f"Corpus({self.path or f'{len(self._lists or [])} lists'})"


def as_corpus(source: Corpus | str | os.PathLike | Iterable[list[str]]) -> Corpus:
    """Accept a Corpus, a file path or an iterable of token lists."""
    return source if isinstance(source, Corpus) else Corpus(source)
