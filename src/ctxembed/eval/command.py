"""``ctxembed bench``: its options and handler. The evaluation packages (an extra) are imported
when it runs, so that the command line works, and says what to install, without them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InputError, require
from ..families import check_models
from ..io import check_files
from ..options import layer_option, overwrite, positive

# -- `ctxembed bench` ----------------------------------------------------------------------
HELP = "evaluate models side by side on the benchmark tasks"
DESCRIPTION = (
    "Tasks: all, wordsim, analogy, coarsewsd, wic, sts, classify, layers (the per-layer view "
    "of coarsewsd and wic). Writes OUT/results.json, OUT/results.md and plots."
)


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--models", required=True, help="comma-separated names or saved folders")
    s.add_argument("--tasks", default="all")
    s.add_argument(
        "--limit", type=positive, default=None, help="at most N items per data file (quick runs)"
    )
    s.add_argument("--out", default="out/bench")
    s.add_argument(
        "--layers", type=layer_option, default=-1, help="the main layer of contextual models"
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--cache", default=None, help="embedding cache folder (default ~/.cache/ctxembed/bench)"
    )
    s.add_argument("--no-cache", action="store_true", help="compute every embedding afresh")
    s.add_argument("--quiet", action="store_true")
    overwrite(s, "an earlier report in --out")
    s.add_argument("--command-line", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    require("eval", "sklearn", "scipy", "matplotlib")  # before the tasks import them
    import shlex

    from . import report
    from .bench import default_cache, display_names, parse_tasks, run_bench

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
