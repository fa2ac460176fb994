"""``ctxembed bench``: run tasks for several models and write the report folder."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..embedder import Layers
from ..errors import InputError
from ..families import check_models, load
from . import analogy, classify, coarsewsd, lexsub, sts, wic, wordsim
from .common import Cache, Context, Result, TaskNotApplicable, env_cache_root, model_key

TASKS: dict[str, Callable[[Context], list[Result]]] = {
    "wordsim": wordsim.run,
    "analogy": analogy.run,
    "coarsewsd": coarsewsd.run,
    "wic": wic.run,
    "sts": sts.run,
    "classify": classify.run,
    "lexsub": lexsub.run,
}
# the layer-wise view is read off the per-layer scores of these two
LAYERWISE = ("coarsewsd", "wic")
KNOWN = (*TASKS, "layers")


@dataclass
class Bench:
    models: list[str]
    tasks: list[str]
    results: list[Result] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0


def parse_tasks(spec: str) -> tuple[list[str], bool]:
    """``all`` or a comma list; returns the tasks to run and whether they were named one by one."""
    names = [t.strip() for t in spec.split(",") if t.strip()]
    if names == ["all"]:
        return list(TASKS), False
    unknown = [t for t in names if t not in KNOWN]
    if unknown or not names:
        raise InputError(
            f"unknown task {', '.join(unknown) or spec!r}; known: all, {', '.join(KNOWN)}"
        )
    run = [t for t in TASKS if t in names or (t in LAYERWISE and "layers" in names)]
    return run, True


def display_names(models: list[str]) -> list[str]:
    """Names for the report: registry names as given, paths by as many trailing folders as
    it takes to tell them apart (``a/model`` and ``b/model``, not ``model`` twice)."""
    from .. import assets

    paths = {m: Path(m).expanduser().resolve().parts for m in models if m not in assets.ASSETS}
    depth = dict.fromkeys(paths, 1)
    while True:
        shown = {m: "/".join(parts[-depth[m] :]) for m, parts in paths.items()}
        names = [shown.get(m, m) for m in models]
        clash = [m for m in paths if names.count(shown[m]) > 1 and depth[m] < len(paths[m])]
        if not clash:
            return names
        for m in clash:
            depth[m] += 1


def run_bench(
    models: list[str],
    tasks: str,
    limit: int | None = None,
    cache_dir: Path | None = None,
    seed: int = 0,
    layers: Layers = -1,
    progress: bool = True,
    log: Callable[[str], None] = print,
    options: dict[str, Any] | None = None,
) -> Bench:
    """Every task for every model, each loaded with ``options`` (passed to ``load``). A task
    a model cannot do is skipped and listed in the report; it is an error only when asked
    for by name for a single model (with several, the others still get it)."""
    todo, explicit = parse_tasks(tasks)
    check_models(models)
    options = options or {}
    bench = Bench(models=display_names(models), tasks=todo)
    for model, name in zip(models, bench.models, strict=True):
        start = time.perf_counter()
        embedder = load(model, **options)
        log(
            f"[{name}] loaded ({embedder.family}, {embedder.dim}-d) in {time.perf_counter() - start:.1f}s"
        )
        cache = Cache(cache_dir, model_key(model, options))
        ctx = Context(
            name, embedder, cache, limit=limit, seed=seed, layers=layers, progress=progress
        )
        for task in todo:
            start = time.perf_counter()
            try:
                bench.results += TASKS[task](ctx)
            except TaskNotApplicable as e:
                if explicit and len(models) == 1:
                    raise
                bench.skipped.append({"model": name, "task": task, "reason": str(e)})
                log(f"[{name}] {task}: skipped ({e})")
                continue
            secs = time.perf_counter() - start
            bench.seconds[task] = bench.seconds.get(task, 0.0) + secs
            log(f"[{name}] {task}: done in {secs:.1f}s")
        bench.cache_hits += cache.hits
    # baselines that do not depend on the model (most frequent sense) appear once
    seen, unique = set(), []
    for r in bench.results:
        key = (r.task, r.dataset, r.model, r.protocol, r.split)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    bench.results = unique
    return bench


def environment() -> dict[str, str]:
    import numpy
    import torch

    from .. import __version__

    return {
        "ctxembed": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }


def default_cache() -> Path:
    return env_cache_root() / "bench"
