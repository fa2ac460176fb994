"""``ctxembed finetune TASK`` and ``ctxembed predict DIR IN OUT``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import InputError, require
from ..options import count, fraction, overwrite, positive, positive_float
from ..train.tasks import KINDS, TASKS, read_jsonl

HELP = "train a task head on any model, frozen or fully fine-tuned"
DESCRIPTION = (
    "TASK is a built-in task on data shipped with ctxembed ("
    + "; ".join(f"{t.name}: {t.about}" for t in TASKS.values())
    + f") or a kind "
    f"({', '.join(KINDS)}) with your own --train/--dev JSON Lines files. --mode frozen trains "
    "the head on a learned mix of the model's layers; --mode full trains every weight. The "
    "dev split is scored every epoch and the best epoch is kept (early stopping). OUT is the "
    "model's folder plus the head: ctxembed.load(OUT) embeds, ctxembed predict OUT runs the head."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", metavar="TASK", help="a built-in task or a kind (see above)")
    p.add_argument("--model", required=True, help="a model name or folder (ctxembed models)")
    p.add_argument("--out", required=True, help="folder to write the tuned model to")
    p.add_argument("--mode", choices=("frozen", "full"), default="frozen")
    p.add_argument("--train", default=None, help="JSON Lines training file (a kind as TASK)")
    p.add_argument("--dev", default=None, help="JSON Lines dev file: early stopping reads it")
    p.add_argument("--test", default=None, help="JSON Lines test file: scored at the end")
    p.add_argument("--epochs", type=positive, default=3)
    p.add_argument("--lr", type=positive_float, default=2e-5, help="the encoder's, full mode")
    p.add_argument("--head-lr", type=positive_float, default=1e-3)
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--warmup", type=fraction, default=0.1, help="share of steps warming up")
    p.add_argument(
        "--layer-decay", type=positive_float, default=1.0, help="full: lr x this per layer down"
    )
    p.add_argument("--weight-decay", type=fraction, default=0.01)
    p.add_argument("--dropout", type=fraction, default=0.1)
    p.add_argument("--hidden", type=count, default=0, help="MLP width (0: the model's)")
    p.add_argument(
        "--lstm",
        type=lstm_width,
        default=-1,
        help="tag/span: width of a biLSTM over the words (0: none; -1: 256 frozen, none full)",
    )
    p.add_argument("--crf", action="store_true", help="tag: a CRF over the tag scores")
    p.add_argument("--layers", choices=("auto", "mix", "top"), default="auto")
    p.add_argument("--patience", type=positive, default=2, help="epochs without a better dev")
    p.add_argument("--max-train", type=positive, default=None, help="train on the first N examples")
    p.add_argument("--checkpoint-every", type=positive, default=500)
    p.add_argument("--max-steps", type=positive, default=None)
    p.add_argument("--max-minutes", type=positive_float, default=None, help="a time budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (transformer models)")
    overwrite(p)


def lstm_width(value: str) -> int:
    n = int(value) if value.lstrip("-").isdigit() else None
    if n is None or n < -1:
        raise argparse.ArgumentTypeError(f"give -1 (automatic), 0 (none) or a width, got {value!r}")
    return n


def task_kind(args: argparse.Namespace) -> str:
    """The kind of head TASK needs; a built-in task takes no files, a kind needs them."""
    if args.task in TASKS:
        if args.train or args.dev or args.test:
            raise InputError(
                f"{args.task} is a built-in task with its own data: drop --train/--dev/--test, "
                f"or name a kind ({', '.join(KINDS)}) to train on your files"
            )
        return TASKS[args.task].kind
    if args.task not in KINDS:
        raise InputError(
            f"unknown task {args.task!r}: built-in tasks {', '.join(TASKS)}; "
            f"or a kind ({', '.join(KINDS)}) with --train and --dev files"
        )
    if not args.train or not args.dev:
        raise InputError(f"a {args.task} task needs --train and --dev JSON Lines files")
    return args.task


def splits_for(args: argparse.Namespace, kind: str) -> dict:
    if args.task in TASKS:
        return TASKS[args.task].read()  # type: ignore[misc]
    splits = {"train": read_jsonl(args.train, kind), "dev": read_jsonl(args.dev, kind)}
    if args.test:
        splits["test"] = read_jsonl(args.test, kind)
    return splits


def run(args: argparse.Namespace) -> int:
    require("eval", "scipy", "seqeval")
    from ..families import check_models, load
    from ..io import inside, remove_own_dir
    from ..train.distributed import is_main
    from ..train.options import check_out, from_args, peak_memory_mib
    from .tuned import TuneConfig, fit, save

    kind = task_kind(args)
    cfg = from_args(TuneConfig, args, kind=kind)
    check_models([args.model])
    ckpt = check_out(args)
    inside(Path(args.out), [Path(args.model)])  # never into the model it reads
    splits = splits_for(args, kind)
    options = {"device": args.device} if args.device else {}
    embedder = load(args.model, **options)
    start = time.perf_counter()
    outcome = fit(embedder, cfg, splits, ckpt, args.resume, not args.quiet, args.model)
    secs = time.perf_counter() - start
    if not is_main():  # under torchrun: rank 0 writes the one model
        return 0
    hist = outcome.history
    n_epochs = len(hist.valid)
    n_train = len(splits["train"][: cfg.max_train])
    # this process's training time per example (a resumed run counts its own part only)
    per_example = (hist.seconds - hist.valid_seconds) / max(hist.tokens, 1)
    extra = {
        "model": args.model,
        "steps": len(hist.losses),
        "minutes_per_epoch": round(per_example * n_train / 60, 2),  # validation apart
        "n_examples": {s: len(e) for s, e in splits.items()} | {"train": n_train},
        "seconds": round(secs, 1),
        "peak_memory_mib": round(peak_memory_mib()),
        "best_epoch": int(hist.best["epoch"]) if hist.best else None,
    }
    save(outcome, args.out, args.overwrite, extra)
    if hist.stopped == "budget":  # cut short by --max-steps/--max-minutes: it may go on
        print(
            f"ctxembed: training stopped at its budget; {ckpt} is kept: add --resume "
            "--overwrite and a larger budget (or none) to go on",
            file=sys.stderr,
        )
    else:
        remove_own_dir(ckpt)
    scores = "; ".join(
        f"{split} " + ", ".join(f"{k} {v:.2f}" for k, v in m.items())
        for split, m in outcome.scores.items()
    )
    print(
        f"{args.task} ({cfg.mode}, {args.model}): {scores}; best epoch {extra['best_epoch']} of "
        f"{n_epochs}, {secs / 60:.1f} min, peak memory {extra['peak_memory_mib']:,} MiB "
        f"-> {args.out}"
    )
    return 0


# -- predict -------------------------------------------------------------------------------
PREDICT_HELP = "run a fine-tuned model's head, a CVT tagger or a topic model over JSON Lines"


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="DIR", help="a folder ctxembed finetune (or train cvt / ctm) wrote"
    )
    p.add_argument("input", help="JSON Lines, one example per line (labels not needed)")
    p.add_argument(
        "output",
        help="JSON Lines: one result per example, in order, blank lines skipped ('-': stdout)",
    )
    p.add_argument("--batch-size", type=positive, default=32)
    overwrite(p, "an existing OUTPUT file")


def predictions(folder: Path, path: str, batch_size: int) -> list[dict]:
    """A tuned folder's head, or the prediction of a family that has one of its own (a CVT
    tagger's tags, a topic model's document-topic distributions)."""
    from ..embedder import read_manifest
    from ..families import families
    from ..io import MANIFEST
    from .tuned import HEAD_CONFIG, load

    if not folder.is_dir():
        raise InputError(
            f"{folder}: no such folder; give one that ctxembed finetune, train cvt or train ctm wrote"
        )
    if not (folder / HEAD_CONFIG).is_file() and (folder / MANIFEST).is_file():
        fam = families().get(read_manifest(folder)["family"])
        if fam is not None and fam.predict is not None:
            return fam.predict(folder, path, batch_size)
    tm = load(folder)
    return tm.predict(read_jsonl(path, tm.cfg.kind, labelled=False), batch_size)


def run_predict(args: argparse.Namespace) -> int:
    from ..io import atomic_file, check_out_file

    to_stdout = args.output == "-"
    if not to_stdout:  # never into the model's folder or over the input
        check_out_file(Path(args.output), args.overwrite, [Path(args.input), Path(args.model)])
    results = predictions(Path(args.model).expanduser(), args.input, args.batch_size)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if to_stdout:
        sys.stdout.write(lines)
    else:
        with atomic_file(args.output, "w") as f:
            f.write(lines)
        print(f"{len(results):,} predictions -> {args.output}", file=sys.stderr)
    return 0
