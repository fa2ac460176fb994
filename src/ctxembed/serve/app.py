"""The HTTP service: FastAPI routes over loaded embedders, with dynamic batching.

Routes: ``POST /v1/embeddings`` (OpenAI's shape), ``POST /v1/words`` (word vectors with
offsets), ``POST /v1/similarity``, ``POST /v1/explore`` (the explorer page's data),
``POST /v1/search`` (corpus indexes given to ``create_app``: a word's uses nearest to its
use in a sentence, or the texts nearest to a sentence),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus) and the page at ``/``.
Every error is a JSON body ``{"error": {"message", "type", "code"}}`` that says what to do.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import threading
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..compare import find_word
from ..embedder import Embedder, ScalarMix, WordVectors
from ..errors import CtxembedError
from ..senses import METHODS, describe
from ..text.words import prepare
from .batcher import Batcher

STATIC = Path(__file__).parent / "static"
# per request: [True] from admission until its texts reach a batcher (see Service.arriving)
_arrival: ContextVar[list[bool] | None] = ContextVar("arrival", default=None)
OPEN_PATHS = ("/health", "/", "/static/")  # answered without the API key


@dataclass(frozen=True)
class Settings:
    max_batch_tokens: int = 16384  # tokens merged into one library call
    max_client_batch_size: int = 32  # texts in one request
    max_concurrent_requests: int = 512  # admitted at once; beyond: 429
    max_input_tokens: int = 8192  # tokens in one text; beyond: 422, or cut with truncate
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    # texts per forward pass inside a merged call: a merge holds texts of any length, and
    # smaller length-sorted forwards pad less (benchmarks/serve_load.py: 8 beat 32)
    batch_size: int = 8
    drain_seconds: float = 30.0  # how long shutdown waits for requests in flight


class ApiError(Exception):
    """An HTTP error with the status code and a message that says what to do."""

    def __init__(self, code: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.code, self.message, self.kind = code, message, kind


class Json(JSONResponse):
    """JSON through orjson, which writes numpy float32 arrays natively and in their shortest
    form: the standard library's float formatting took most of a /v1/words request's time."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _error(code: int, message: str, kind: str, headers: dict | None = None) -> Json:
    body = {"error": {"message": message, "type": kind, "code": code}}
    return Json(body, status_code=code, headers=headers)


# -- requests ----------------------------------------------------------------------------------
class Mix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mix: list[float]
    gamma: float = 1.0


LayersIn = StrictInt | list[StrictInt] | Literal["all"] | Mix  # strict: true is not layer 1


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not ignored
    model: str | None = None  # default: the first model the server loaded


class EmbeddingsRequest(_Request):
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[StrictInt, Field(ge=1)] | None = None
    truncate: StrictBool = False
    user: str | None = None


class WordsRequest(_Request):
    input: str | list[str] | list[list[str]]
    layers: LayersIn = -1
    pooling: Literal["mean", "first", "last"] = "mean"
    encoding_format: Literal["float", "base64"] = "float"
    truncate: StrictBool = False


class SimilarityRequest(_Request):
    word: str | None = None  # with contexts: the word's cosine across them
    contexts: list[str] | None = None
    pairs: list[tuple[str, str]] | None = None  # or: sentence pairs, one cosine each
    layers: LayersIn = -1


class ExploreRequest(_Request):
    word: str
    texts: list[str]
    projection: Literal["pca", "umap"] = "pca"
    method: Literal[METHODS] = "silhouette"  # type: ignore[valid-type]
    max_senses: Annotated[StrictInt, Field(ge=1, le=10)] = 5


class SearchRequest(_Request):
    index: str | None = None  # the only one served, if not given
    word: str | None = None
    like: str | None = None
    sentence: str | None = None
    k: Annotated[StrictInt, Field(ge=1, le=1000)] = 10


def _layers(value: LayersIn) -> Any:
    return ScalarMix(value.mix, value.gamma) if isinstance(value, Mix) else value


def _layers_key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _encode(vectors: np.ndarray, fmt: str) -> Any:
    """float lists, or base64 of little-endian float32 bytes (what OpenAI's clients decode)."""
    if fmt == "base64":
        return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vectors, dtype=np.float32)


# -- metrics -----------------------------------------------------------------------------------
class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ctxembed_requests",
            "HTTP requests by route and status code",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "ctxembed_request_seconds",
            "request latency",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.batch_texts = Histogram(
            "ctxembed_batch_texts",
            "texts merged into one library call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.batch_tokens = Histogram(
            "ctxembed_batch_tokens",
            "tokens merged into one library call",
            buckets=(16, 64, 256, 1024, 4096, 16384, 65536),
            registry=r,
        )
        self.queue = Gauge("ctxembed_queue_depth", "jobs waiting", ["model"], registry=r)
        self.in_flight = Gauge("ctxembed_in_flight", "requests being served", registry=r)


# -- the service ---------------------------------------------------------------------------------
class Service:
    """The loaded models, their batchers, the limits and the state shutdown needs."""

    def __init__(self, models: dict[str, Embedder], settings: Settings):
        if not models:
            raise CtxembedError("give at least one model to serve")
        self.models = models
        self.settings = settings
        self.metrics = Metrics()
        self.batchers = {
            name: Batcher(
                settings.max_batch_tokens,
                name,
                observe=self._observe,
                depth=self.metrics.queue.labels(model=name).set,
                arriving=lambda: self.arriving,
                chunk_texts=settings.batch_size,
            )
            for name in models
        }
        self.in_flight = 0
        self.arriving = 0  # admitted embedding requests whose texts are not queued yet
        self.draining = False
        self._lock = threading.Lock()

    def _observe(self, texts: int, tokens: int) -> None:
        self.metrics.batch_texts.observe(texts)
        self.metrics.batch_tokens.observe(tokens)

    def model(self, name: str | None) -> tuple[str, Embedder]:
        name = name or next(iter(self.models))
        if name not in self.models:
            raise ApiError(
                404,
                f"model {name!r} is not served here; this server has: {', '.join(self.models)} "
                "(GET /v1/models)",
                "model_not_found",
            )
        return name, self.models[name]

    def drain(self) -> None:
        """Stop admitting requests (503); the ones in flight finish."""
        self.draining = True

    def close(self) -> None:
        for b in self.batchers.values():
            b.close()

    # -- what every route does with its texts --------------------------------------------
    def admit(
        self, model: Embedder, texts: Any, truncate: bool | None, field: str = "text"
    ) -> tuple[list[Any], list[int], list[int]]:
        """Check a request's texts (its ``field``) against the limits: ``(texts, tokens per
        text, indices of the texts cut)``; cut only when the request asked for it
        (``truncate=None``: the route has no such option)."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            raise ApiError(400, "no texts: send a text or a list of texts")
        limit = self.settings.max_client_batch_size
        if len(items) > limit:
            raise ApiError(
                413,
                f"{len(items)} texts in one request; this server takes at most {limit} "
                "(--max-client-batch-size): split the list into several requests",
            )
        counts = model.token_counts(items)  # its check names the first empty or bad text (400)
        most, cut = self.settings.max_input_tokens, []
        for i, c in enumerate(counts):
            if c.sum() <= most:
                continue
            if not truncate or c[0] > most:
                how = (
                    "send a shorter text"
                    if truncate is None or c[0] > most
                    else "send a shorter text, or set truncate: true to keep its first words"
                )
                first = f" (its first word alone has {int(c[0])})" if c[0] > most else ""
                raise ApiError(
                    422,
                    f"{field} {i} has {int(c.sum())} tokens{first}; this server takes at most "
                    f"{most} per text (--max-input-tokens): {how}",
                )
            keep = int(np.searchsorted(np.cumsum(c), most, side="right"))
            item = items[i]
            if isinstance(item, str):
                items[i] = item[: prepare([item])[0].offsets[keep - 1][1]]
            else:
                items[i] = list(item[:keep])
            counts[i] = c[:keep]
            cut.append(i)
        return items, [int(c.sum()) for c in counts], cut

    def settle(self) -> None:
        """This request no longer counts as arriving (queued, or failed before it); a worker
        lingering for it looks again. One count for all models: traffic on one can make
        another's worker linger, at most ``Batcher.linger`` per call."""
        flag = _arrival.get()
        if flag and flag[0]:
            flag[0] = False
            with self._lock:
                self.arriving -= 1
            for b in self.batchers.values():
                b.poke()

    async def run(self, name: str, key: Any, texts: list[Any], tokens: int, run) -> list[Any]:
        try:
            future = self.batchers[name].submit(key, texts, tokens, run)
        except RuntimeError:  # closed: the server is stopping
            raise ApiError(503, "the server is shutting down: retry on another instance",
                           "unavailable") from None  # fmt: skip
        self.settle()
        return await asyncio.wrap_future(future)

    async def words(
        self,
        name: str,
        model: Embedder,
        texts: list[Any],
        tokens: int,
        layers: Any,
        pooling: str = "mean",
        return_layers: bool = False,
    ) -> list[WordVectors]:
        bs = self.settings.batch_size

        def run(batch: list[Any]) -> list[WordVectors]:
            return model.embed_words(
                batch, layers=layers, pooling=pooling, batch_size=bs, progress=False,
                return_layers=return_layers,
            )  # fmt: skip

        key = ("words", _layers_key(layers), pooling, return_layers)
        return await self.run(name, key, texts, tokens, run)

    async def sentences(
        self, name: str, model: Embedder, texts: list[Any], tokens: int
    ) -> np.ndarray:
        bs = self.settings.batch_size

        def run(batch: list[Any]) -> list[np.ndarray]:
            return list(model.embed_sentences(batch, batch_size=bs, progress=False))

        return np.stack(await self.run(name, ("sentences",), texts, tokens, run))


# -- the app -------------------------------------------------------------------------------------
ROUTES = {
    "/v1/embeddings", "/v1/words", "/v1/similarity", "/v1/explore", "/v1/search", "/v1/models",
    "/health", "/metrics", "/",
}  # fmt: skip


class Gate:
    """Pure ASGI middleware: shutdown (503), the API key (401), the concurrency limit (429),
    and the request metrics, for every request."""

    def __init__(self, app: Any, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        svc, path = self.service, scope["path"]
        route = path if path in ROUTES else ("/static" if path.startswith("/static/") else "other")
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        reply = self._refuse(scope, path)
        admitted = False
        if reply is None:
            with svc._lock:
                if svc.in_flight >= svc.settings.max_concurrent_requests and path.startswith(
                    "/v1/"
                ):
                    reply = _error(
                        429,
                        f"the server is at its limit of {svc.settings.max_concurrent_requests} "
                        "concurrent requests: retry after the Retry-After seconds",
                        "overloaded",
                        {"Retry-After": "1"},
                    )
                else:
                    svc.in_flight += 1
                    admitted = True
                    svc.metrics.in_flight.set(svc.in_flight)
                    if scope["method"] == "POST" and path.startswith("/v1/"):
                        svc.arriving += 1
                        token = _arrival.set([True])
        try:
            if reply is not None:
                await reply(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            if admitted and scope["method"] == "POST" and path.startswith("/v1/"):
                svc.settle()
                _arrival.reset(token)
            if admitted:
                with svc._lock:
                    svc.in_flight -= 1
                    svc.metrics.in_flight.set(svc.in_flight)
            svc.metrics.requests.labels(route=route, code=str(status["code"])).inc()
            svc.metrics.latency.labels(route=route).observe(time.perf_counter() - start)

    def _refuse(self, scope, path: str) -> Json | None:
        svc = self.service
        if svc.draining:
            return _error(
                503, "the server is shutting down: retry on another instance", "unavailable",
                {"Retry-After": "5"},
            )  # fmt: skip
        key = svc.settings.api_key
        if (
            key
            and scope["method"] != "OPTIONS"
            and not (path in OPEN_PATHS or path.startswith("/static/"))
        ):
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"").decode("latin-1")
            token = given[7:] if given.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(token.encode(), key.encode()):
                return _error(
                    401,
                    "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                    "authentication_error",
                    {"WWW-Authenticate": "Bearer"},
                )
        return None


def create_app(
    models: dict[str, Embedder],
    settings: Settings | None = None,
    indexes: dict[str, Any] | None = None,
) -> FastAPI:
    """The app over already loaded models (name -> embedder) and corpus indexes (name ->
    ``ctxembed.scale.index.Index``); ``app.state.service`` holds the models, their batchers
    and metrics. Call ``app.state.service.close()`` when done."""
    indexes = indexes or {}
    service = Service(models, settings or Settings())
    app = FastAPI(
        title="ctxembed",
        docs_url="/docs",
        redoc_url=None,
        default_response_class=Json,
        redirect_slashes=False,  # /v1/words/ is a 404 with a JSON body, not a bare 307
    )
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Json:
        return _error(e.code, e.message, e.kind)

    @app.exception_handler(CtxembedError)
    async def library_error(request: Request, e: CtxembedError) -> Json:
        return _error(400, str(e), "invalid_request_error")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> Json:
        # a bug of ours: the client gets JSON, the server's log the traceback (Starlette
        # logs it after this answer is sent)
        return _error(
            500, f"internal error ({type(e).__name__}): see the server's log", "server_error"
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Json:
        problems = []
        for err in e.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        kind = request.headers.get("content-type", "")
        if any(err.get("type") == "json_invalid" for err in e.errors()):
            message = "the body is not valid JSON: send a JSON object"
        elif request.method == "POST" and "json" not in kind:
            message = "send the body as JSON, with the header Content-Type: application/json"
        else:
            message = "invalid request: " + "; ".join(problems)
        return _error(422, message, "invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Json:
        allow = (e.headers or {}).get("Allow", "")
        hint = {404: "see the routes in /docs", 405: f"use {allow or 'another method'}"}
        message = f"{e.detail}: {hint.get(e.status_code, '')}".rstrip(": ")
        return _error(e.status_code, message, "invalid_request_error", e.headers)

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> Json:  # while draining, Gate answers 503 before this
        return Json({"status": "ok", "models": list(service.models)})

    @app.api_route("/metrics", methods=["GET", "HEAD"])
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.api_route("/v1/models", methods=["GET", "HEAD"])
    async def list_models() -> Json:
        data = [
            {
                "id": name,
                "object": "model",
                "owned_by": "ctxembed",
                "family": m.family,
                "dim": m.dim,
                "layers": m.n_layers,
                "contextual": m.n_layers > 1,
            }
            for name, m in service.models.items()
        ]
        return Json({"object": "list", "data": data})

    @app.post("/v1/embeddings")
    async def embeddings(req: EmbeddingsRequest) -> Json:
        name, model = service.model(req.model)
        if req.dimensions is not None and req.dimensions > model.dim:
            raise ApiError(
                400,
                f"dimensions={req.dimensions}: {name} has {model.dim}; ask for {model.dim} or fewer",
            )
        texts, tokens, cut = service.admit(model, req.input, req.truncate)
        vecs = await service.sentences(name, model, texts, sum(tokens))
        if req.dimensions is not None:
            # OpenAI's rule: keep the first dimensions, then unit length again (useful for
            # models trained for it, Matryoshka-style; others lose quality)
            vecs = vecs[:, : req.dimensions]
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(v, req.encoding_format)}
            for i, v in enumerate(vecs)
        ]
        return _listing(name, data, tokens, cut)

    @app.post("/v1/words")
    async def words(req: WordsRequest) -> Json:
        name, model = service.model(req.model)
        layers = _layers(req.layers)
        texts, tokens, cut = service.admit(model, req.input, req.truncate)
        res = await service.words(name, model, texts, sum(tokens), layers, req.pooling)
        data = []
        for i, r in enumerate(res):
            item = {
                "object": "words",
                "index": i,
                "words": r.words,
                "offsets": None if r.offsets is None else [list(o) for o in r.offsets],
                "embeddings": _encode(r.vectors, req.encoding_format),
            }
            if r.oov is not None:
                item["oov"] = r.oov.tolist()
            data.append(item)
        return _listing(name, data, tokens, cut, dim=model.dim)

    @app.post("/v1/similarity")
    async def similarity(req: SimilarityRequest) -> Json:
        name, model = service.model(req.model)
        if (req.pairs is None) == (req.contexts is None and req.word is None):
            raise ApiError(
                400, "give either 'word' with two or more 'contexts', or 'pairs' of sentences"
            )
        if req.pairs is not None:
            flat = [t for pair in req.pairs for t in pair]
            texts, tokens, _ = service.admit(model, flat, None, "text of pairs,")
            vecs = _unit(await service.sentences(name, model, texts, sum(tokens)))
            scores = (vecs[0::2] * vecs[1::2]).sum(1)
            return Json({"model": name, "scores": scores.tolist()})
        if not req.word or not req.contexts or len(req.contexts) < 2:
            raise ApiError(400, "give 'word' and at least two 'contexts' that contain it")
        texts, tokens, _ = service.admit(model, req.contexts, None, "context")
        res = await service.words(name, model, texts, sum(tokens), _layers(req.layers))
        rows, spans = [], []
        for k, r in enumerate(res):
            i = find_word(r.words, req.word)
            if i is None:
                raise ApiError(400, f"context {k} does not contain the word {req.word!r}")
            if r.oov is not None and r.oov[i]:
                raise ApiError(400, f"{name} has no vector for {req.word!r}: try another model")
            rows.append(r.vectors[i])
            spans.append(list(r.offsets[i]))
        vecs = _unit(np.stack(rows))
        return Json(
            {
                "model": name,
                "word": req.word,
                "offsets": spans,
                "similarity": (vecs @ vecs.T).tolist(),
            }
        )

    @app.post("/v1/explore")
    async def explore(req: ExploreRequest) -> Json:
        name, model = service.model(req.model)
        texts, tokens, _ = service.admit(model, req.texts, None, "texts")
        res = await service.words(name, model, texts, sum(tokens), "all", return_layers=True)
        return Json(await run_in_threadpool(_explore, name, model, req, texts, res))

    @app.post("/v1/search")
    async def search(req: SearchRequest) -> Json:
        if not indexes:
            raise ApiError(404, "no index is served: start the server with --index DIR")
        name = req.index or next(iter(indexes))
        if req.index is None and len(indexes) > 1:
            raise ApiError(400, f"several indexes are served: name one of {', '.join(indexes)}")
        if name not in indexes:
            raise ApiError(404, f"no index {name!r}: use one of {', '.join(indexes)}")
        if req.sentence is not None and (req.word or req.like):
            raise ApiError(400, "give sentence, or word with like, not both")
        service.settle()  # a search does not go through a batcher: no worker waits for it
        index = indexes[name]
        query = req.sentence if req.sentence is not None else req.like
        if query is not None:  # the length limits of every route; an empty text is a 400
            service.admit(index.model, [query], None, "sentence" if req.sentence else "like")
        if req.sentence is not None:
            hits = await run_in_threadpool(index.search_sentence, req.sentence, req.k)
        elif req.word and req.like:
            hits = await run_in_threadpool(index.search_word, req.word, req.like, req.k)
        else:
            raise ApiError(400, 'give "word" and "like" (a sentence using it), or "sentence"')
        return Json({"index": name, "hits": [h.to_json() for h in hits]})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.api_route("/", methods=["GET", "HEAD"])
    async def page() -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html")

    app.add_middleware(Gate, service=service)
    # added last, so outermost: its preflight answers come before the key check, and Gate's
    # own 401/429/503 answers carry the CORS headers a page needs to read them
    if settings and settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def _listing(name: str, data: list, tokens: list[int], cut: list[int], **extra: Any) -> Json:
    """OpenAI's list answer with its ``usage``; ``truncated`` names the texts cut."""
    n = sum(tokens)
    body = {"object": "list", "data": data, "model": name, **extra}
    body["usage"] = {"prompt_tokens": n, "total_tokens": n}
    if cut:
        body["truncated"] = cut
    return Json(body)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _explore(
    name: str, model: Embedder, req: ExploreRequest, texts: Sequence[str], res: list[WordVectors]
) -> dict[str, Any]:
    """Per layer: the word's uses in 2-D, their induced senses, each sense's neighbours."""
    from ..senses import Use

    uses, where = [], []
    for k, r in enumerate(res):
        for i, w in enumerate(r.words):
            if w.lower() == req.word.lower():
                s, e = r.offsets[i]
                uses.append(Use(texts[k], s, e))
                where.append((k, i))
    if not uses:
        raise ApiError(400, f"no text contains the word {req.word!r}: type it in a sentence")
    layers = []
    for layer in range(model.n_layers):
        vecs = np.stack([res[k].layers[layer][i] for k, i in where])
        at = [WordVectors(r.words, r.offsets, r.layers[layer]) for r in res]
        out = describe(
            req.word, uses, vecs, at, req.method, req.max_senses, req.projection, n_examples=3
        )
        layers.append(
            {
                "layer": layer,
                "points": np.round(out.points, 5).tolist(),
                "labels": out.labels.tolist(),
                "senses": [
                    {
                        "label": s.label,
                        "size": s.size,
                        "neighbours": s.neighbours,
                        "examples": s.examples,
                    }
                    for s in out.senses
                ],
            }
        )
    return {
        "model": name,
        "family": model.family,
        "word": req.word,
        "uses": [{"text": u.text, "start": u.start, "end": u.end} for u in uses],
        "layers": layers,
    }
