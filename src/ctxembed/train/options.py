"""What every trainer's command line shares: option types, the loop options, the output
check before training, configs from JSON files, and the closing summary line."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..options import overwrite, positive


def corpus_args(t: argparse.ArgumentParser, valid: str, config: str) -> None:
    """--corpus, --valid (``valid`` says what is measured on it), --out, --config."""
    t.add_argument("--corpus", required=True, help="training text, UTF-8 (or .gz)")
    t.add_argument("--valid", default=None, help=f"validation text: {valid}")
    t.add_argument("--out", required=True, help="folder to write the model to")
    t.add_argument("--config", default="small", help=config)


def loop_args(t: argparse.ArgumentParser, checkpoint_every: int | None = 500) -> None:
    """The options every neural trainer shares (None: no checkpoints, so no --resume)."""
    overwrite(t)
    t.add_argument("--max-steps", type=positive, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    if checkpoint_every is not None:
        t.add_argument("--checkpoint-every", type=positive, default=checkpoint_every)
        t.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint")


def check_out(args: argparse.Namespace) -> Path | None:
    """Before any training: OUT can be written (``io.check_dir``), and ``OUT.checkpoint``,
    for trainers that checkpoint, is absent or one ctxembed wrote. Returns the checkpoint
    folder: kept while training, removed once OUT is written."""
    from ..io import CHECKPOINT, check_dir

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


def model_config(
    name: str,
    configs: dict,
    parse: Callable[[Any], Any],
    family: str,
    defaults: Any,
    build: Callable[[Any], Any] | None = None,
):
    """A named config, or a JSON file that ``parse`` turns into one (TypeError: bad fields).

    ``defaults`` (a config dataclass, or a dict of default values) gives each field's type
    and range: a value of another type, or a size below 1, is named here. ``build`` makes a
    small model from the config before any data is read, so that what only the layers check
    (a dropout of 1.5, heads that do not divide the width) is named here too, not as a torch
    error after the corpus was read."""
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
        cfg = parse(data)
        if build is not None:
            build(cfg)
        return cfg
    except (
        json.JSONDecodeError,
        TypeError,
        UnicodeDecodeError,
        ValueError,
        AssertionError,
        RuntimeError,
    ) as e:
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
    """Save, drop the checkpoint, print the one-line summary shared by the neural trainers
    (under torchrun, rank 0 only: the other processes hold the same weights)."""
    from ..io import remove_own_dir
    from .distributed import is_main

    if not is_main():
        return 0
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
