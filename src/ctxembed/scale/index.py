"""A corpus embedded into a searchable index, in this process or on Ray; contextual search.

``build_index`` reads the corpus files (one text per line, or JSON Lines; gzip allowed) in
shards of ``shard_size`` texts. Each shard is embedded (word vectors, or one sentence vector
per text), the vectors scaled to unit length, and written as one Parquet file the moment it
is done. On Ray, a pool of actors embeds the shards (one model per actor, each on its own
cores) and the driver writes them, so a cluster needs no shared disk. Ray Core actors rather
than Ray Data's ``map_batches``: the driver cuts the corpus into the same numbered shards on
every run, which is what lets a killed build resume and end equal to an uninterrupted one
(Ray Data's blocks and output files carry no stable identity across runs), and a cluster's
nodes need not see the corpus files. The folder:

- ``index.json``: what was asked (model, load options, mode, shard size, corpus sizes and
  SHA-256). A build into a folder that holds another model's or corpus's index is refused;
  the same build again resumes: finished shards are kept, the rest are embedded;
- ``shards/NNNNN.parquet``: ``text_id, text, word, position, start, end, vector`` (the
  word's index in its text and its character offsets; sentence rows have no word and span
  the text; pre-tokenized texts have no offsets, -1);
- ``vectors.faiss``: FAISS over every vector in shard order (a vector's row is its id),
  exact (inner product) up to ``flat_max`` vectors, HNSW beyond;
- ``info.json``: the index kind, sizes and the approximate index's recall@10 against exact
  search, measured at build time on stored vectors.

Contextual search (``Index.search_word``): the uses of a word in the corpus nearest to its
use in a given sentence: the word's vector in that sentence, scored exactly against every
stored use of the word (case-insensitive). ``Index.search_sentence`` searches sentence
vectors through the FAISS index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..embedder import Embedder
from ..errors import CtxembedError, InputError, ModelError
from ..io import WRITTEN, atomic_file, check_dir, record_written, written_files
from ..text.files import TextFile
from ..text.words import prepare, split_words

MANIFEST = "index.json"
INFO = "info.json"
FAISS = "vectors.faiss"
SHARDS = "shards"
MODES = ("words", "sentences")
FLAT_MAX = 200_000  # vectors; beyond, HNSW (exact search grows linearly with the corpus)
RECALL_QUERIES = 500


@dataclass
class Hit:
    score: float
    text_id: int
    text: str
    word: str | None
    position: int
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- building ----------------------------------------------------------------------------------
def build_index(
    model: str,
    corpus: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    mode: str = "words",
    options: dict[str, Any] | None = None,
    ray_address: str | None = None,
    actors: int = 2,
    shard_size: int = 2000,
    batch_size: int = 32,
    only_words: Sequence[str] | None = None,
    flat_max: int = FLAT_MAX,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Embed ``corpus`` with ``model`` into the index folder ``out``; returns ``info.json``.

    ``ray_address``: None embeds in this process; ``"local"`` starts Ray here; ``"auto"`` or an
    address joins a running cluster. ``only_words`` keeps the word rows of these words only
    (the texts are still read whole, for context)."""
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: use 'words' or 'sentences'")
    if shard_size < 1 or batch_size < 1 or actors < 1:
        raise InputError("shard_size, batch_size and actors must be at least 1")
    if only_words is not None and mode != "words":
        raise InputError("only_words keeps word rows: it needs mode='words'")
    files = [Path(f).expanduser() for f in corpus]
    if not files:
        raise InputError("give at least one corpus file")
    for f in files:
        if f.is_dir():
            raise InputError(f"corpus {f} is a folder: give its text or JSON Lines files")
        if not f.is_file():
            raise InputError(f"corpus {f}: no such file")
    # a path is kept whole, so the index searches from any folder
    where = Path(model).expanduser()
    wanted = {
        "format": "ctxembed-index",
        "model": str(where.resolve()) if where.exists() else str(model),
        "options": options or {},
        "mode": mode,
        "shard_size": shard_size,
        "only_words": sorted({w.lower() for w in only_words}) if only_words else None,
        "corpus": [_describe(f) for f in files],
    }
    wanted = json.loads(json.dumps(wanted))  # as index.json will hold it (tuples are lists)
    fresh = not Path(out).expanduser().exists()
    folder = _prepare(Path(out).expanduser(), wanted, overwrite)
    try:
        return _build(folder, model, files, wanted, ray_address, actors, batch_size, flat_max,
                      progress, log)  # fmt: skip
    except BaseException:
        # a build that failed before its first shard (a bad line, an unreachable cluster)
        # leaves nothing behind; one with shards keeps them, to resume
        if not list((folder / SHARDS).glob("*.parquet")):
            with contextlib.suppress(OSError):  # the build's own error is the one to report
                _remove_ours(folder, fresh)
        raise


def _remove_ours(folder: Path, fresh: bool) -> None:
    """Remove what this build wrote: the folder if it made it, else only its contents."""
    import shutil

    try:
        check_dir(folder, overwrite=True)  # every file ours, or refused
    except CtxembedError:
        return  # someone else's files appeared: leave everything
    for child in folder.iterdir():
        if child.name == WRITTEN:
            continue  # last: until then, what is left is still known to be ours
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    (folder / WRITTEN).unlink(missing_ok=True)
    if fresh:
        folder.rmdir()


def _build(
    folder: Path,
    model: str,
    files: list[Path],
    wanted: dict[str, Any],
    ray_address: str | None,
    actors: int,
    batch_size: int,
    flat_max: int,
    progress: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    options = wanted["options"]
    (folder / SHARDS).mkdir(exist_ok=True)
    record_written(folder, [SHARDS])
    for stale in (folder / SHARDS).glob(".*.tmp"):  # a killed run's half-written shard
        stale.unlink()
    # a shard renamed into place just before a kill, not yet listed: ours all the same
    record_written(folder, [f"{SHARDS}/{p.name}" for p in (folder / SHARDS).glob("*.parquet")])
    _drop_damaged(folder, log)
    start = time.perf_counter()
    plan = _shards(files, wanted["shard_size"])
    todo = (s for s in plan if not _shard_path(folder, s[0]).exists())
    runner = (
        InProcess(model, options)
        if ray_address is None
        else RayPool(model, options, actors, ray_address)
    )
    done = 0
    try:
        for k, rows in runner.map(todo, wanted["mode"], wanted["only_words"], batch_size):
            _write_shard(folder, k, rows)
            done += 1
            if progress:
                log(f"shard {k} written ({len(rows['text_id'])} vectors)")
    finally:
        runner.close()
    embedded = time.perf_counter() - start
    info = _finish(folder, flat_max, log if progress else lambda _: None)
    info |= {
        "shards_embedded": done,
        "embed_seconds": embedded,  # from reading the corpus to the last shard written
        "seconds": time.perf_counter() - start,
    }
    _write_json(folder, INFO, info)
    return info


def _drop_damaged(folder: Path, log: Callable[[str], None]) -> None:
    """Remove finished shards that cannot be read (a disk error, a copy cut short): they are
    ours, and this build embeds them again."""
    import pyarrow.parquet as pq

    for path in sorted((folder / SHARDS).glob("*.parquet")):
        try:
            pq.read_table(path)  # whole: a page damaged mid-file passes a footer check
        except PermissionError:
            raise  # a readable shard behind the wrong rights is no reason to delete it
        except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
            log(f"{path} cannot be read ({e}): embedding it again")
            path.unlink()


@contextlib.contextmanager
def _readable(
    folder: Path, what: str, errors: tuple[type[Exception], ...] = (OSError, ValueError)
) -> Iterator[None]:
    """Name a missing or damaged file of an index folder (pyarrow: OSError or ArrowInvalid, a
    ValueError; faiss: RuntimeError), with the command that mends it."""
    try:
        yield
    except CtxembedError:
        raise
    except errors as e:
        cause = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"{folder}: {what} is missing or damaged ({cause}): run the same ctxembed index "
            "build again to redo it"
        ) from None


def _describe(f: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(f.resolve()), "bytes": f.stat().st_size, "sha256": digest.hexdigest()}


def _prepare(folder: Path, wanted: dict[str, Any], overwrite: bool) -> Path:
    """A new folder gets the manifest; one with the same manifest is resumed; any other is
    refused (or, with ``overwrite``, one ctxembed wrote whole starts over)."""
    manifest = folder / MANIFEST
    if manifest.is_file() and written_files(folder) is not None:
        try:
            have = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            have = None
        if have == wanted:
            return folder
        if not overwrite:
            what = [k for k in wanted if have is None or have.get(k) != wanted[k]]
            raise InputError(
                f"{folder} holds an index built with another {', '.join(what) or 'format'}: "
                "choose another folder, or pass --overwrite to rebuild it"
            )
        check_dir(folder, overwrite=True)  # every file ours, or refused
        import shutil

        shutil.rmtree(folder)
    else:
        check_dir(folder, overwrite=False)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder, MANIFEST, wanted)
    return folder


def _write_json(folder: Path, name: str, data: dict[str, Any]) -> None:
    record_written(folder, [name])  # listed first: a kill in between leaves no foreign file
    with atomic_file(folder / name, "w") as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _shard_path(folder: Path, k: int) -> Path:
    return folder / SHARDS / f"{k:05d}.parquet"


def _shards(files: list[Path], size: int) -> Iterator[tuple[int, list[int], list[str | list[str]]]]:
    """``(shard number, text ids, texts)``: the corpus's non-blank texts, ``size`` at a time."""
    ids: list[int] = []
    texts: list[str | list[str]] = []
    n = k = 0
    for f in files:
        for _, text, _ in TextFile(f).checked():  # a bad text is named by file and line
            ids.append(n)
            texts.append(text)
            n += 1
            if len(texts) == size:
                yield k, ids, texts
                ids, texts, k = [], [], k + 1
    if texts:
        yield k, ids, texts


def embed_shard(
    model: Embedder,
    ids: list[int],
    texts: list[str | list[str]],
    mode: str,
    only_words: list[str] | None,
    batch_size: int,
) -> dict[str, Any]:
    """One shard's rows as columns; vectors at unit length (zero stays zero)."""
    joined = [t if isinstance(t, str) else " ".join(t) for t in texts]
    if mode == "sentences":
        vecs = model.embed_sentences(texts, batch_size=batch_size, progress=False)
        rows = {
            "text_id": np.asarray(ids, dtype=np.int64),
            "text": joined,
            "word": [None] * len(ids),
            "position": np.full(len(ids), -1, dtype=np.int32),
            "start": np.zeros(len(ids), dtype=np.int32),
            "end": np.asarray([len(t) for t in joined], dtype=np.int32),
            "vector": np.asarray(vecs, dtype=np.float32),
        }
    else:
        keep = set(only_words) if only_words else None
        tid, text, word, position, start, end, vecs = [], [], [], [], [], [], []
        for i, t, wv in zip(
            ids,
            joined,
            model.embed_words(texts, batch_size=batch_size, progress=False),
            strict=True,
        ):
            offsets = wv.offsets or [(-1, -1)] * len(wv.words)
            for j, (w, (s, e)) in enumerate(zip(wv.words, offsets, strict=True)):
                if keep is None or w.lower() in keep:
                    tid.append(i)
                    text.append(t)
                    word.append(w)
                    position.append(j)
                    start.append(s)
                    end.append(e)
                    vecs.append(wv.vectors[j])
        dim = model.dim
        rows = {
            "text_id": np.asarray(tid, dtype=np.int64),
            "text": text,
            "word": word,
            "position": np.asarray(position, dtype=np.int32),
            "start": np.asarray(start, dtype=np.int32),
            "end": np.asarray(end, dtype=np.int32),
            "vector": np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32),
        }
    norms = np.linalg.norm(rows["vector"], axis=1, keepdims=True)
    rows["vector"] = rows["vector"] / np.where(norms > 0, norms, 1.0)
    return rows


def _write_shard(folder: Path, k: int, rows: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vecs = rows["vector"]
    table = pa.table(
        {
            "text_id": pa.array(rows["text_id"], pa.int64()),
            "text": pa.array(rows["text"], pa.string()),
            "word": pa.array(rows["word"], pa.string()),
            "position": pa.array(rows["position"], pa.int32()),
            "start": pa.array(rows["start"], pa.int32()),
            "end": pa.array(rows["end"], pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vecs.reshape(-1), pa.float32()), vecs.shape[1]
            ),
        }
    )
    path = _shard_path(folder, k)
    with atomic_file(path) as f:
        pq.write_table(table, f)
    record_written(folder, [f"{SHARDS}/{path.name}"])


class InProcess:
    """The shards embedded one after another by one model in this process."""

    def __init__(self, model: str, options: dict[str, Any]):
        from ..families import load

        self.model = load(model, **options)

    def map(self, shards, mode, only_words, batch_size):
        for k, ids, texts in shards:
            yield k, embed_shard(self.model, ids, texts, mode, only_words, batch_size)

    def close(self) -> None:
        pass


class _Worker:
    """A Ray actor's state: one model, loaded once, on its share of the cores."""

    def __init__(self, model: str, options: dict[str, Any], threads: int):
        import torch

        from ..families import load

        torch.set_num_threads(threads)
        self.model = load(model, **options)

    def embed(self, k, ids, texts, mode, only_words, batch_size):
        return k, embed_shard(self.model, ids, texts, mode, only_words, batch_size)


class RayPool:
    """Shards spread over ``actors`` Ray actors, at most two in flight per actor (memory stays
    bounded whatever the corpus size); results come back in the order they finish."""

    def __init__(self, model: str, options: dict[str, Any], actors: int, address: str):
        try:
            import ray
        except ImportError:
            raise ModelError("--ray-address needs Ray: pip install 'ctxembed[scale]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            local = address == "local"
            if not local:
                _reachable(address)
            try:
                ray.init(
                    address=None if local else address,
                    num_cpus=os.cpu_count() if local else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise InputError(
                    f"--ray-address {address}: cannot reach a Ray cluster ({e}); use 'local' "
                    "to start one here, or 'none' to embed in this process"
                ) from None
        cpus = ray.available_resources().get("CPU", 1.0)
        if actors > cpus:  # an actor that cannot be placed would wait for ever
            self.close()
            raise InputError(
                f"--actors {actors}: the Ray cluster has {cpus:g} free CPUs; use at most "
                f"{max(1, int(cpus))} actors"
            )
        threads = max(1, int(cpus // actors))
        worker = ray.remote(num_cpus=cpus / actors)(_Worker)
        self.actors = [worker.remote(model, options, threads) for _ in range(actors)]

    def map(self, shards, mode, only_words, batch_size):
        ray = self.ray
        owner: dict = {}  # task -> its actor
        free = list(self.actors) * 2  # two tasks queued per actor: no actor waits for work

        def finished():
            (ref,), _ = ray.wait(list(owner), num_returns=1)
            free.append(owner.pop(ref))
            try:
                return ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # our named errors come back wrapped
                if isinstance(e.cause, CtxembedError):
                    raise e.cause from None
                raise
            except ray.exceptions.RayActorError as e:
                raise ModelError(
                    f"a Ray actor died ({type(e).__name__}; out of memory?): the shards "
                    "written so far are kept; run the same command again to resume"
                ) from None

        for k, ids, texts in shards:
            if not free:
                yield finished()
            actor = free.pop(0)
            owner[actor.embed.remote(k, ids, texts, mode, only_words, batch_size)] = actor
        while owner:
            yield finished()

    def close(self) -> None:
        for a in getattr(self, "actors", []):
            self.ray.kill(a)
        if self.started:
            self.ray.shutdown()


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a ``host:port`` no server answers on (``ray.init`` would retry for minutes)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray itself checks at once
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:6379
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise InputError(
            f"--ray-address {address}: cannot reach a Ray cluster ({e}); use 'local' to start "
            "one here, or 'none' to embed in this process"
        ) from None


def _read_vectors(folder: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    parts = []
    for path in sorted((folder / SHARDS).glob("*.parquet")):
        col = pq.read_table(path, columns=["vector"]).column("vector").combine_chunks()
        parts.append(col.values.to_numpy().reshape(len(col), col.type.list_size))
    return (
        np.concatenate(parts).astype(np.float32, copy=False)
        if parts
        else np.zeros((0, 0), np.float32)
    )


def _finish(folder: Path, flat_max: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The FAISS index over every shard's vectors, and its recall against exact search."""
    faiss = _faiss()
    with _readable(folder, "a shard"):
        vecs = _read_vectors(folder)
    if len(vecs) == 0:
        raise InputError("the corpus gave no vectors: no texts, or none of --only-words")
    n, dim = vecs.shape
    if n <= flat_max:
        index, kind = faiss.IndexFlatIP(dim), "flat"
    else:
        index, kind = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT), "hnsw"
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    t0 = time.perf_counter()
    index.add(vecs)
    seconds = time.perf_counter() - t0
    info: dict[str, Any] = {"kind": kind, "vectors": n, "dim": dim, "index_seconds": seconds}
    if kind != "flat":
        info["recall_at_10"] = _recall(index, vecs)
        log(f"{kind} index: recall@10 against exact search {info['recall_at_10']:.3f}")
    path = folder / FAISS
    tmp = path.with_name(f".{FAISS}.tmp")
    try:
        faiss.write_index(index, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    record_written(folder, [FAISS])
    return info


def _recall(index: Any, vecs: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-``k`` that the index returns, for stored vectors as queries."""
    rng = np.random.default_rng(0)
    q = vecs[rng.choice(len(vecs), size=min(RECALL_QUERIES, len(vecs)), replace=False)]
    _, exact = _faiss().knn(q, vecs, k, metric=_faiss().METRIC_INNER_PRODUCT)  # brute force
    _, got = index.search(q, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, got, strict=True)]))


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ModelError("indexes need FAISS: pip install 'ctxembed[scale]'") from None
    return faiss


# -- searching ---------------------------------------------------------------------------------
class Index:
    """A built index folder; the model it was built with is loaded on the first query."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise InputError(
                f"{folder}: no such folder (build an index there with ctxembed index build)"
            )
        try:
            self.manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            self.info = json.loads((self.folder / INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(
                f"{folder}: not a finished index (no {MANIFEST} and {INFO}): build it with "
                "ctxembed index build, or run that build again to finish it"
            ) from None
        self.mode = self.manifest["mode"]
        self._model: Embedder | None = None
        self._faiss: Any = None
        self._words: dict[str, np.ndarray] | None = None
        self._offsets, rows = self._shard_offsets()
        names = [p.name for p, _ in self._offsets]
        if names != [_shard_path(self.folder, k).name for k in range(len(names))] or (
            rows != self.info.get("vectors")
        ):
            raise ModelError(
                f"{self.folder}: shards are missing ({len(names)} files, {rows:,} rows for "
                f"{self.info.get('vectors'):,} vectors): run the same ctxembed index build again "
                "to redo them"
            )

    def _shard_offsets(self) -> tuple[list[tuple[Path, int]], int]:
        """Each shard with its first row, and the rows in all."""
        import pyarrow.parquet as pq

        out, at = [], 0
        for path in sorted((self.folder / SHARDS).glob("*.parquet")):
            out.append((path, at))
            with _readable(self.folder, path.name):
                at += pq.ParquetFile(path).metadata.num_rows
        return out, at

    def built_with(self, model: str) -> bool:
        """Whether ``model`` (a name, or a path from any folder) is the index's model."""
        where = Path(model).expanduser()
        return self.manifest["model"] == (str(where.resolve()) if where.exists() else model)

    def open(self) -> Index:
        """Load the model and the FAISS index now (rather than at the first query)."""
        if self.model is None or self.faiss_index is None:
            raise ModelError(f"{self.folder}: the index cannot be opened")
        return self

    @property
    def model(self) -> Embedder:
        if self._model is None:
            from ..families import load

            self._model = load(self.manifest["model"], **self.manifest["options"])
        return self._model

    @model.setter
    def model(self, model: Embedder) -> None:
        """Search with ``model`` (already loaded, e.g. the one a server holds) instead of
        loading the index's own; the caller checks it is the one the index was built with."""
        self._model = model

    @property
    def faiss_index(self) -> Any:
        if self._faiss is None:
            with _readable(self.folder, FAISS, (RuntimeError,)):
                self._faiss = _faiss().read_index(str(self.folder / FAISS))
        return self._faiss

    def _word_rows(self) -> dict[str, np.ndarray]:
        """Lowercased word -> its rows (read once from the shards' word column)."""
        if self._words is None:
            import pyarrow.parquet as pq

            rows: dict[str, list[int]] = {}
            for path, at in self._offsets:
                with _readable(self.folder, path.name):
                    words = pq.read_table(path, columns=["word"]).column("word").to_pylist()
                for j, w in enumerate(words):
                    rows.setdefault(w.lower(), []).append(at + j)
            self._words = {w: np.asarray(r, dtype=np.int64) for w, r in rows.items()}
        return self._words

    def search_word(
        self, word: str, like: str | list[str], k: int = 10, at: int | None = None
    ) -> list[Hit]:
        """The corpus's uses of ``word`` nearest to its use in ``like`` (a text or its words),
        exact cosine; ``at``: which word of ``like`` (default: the first ``word``)."""
        if self.mode != "words":
            raise InputError(
                f"{self.folder} holds sentence vectors: search it with a sentence, or build an "
                "index of words (--words)"
            )
        _check_k(k)
        if isinstance(like, str) and len(split_words(word)[0]) != 1:
            # raw text is split into words; a word list may hold "New York" as one
            raise InputError(f"--word {word!r}: give one word (the uses of one word are searched)")
        _has_words(like, "--like")
        (wv,) = self.model.embed_words([like], progress=False)
        uses = [j for j, w in enumerate(wv.words) if w.lower() == word.lower()]
        if at is not None:
            uses = [at] if at in uses else []
        if not uses:
            raise InputError(
                f"{word!r} is not a word of the --like text ({' '.join(wv.words)}"
                f"{'' if at is None else f', at {at}'}): give a sentence that uses it"
            )
        rows = self._word_rows().get(word.lower())
        if rows is None:
            raise InputError(f"{word!r} does not occur in the indexed corpus")
        q = wv.vectors[uses[0]]
        if not np.linalg.norm(q) > 0:
            raise InputError(
                f"{word!r} has no vector in this index's model (out of its vocabulary)"
            )
        q = q / float(np.linalg.norm(q))
        vecs = self.faiss_index.reconstruct_batch(rows)
        scores = vecs @ q
        best = np.argsort(-scores, kind="stable")[:k]
        return self._hits(rows[best], scores[best])

    def search_sentence(self, text: str, k: int = 10) -> list[Hit]:
        """The corpus's texts nearest to ``text`` (FAISS: exact, or HNSW on large indexes)."""
        if self.mode != "sentences":
            raise InputError(
                f"{self.folder} holds word vectors: search it with --word and --like, or "
                "build an index of sentences (--sentences)"
            )
        _check_k(k)
        _has_words(text, "--sentence")
        q = np.asarray(self.model.embed_sentences([text], progress=False), dtype=np.float32)
        if not np.linalg.norm(q) > 0:
            raise InputError(
                f"{text[:60]!r} has no vector in this index's model: none of its words is in "
                "its vocabulary"
            )
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores, rows = self.faiss_index.search(q, min(k, self.info["vectors"]))
        keep = rows[0] >= 0
        return self._hits(rows[0][keep], scores[0][keep])

    def _hits(self, rows: np.ndarray, scores: np.ndarray) -> list[Hit]:
        import pyarrow.parquet as pq

        starts = np.asarray([at for _, at in self._offsets])
        out = []
        cache: dict[int, Any] = {}
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            s = int(np.searchsorted(starts, row, side="right") - 1)
            if s not in cache:
                with _readable(self.folder, self._offsets[s][0].name):
                    cache[s] = pq.read_table(
                        self._offsets[s][0],
                        columns=[f for f in Hit.__dataclass_fields__ if f != "score"],
                    )
            r = cache[s].slice(row - self._offsets[s][1], 1).to_pylist()[0]
            out.append(Hit(score=float(score), **r))
        return out


def _has_words(text: str | list[str], option: str) -> None:
    try:
        prepare([text])
    except InputError as e:
        raise InputError(f"{option}: {str(e).replace('text 0', 'the text', 1)}") from None


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError(f"k={k!r}: give a whole number of results, at least 1")
