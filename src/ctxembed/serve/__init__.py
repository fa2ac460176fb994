"""``ctxembed serve``: an HTTP service over loaded models (``app``), with dynamic batching
(``batcher``) and the explorer page (``static/``). FastAPI is an extra, so ``create_app``
and ``Settings`` are imported on first use and ``ctxembed --help`` works without it."""

from __future__ import annotations

from typing import Any

__all__ = ["Service", "Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
