"""The embedder interface and its results: ``Embedder``, ``WordVectors``, ``ScalarMix``,
layer selection and the ``ctxembed.json`` manifest. Imports no family."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelError
from .io import MANIFEST
from .text.words import Doc, prepare

PROGRESS_MIN_TEXTS = 256  # below this many texts a progress bar is noise

Texts = str | Sequence[str] | Sequence[Sequence[str]]


@dataclass
class WordVectors:
    """The vectors of one text's words, in order.

    ``offsets`` are character spans into the raw text (None for pre-tokenized input).
    ``layers`` is ``[n_selected_layers, n_words, dim]`` when ``return_layers=True``.
    ``oov`` marks words a static model had no vector for (their vector is zero).
    """

    words: list[str]
    offsets: list[tuple[int, int]] | None
    vectors: np.ndarray
    layers: np.ndarray | None = None
    oov: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class ScalarMix:
    """Peters et al. 2018, eq. 1: ``gamma * sum_j softmax(w)_j * h_j`` over all layers."""

    weights: tuple[float, ...]
    gamma: float = 1.0

    def __init__(self, weights: Sequence[float], gamma: float = 1.0):
        try:
            ws, g = tuple(float(w) for w in weights), float(gamma)
        except (TypeError, ValueError):
            raise InputError(
                f"ScalarMix({weights!r}, gamma={gamma!r}): give a list of numbers and a number"
            ) from None
        if not ws:
            raise InputError("ScalarMix needs at least one weight: give one per layer")
        if not all(np.isfinite(ws)):
            raise InputError(f"ScalarMix weights must be finite numbers, got {list(ws)}")
        if not np.isfinite(g) or g == 0:
            raise InputError(f"ScalarMix gamma must be a finite number other than 0, got {g}")
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "gamma", g)

    def coefficients(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        e = np.exp(w - w.max())
        return (self.gamma * e / e.sum()).astype(np.float32)


Layers = int | Sequence[int] | str | ScalarMix


@dataclass(frozen=True)
class LayerSpec:
    """Which hidden layers to compute, and how to combine them into one vector."""

    indices: tuple[int, ...]  # non-negative, into 0..n_layers-1
    coefficients: np.ndarray = field(compare=False)  # one per index; vectors = sum c_i h_i

    def combine(self, stacked: np.ndarray) -> np.ndarray:
        """``[n_sel, n, dim] -> [n, dim]``."""
        if len(self.indices) == 1 and self.coefficients[0] == 1.0:
            return stacked[0]
        return np.tensordot(self.coefficients, stacked, axes=1).astype(np.float32)


def resolve_layers(layers: Layers, n_layers: int) -> LayerSpec:
    """Validate a ``layers=`` argument against a model with ``n_layers`` layers.

    Layer 0 is the (non-contextual) input embedding layer; negative indices count from
    the top, so ``-1`` is the last layer. A list means the mean of those layers.
    """
    known = f"this model has layers 0..{n_layers - 1} (or -{n_layers}..-1)"
    if isinstance(layers, ScalarMix):
        if len(layers.weights) != n_layers:
            raise InputError(
                f"ScalarMix has {len(layers.weights)} weights but {known}: give one per layer"
            )
        return LayerSpec(tuple(range(n_layers)), layers.coefficients())
    if isinstance(layers, str):
        if layers != "all":
            raise InputError(
                f"layers={layers!r}: use an index, a list of indices, 'all' or ScalarMix"
            )
        idx = list(range(n_layers))
    elif isinstance(layers, int | np.integer):
        idx = [int(layers)]
    elif (
        isinstance(layers, Sequence)
        and layers
        and all(isinstance(i, int | np.integer) for i in layers)
    ):
        idx = [int(i) for i in layers]
    else:
        raise InputError(
            f"layers={layers!r}: use an index, a non-empty list of indices, 'all' or ScalarMix"
        )
    out = []
    for i in idx:
        if not -n_layers <= i < n_layers:
            raise InputError(f"layer {i} is out of range: {known}")
        out.append(i % n_layers)
    # a layer named twice (0,0 or -1,6 of 7) is computed once and weighs twice in the mean
    unique = tuple(dict.fromkeys(out))  # in the order given
    weights = np.array([out.count(i) / len(out) for i in unique], dtype=np.float32)
    return LayerSpec(unique, weights)


class Embedder(ABC):
    """One interface for static and contextual embeddings.

    Subclasses implement ``_embed_docs`` (word vectors of prepared docs, per selected
    layer), ``embed_sentences`` and ``save``.
    """

    family: str = "base"
    dim: int
    n_layers: int = 1  # layer 0 is the input layer; static models have only that one
    # the layer that holds a word's context-free vector, where the main layer is useless for a
    # word alone (context2vec's layer 1 is the vector of its *context*); word similarity reads it
    lexical_layer: int | None = None

    def embed_words(
        self,
        texts: Texts,
        layers: Layers = -1,
        pooling: str = "mean",
        batch_size: int = 32,
        return_layers: bool = False,
        progress: bool | None = None,
    ) -> list[WordVectors]:
        """Vectors for every word of every text, in order.

        ``texts``: raw strings (split by ``ctxembed.text.words.split_words``) or lists of
        words used as given. ``layers``: an index, a list of indices (their mean), ``"all"``
        (mean of all) or a ``ScalarMix``. ``pooling``: how subwords become one word vector
        (``mean``, ``first``, ``last``). Texts longer than the model's window are embedded
        in overlapping windows; every word gets a vector.
        """
        docs = prepare(texts)
        spec = resolve_layers(layers, self.n_layers)
        if pooling not in ("mean", "first", "last"):
            raise InputError(f"pooling={pooling!r}: use 'mean', 'first' or 'last'")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        show = len(docs) >= PROGRESS_MIN_TEXTS if progress is None else progress
        stacked = self._embed_docs(docs, spec.indices, pooling, batch_size, show)
        out = []
        for doc, (layer_vecs, oov) in zip(docs, stacked, strict=True):
            out.append(
                WordVectors(
                    words=doc.words,
                    offsets=doc.offsets,
                    vectors=spec.combine(layer_vecs),
                    layers=layer_vecs if return_layers else None,
                    oov=oov,
                )
            )
        return out

    @abstractmethod
    def _embed_docs(
        self,
        docs: list[Doc],
        layers: tuple[int, ...],
        pooling: str,
        batch_size: int,
        progress: bool,
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per doc: ``([n_sel, n_words, dim] float32, oov mask or None)``."""

    def embed_sentences(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pooling: str = "mean",
        layers: Layers = -1,
        batch_size: int = 32,
        progress: bool | None = None,
    ) -> np.ndarray:
        """One vector per text, ``[n, dim]`` float32: by default the mean (or max) over its
        words at one layer (or a list, ``all``, a mix); families with a sentence encoder of
        their own override this."""
        if pooling not in ("mean", "max"):
            raise InputError(f"pooling={pooling!r}: use 'mean' or 'max'")
        res = self.embed_words(texts, layers=layers, batch_size=batch_size, progress=progress)
        return np.stack([r.vectors.mean(0) if pooling == "mean" else r.vectors.max(0) for r in res])

    def token_counts(self, texts: Texts) -> list[np.ndarray]:
        """Per text, how many model tokens each word takes: subwords for a transformer, 1
        for word-level models. What a server's token budget and input limit count."""
        return [np.ones(len(d.words), dtype=np.int64) for d in prepare(texts)]

    # -- fine-tuning: families whose weights can be trained through implement both ----------
    def tunable(self) -> Any:
        """The ``torch.nn.Module`` whose weights full fine-tuning trains, or None where the
        family can only be used frozen (its vectors as features)."""
        return None

    def word_layers(
        self, docs: list[Doc], batch_size: int = 32, layers: tuple[int, ...] | None = None
    ) -> list[Any]:
        """Per doc, the word vectors of ``layers`` (default all) ``[n_sel, n_words, dim]`` as
        torch tensors, under the caller's grad mode (what ``embed_words`` gives, within 1e-5)."""
        raise ModelError(
            f"the {self.family} family cannot be fine-tuned through its weights: "
            "use it frozen (--mode frozen)"
        )

    @abstractmethod
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write a folder that ``ctxembed.load`` reads back to identical vectors.

        An existing ctxembed folder is replaced only with ``overwrite=True``; any other
        existing, non-empty folder is refused (``ctxembed.io.atomic_dir``).
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} family={self.family} dim={self.dim} layers={self.n_layers}>"


# -- a family declares itself (see families.py for the registry) -----------------------------
@dataclass(frozen=True)
class Trainer:
    """``ctxembed train NAME``: its help line, its options, and the handler (exit status)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


@dataclass(frozen=True)
class Family:
    name: str  # the manifest's "family" and the name of `ctxembed train NAME`
    # opens saved folders whose manifest names this family: embedder.from_folder(path, **options)
    embedder: type[Embedder] | None = None
    load_options: tuple[str, ...] = ()  # keywords ``load`` passes on; others are named as typos
    # a format of another library this family opens (an HF folder, bilm-tf files, vectors file)
    detect: Callable[[Path], bool] | None = None
    open: Callable[..., Embedder] | None = None  # open(path, **options) for what detect accepts
    open_options: tuple[str, ...] | None = None  # keywords of ``open``; default load_options
    opens: str = ""  # what ``open`` reads, for messages ("vectors file"); default "NAME model"
    detect_order: int = 0  # lower is tried first: a vectors file (any file) goes last
    trainer: Trainer | None = None
    # format -> write(model path, output path, overwrite) -> the line to print
    exports: dict[str, Callable[[str, str, bool], str]] = field(default_factory=dict)
    # `ctxembed predict` on a saved folder of this family without a task head (a CVT tagger,
    # a topic model): predict(folder, JSON Lines input, batch size) -> one result per example
    predict: Callable[[Path, str, int], list[dict]] | None = None


def write_manifest(folder: Path, family: str, config: dict[str, Any], **extra: Any) -> None:
    """``ctxembed.json``: the family, its model config, the version, and any embedder settings
    (``extra``) that must travel with the weights for the vectors to read back the same."""
    from . import __version__

    manifest = {"family": family, "config": config, "ctxembed_version": __version__, **extra}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{folder / MANIFEST} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or "family" not in manifest:
        raise ModelError(f"{folder / MANIFEST} has no 'family' entry")
    return manifest


# -- the pieces of a saved folder, written and read the same way by every family -------------
WEIGHTS = "model.safetensors"


def write_weights(folder: Path, state: dict[str, Any], name: str = WEIGHTS) -> None:
    """A module's ``state_dict`` as safetensors (contiguous copies: safetensors needs them)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / name))


def read_weights(folder: Path, name: str = WEIGHTS) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


def write_words(path: Path, words: Sequence[str]) -> None:
    path.write_text("".join(w + "\n" for w in words), encoding="utf-8")


def read_words(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def write_model(
    folder: Path,
    family: str,
    config: dict[str, Any],
    state: dict[str, Any],
    lists: dict[str, Sequence[str]] | None = None,
    **extra: Any,
) -> None:
    """The usual saved folder, into ``folder`` (an ``atomic_dir``): the weights, word lists
    (file name -> words) and the manifest."""
    write_weights(folder, state)
    for name, words in (lists or {}).items():
        write_words(folder / name, words)
    write_manifest(folder, family, config, **extra)


def read_model(
    path: Path, what: str, build: Callable[[dict[str, Any]], Any], *lists: str
) -> tuple[Any, dict[str, Any], list[list[str]]]:
    """What ``write_model`` wrote: the module ``build(config)`` with its weights, the
    manifest, and the word lists named; any fault is one ModelError naming ``what``."""
    manifest = read_manifest(path)
    with invalid_folder(path, what):
        model = build(manifest["config"])
        model.load_state_dict(read_weights(path))
        words = [read_words(path / name) for name in lists]
    return model, manifest, words


@contextlib.contextmanager
def invalid_folder(path: Path, what: str) -> Iterator[None]:
    """Reading a saved folder: a missing file, a bad tensor or config becomes one ModelError."""
    from safetensors import SafetensorError

    try:
        yield
    # ValueError / AssertionError: torch refusing the folder's config (a dropout of 5, ...)
    except (
        TypeError,
        KeyError,
        ValueError,
        AssertionError,
        RuntimeError,
        OSError,
        SafetensorError,
    ) as e:
        raise ModelError(f"{path}: not a valid {what} folder ({e})") from None
