"""What every evaluation task shares: the result record, the run context and the embedding cache.

Tasks ask for three kinds of vectors, all cached on disk per (model, text set):
- ``target_vectors``: one word in its sentence, every layer (``[n, n_layers, dim]``);
- ``sentence_vectors``: one vector per text with the model's sentence pooling;
- ``word_vectors``: isolated words (a static model's table rows).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..datasets import DATA_DIR, missing_message
from ..embedder import Embedder, Layers, resolve_layers
from ..errors import InputError
from ..io import atomic_file
from ..models.static import StaticEmbedder

DATA = DATA_DIR  # inside the package, so an installed ctxembed finds it too
CHUNK = 256  # texts per embedding call: all layers of all words of a chunk stay in memory


class TaskNotApplicable(InputError):
    """The model cannot produce what the task needs (e.g. analogy from a contextual model)."""


@dataclass
class Result:
    task: str
    dataset: str
    model: str
    protocol: str
    split: str
    metrics: dict[str, float]  # the first one is the headline number
    checksum: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values: NaN (a score that could not be computed) becomes null,
        which strict JSON readers accept."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self))


def checksum(*paths: Path) -> str:
    """sha256 (first 16 hex digits) of the data files a result was computed from."""
    h = hashlib.sha256()
    for p in paths:
        if not p.exists():
            raise InputError(missing_message(p))
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Cache:
    """Arrays on disk under ``root/model_key/``; a missing root disables caching."""

    def __init__(self, root: Path | None, model_key: str):
        self.dir = root / model_key if root is not None else None
        self.hits = 0

    def get(self, kind: str, payload: Any, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self.dir is None:
            return compute()
        key = hashlib.sha256(json.dumps([kind, payload], ensure_ascii=False).encode()).hexdigest()
        path = self.dir / f"{kind}-{key[:24]}.npy"
        if path.exists():
            self.hits += 1
            return np.load(path, allow_pickle=False)
        arr = compute()
        with atomic_file(path, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        return arr


def model_key(name: str, options: dict[str, Any] | None = None) -> str:
    """A cache key that changes when the vectors may: the model's name (or its path and file
    stamps), the options it is loaded with and the ctxembed version."""
    from .. import __version__, assets

    stamps: list = []
    if name in assets.ASSETS:
        base = name
    else:
        p = Path(name).resolve()
        base = p.name
        stamps = [str(p)] + sorted(
            (
                str(f.relative_to(p)) if p.is_dir() else f.name,
                f.stat().st_size,
                f.stat().st_mtime_ns,
            )
            for f in (p.rglob("*") if p.is_dir() else [p])
            if f.is_file()
        )
    what = [__version__, sorted((options or {}).items()), stamps]
    digest = hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()[:16]
    return f"{base}-{digest}"


@dataclass
class Context:
    """One model's run: the embedder, its cache and the run's options."""

    name: str
    embedder: Embedder
    cache: Cache
    limit: int | None = None
    seed: int = 0
    layers: Layers = -1
    progress: bool = True

    def take(self, items: list) -> list:
        return items if self.limit is None else items[: self.limit]

    @property
    def is_static(self) -> bool:
        return isinstance(self.embedder, StaticEmbedder)

    def target_vectors(self, items: Sequence[tuple[list[str], int]], desc: str) -> np.ndarray:
        """``[n, n_layers, dim]``: the vector of ``tokens[index]`` in its sentence, every layer."""
        items = [_drop_blank(tokens, i, f"{desc}, item {n}") for n, (tokens, i) in enumerate(items)]
        payload = [[t, i] for t, i in items]

        def compute() -> np.ndarray:
            emb = self.embedder
            out = np.empty((len(items), emb.n_layers, emb.dim), dtype=np.float32)
            bar = tqdm(
                total=len(items),
                desc=f"{self.name}: {desc}",
                unit="sent",
                disable=not self.progress,
            )
            for c in range(0, len(items), CHUNK):
                chunk = items[c : c + CHUNK]
                res = emb.embed_words(
                    [t for t, _ in chunk], layers="all", return_layers=True, progress=False
                )
                for k, (wv, (_, i)) in enumerate(zip(res, chunk, strict=True)):
                    out[c + k] = wv.layers[:, i]
                bar.update(len(chunk))
            bar.close()
            return out

        return self.cache.get("targets", payload, compute)

    def sentence_vectors(self, texts: Sequence[str], desc: str) -> np.ndarray:
        def compute() -> np.ndarray:
            return self.embedder.embed_sentences(
                list(texts), progress=None if self.progress else False
            )

        return self.cache.get("sentences", list(texts), compute)

    def layer_choices(self) -> list[tuple[str, Layers]]:
        """Every single layer, then the mean of all: the layer-wise view's rows."""
        n = self.embedder.n_layers
        return [(str(i), i) for i in range(n)] + ([("mean", "all")] if n > 1 else [])


def _drop_blank(tokens: Sequence[str], index: int, where: str) -> tuple[list[str], int]:
    """Drop empty or whitespace tokens (a few data sets have them) and keep the target."""
    if not 0 <= index < len(tokens) or not tokens[index].strip():
        raise InputError(
            f"{where}: target index {index} is out of range or blank ({len(tokens)} words)"
        )
    shift = sum(1 for t in tokens[:index] if not t.strip())
    return [t for t in tokens if t.strip()], index - shift


def pick(stacked: np.ndarray, layers: Layers) -> np.ndarray:
    """``[n, n_layers, dim] -> [n, dim]`` for a ``layers=`` choice."""
    spec = resolve_layers(layers, stacked.shape[1])
    return spec.combine(np.moveaxis(stacked[:, list(spec.indices)], 1, 0))


def layer_label(layers: Layers, n_layers: int) -> str:
    if n_layers == 1:
        return "static"
    if layers == -1 or layers == n_layers - 1:
        return f"last ({n_layers - 1})"
    return "mean of all" if layers == "all" else str(layers)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def env_cache_root() -> Path:
    return Path(os.environ.get("CTXEMBED_CACHE", Path.home() / ".cache" / "ctxembed"))
