"""``ctxembed embed``: the texts of a file (one per line, or JSONL) to word vectors in .npz or
.jsonl, streamed in bounded chunks."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import check_out_file
from .options import layer_option, overwrite, positive
from .text.files import TextFile

# `embed` streams its input in chunks of at most CHUNK texts and CHUNK_CHARS characters
# (about 10,000 words), so memory does not grow with the file; a text of LONG_TEXT
# characters (about 1,000 words) or more goes alone and shows the model's own progress
CHUNK = 1024
CHUNK_CHARS = 60_000
LONG_TEXT = 6_000


HELP = "word vectors for each text of a file"
DESCRIPTION = (
    'INPUT: one text per line, or JSONL with {"text": ...} or {"words": [...]}. OUTPUT: .npz '
    "(see README: vectors, lengths, lines, offsets, word_bytes, word_ends, oov) or .jsonl."
)


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", required=True, help="a name from `ctxembed models` or a path")
    s.add_argument(
        "--layers",
        type=layer_option,
        default=-1,
        help="-1 (the last), 0,2,4, all, or mix:w0,w1,..[@gamma]",
    )
    s.add_argument(
        "--pooling", choices=["mean", "first", "last"], default="mean", help="subwords -> word"
    )
    s.add_argument("--batch-size", type=positive, default=32)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--keep-blank", action="store_true", help="fail on a blank line instead of skipping it"
    )
    overwrite(s, "an existing OUTPUT file")
    s.add_argument("input")
    s.add_argument("output")


def chunks(texts: TextFile) -> Iterator[tuple[list[int], list[str | list[str]], bool]]:
    """``(line numbers, texts, is one long text)`` in groups that bound memory. Sizes are
    counted in characters, which costs nothing; the model tokenizes each text once more
    when it embeds it (the first pass, ``TextFile.count``, tokenized it to size the output)."""
    lines: list[int] = []
    group: list[str | list[str]] = []
    chars = 0
    for n, text in texts:
        k = len(text) if isinstance(text, str) else sum(len(w) + 1 for w in text)
        if group and (len(group) == CHUNK or chars + k > CHUNK_CHARS or k >= LONG_TEXT):
            yield lines, group, False
            lines, group, chars = [], [], 0
        lines.append(n)
        group.append(text)
        chars += k
        if k >= LONG_TEXT:
            yield lines, group, True
            lines, group, chars = [], [], 0
    if group:
        yield lines, group, False


@contextlib.contextmanager
def _spooled(src: Path) -> Iterator[Path]:
    """A pipe's bytes in a temporary file while the block runs (embed reads its input twice)."""
    import shutil
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="ctxembed-embed-", suffix=src.suffix) as tmp:
        with open(src, "rb") as fin:
            shutil.copyfileobj(fin, tmp)
        tmp.flush()
        yield Path(tmp.name)


def run(args: argparse.Namespace) -> int:
    src, out = Path(args.input), Path(args.output)
    if src.is_dir():
        raise InputError(f"{src} is a folder: give a text or JSONL file")
    if out.suffix not in (".npz", ".jsonl"):
        raise InputError(f"{out}: the output must end in .npz or .jsonl")
    check_out_file(out, args.overwrite, [src, Path(args.model)])  # not into a model folder
    texts = TextFile(src, args.keep_blank)
    if not src.exists() or src.is_file():
        return embed_file(args, texts, out)
    with _spooled(src) as copy:  # a pipe or FIFO
        texts.path = copy
        return embed_file(args, texts, out)


def embed_file(args: argparse.Namespace, texts: TextFile, out: Path) -> int:
    """``embed`` once its input and output are checked: two passes over ``texts``."""
    from tqdm.auto import tqdm

    from .families import load
    from .io import NpzWriter, atomic_file

    src = texts.name
    n_texts, total = texts.count()  # a first pass checks every line before the model loads
    if not n_texts:
        raise InputError(f"{src} holds no texts")
    model = load(args.model)
    start = time.perf_counter()
    n_oov = 0
    static = False
    bar = tqdm(total=n_texts, desc="embedding", unit="text", disable=args.quiet)
    done = 0
    npz = out.suffix == ".npz"
    with atomic_file(out, "wb" if npz else "w") as f, contextlib.ExitStack() as stack:
        if npz:
            # vectors stream straight into the file (their shape is known from the first
            # pass); the small per-word and per-text arrays are spooled and appended at the end
            z = stack.enter_context(NpzWriter(f))
            put_vectors = None
            put_lengths, put_lines = z.spool("lengths", np.int64), z.spool("lines", np.int64)
            put_ends, put_bytes = z.spool("word_ends", np.int64), z.spool("word_bytes", np.uint8)
            put_offsets = z.spool("offsets", np.int64, (2,))
            n_bytes = 0
        for lines, group, long_one in chunks(texts):
            res = model.embed_words(
                group,
                layers=args.layers,
                pooling=args.pooling,
                batch_size=args.batch_size,
                progress=long_one and not args.quiet,
            )
            for n, wv in zip(lines, res, strict=True):
                if wv.oov is not None:
                    static = True
                    n_oov += int(wv.oov.sum())
                if not npz:
                    row = {"line": n, "words": wv.words, "offsets": wv.offsets}
                    row["vectors"] = wv.vectors.tolist()
                    if wv.oov is not None:
                        row["oov"] = wv.oov.tolist()
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    continue
                if put_vectors is None:
                    put_vectors = stack.enter_context(
                        z.member("vectors", wv.vectors.dtype, (total, wv.vectors.shape[1]))
                    )
                    put_oov = z.spool("oov", bool) if wv.oov is not None else None
                put_vectors(wv.vectors)
                if put_oov is not None:
                    put_oov(wv.oov)
                put_lengths(np.array([len(wv)]))
                put_lines(np.array([n]))
                encoded = [w.encode("utf-8") for w in wv.words]
                put_bytes(np.frombuffer(b"".join(encoded), dtype=np.uint8))
                put_ends(n_bytes + np.cumsum([len(e) for e in encoded]))
                n_bytes += sum(len(e) for e in encoded)
                put_offsets(np.array(wv.offsets or [(-1, -1)] * len(wv)).reshape(-1, 2))
            bar.update(len(group))
            done += len(group)
        bar.close()
        if done != n_texts:  # the input changed between the two passes
            raise InputError(f"{src} changed while it was read: {done} texts, not {n_texts}")
    secs = time.perf_counter() - start
    oov = f" ({n_oov:,} out of vocabulary)" if static else ""
    plural = "s" if texts.blank > 1 else ""
    blank = f"; skipped {texts.blank:,} blank line{plural}" if texts.blank else ""
    print(
        f"embedded {n_texts:,} text{'s' * (n_texts != 1)}, {total:,} words{oov} with {args.model} in {secs:.1f}s "
        f"({total / max(secs, 1e-9):,.0f} words/s) -> {out}{blank}"
    )
    return 0
