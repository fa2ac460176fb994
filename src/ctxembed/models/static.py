"""Static embeddings (Word2Vec, GloVe, any word -> vector table): lookup, neighbours, formats.

Every occurrence of a word gets the same vector; that is the baseline the contextual
families are measured against. Out-of-vocabulary (OOV) policy, chosen by the caller:
``oov="zero"`` gives a zero vector and sets ``WordVectors.oov``; ``oov="error"`` raises
``OutOfVocabularyError``. A word missing as written is looked up lowercased before it
counts as OOV (``lowercase_fallback``), since most published tables are lowercased.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from ..api import Embedder, write_manifest
from ..errors import InputError, ModelError, OutOfVocabularyError
from ..io import atomic_dir, atomic_file, open_bytes

WEIGHTS = "vectors.safetensors"
VOCAB = "vocab.txt"
FORMATS = ("word2vec-text", "word2vec-binary", "glove-text")


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

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        out = []
        for doc in tqdm(docs, disable=not progress, desc="embedding", unit="text"):
            rows = [self.lookup(w) for w in doc.words]
            oov = np.array([r is None for r in rows])
            if oov.any() and self.oov == "error":
                missing = [w for w, r in zip(doc.words, rows, strict=True) if r is None]
                raise OutOfVocabularyError(f"not in the vocabulary: {missing[:10]}")
            vecs = np.zeros((len(rows), self.dim), dtype=np.float32)
            found = ~oov
            if found.any():
                vecs[found] = self.vectors[[r for r in rows if r is not None]]
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
            (tmp / VOCAB).write_text("".join(w + "\n" for w in self.words), encoding="utf-8")
            cfg = {"oov": self.oov, "lowercase_fallback": self.lowercase_fallback, **self.config}
            write_manifest(tmp, self.family, cfg)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> StaticEmbedder:
        from ..api import read_manifest

        manifest = read_manifest(path)
        for name in (WEIGHTS, VOCAB):
            if not (path / name).exists():
                raise ModelError(f"{path} is missing {name}")
        try:
            vectors = load_file(str(path / WEIGHTS))["vectors"]
        except Exception as e:  # safetensors raises its own error types
            raise ModelError(f"{path / WEIGHTS} is not a valid safetensors file: {e}") from None
        words = (path / VOCAB).read_text(encoding="utf-8").split("\n")[:-1]
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
