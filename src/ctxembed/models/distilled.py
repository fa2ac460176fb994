"""Distilled static encoders: a transformer's knowledge in a token table (Model2Vec's recipe,
Tulkens and van Dongen 2024).

Every token of the teacher's vocabulary goes through the teacher once, alone (with its
special tokens, pooled as the teacher pools sentences). The rows are reduced with PCA and
weighted by SIF, ``a / (a + p(token))`` (Arora et al. 2017), with ``p`` counted on a corpus
tokenized by the teacher. A text's vector is the mean of its tokens' rows: sentence vectors
at table-lookup speed. Word vectors are **context-free**: a word's vector is the mean of its
subword rows, the same in every sentence.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..embedder import (
    Embedder,
    Family,
    Trainer,
    invalid_folder,
    read_manifest,
    read_weights,
    resolve_layers,
    write_manifest,
    write_weights,
)
from ..errors import InputError, ModelError
from ..io import atomic_dir, read_lines
from ..options import overwrite, positive, positive_float
from ..text.words import prepare, raw_strings

TABLE = "table"


class DistilledEmbedder(Embedder):
    """A token table over the teacher's tokenizer; one (input) layer, no context."""

    family = "distilled"
    n_layers = 1

    def __init__(self, tokenizer: Any, table: np.ndarray, config: dict[str, Any] | None = None):
        table = np.require(table, np.float32, ["C", "W"])  # torch reads it in place
        if table.ndim != 2 or table.shape[0] < len(tokenizer):
            raise ModelError(
                f"a table of shape {table.shape} for a tokenizer of {len(tokenizer)} tokens"
            )
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError(
                "a distilled model needs the teacher's fast tokenizer (tokenizer.json)"
            )
        # the Rust tokenizer is called directly: it must neither cut nor pad
        tokenizer.backend_tokenizer.no_truncation()
        tokenizer.backend_tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.unk = tokenizer.unk_token_id  # the row of a word the tokenizer drops, as the teacher
        self.table = table
        self.dim = table.shape[1]
        self.config = dict(config or {})
        self.normalize = bool(self.config.get("normalize", False))

    def __repr__(self) -> str:
        teacher = self.config.get("teacher", "?")
        return (
            f"<DistilledEmbedder family=distilled dim={self.dim} tokens={len(self.table)} "
            f"teacher={teacher}: context-free word vectors>"
        )

    # -- tokens ---------------------------------------------------------------------------
    def _word_ids(self, docs) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per doc: its subword ids and, per id, the word it belongs to."""
        enc = self.tokenizer(
            [d.words for d in docs], is_split_into_words=True, add_special_tokens=False,
            verbose=False,
        )  # fmt: skip
        out = []
        for i in range(len(docs)):
            ids = np.asarray(enc["input_ids"][i], dtype=np.int64)
            words = np.asarray([-1 if w is None else w for w in enc.word_ids(i)], dtype=np.int64)
            out.append((ids, words))
        return out

    def _encode(self, texts: list[str], where) -> list[list[int]]:
        """Each raw text's ids, tokenized whole by the Rust tokenizer without offsets (the
        per-text Python of a transformers call would cost more than the lookup itself)."""
        enc = self.tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids or self._dropped(i) for i, e in zip(where, enc, strict=True)]

    def _dropped(self, i: int) -> list[int]:
        """The ids of text ``i``, whose every character the tokenizer drops: the unknown
        token, as the teacher reads it."""
        if self.unk is None:
            raise InputError(f"the tokenizer gives no token for text {i}, and has no unknown token")
        return [self.unk]

    def _pieces(self, docs) -> list[tuple[np.ndarray, np.ndarray]]:
        """``_word_ids``, with the unknown token standing in for a word the tokenizer drops
        entirely (a lone U+FFFD), as the transformer family does: every word gets a row."""
        out = []
        for doc, (ids, words) in zip(docs, self._word_ids(docs), strict=True):
            missing = np.setdiff1d(np.arange(len(doc.words)), words)
            if len(missing):
                if self.unk is None:
                    raise InputError(f"the tokenizer gives no token for word {missing[0]}")
                ids = np.r_[ids, np.full(len(missing), self.unk)]
                words = np.r_[words, missing]
                order = np.argsort(words, kind="stable")
                ids, words = ids[order], words[order]
            out.append((ids, words))
        return out

    def token_counts(self, texts) -> list[np.ndarray]:
        docs = prepare(texts)
        return [
            np.bincount(w, minlength=len(d.words))
            for d, (_, w) in zip(docs, self._pieces(docs), strict=True)
        ]

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        out = []
        for doc, (ids, words) in zip(docs, self._pieces(docs), strict=True):
            n = len(doc.words)
            rows = self.table[ids]
            starts = np.flatnonzero(np.r_[True, words[1:] != words[:-1]])  # words are in order
            if pooling == "mean":
                counts = np.diff(np.r_[starts, len(ids)])
                vecs = np.add.reduceat(rows, starts, axis=0) / counts[:, None]
            elif pooling == "first":
                vecs = rows[starts]
            else:
                vecs = rows[np.r_[starts[1:], len(ids)] - 1]
            out.append((np.ascontiguousarray(vecs[None], dtype=np.float32)[:, :n], None))
        return out

    def embed_sentences(
        self, texts, pooling: str = "mean", layers=-1, batch_size: int = 32, progress=None
    ) -> np.ndarray:
        """The mean of the text's token rows (raw text is tokenized whole, as the teacher
        reads it); unit length if the model was distilled with ``normalize``."""
        if pooling != "mean":
            raise InputError(f"pooling={pooling!r}: a distilled model pools with 'mean'")
        resolve_layers(layers, self.n_layers)  # names a layer this model does not have
        raw = raw_strings(texts)
        if raw is not None:
            ids = self._encode(raw, range(len(raw)))
        else:  # word lists read as embed_words reads them; any raw string among them whole
            docs, items = prepare(texts), list(texts)
            ids = [[] for _ in items]
            strings = [i for i, t in enumerate(items) if isinstance(t, str)]
            lists = [i for i, t in enumerate(items) if not isinstance(t, str)]
            if strings:
                rows = self._encode([items[i] for i in strings], strings)
                for i, row in zip(strings, rows, strict=True):
                    ids[i] = row
            if lists:
                pieces = self._pieces([docs[i] for i in lists])
                for i, (row, _) in zip(lists, pieces, strict=True):
                    ids[i] = row.tolist()
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=lengths.sum())
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        # one pass over the rows, each text's sum in its own order (numpy's reduceat over a
        # gathered copy of every row was most of the time)
        out = F.embedding_bag(
            torch.from_numpy(flat),
            torch.from_numpy(self.table),
            torch.from_numpy(starts),
            mode="mean",
        ).numpy()
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    # -- folders --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            self.tokenizer.save_pretrained(tmp)
            write_weights(tmp, {TABLE: torch.from_numpy(self.table)})
            write_manifest(tmp, self.family, self.config)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> DistilledEmbedder:
        from transformers import AutoTokenizer

        manifest = read_manifest(path)
        with invalid_folder(path, "a distilled model (model.safetensors, tokenizer.json)"):
            table = read_weights(path)[TABLE].numpy()
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
        except Exception as e:  # the Rust tokenizers library raises bare Exceptions
            raise ModelError(
                f"{path}: the tokenizer cannot be read ({type(e).__name__}: {e}); distil the "
                "model again"
            ) from None
        return cls(tokenizer, table, {**manifest.get("config", {}), **options})


# -- distilling ----------------------------------------------------------------------------------
def token_counts(tokenizer: Any, lines: Sequence[str], batch: int = 2048) -> np.ndarray:
    """How often each token id occurs in ``lines`` (tokenized as the teacher reads text)."""
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    for b in range(0, len(lines), batch):
        enc = tokenizer(list(lines[b : b + batch]), add_special_tokens=False, verbose=False)
        for ids in enc["input_ids"]:
            counts += np.bincount(ids, minlength=len(counts))[: len(counts)]
    return counts


def check_teacher(teacher: Embedder) -> None:
    if not (hasattr(teacher, "embed_ids") and hasattr(teacher, "tokenizer")):
        raise InputError(
            "distilling needs a transformer teacher (a Hugging Face encoder); "
            f"got the {teacher.family} family"
        )


def distill(
    teacher: Embedder,
    dim: int | None = 256,
    lines: Sequence[str] = (),
    sif: float = 1e-3,
    normalize: bool = True,
    batch_size: int = 512,
    teacher_name: str = "",
    progress: bool = True,
) -> DistilledEmbedder:
    """Model2Vec's recipe on any transformer ``teacher`` (see the module's docstring);
    ``lines`` give the token frequencies for SIF (none: every token weighs the same)."""
    from sklearn.decomposition import PCA

    check_teacher(teacher)
    embed_ids, tokenizer = teacher.embed_ids, teacher.tokenizer
    n = len(tokenizer)
    if not (isinstance(sif, float | int) and sif > 0):
        raise InputError(f"sif={sif!r}: give a number above 0 (SIF's a, e.g. 1e-3)")
    if dim is not None and not (isinstance(dim, int) and 1 <= dim <= min(teacher.dim, n)):
        raise InputError(f"dim={dim}: use 1..{min(teacher.dim, n)} (the teacher has {teacher.dim})")
    start = time.perf_counter()
    # each token alone, mean-pooled with its special tokens and not normalised, as Model2Vec
    rows = embed_ids(
        [[i] for i in range(n)], pooling="mean", normalize=False, batch_size=batch_size,
        progress=progress,
    )  # fmt: skip
    if dim is not None:
        # PCA as Model2Vec does, even at the teacher's width: it centres and decorrelates
        rows = PCA(n_components=dim, random_state=0).fit_transform(rows).astype(np.float32)
    if len(lines):
        counts = token_counts(tokenizer, lines).astype(np.float64)
        p = (counts + 1) / (counts.sum() + n)
        rows = rows * (sif / (sif + p))[:, None].astype(np.float32)
    config = {
        "teacher": teacher_name,
        "dim": int(rows.shape[1]),
        "sif": sif if len(lines) else None,
        "frequency_lines": len(lines),
        "normalize": normalize,
        "seconds": round(time.perf_counter() - start, 1),
    }
    return DistilledEmbedder(tokenizer, rows, config)


# -- `ctxembed distill` (also `ctxembed train distilled`) ----------------------------------------
HELP = "distil a transformer into a static token table (Model2Vec's recipe)"


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--teacher", required=True, help="a transformer: minilm-l6 or a folder")
    t.add_argument("--out", required=True)
    t.add_argument("--dim", type=positive, default=256, help="PCA width (default 256)")
    t.add_argument("--no-pca", action="store_true", help="keep the teacher's width, no PCA")
    t.add_argument(
        "--corpus", nargs="+", default=None,
        help="text files whose token counts give the SIF weights (default: WikiText-2 train)",
    )  # fmt: skip
    # 1e-3 beat Model2Vec's 1e-4 and 1e-5 on STS-B train (benchmarks/distill.py's note)
    t.add_argument("--sif", type=positive_float, default=1e-3, help="SIF's a")
    t.add_argument(
        "--no-normalize", action="store_true", help="do not scale sentence vectors to unit length"
    )
    overwrite(t)


def run(args: argparse.Namespace) -> int:
    from ..datasets import data_path
    from ..families import check_models, load
    from ..io import check_dir, inside

    check_models([args.teacher])
    corpus = (
        args.corpus if args.corpus is not None else [data_path("wikitext2", "wiki.train.tokens.gz")]
    )
    out = check_dir(args.out, args.overwrite)
    inside(out, [Path(args.teacher), *map(Path, corpus)])
    teacher = load(args.teacher)
    check_teacher(teacher)  # before the corpus is read
    lines = [line for path in corpus for _, line in read_lines(path) if line.strip()]
    if not lines:  # SIF would silently be off
        raise InputError(
            f"{', '.join(map(str, corpus))}: no text to count tokens in; give a corpus with "
            "text, or leave out --corpus for WikiText-2's counts"
        )
    model = distill(
        teacher,
        None if args.no_pca else args.dim,
        lines,
        args.sif,
        normalize=not args.no_normalize,
        teacher_name=args.teacher,
    )
    model.save(args.out, overwrite=args.overwrite)
    print(
        f"distilled {args.teacher} into {len(model.table):,} x {model.dim} rows in "
        f"{model.config['seconds']} s -> {args.out}"
    )
    return 0


FAMILY = Family(
    "distilled",
    embedder=DistilledEmbedder,
    trainer=Trainer(HELP, add_arguments, run),
)
