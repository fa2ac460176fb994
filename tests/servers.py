"""The app on a free loopback port, with a client, for the server and page tests."""

from __future__ import annotations

import contextlib

import httpx

from ctxembed.serve.app import Settings, create_app
from ctxembed.serve.command import free_port, running

__all__ = ["free_port", "serving"]


@contextlib.contextmanager
def serving(models: dict, indexes: dict | None = None, **settings):
    """Yields ``(client, app, server)``; the server stops on leaving."""
    app = create_app(models, Settings(**settings), indexes)
    with running(app) as server:
        url = f"http://127.0.0.1:{server.config.port}"
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client, app, server
