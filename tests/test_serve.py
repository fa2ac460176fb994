"""The HTTP service on a real loopback port: routes, batching, limits, faults, shutdown."""

from __future__ import annotations

import base64
import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402

from ctxembed.errors import InputError  # noqa: E402
from ctxembed.serve.batcher import Batcher  # noqa: E402

from .contract import assert_same  # noqa: E402
from .servers import free_port, serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "I went to the bank to deposit money.",
    "I sat by the bank of the river.",
    "The quick brown fox jumps over the lazy dog near the old stone bridge at dawn.",
    "Bank",
    "Interest rates at the central bank rose for the third time this year, "
    "and analysts expect another rise before the summer.",
]


@pytest.fixture(scope="module")
def both(minilm, glove6b):
    with serving({"minilm-l6": minilm, "glove-6b-50d": glove6b}, max_client_batch_size=8) as s:
        yield s


@contextlib.contextmanager
def held(app, name: str = "minilm-l6"):
    """Block the model's worker until the yielded event is set (at the latest on leaving):
    later jobs queue up."""
    release = threading.Event()
    app.state.service.batchers[name].submit(("hold",), [], 0, lambda texts: release.wait() and [])
    try:
        yield release
    finally:
        release.set()


def wait_until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def error_of(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == r.status_code
    return body["error"]["message"]


# -- batching ---------------------------------------------------------------------------------
def test_merged_jobs_equal_each_text_alone(minilm):
    """Queued jobs with the same options run as one call under the token budget, and each
    job gets what ``embed_words`` gives its texts alone."""
    seen = []
    b = Batcher(max_batch_tokens=60, observe=lambda n, tokens: seen.append((n, tokens)))
    release = threading.Event()
    b.submit(("hold",), [], 0, lambda texts: release.wait() and [])

    def run(texts):
        return minilm.embed_words(texts, batch_size=3, progress=False)

    counts = minilm.token_counts(TEXTS)
    futures = [b.submit("w", [t], int(c.sum()), run) for t, c in zip(TEXTS, counts, strict=True)]
    other = b.submit(
        "other-layers", [TEXTS[0]], 9, lambda texts: minilm.embed_words(texts, layers=0)
    )
    release.set()
    results = [f.result(timeout=60)[0] for f in futures]
    b.close()
    merged = [n for n, tokens in seen[1:]]
    assert max(merged) > 1, "queued jobs were not merged"
    assert all(tokens <= 60 or n == 1 for n, tokens in seen[1:]), "a merge went over the budget"
    for text, got in zip(TEXTS, results, strict=True):
        alone = minilm.embed_words([text], progress=False)[0]
        assert got.words == alone.words and got.offsets == alone.offsets
        assert_same(got.vectors, alone.vectors)
    assert_same(other.result()[0].vectors, minilm.embed_words([TEXTS[0]], layers=0)[0].vectors)


def test_a_merge_runs_in_length_sorted_chunks(minilm):
    """With ``chunk_texts`` a merge is cut into calls of that many texts, shortest first;
    each job still gets its own texts' vectors."""
    calls = []
    b = Batcher(max_batch_tokens=10_000, chunk_texts=2)
    release = threading.Event()
    b.submit(("hold",), [], 0, lambda texts: release.wait() and [])

    def run(texts):
        calls.append(texts)
        return minilm.embed_words(texts, progress=False)

    counts = [int(c.sum()) for c in minilm.token_counts(TEXTS)]
    futures = [b.submit("w", [t], c, run) for t, c in zip(TEXTS, counts, strict=True)]
    release.set()
    results = [f.result(timeout=60)[0] for f in futures]
    b.close()
    assert [len(c) for c in calls] == [2, 2, 1]
    by_length = sorted(TEXTS, key=lambda t: counts[TEXTS.index(t)])
    assert [t for c in calls for t in c] == by_length
    for text, got in zip(TEXTS, results, strict=True):
        assert_same(got.vectors, minilm.embed_words([text], progress=False)[0].vectors)


def test_a_job_that_breaks_its_batch_fails_alone(minilm):
    b = Batcher(max_batch_tokens=10_000)
    release = threading.Event()
    b.submit(("hold",), [], 0, lambda texts: release.wait() and [])

    def run(texts):
        return minilm.embed_words(texts, progress=False)

    good = b.submit("w", [TEXTS[0]], 10, run)
    bad = b.submit("w", [["a", " "]], 2, run)  # an empty word: the library refuses it
    good2 = b.submit("w", [TEXTS[1]], 10, run)
    release.set()
    assert_same(good.result(timeout=60)[0].vectors, run([TEXTS[0]])[0].vectors)
    assert_same(good2.result(timeout=60)[0].vectors, run([TEXTS[1]])[0].vectors)
    with pytest.raises(InputError, match="empty"):
        bad.result(timeout=60)
    b.close()


def test_concurrent_http_requests_equal_the_library(both, minilm):
    client, app, _ = both
    requests = [(t, layers) for t in TEXTS for layers in (-1, [0, 6])] * 2

    def post(item):
        text, layers = item
        r = client.post("/v1/words", json={"input": text, "layers": layers, "model": "minilm-l6"})
        assert r.status_code == 200, r.text
        return r.json()

    batcher = app.state.service.batchers["minilm-l6"]
    with held(app) as release, ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(post, item) for item in requests]
        wait_until(lambda: batcher.queued == len(requests), "all requests to queue")
        release.set()  # all requests queued: they merge
        bodies = [f.result(timeout=120) for f in futures]
    for (text, layers), body in zip(requests, bodies, strict=True):
        alone = minilm.embed_words([text], layers=layers, progress=False)[0]
        item = body["data"][0]
        assert item["words"] == alone.words
        assert [tuple(o) for o in item["offsets"]] == alone.offsets
        assert_same(np.array(item["embeddings"]), alone.vectors)
        assert body["usage"]["prompt_tokens"] == int(minilm.token_counts([text])[0].sum())
    metrics = client.get("/metrics").text
    texts = float(re.search(r"ctxembed_batch_texts_sum (\S+)", metrics).group(1))
    calls = float(re.search(r"ctxembed_batch_texts_count (\S+)", metrics).group(1))
    assert texts > calls, "no HTTP requests were merged into one call"


# -- routes ----------------------------------------------------------------------------------
def test_embeddings_openai_shape_base64_and_dimensions(both, minilm):
    client, _, _ = both
    r = client.post("/v1/embeddings", json={"input": TEXTS[:2], "model": "minilm-l6"})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "list" and body["model"] == "minilm-l6"
    assert [d["index"] for d in body["data"]] == [0, 1]
    expected = minilm.embed_sentences(TEXTS[:2])
    assert_same(np.array([d["embedding"] for d in body["data"]]), expected)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    b64 = client.post(
        "/v1/embeddings",
        json={"input": TEXTS[0], "model": "minilm-l6", "encoding_format": "base64"},
    ).json()
    raw = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    assert_same(raw, expected[0])
    small = client.post(
        "/v1/embeddings", json={"input": TEXTS[0], "model": "minilm-l6", "dimensions": 64}
    ).json()
    v = np.array(small["data"][0]["embedding"])
    assert v.shape == (64,) and abs(np.linalg.norm(v) - 1) < 1e-5
    assert_same(v, expected[0, :64] / np.linalg.norm(expected[0, :64]))
    r = client.post("/v1/embeddings", json={"input": "x", "model": "minilm-l6", "dimensions": 999})
    assert r.status_code == 400 and "384" in error_of(r)
    # dimensions set to the full width still gives unit vectors, as OpenAI's API does
    r = client.post(
        "/v1/embeddings", json={"input": "river bank", "model": "glove-6b-50d", "dimensions": 50}
    ).json()
    assert abs(np.linalg.norm(r["data"][0]["embedding"]) - 1) < 1e-5


def test_models_health_and_default_model(both, glove6b):
    client, _, _ = both
    models = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["dim"], m["layers"], m["contextual"]) for m in models] == [
        ("minilm-l6", 384, 7, True),
        ("glove-6b-50d", 50, 1, False),
    ]
    assert client.get("/health").json()["status"] == "ok"
    r = client.post("/v1/words", json={"input": "river bank", "model": "glove-6b-50d"}).json()
    assert_same(np.array(r["data"][0]["embeddings"][1]), glove6b.vector("bank"))
    assert client.post("/v1/words", json={"input": "bank"}).json()["model"] == "minilm-l6"


def test_similarity_of_a_word_across_contexts_and_of_pairs(both):
    client, _, _ = both
    contexts = [TEXTS[0], TEXTS[1], "She opened an account at the bank."]
    for model, differs in (("minilm-l6", True), ("glove-6b-50d", False)):
        r = client.post(
            "/v1/similarity", json={"model": model, "word": "bank", "contexts": contexts}
        ).json()
        sim = np.array(r["similarity"])
        assert r["offsets"][0] == [14, 18]
        if differs:  # the money uses are nearer each other than to the river
            assert sim[0, 2] > sim[0, 1] and sim[0, 1] < 0.95
        else:
            assert_same(sim, np.ones((3, 3)))
    pairs = [
        ["A man is playing a guitar.", "A man plays the guitar."],
        ["A cat sleeps.", "Stocks fell."],
    ]
    scores = client.post("/v1/similarity", json={"model": "minilm-l6", "pairs": pairs}).json()
    assert scores["scores"][0] > scores["scores"][1]
    r = client.post("/v1/similarity", json={"word": "bank", "contexts": [TEXTS[0], TEXTS[2]]})
    assert r.status_code == 400 and "context 1 does not contain" in error_of(r)


def test_explore_answers_per_layer_and_names_unknown_words(both):
    client, _, _ = both
    body = {"model": "minilm-l6", "word": "bank", "texts": [TEXTS[0], TEXTS[1], TEXTS[4]]}
    r = client.post("/v1/explore", json=body).json()
    assert [u["start"] for u in r["uses"]] == [t.index("bank") for t in body["texts"]]
    assert [layer["layer"] for layer in r["layers"]] == list(range(7))
    top = r["layers"][-1]
    assert len(top["points"]) == 3 and len(top["labels"]) == 3
    assert sum(s["size"] for s in top["senses"]) == 3
    unknown = {"model": "glove-6b-50d", "word": "qwzx", "texts": ["the qwzx and the qwzx"]}
    r = client.post("/v1/explore", json=unknown)
    assert r.status_code == 400 and "does not know the word" in error_of(r)


# -- limits and errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, code, says",
    [
        ({"input": []}, 400, "no texts"),
        ({"input": ""}, 400, "empty"),
        ({"input": ["a"] * 9}, 413, "at most 8"),
        ({"input": "a", "model": "nope"}, 404, "minilm-l6, glove-6b-50d"),
        ({"input": "a", "layers": 9}, 400, "out of range"),
        ({"input": "a", "layers": {"mix": [1, 2]}}, 400, "one per layer"),
        ({"input": "a", "pooling": "median"}, 422, "pooling"),
        ({"inputs": "a"}, 422, "inputs"),
    ],
)
def test_bad_requests_get_json_errors(both, body, code, says):
    client, _, _ = both
    r = client.post("/v1/words", json=body)
    assert r.status_code == code and says in error_of(r)


def test_a_lone_surrogate_is_a_json_error(both):
    client, _, _ = both  # JSON may escape one; the Rust tokenizers would raise a TypeError
    body = b'{"input": ["ok", "a \\ud800 b"]}'
    for route in ("/v1/words", "/v1/embeddings"):
        r = client.post(route, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500 and "surrogate" in error_of(r)


def test_malformed_json_and_unknown_route(both):
    client, _, _ = both
    assert client.head("/health").status_code == 200
    r = client.get("/v1/words")
    assert r.status_code == 405 and r.headers["allow"] == "POST" and "use POST" in error_of(r)
    assert client.post("/v1/words/", json={"input": "a"}).status_code == 404
    r = client.post("/v1/words", json={"input": "a", "layers": True})
    assert r.status_code == 422
    r = client.post(
        "/v1/words", content=b'{"input": "a",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in error_of(r)
    r = client.post("/v1/words", content=b'{"input": "a"}')  # no content type
    assert r.status_code == 422 and "application/json" in error_of(r)
    assert client.get("/v2/nothing").status_code == 404


def test_long_texts_refused_or_cut_as_asked(minilm):
    long = " ".join(["word"] * 40)
    with serving({"m": minilm}, max_input_tokens=25) as (client, _, _):
        r = client.post("/v1/words", json={"input": ["short text", long]})
        assert r.status_code == 422 and "text 1 has 40 tokens" in error_of(r)
        assert "truncate" in error_of(r)
        r = client.post("/v1/words", json={"input": ["short text", long], "truncate": True}).json()
        assert r["truncated"] == [1] and len(r["data"][1]["words"]) == 25
        assert_same(
            np.array(r["data"][1]["embeddings"]),
            minilm.embed_words([" ".join(["word"] * 25)])[0].vectors,
        )
        r = client.post("/v1/embeddings", json={"input": long, "truncate": True}).json()
        assert r["truncated"] == [0] and r["usage"]["prompt_tokens"] == 25
        # one word longer than the limit cannot be cut at a word: refused even with truncate
        r = client.post("/v1/words", json={"input": "zqxj" * 20, "truncate": True})
        assert r.status_code == 422 and "first word alone" in error_of(r)
        # routes without a truncate option do not advise it
        r = client.post("/v1/similarity", json={"word": "word", "contexts": [long, "a word"]})
        assert r.status_code == 422 and "context 0 has 40 tokens" in error_of(r)
        assert "truncate" not in error_of(r)
    # within the limit, a text longer than the model's window is windowed, never cut
    window = minilm.max_length
    longer = " ".join(["bank"] * (window + 100))
    with serving({"m": minilm}) as (client, _, _):
        r = client.post("/v1/words", json={"input": longer}).json()
        assert len(r["data"][0]["words"]) == window + 100 and "truncated" not in r


def test_api_key(glove6b):
    with serving({"g": glove6b}, api_key="s3cret") as (client, _, _):
        r = client.post("/v1/words", json={"input": "bank"})
        assert r.status_code == 401 and "Authorization: Bearer" in error_of(r)
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/v1/words", json={"input": "bank"}, headers=wrong).status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert client.post("/v1/words", json={"input": "bank"}, headers=ok).status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200  # the page asks for the key itself
        # CORS is off by default: no Access-Control header for a foreign origin
        r = client.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    page = "http://page.example"
    with serving({"g": glove6b}, api_key="s3cret", cors_origins=(page,)) as (client, _, _):
        # a browser's preflight carries no key; the refusal of a keyless call is readable
        pre = {"Origin": page, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
        r = client.options("/v1/words", headers=pre)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == page
        r = client.post("/v1/words", json={"input": "bank"}, headers={"Origin": page})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == page
        r = client.post(
            "/v1/words",
            json={"input": "bank"},
            headers={"Origin": page, "Authorization": "Bearer s3cret"},
        )
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == page


def test_overload_gets_429_with_retry_after(glove6b):
    with serving({"g": glove6b}, max_concurrent_requests=1) as (client, app, _):
        with held(app, "g") as release, ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/v1/words", json={"input": "bank"})
            wait_until(lambda: app.state.service.in_flight == 1, "the first request")
            r = client.post("/v1/words", json={"input": "bank"})
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert "limit of 1" in error_of(r)
            release.set()
            assert first.result(timeout=30).status_code == 200
        assert client.post("/v1/words", json={"input": "bank"}).status_code == 200
        assert 'code="429"' in client.get("/metrics").text


# -- faults -----------------------------------------------------------------------------------
def test_client_that_disconnects_mid_request(both, minilm):
    client, app, server = both
    port = server.config.port
    body = b'{"input": "I sat by the bank of the river."}'
    batcher = app.state.service.batchers["minilm-l6"]
    with held(app), socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /v1/words HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_until(lambda: batcher.queued == 1, "the request to queue")
    # the socket closed while the request waited; the worker is free again
    r = client.post("/v1/words", json={"input": TEXTS[1]})
    assert r.status_code == 200
    assert_same(
        np.array(r.json()["data"][0]["embeddings"]), minilm.embed_words([TEXTS[1]])[0].vectors
    )
    wait_until(lambda: app.state.service.in_flight == 0, "the abandoned request to end")


def test_shutdown_finishes_requests_in_flight_and_refuses_new_ones(glove6b):
    with serving({"g": glove6b}) as (client, app, server):
        with held(app, "g") as release, ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/v1/words", json={"input": "river bank"})
            wait_until(lambda: app.state.service.in_flight == 1, "the first request")
            server.handle_exit(signal.SIGTERM, None)  # what the signal handler calls
            r = client.post("/v1/words", json={"input": "bank"})
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert client.get("/health").status_code == 503
            assert not server.should_exit  # still draining: the first request is in flight
            release.set()
            done = first.result(timeout=30)
        assert done.status_code == 200 and done.json()["data"][0]["words"] == ["river", "bank"]
        wait_until(lambda: server.should_exit, "the server to stop")


def test_cli_serves_and_exits_0_on_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ctxembed",
            "serve",
            "--model",
            "g=glove-6b-50d",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"the server did not start: {proc.communicate()[1]}")
                time.sleep(0.2)
        assert r.json()["models"] == ["g"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert f"serving g on http://127.0.0.1:{port}" in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--model", "nope-model"], "unknown model"),
        (["--model", "a=glove-6b-50d", "--model", "a=minilm-l6"], "two models are named 'a'"),
        (["--model", "glove-6b-50d", "--port", "70000"], "0..65535"),
        (["--model", "glove-6b-50d", "--api-key", ""], "non-empty key"),
        (["--model", "glove-6b-50d", "--api-key", "clé"], "printable ASCII"),
    ],
)
def test_cli_refuses_bad_options(capsys, args, says):
    from ctxembed.cli import main

    assert main(["serve", *args]) == 1
    assert says in capsys.readouterr().err


def test_cli_refuses_a_port_in_use(capsys):
    from ctxembed.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", "glove-6b-50d", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_dockerfile_runs_the_pinned_wheel():
    """The Dockerfile is not built here (no docker daemon); its instructions are checked."""
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    ops = [line.split()[0].upper() for line in lines]
    assert ops[0] == "FROM" and "python:3.11" in lines[0]
    assert set(ops) <= {"FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "EXPOSE", "USER", "CMD",
                        "ENTRYPOINT", "HEALTHCHECK", "LABEL"}  # fmt: skip
    text = " ".join(lines)
    assert (
        re.search(r"-c \S*constraints.txt", text) and "torch==2.13.0" in text
    )  # pinned, the CPU build
    assert "/wheels/ctxembed-" in text and "[serve," in text  # the wheel built in stage one
    entry = next(line for line in lines if line.upper().startswith(("ENTRYPOINT", "CMD")))
    assert "ctxembed" in entry and "serve" in text
    assert "--host" in text and "0.0.0.0" in text  # inside a container, published by docker
    assert any(op == "USER" for op in ops)  # not as root
    assert "HF_HUB_OFFLINE=1" in text
