"""Training corpora: one sentence (or paragraph) per line, words separated by whitespace."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


SENTENCE_END = {".", "!", "?"}


def sentences(lines: Iterable[list[str]], max_len: int) -> Iterator[list[str]]:
    """Lines split after sentence-final punctuation, then into pieces of at most ``max_len``.

    One-word pieces are dropped (a lone word has no context).
    """
    for line in lines:
        start = 0
        for i, w in enumerate(line):
            if w in SENTENCE_END or i + 1 == len(line):
                sent = line[start : i + 1]
                for j in range(0, len(sent), max_len):
                    if len(sent[j : j + max_len]) >= 2:
                        yield sent[j : j + max_len]
                start = i + 1


class Encoded:
    """Sequences of int32 ids (``columns`` per position) in memory-mapped files.

    A corpus is read once into two files (ids, offsets) in a temporary folder under
    ``$TMPDIR``; batches read their rows back, so resident memory follows the batch, not the
    corpus. The folder is removed when the object is collected or the process exits.
    """

    def __init__(self, rows: Iterable[Sequence[int] | np.ndarray], columns: int = 1):
        self.columns = columns
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="ctxembed-corpus-"))
            weakref.finalize(self, shutil.rmtree, self._dir, True)
            self._write(rows)
        except OSError as e:  # a full or read-only temporary folder
            raise InputError(
                f"cannot write the corpus ids to the temporary folder {tempfile.gettempdir()} "
                f"({e.strerror or e}): point TMPDIR at a disk with room for 4 bytes per word"
            ) from None
        self.offsets = _map(self._dir / "offsets", np.int64, (-1,))
        self.ids = _map(self._dir / "ids", np.int32, (-1, columns))
        self.lengths = np.diff(self.offsets)

    def _write(self, rows: Iterable[Sequence[int] | np.ndarray]) -> None:
        total, ids, ends = 0, [], []  # rows and their end offsets not yet written
        with open(self._dir / "ids", "wb") as f_ids, open(self._dir / "offsets", "wb") as f_off:
            f_off.write(np.zeros(1, dtype=np.int64).tobytes())
            for row in rows:
                a = np.asarray(row, dtype=np.int32).reshape(-1, self.columns)
                ids.append(a)
                total += len(a)
                ends.append(total)
                if len(ends) >= 65_536:  # written in blocks: memory stays one block
                    _flush(f_ids, f_off, ids, ends)
            _flush(f_ids, f_off, ids, ends)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def padded(
        self, group: np.ndarray, fill: int | Sequence[int] = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``group`` in one ``[B, longest, columns]`` int64 array, ``fill`` (one value,
        or one per column) after each row's end; and the rows' lengths."""
        lengths = self.lengths[group]
        out = np.empty((len(group), int(lengths.max()), self.columns), dtype=np.int64)
        out[...] = fill
        for r, i in enumerate(group):
            out[r, : lengths[r]] = self[i]
        return out, lengths

    def __getitem__(self, i: int) -> np.ndarray:
        """Row ``i``: ``[length, columns]`` (a view of the mapped file)."""
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def _flush(f_ids, f_off, ids: list[np.ndarray], ends: list[int]) -> None:
    if ids:
        f_ids.write(np.concatenate(ids).tobytes())
        f_off.write(np.asarray(ends, dtype=np.int64).tobytes())
    ids.clear()
    ends.clear()


def _map(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    size = path.stat().st_size // np.dtype(dtype).itemsize
    if size == 0:  # an empty file cannot be mapped
        return np.zeros((0, *shape[1:]), dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r").reshape(shape)


def length_groups(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices in groups of ``size`` by length (ties in input order): little padding per batch."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[b : b + size] for b in range(0, len(order), size)]


class Batches(Sequence):
    """Batches of rows sorted by length, each built by ``make(indices)`` when asked for.

    Only the sorted index array stays in memory; the loop's ``batches[i]`` builds batch
    ``i`` (neighbours in length order share a batch, as the in-memory lists did).
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, make: Callable[[np.ndarray], Any]):
        order = np.argsort(np.asarray(lengths), kind="stable")  # stable: ties keep corpus order
        self._groups = [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
        self.make = make

    def __len__(self) -> int:
        return len(self._groups)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.make(self._groups[j]) for j in range(*i.indices(len(self)))]
        return self.make(self._groups[i])
