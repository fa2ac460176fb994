"""Topic models on 20 Newsgroups and BBC News under the BERTopic evaluation's protocol.

Grootendorst (2022), after OCTIS: top-10 words, NPMI against the corpus itself (gensim's
``c_npmi``), topic diversity over the top 25, inverted RBO; each model's mean over
K = 10, 20, 30, 40, 50 and seeds. In one run, on the same documents, vocabulary and
embeddings: CombinedTM (minilm-l6, and the static glove-6b-50d mean as the baseline encoder,
first seed only),
ProdLDA (no embedding), gensim LDA, and BERTopic (the ``bertopic`` package in its own venv,
``--peer-venv``, created with torch pinned when missing; it reads our cached embeddings).

Then two checks of what a CTM gives beyond its topics: ZeroShotTM on held-apart documents
(10%, seeded; its topics from the embedding alone against CombinedTM's and the gold labels,
as NMI), and the time of one training run next to gensim LDA.

Documents: 20 Newsgroups bydate train with headers, quotes and signatures stripped
(scikit-learn's ``strip_newsgroup_*``, as ``fetch_20newsgroups(remove=...)``); BBC News as
OCTIS preprocessed it (the raw articles are not in the copy, so the encoder reads that text).

    python benchmarks/topics.py --datasets bbc --epochs 50 --out docs/results/topics-bbc.json
    python benchmarks/topics.py --datasets 20ng --epochs 20 --seeds 0 --topics 10 30 50 \
        --models combined prodlda lda bertopic --no-zeroshot --out docs/results/topics-20ng.json

Finished runs are kept in ``runs/topics/runs.jsonl`` and not redone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import ctxembed
from ctxembed.datasets import data_path
from ctxembed.eval.topics import Coherence, scores
from ctxembed.models.ctm import CTMConfig, CTMTrainConfig, analyzer, train_ctm, vectorizer

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "topics"
PEER = Path(__file__).resolve().parent / "peers" / "bertopic_topics.py"
PUBLISHED = {  # Grootendorst 2022, table 1 (the OCTIS protocol): NPMI / diversity
    "20ng": {"ctm": (0.096, 0.886), "lda": (0.058, 0.749), "bertopic": (0.166, 0.851)},
    "bbc": {"ctm": (0.094, 0.819), "lda": (0.014, 0.577), "bertopic": (0.167, 0.794)},
}


def documents(name: str) -> tuple[list[str], list[str]]:
    """Texts and gold labels; documents without a word of two letters are left out."""
    if name == "20ng":
        from sklearn.datasets._twenty_newsgroups import (
            strip_newsgroup_footer,
            strip_newsgroup_header,
            strip_newsgroup_quoting,
        )

        texts, labels = [], []
        with gzip.open(data_path("topics", "20news-bydate-train.jsonl.gz"), "rt") as f:
            for line in f:
                d = json.loads(line)
                t = strip_newsgroup_footer(
                    strip_newsgroup_quoting(strip_newsgroup_header(d["text"]))
                )
                texts.append(" ".join(t.split()))
                labels.append(d["label"])
    else:
        with gzip.open(data_path("topics", "bbc_news.tsv.gz"), "rt", encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        texts, labels = [r[0] for r in rows], [r[2] for r in rows]
    words = analyzer()
    keep = [i for i, t in enumerate(texts) if words(t)]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def embeddings(dataset: str, encoder: str, texts: list[str], words: int) -> np.ndarray:
    """The encoder's vectors of each document's first ``words`` words (what the encoder's
    window holds, as sentence-transformers truncates in the CTM and BERTopic code: the
    long tail of a 20 Newsgroups message would cost windows, not topics), cached."""
    path = RUNS / f"emb-{dataset}-{encoder}-w{words}.npy"
    if path.exists():
        e = np.load(path)
        if len(e) == len(texts):
            return e
    t0 = time.perf_counter()
    heads = [" ".join(t.split()[:words]) for t in texts]
    e = ctxembed.load(encoder).embed_sentences(heads, progress=True)
    print(f"{dataset}: {encoder} embeddings in {time.perf_counter() - t0:.0f}s", flush=True)
    np.save(path, e)
    return e


def ctm_topics(texts, emb, inputs, k, seed, epochs) -> tuple[list[list[str]], object]:
    model, _ = train_ctm(
        texts, CTMConfig(topics=k, inputs=inputs, encoder="cached"),
        CTMTrainConfig(epochs=epochs, seed=seed), embeddings=emb, progress=False,
    )  # fmt: skip
    return model.topics(25), model


def lda_topics(texts, k, seed, passes) -> list[list[str]]:
    from gensim.models import LdaModel

    vec = vectorizer()
    counts = vec.fit_transform(texts).tocsr()
    vocab = list(vec.get_feature_names_out())
    corpus = [list(zip(row.indices.tolist(), row.data.tolist(), strict=True)) for row in counts]
    lda = LdaModel(
        corpus, num_topics=k, id2word=dict(enumerate(vocab)), passes=passes, random_state=seed
    )
    return [[vocab[i] for i, _ in lda.get_topic_terms(t, topn=25)] for t in range(k)]


def peer_python(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():  # the peer's dependencies clash with ours: its own venv, torch pinned
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "bertopic", "torch==2.13.0"], check=True
        )
    return py


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["20ng", "bbc"])
    p.add_argument("--topics", nargs="+", type=int, default=[10, 20, 30, 40, 50])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--models", nargs="+",
        default=["combined", "combined-glove", "prodlda", "lda", "bertopic"],
    )  # fmt: skip
    p.add_argument("--epochs", type=int, default=100, help="CTM and ProdLDA (the papers': 100)")
    p.add_argument("--lda-passes", type=int, default=10)
    p.add_argument("--embed-words", type=int, default=200, help="words of a document embedded")
    p.add_argument("--no-zeroshot", action="store_true", help="skip the held-apart check")
    p.add_argument(
        "--peer-venv",
        type=Path,
        default=Path(os.environ.get("CTXEMBED_PEERS", "/work/peers")) / "bertopic",
    )
    p.add_argument("--out", type=Path, required=True, help="docs/results/topics-DATASET.json")
    args = p.parse_args()
    torch.set_num_threads(1)  # two benchmark processes share the 2 cores
    RUNS.mkdir(parents=True, exist_ok=True)
    log = RUNS / "runs.jsonl"

    def key(r: dict) -> tuple:  # what a run depends on (runs before --embed-words: 200)
        return (r["dataset"], r["model"], r["k"], r["seed"], r["epochs"], r.get("words", 200))

    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[key(r)] = r

    def record(r: dict) -> None:
        done[key(r)] = r
        with log.open("a") as f:
            f.write(json.dumps(r) + "\n")

    results: dict = {"protocol": vars(args) | {"out": str(args.out), "peer_venv": None}}
    for ds in args.datasets:
        texts, labels = documents(ds)
        emb = {"minilm-l6": embeddings(ds, "minilm-l6", texts, args.embed_words)}
        if "combined-glove" in args.models:
            emb["glove-6b-50d"] = embeddings(ds, "glove-6b-50d", texts, args.embed_words)
        runs = []
        todo_peer = []
        for k in args.topics:
            for seed in args.seeds:
                for m in args.models:
                    if m == "combined-glove" and seed != args.seeds[0]:
                        continue  # the static baseline encoder: one seed
                    epochs = args.epochs if m in ("combined", "combined-glove", "prodlda") else (
                        args.lda_passes if m == "lda" else 0
                    )  # fmt: skip
                    run = {"dataset": ds, "model": m, "k": k, "seed": seed, "epochs": epochs}
                    run["words"] = args.embed_words
                    if key(run) in done:
                        runs.append(done[key(run)])
                        continue
                    if m == "bertopic":
                        todo_peer.append((k, seed))
                        continue
                    t0 = time.perf_counter()
                    if m == "lda":
                        topics = lda_topics(texts, k, seed, args.lda_passes)
                    else:
                        inputs = "bow" if m == "prodlda" else "combined"
                        e = emb["glove-6b-50d" if m == "combined-glove" else "minilm-l6"]
                        topics, _ = ctm_topics(texts, e, inputs, k, seed, args.epochs)
                    r = run | {"seconds": round(time.perf_counter() - t0, 1), "topics": topics}
                    record(r)
                    runs.append(r)
                    print(f"{ds} {m} K={k} seed={seed}: {r['seconds']}s", flush=True)
        if todo_peer:
            runs += bertopic_runs(ds, texts, emb["minilm-l6"], todo_peer, args, record)
        results[ds] = evaluate(ds, texts, runs)
        if not args.no_zeroshot:
            results[ds]["zeroshot"] = zeroshot(texts, labels, emb["minilm-l6"], args.epochs)
        results[ds]["n_documents"] = len(texts)
        print(
            json.dumps({k: v for k, v in results[ds].items() if k != "runs"}, indent=1), flush=True
        )
    results["published"] = PUBLISHED
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"-> {args.out}")


def bertopic_runs(ds, texts, emb, todo, args, record) -> list[dict]:
    py = peer_python(args.peer_venv)
    vocab = list(vectorizer().fit(texts).get_feature_names_out())
    job = RUNS / f"bertopic-{ds}.json"
    np.save(RUNS / f"bertopic-{ds}.npy", emb)
    job.write_text(json.dumps({"texts": texts, "vocab": vocab, "runs": todo}))
    out = RUNS / f"bertopic-{ds}-out.jsonl"
    out.unlink(missing_ok=True)
    one = {v: "1" for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run(  # one thread, as every run of this comparison
        [str(py), str(PEER), str(job), str(RUNS / f"bertopic-{ds}.npy"), str(out)],
        check=True,
        env=os.environ | one,
    )
    runs = []
    for line in out.read_text().splitlines():
        r = json.loads(line) | {"dataset": ds, "model": "bertopic", "epochs": 0}
        r["words"] = args.embed_words
        record(r)
        runs.append(r)
    return runs


def evaluate(ds: str, texts: list[str], runs: list[dict]) -> dict:
    """Every run's scores against one coherence reference (the documents' counted words)."""
    vocab = set(vectorizer().fit(texts).get_feature_names_out())
    words = analyzer()
    reference = [[w for w in words(t) if w in vocab] for t in texts]
    t0 = time.perf_counter()
    coherence = Coherence(reference, [t for r in runs for t in r["topics"]])
    print(f"{ds}: coherence counts in {time.perf_counter() - t0:.0f}s", flush=True)
    per_model: dict[str, list[dict]] = {}
    for r in runs:
        s = scores(r["topics"], coherence) | {
            "k": r["k"],
            "seed": r["seed"],
            "seconds": r["seconds"],
        }
        per_model.setdefault(r["model"], []).append(s)
    summary = {}
    for m, rows in per_model.items():
        summary[m] = {"n_runs": len(rows)}
        for key in ("npmi", "diversity", "inverted_rbo", "seconds"):
            v = np.array([row[key] for row in rows], dtype=float)
            summary[m][key] = round(float(np.nanmean(v)), 4)
            # the spread over seeds: the std of each K's seed mean's deviations, pooled
            summary[m][key + "_seed_std"] = round(_seed_std(rows, key), 4)
        summary[m]["by_k"] = {
            str(k): {
                key: round(float(np.nanmean([r[key] for r in rows if r["k"] == k])), 4)
                for key in ("npmi", "diversity", "inverted_rbo")
            }
            for k in sorted({r["k"] for r in rows})
        }
    return {"models": summary, "runs": per_model}


def _seed_std(rows: list[dict], key: str) -> float:
    """The spread of the protocol's mean over seeds: std over seeds of the mean over K."""
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) < 2:
        return 0.0
    means = [np.nanmean([r[key] for r in rows if r["seed"] == s]) for s in seeds]
    return float(np.std(means, ddof=1))


def zeroshot(
    texts: list[str], labels: list[str], emb: np.ndarray, epochs: int, k: int = 20
) -> dict:
    """Train CombinedTM and ZeroShotTM on 90% (seeded); on the 10% held apart, each one's top
    topic against the gold labels, and against each other (NMI: no topic alignment needed)."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    rng = np.random.default_rng(0)
    held = np.zeros(len(texts), dtype=bool)
    held[rng.choice(len(texts), len(texts) // 10, replace=False)] = True
    train = [t for t, h in zip(texts, held, strict=True) if not h]
    test = [t for t, h in zip(texts, held, strict=True) if h]
    gold = [y for y, h in zip(labels, held, strict=True) if h]
    top = {}
    for inputs in ("combined", "zeroshot"):
        t0 = time.perf_counter()
        _, model = ctm_topics(train, emb[~held], inputs, k, 0, epochs)
        theta = model.doc_topics(test, embeddings=emb[held])
        top[inputs] = theta.argmax(1)
        print(f"zeroshot check: {inputs} in {time.perf_counter() - t0:.0f}s", flush=True)
    return {
        "k": k,
        "n_train": len(train),
        "n_held_apart": len(test),
        "nmi_gold_combined": round(float(nmi(gold, top["combined"])), 4),
        "nmi_gold_zeroshot": round(float(nmi(gold, top["zeroshot"])), 4),
        "nmi_combined_zeroshot": round(float(nmi(top["combined"], top["zeroshot"])), 4),
    }


if __name__ == "__main__":
    main()
