"""``ctxembed serve``: load the models, then run the app under uvicorn.

On SIGTERM or Ctrl-C the server drains: new requests get 503, the ones in flight finish
(up to ``--drain-seconds``), then it exits 0. A second signal stops it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, require
from ..families import check_models, load
from ..options import positive, positive_float

HELP = "serve models over HTTP (OpenAI-style embeddings, word vectors, explorer page)"
DESCRIPTION = (
    "Routes: POST /v1/embeddings, /v1/words, /v1/similarity, /v1/explore, /v1/search "
    "(with --index); GET /v1/models, "
    "/health, /metrics; the explorer page at /. Listens on 127.0.0.1 unless --host says "
    "otherwise. The API key may also come from the environment variable CTXEMBED_API_KEY."
)
KEY_VARIABLE = "CTXEMBED_API_KEY"


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]MODEL",
        help="a model name or path; repeat to serve several (the first is the default); "
        "NAME= sets the name requests use",
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--max-batch-tokens", type=positive, default=16384)
    s.add_argument("--max-client-batch-size", type=positive, default=32)
    s.add_argument("--max-concurrent-requests", type=positive, default=512)
    s.add_argument("--max-input-tokens", type=positive, default=8192)
    s.add_argument("--batch-size", type=positive, default=8, help="texts per forward pass")
    s.add_argument("--api-key", default=None, help=f"require it (default: ${KEY_VARIABLE})")
    s.add_argument(
        "--cors-origin", action="append", default=[], help="allow this browser origin (repeat)"
    )
    s.add_argument("--drain-seconds", type=positive_float, default=30.0)
    s.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="serve a corpus index (ctxembed index build) at /v1/search; repeat for several",
    )


def models_named(specs: list[str], option: str = "--model") -> dict[str, str]:
    """``NAME=MODEL`` or ``MODEL`` (named by the asset name or the folder's name)."""
    named: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec.rstrip("/")).name or spec, spec
        if not name or not path:
            raise InputError(
                f"{option} {spec!r}: give {option[2:].upper()} or NAME={option[2:].upper()}"
            )
        if name in named:
            raise InputError(f"two {option[2:]}s are named {name!r}: name one with NAME=...")
        named[name] = path
    return named


def run(args: argparse.Namespace) -> int:
    require("serve", "fastapi", "uvicorn", "prometheus_client")
    import uvicorn

    from .app import Settings, create_app

    if not 0 <= args.port < 65536:
        raise InputError(f"--port {args.port}: use 0..65535")
    key = os.environ.get(KEY_VARIABLE) if args.api_key is None else args.api_key
    if key is not None and not (key.isascii() and key.isprintable() and key.strip() == key != ""):
        where = "--api-key" if args.api_key is not None else f"${KEY_VARIABLE}"
        raise InputError(
            f"{where}: give a non-empty key of printable ASCII characters without spaces "
            "(HTTP headers carry it), or leave it out to serve without a key"
        )
    named = models_named(args.model)
    check_models(list(named.values()))
    sock = bind(args.host, args.port)  # before loading: a taken port fails at once
    settings = Settings(
        max_batch_tokens=args.max_batch_tokens,
        max_client_batch_size=args.max_client_batch_size,
        max_concurrent_requests=args.max_concurrent_requests,
        max_input_tokens=args.max_input_tokens,
        api_key=key,
        cors_origins=tuple(args.cors_origin),
        batch_size=args.batch_size,
        drain_seconds=args.drain_seconds,
    )
    models = {name: load(path) for name, path in named.items()}
    app = create_app(models, settings, open_indexes(args.index, named, models))
    service = app.state.service
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = draining_server(config, service)
    print(f"ctxembed: serving {', '.join(models)} on http://{host}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        service.close()
        sock.close()
    return 0


def open_indexes(specs: list[str], named: dict[str, str], models: dict[str, Any]) -> dict:
    """``NAME=DIR`` or ``DIR`` -> an opened index; one built with a served model shares it."""
    from ..scale.index import Index

    out = {}
    for name, folder in models_named(specs, "--index").items():
        index = Index(folder)
        same = [
            n
            for n, path in named.items()
            if index.manifest["options"] == {} and index.built_with(path)
        ]
        if same:
            index.model = models[same[0]]
        out[name] = index.open()  # now: a broken model or index fails at start, not at a search
    return out


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a named error (port taken, host not of this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise InputError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise InputError(
            f"cannot listen on {host}:{port}: {e.strerror}; pick another --port (0: any free "
            "one) or stop what holds it"
        ) from None
    return sock


def draining_server(config, service):
    """uvicorn's server whose first exit signal drains instead of stopping (uvicorn is an
    extra, so the subclass is made when serving)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if service.draining:  # the second signal: stop now
                self.force_exit = self.should_exit = True
                return
            service.drain()
            threading.Thread(target=self._wait, daemon=True).start()

        def _wait(self) -> None:
            deadline = time.monotonic() + service.settings.drain_seconds
            while service.in_flight > 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            # past the deadline uvicorn would wait for the stragglers without limit
            self.force_exit = service.in_flight > 0
            self.should_exit = True

    return Server(config)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[Any]:
    """Serve ``app`` (from ``create_app``) in a background thread, e.g. from a notebook or a
    test; yields the uvicorn server (its URL: ``http://{host}:{server.config.port}``). On
    leaving, the server stops and the app's batchers finish their queues."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port or free_port(host), log_level="warning", lifespan="off"
    )
    server = draining_server(config, app.state.service)
    thread = threading.Thread(target=server.run, name="ctxembed-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{config.port}")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        app.state.service.close()
