"""Reading user files with clear errors, and writing files and folders atomically."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from .errors import InputError

MANIFEST = "ctxembed.json"  # what every saved model folder holds
CHECKPOINT = "state.json"  # what every training checkpoint folder holds
WRITTEN = ".ctxembed-written"  # what every folder ctxembed writes holds: the files it wrote


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a folder, expected a file")
    return p


def open_bytes(path: str | os.PathLike) -> IO[bytes]:
    """Open a file (plain or .gz) for reading bytes; a missing file fails clearly."""
    p = _check_file(path)
    return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")


def read_lines(
    path: str | os.PathLike, name: str | os.PathLike | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a UTF-8 file, newline stripped.

    Bad UTF-8 fails with the line and column (of ``name``, where the user knows the file by
    another name), not a traceback from deep inside.
    """
    with open_bytes(path) as f:
        n = 0
        try:
            for n, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputError(
                        f"{name or path}, line {n}: not valid UTF-8 (byte {raw[e.start]:#04x} at "
                        f"column {e.start + 1}); convert the file, e.g. `iconv -f latin1 -t utf-8`"
                    ) from None
                yield n, line.rstrip("\r\n")
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise InputError(
                f"{name or path}: not a valid gzip file after line {n} ({e}); a .gz name needs "
                "gzip content: rename a plain text file, or copy the file again if it was cut"
            ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place on success."""
    p = Path(path).expanduser()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror} ({e.filename})") from None
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should read like any file
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _dir_kind(p: Path) -> str | None:
    """Why ``p`` must never be replaced or removed, or None."""
    r = p.resolve()
    if r == r.parent:
        return "the filesystem root"
    if r == Path.home().resolve():
        return "your home folder"
    if Path.cwd().resolve().is_relative_to(r):
        return "the current folder" if r == Path.cwd().resolve() else "a folder above this one"
    return None


def written_files(folder: Path) -> set[str] | None:
    """The files ctxembed wrote into ``folder`` (its ``WRITTEN`` list), or None if it holds
    no such list (someone else's folder, or one an older ctxembed version wrote)."""
    try:
        listed = json.loads((folder / WRITTEN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return set(listed) if isinstance(listed, list) else None


def _entries(folder: Path) -> set[str]:
    """Every file, folder and link below ``folder``, as relative POSIX paths (links not
    followed): an empty folder a user made counts as much as a file."""
    out = set()
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            out.add(Path(root, name).relative_to(folder).as_posix())
    return out - {WRITTEN}


def foreign_files(folder: Path) -> list[str]:
    """What in ``folder`` ctxembed did not write: everything, where it keeps no list."""
    own = written_files(folder)
    return sorted(_entries(folder) - (own or set()))


def check_files(folder: str | os.PathLike, names: list[str], overwrite: bool = False) -> Path:
    """Files ``names`` may be written into ``folder``, which may hold other files (a report
    folder): each must be new or, with ``overwrite``, one ctxembed wrote there earlier (on
    the folder's ``WRITTEN`` list). Checked before any work starts; returns the folder."""
    p = Path(folder).expanduser()
    for parent in [p, *p.parents]:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{folder}: {parent} is a file, not a folder: choose another place")
    own = written_files(p) or set()
    existing = [n for n in names if (p / n).exists()]
    if foreign := [n for n in existing if n not in own]:
        raise InputError(
            f"{folder} already holds {', '.join(foreign)}, which ctxembed did not write: "
            "ctxembed never replaces it; choose another folder"
        )
    if existing and not overwrite:
        raise InputError(
            f"{folder} already holds an earlier output ({', '.join(existing)}): pass "
            "--overwrite to replace it, or choose another folder"
        )
    return p


def record_written(folder: Path, names: list[str]) -> None:
    """Add ``names`` to ``folder``'s ``WRITTEN`` list (after writing them)."""
    listed = sorted((written_files(folder) or set()) | set(names))
    with atomic_file(folder / WRITTEN, "w") as f:
        f.write(json.dumps(listed, indent=0) + "\n")


def check_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse a folder to write that would cost anything ctxembed did not write; the real path.

    Allowed: a new path, an empty folder, or, with ``overwrite``, a folder every file of
    which ctxembed wrote (each folder it writes lists them in ``WRITTEN``). A symbolic link is
    followed, so its target is the folder written.
    """
    p = Path(path).expanduser()
    if p.is_symlink():
        p = p.resolve()
    kind = _dir_kind(p)
    if kind is not None:
        raise InputError(
            f"{path} is {kind}: name a new folder for the output, "
            f"e.g. {os.path.join(path, 'model')}"
        )
    if not p.exists():
        return p
    if not p.is_dir():
        raise InputError(f"{path} exists and is not a folder: choose another name")
    if not any(p.iterdir()):
        return p
    if written_files(p) is None:
        raise InputError(
            f"{path} is a folder ctxembed did not write (it holds no {WRITTEN} list, which "
            "folders of older ctxembed versions lack too) and is not empty: ctxembed never replaces "
            "it; choose a new folder name, or remove it yourself"
        )
    if foreign := foreign_files(p):
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise InputError(
            f"{path} holds files ctxembed did not write ({shown}): ctxembed never replaces "
            "it; move them out or choose a new folder name"
        )
    if not overwrite:
        raise InputError(
            f"{path} already holds a ctxembed output: pass --overwrite (overwrite=True) "
            "to replace it, or choose another name"
        )
    return p


def remove_own_dir(path: str | os.PathLike) -> None:
    """Remove a folder only ctxembed wrote into (see ``check_dir``); leave anything else alone."""
    p = Path(path)
    if p.is_dir() and not p.is_symlink() and written_files(p) is not None and not foreign_files(p):
        shutil.rmtree(p, ignore_errors=True)


def _fix_modes(folder: Path) -> None:
    """Every file as ``open`` would make it: some writers (safetensors) make 0600 files."""
    mask = _umask()
    os.chmod(folder, 0o777 & ~mask)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Fill a temporary folder beside ``path``; on success it becomes ``path``.

    ``path`` may be new or an empty folder; a folder ctxembed wrote whole is replaced only
    with ``overwrite=True``. Anything else is refused before a byte is written
    (``check_dir``), and checked again before the swap (another run may have written it
    meanwhile): the library never removes what it did not write. The new folder lists its
    files in ``WRITTEN``, so that a later write can tell them from a user's.
    """
    p = check_dir(path, overwrite)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp"))
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror} ({e.filename})") from None
    try:
        yield tmp
        record_written(tmp, sorted(_entries(tmp)))
        _fix_modes(tmp)
        check_dir(p, overwrite)
        if p.exists():  # ours, as just checked: swap it out, then drop it
            old = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}.", suffix=".old"))
            with _signals_held():  # an interrupt between the renames would lose both
                os.replace(p, old)
                os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, p)  # rename(2) only replaces an empty folder: nothing is lost
            except OSError as e:
                raise InputError(
                    f"cannot write {path}: {e.strerror}; nothing was replaced"
                ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT and SIGTERM (in the main thread) until the block is done."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class NpzWriter:
    """An ``.npz`` written member by member, each streamed in pieces: ``np.load`` reads it
    like any ``np.savez`` file, and no member is ever whole in memory.

    ``member`` needs the shape up front; ``spool`` takes rows whose count is known only at
    the end, in an anonymous temporary file (it vanishes with the process, whatever
    happens), and ``close`` copies them in.
    """

    def __init__(self, f: IO[bytes]):
        self._zip = zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._spools: dict[str, tuple[np.dtype, tuple[int, ...], IO[bytes]]] = {}

    def __enter__(self) -> NpzWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
            return
        for _, _, spool in self._spools.values():
            spool.close()
        with contextlib.suppress(ValueError, OSError):  # the half-written file is discarded
            self._zip.close()

    @contextlib.contextmanager
    def member(
        self, name: str, dtype: npt.DTypeLike, shape: tuple[int, ...]
    ) -> Iterator[Callable[[np.ndarray], None]]:
        """Yield ``write(array)``; the arrays written must add up to exactly ``shape``."""
        dt = np.dtype(dtype)
        expected = math.prod(shape) * dt.itemsize
        written = 0
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as m:
            header = {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False}
            np.lib.format.write_array_header_1_0(m, header | {"shape": tuple(shape)})

            def write(a: np.ndarray) -> None:
                nonlocal written
                data = np.ascontiguousarray(a, dtype=dt).data.cast("B")
                m.write(data)
                written += len(data)

            yield write
            if written != expected:  # the header promised another size: the file would lie
                raise ValueError(f"{name}: wrote {written} bytes for shape {shape}")

    def spool(
        self, name: str, dtype: npt.DTypeLike, row: tuple[int, ...] = ()
    ) -> Callable[[np.ndarray], None]:
        """``write(rows)`` for a member of shape ``(n, *row)``, ``n`` counted as it goes."""
        dt = np.dtype(dtype)
        f = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close() or __exit__
        self._spools[name] = (dt, row, f)
        return lambda a: f.write(np.ascontiguousarray(a, dtype=dt).data.cast("B"))

    def close(self) -> None:
        for name, (dt, row, f) in self._spools.items():
            with f:
                n = f.tell() // (dt.itemsize * math.prod(row))
                f.seek(0)
                with self.member(name, dt, (n, *row)) as write:
                    while piece := f.read(1 << 20):
                        write(np.frombuffer(piece, dtype=np.uint8).view(dt))
        self._zip.close()


def check_out_file(out: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """An output file may replace an existing file only with --overwrite, never an input
    (nor a file inside an input folder, such as a model's own ctxembed.json)."""
    out = Path(out).expanduser()  # as atomic_file writes it: "~/x" is checked where it lands
    if out.is_dir():
        raise InputError(f"{out} is a folder: name a file to write")
    # checked before any work: missing folders are made when the file is written, but a file
    # in the way or a folder we may not write to would fail only at the end
    parent = next(p for p in (out.absolute().parent, *out.absolute().parents) if p.exists())
    if not parent.is_dir():
        raise InputError(f"cannot write {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {out}: the folder {parent} is not writable")
    inside(out, inputs)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists: pass --overwrite to replace it, or choose another name")


def inside(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is an input, lies inside an input folder, or holds an input
    (replacing the output folder would delete it)."""
    real = out.expanduser().resolve()
    for i in inputs:
        src = i.expanduser().resolve()
        if i.exists() and (real == src or (src.is_dir() and real.is_relative_to(src))):
            raise InputError(f"{out} is (inside) the input {i}: write somewhere else")
        if i.exists() and src.is_relative_to(real):
            raise InputError(f"the input {i} is inside {out}: write somewhere else")
