"""Load test of ``ctxembed serve`` on loopback, against the library in one process and
against Infinity (``infinity-emb``, an established embedding server) serving the same
minilm-l6 folder from local disk, with the same clients and texts.

    python benchmarks/serve_load.py [--clients 1,8,32,128] [--requests 320]
                                    [--out docs/results/serve-load.json]

Each client sends one text per request (mixed-length WikiText-2 sentences, the same list for
every server) until the fixed number of requests is done; every run is also bounded in time.
Reported: requests/s, p50/p99 latency, failed requests, and the ratios the issue asks for.
Servers listen on 127.0.0.1 only and run as subprocesses with the same thread count; the
clients share the machine's 2 cores with them, equally for every server.
Infinity runs from its own venv (``--infinity``), made once with
``python3 -m venv /work/peers/infinity && /work/peers/infinity/bin/pip install
"infinity-emb[server,torch]" torch==2.13.0``; without it its rows are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from common import write_json

import ctxembed
from ctxembed.assets import ASSETS
from ctxembed.io import read_lines
from ctxembed.senses import sentences
from ctxembed.serve.command import free_port

ROOT = Path(__file__).resolve().parents[1]
INFINITY = Path("/work/peers/infinity/bin/infinity_emb")


def texts(n: int, seed: int = 0) -> list[str]:
    """``n`` WikiText-2 validation sentences of 5 to 80 words, shuffled with a seed."""
    lines = [line for _, line in read_lines(ROOT / "data/wikitext2/wiki.valid.tokens.gz")]
    pool = [s for s in sentences(lines) if 5 <= len(s.split()) <= 80]
    rng = np.random.default_rng(seed)
    return [pool[i] for i in rng.permutation(len(pool))[:n]]


def start(cmd: list[str], port: int, env: dict, timeout: float = 180) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{cmd[0]} did not start in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(url: str, body, items: list[str], clients: int, limit: float) -> dict:
    """``clients`` concurrent clients send one text each per request until all are sent."""
    queue = list(reversed(items))
    lat: list[float] = []
    failed = 0
    # every client keeps its connection (httpx keeps 20 by default and reconnects the rest)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:

        async def client() -> None:
            nonlocal failed
            while queue:
                text = queue.pop()
                t0 = time.perf_counter()
                try:
                    r = await c.post(url, json=body(text))
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t0)
                failed += not ok

        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), limit)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "clients": clients,
        "requests": len(lat),
        "failed": failed,
        "rps": len(lat) / wall,
        "p50_ms": 1000 * float(np.percentile(lat, 50)),
        "p99_ms": 1000 * float(np.percentile(lat, 99)),
        # the cores the load generator itself took from the server (2 = both)
        "client_cores": cpu / wall,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", default="1,8,32,128")
    p.add_argument("--requests", type=int, default=320, help="per run")
    p.add_argument("--limit", type=float, default=300, help="seconds a run may take")
    p.add_argument("--infinity", type=Path, default=INFINITY)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    items = texts(args.requests)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    threads = int(env.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    env["OMP_NUM_THREADS"] = str(threads)
    results: dict = {"command": " ".join(["python", *sys.argv]), "threads": threads, "runs": {}}

    # the library in one process, the same texts: the throughput a server should approach
    model = ctxembed.load("minilm-l6")
    model.embed_words(items[:32], progress=False)  # warm-up
    for name, call in (("words", model.embed_words), ("sentences", model.embed_sentences)):
        t0 = time.perf_counter()
        call(items, batch_size=32, progress=False)
        rate = len(items) / (time.perf_counter() - t0)
        results[f"library_{name}_per_s"] = rate
        print(f"library embed_{name}: {rate:.1f} texts/s", flush=True)
    del model

    servers = {
        "ctxembed": (
            [sys.executable, "-m", "ctxembed", "serve", "--model", "minilm-l6", "--port", "{port}"],
            {"/v1/words": lambda t: {"input": t}, "/v1/embeddings": lambda t: {"input": t}},
        ),
    }
    if args.infinity.exists():
        root = ASSETS["minilm-l6"].path()
        folder = str(root / "model" if (root / "model" / "config.json").exists() else root)
        servers["infinity"] = (
            [str(args.infinity), "v2", "--model-id", folder, "--served-model-name", "minilm-l6",
             "--engine", "torch", "--device", "cpu", "--batch-size", "32", "--port", "{port}",
             "--log-level", "warning", "--no-vector-disk-cache"],
            {"/embeddings": lambda t: {"input": [t], "model": "minilm-l6"}},
        )  # fmt: skip
    else:
        print(f"no Infinity at {args.infinity}: its rows are left out", flush=True)
    for server, (cmd, routes) in servers.items():
        port = free_port()
        proc = start([c.replace("{port}", str(port)) for c in cmd], port, env)
        try:
            for route, body in routes.items():
                url = f"http://127.0.0.1:{port}{route}"
                asyncio.run(load(url, body, items[:32], 4, args.limit))  # warm-up
                for n in clients:
                    row = asyncio.run(load(url, body, items, n, args.limit))
                    results["runs"][f"{server} {route} c={n}"] = row
                    print(f"{server:9s} {route:15s} " + "  ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                    ), flush=True)  # fmt: skip
        finally:
            stop(proc)

    runs = results["runs"]
    ratios = {}
    for n in clients:
        w = runs.get(f"ctxembed /v1/words c={n}")
        e = runs.get(f"ctxembed /v1/embeddings c={n}")
        inf = runs.get(f"infinity /embeddings c={n}")
        if w:
            ratios[f"words_vs_library_c{n}"] = w["rps"] / results["library_words_per_s"]
        if e:
            ratios[f"embeddings_vs_library_c{n}"] = e["rps"] / results["library_sentences_per_s"]
        if e and inf:
            ratios[f"embeddings_vs_infinity_rps_c{n}"] = e["rps"] / inf["rps"]
            ratios[f"embeddings_vs_infinity_p99_c{n}"] = e["p99_ms"] / inf["p99_ms"]
    results["ratios"] = ratios
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    if args.out:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
