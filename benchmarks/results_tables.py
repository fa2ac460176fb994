"""Render the tables of docs/results.md from the results.json files the bench wrote.

Every table in docs/results.md sits between ``<!-- table NAME -->`` and ``<!-- /table -->``
and is produced here from one results file (a ``ctxembed bench`` output or
docs/results/training.json), so no table can drift from the run that made it:

    python benchmarks/results_tables.py            # rewrite the tables in docs/results.md
    python benchmarks/results_tables.py --check    # exit 1 if a table differs (tests/test_docs.py)

A table is a list of rows (a label and the model name the bench reported) and columns (a
header and a selector of one record and one metric). Blank cells mean "not run / not
applicable". The best value of each column is bold when the spec asks for it.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
RESULTS = ROOT / "docs" / "results"


@dataclass(frozen=True)
class Col:
    header: str
    task: str
    dataset: str | None = None
    metric: str = ""
    protocol: str | None = None  # substring of the record's protocol
    layer: str | None = None  # the record's details["layer"], where a task reports several
    digits: int = 1


@dataclass(frozen=True)
class Table:
    source: str  # results.json, relative to docs/results
    # (label shown, model name in the results[, another results file for this row])
    rows: list[tuple[str, ...]]
    cols: list[Col]
    bold: bool = True
    first: str = "model"
    per_row: dict[str, list[Col]] = field(default_factory=dict)  # label -> its own selectors


@functools.cache
def records(source: str) -> list[dict[str, Any]]:
    data = json.loads((RESULTS / source).read_text())
    return data["results"] if isinstance(data, dict) and "results" in data else data


def metric(rec: dict[str, Any], path: str) -> float | None:
    """``"accuracy"`` reads ``rec["metrics"]["accuracy"]``; a dotted path such as
    ``"details.per_layer.1.macro_f1"`` walks the record from its top."""
    node: Any = rec if "." in path else rec.get("metrics", {})
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def value(recs: list[dict[str, Any]], model: str, col: Col) -> float | None:
    found = [
        v
        for r in recs
        if r.get("model") == model
        and r.get("task") == col.task
        and (col.dataset is None or r.get("dataset") == col.dataset)
        and (col.protocol is None or col.protocol in r.get("protocol", ""))
        and (col.layer is None or str(r.get("details", {}).get("layer")) == col.layer)
        and (v := metric(r, col.metric)) is not None
    ]
    if len(found) > 1:
        raise SystemExit(f"{model} / {col}: {len(found)} records match; narrow the selector")
    return found[0] if found else None


def training_value(recs: dict[str, Any], out: str, key: str) -> float | None:
    rec = recs.get(out)
    return None if rec is None or key not in rec else float(rec[key])


def finetune_value(run: str, col: Col) -> float | None:
    """``run`` is ``NAME:MODE``; reads docs/results/finetune/NAME-TASK-MODE.json (a head.json
    that benchmarks/finetune_runs.py copied): ``split.metric`` of its scores, or a top-level
    key (``minutes_per_epoch``)."""
    name, mode = run.split(":")
    path = RESULTS / "finetune" / f"{name}-{col.task}-{mode}.json"
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    if col.metric == "best_of_run":  # "2 of 4": the kept epoch of the validations run
        return f"{rec['best_epoch']} of {len(rec['epochs'])}"  # type: ignore[return-value]
    if "." in col.metric:
        split, key = col.metric.split(".")
        return rec["scores"].get(split, {}).get(key)
    return rec.get(col.metric)


def spread(mean: float, std: float | None, digits: int) -> str:
    """``mean ± std`` (over seeds) where there is a spread, else the mean."""
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std else "")


def cvt_value(rows: dict[str, Any], key: str, col: Col) -> str | None:
    """benchmarks/cvt.py's table: ``col.task`` a method (or ``gain``), ``col.metric`` a split."""
    row = rows.get(key)
    if row is None:
        return None
    if col.task == "gain":
        return f"{row[f'gain_{col.metric}']:+.{col.digits}f}"
    if col.task == "n_train":
        return f"{row['n_train']:,}"
    if col.metric.startswith("curve"):  # seed 0's dev score after each round
        curve = row[col.task].get("curve", [])
        i = int(col.metric[5:])
        return f"{curve[i]:.{col.digits}f}" if i < len(curve) else None
    m = row[col.task]
    return spread(m[f"{col.metric}_mean"], m[f"{col.metric}_std"], col.digits)


def topics_value(data: dict[str, Any], model: str, col: Col) -> str | None:
    """benchmarks/topics.py's results: a model's mean (± spread over seeds) of a measure;
    ``published:NAME`` reads the published NPMI and diversity."""
    ds = data[col.dataset]
    if model.startswith("published:"):
        pub = data["published"][col.dataset].get(model.split(":")[1])
        i = {"npmi": 0, "diversity": 1}.get(col.metric)
        return None if pub is None or i is None else f"{pub[i]:.{col.digits}f}"
    if col.metric.startswith("seconds@"):  # one K's training time, mean over seeds
        k = int(col.metric.split("@")[1])
        runs = [r for r in ds["runs"].get(model, []) if r["k"] == k]
        return f"{sum(r['seconds'] for r in runs) / len(runs):,.0f}" if runs else None
    if model == "zeroshot":  # the held-apart check
        v = ds.get("zeroshot", {}).get(col.metric)
        return None if v is None else f"{v:,.{col.digits}f}"
    m = ds["models"].get(model)
    if m is None:
        return None
    if col.metric in ("n_runs", "seconds"):
        return f"{m[col.metric]:,.{0 if col.metric == 'n_runs' else 1}f}"
    return spread(m[col.metric], m.get(f"{col.metric}_seed_std"), col.digits)


GENERIC = (  # results files of {key: {metric: value}} rows
    "senses.json", "serve-load.json", "distill.json", "quantized.json", "distill-sif.json",
    "index.json", "ddp.json", "embed-memory.json", "distill-earlier.json",
)  # fmt: skip


def generic(source: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A GENERIC file and its rows: {rows|runs|models: {key: {metric: ..}}}, or for
    FILE#KEY, {KEY: {key: {metric: ..}}}."""
    name, _, part = source.partition("#")
    data = json.loads((RESULTS / name).read_text())
    rows = data[part] if part else data.get("rows") or data.get("runs") or data["models"]
    return data, {**rows, **{k: {"rps": v} for k, v in data.items() if k.startswith("library_")}}


def render(table: Table) -> str:
    def cols(label: str) -> list[Col]:
        return table.per_row.get(label, table.cols)

    if table.source == "cvt.json":  # benchmarks/cvt.py --out
        rows = json.loads((RESULTS / table.source).read_text())["rows"]
        cells = [[cvt_value(rows, m, c) for c in cols(lab)] for lab, m, *_ in table.rows]
    elif table.source.startswith("topics"):  # benchmarks/topics.py --out
        data = json.loads((RESULTS / table.source).read_text())
        cells = [[topics_value(data, m, c) for c in cols(lab)] for lab, m, *_ in table.rows]
    elif table.source.split("#")[0] in GENERIC:
        cells = []
        for lab, m, *src in table.rows:  # a row may come from another file of the same shape
            data, rows = generic(src[0] if src else table.source)
            cells.append(
                [rows.get(m, {}).get(c.metric) if c.task != "ratio" else data["ratios"].get(c.metric)
                 for c in cols(lab)]
            )  # fmt: skip
    elif table.source == "finetune":
        cells = [[finetune_value(m, c) for c in cols(lab)] for lab, m, *_ in table.rows]
    elif table.source == "finetune-speed.json":  # benchmarks/finetune.py --out
        speed = json.loads((RESULTS / table.source).read_text())
        cells = [[speed.get(m, {}).get(c.metric) for c in cols(lab)] for lab, m, *_ in table.rows]
    elif table.source == "training.json":
        train = json.loads((RESULTS / table.source).read_text())
        cells = [
            [training_value(train, m, c.metric) for c in cols(lab)] for lab, m, *_ in table.rows
        ]
    else:
        cells = [
            [value(records(src[0] if src else table.source), m, c) for c in cols(lab)]
            for lab, m, *src in table.rows
        ]
    best = [
        max((row[j] for row in cells if isinstance(row[j], float | int)), default=None)
        for j in range(len(table.cols))
    ]
    lines = [
        "| " + " | ".join([table.first] + [c.header for c in table.cols]) + " |",
        "| --- |" + " ---: |" * len(table.cols),
    ]
    for (label, *_), row in zip(table.rows, cells, strict=True):
        shown = []
        for j, (c, v) in enumerate(zip(table.cols, row, strict=True)):
            text = ""
            if isinstance(v, str):
                text = v
            elif v is not None:
                text = f"{v:,.{c.digits}f}"
                if table.bold and v == best[j] and sum(r[j] is not None for r in cells) > 1:
                    text = f"**{text}**"
            shown.append(text)
        lines.append("| " + " | ".join([label, *shown]) + " |")
    return "\n".join(lines)


# -- the tables of docs/results.md ------------------------------------------------------------
MAIN = "results.json"  # ctxembed bench --models glove-6b-50d,minilm-l6,runs/... --tasks all
CONTROLLED = "controlled/results.json"
W2V, GLOVE = "wikitext2-word2vec", "wikitext2-glove"
ELMO, ELMO_T = "wikitext2-elmo", "wikitext2-elmo-transformer"
FULL = "full train"


def wsd(header: str, protocol: str = FULL, metric: str = "macro_f1") -> Col:
    return Col(header, "coarsewsd", "CoarseWSD-20", metric, protocol=protocol)


def wic(header: str, protocol: str, metric: str = "accuracy") -> Col:
    return Col(header, "wic", "WiC", metric, protocol=protocol)


THRESHOLD, PROBE = "cosine threshold", "probe"
WORDSIM = [
    Col(name, "wordsim", key, "spearman")
    for name, key in [
        ("SimLex-999", "simlex999"),
        ("WS-353", "ws353"),
        ("WS-353 sim", "ws353-sim"),
        ("WS-353 rel", "ws353-rel"),
        ("MEN", "men"),
        ("RW", "rw"),
        ("SimVerb-3500", "simverb3500"),
    ]
]
STS = [Col("STS-B dev", "sts", "stsb-dev", "spearman"), Col("SICK-R", "sts", "sick-r", "spearman")]
CLASSIFY = [
    Col(name, "classify", key, "accuracy")
    for name, key in [
        ("SST-2", "sst2"),
        ("MR", "mr"),
        ("CR", "cr"),
        ("SUBJ", "subj"),
        ("MPQA", "mpqa"),
        ("TREC", "trec"),
    ]
]
TRAINING = [  # docs/results/training.json, per run
    Col("steps", "", metric="steps", digits=0),
    Col("tokens", "", metric="tokens", digits=0),
    Col("wall minutes", "", metric="wall_minutes"),
    Col("tokens/s", "", metric="tokens_per_s", digits=0),
    Col("peak GB", "", metric="max_rss_gb"),
]
MAIN_ROWS = [
    ("glove-6b-50d", "glove-6b-50d"),
    ("Word2Vec, WikiText-2", W2V),
    ("GloVe, WikiText-2", GLOVE),
    ("minilm-l6", "minilm-l6"),
]


def encoder_cols() -> list[Col]:
    """STS-B dev, SICK-R, SimLex-999 and both WiC protocols: the encoders' tables."""
    return [*STS, WORDSIM[0], wic("WiC threshold", THRESHOLD), wic("WiC probe", PROBE)]


def layer_table(source: str, model: str, layers: list[str], wic_layers: bool = True) -> Table:
    """Rows = layers of one model; CoarseWSD-20 F1 and, where run, WiC per layer."""
    cols = [Col("CoarseWSD-20 F1", "coarsewsd", "CoarseWSD-20", "", protocol=FULL)]
    if wic_layers:
        cols += [
            Col("WiC threshold", "wic", "WiC", "", protocol=THRESHOLD),
            Col("WiC probe", "wic", "WiC", "", protocol=THRESHOLD),
        ]
    keys = ["macro_f1", "threshold", "probe"]
    rows, cells = [], {}
    for layer in layers:
        label = f"{layer} (input)" if layer == "0" else layer
        rows.append((label, model))
        cells[label] = [
            Col(c.header, c.task, c.dataset, f"details.per_layer.{layer}.{k}", c.protocol)
            for c, k in zip(cols, keys, strict=False)
        ]
    return Table(source, rows, cols, first="layer", per_row=cells)


FINETUNE_COLS = [
    Col("SST-2 dev acc", "sst2", metric="dev.accuracy"),
    Col("STS-B dev Spearman", "stsb", metric="dev.spearman"),
    Col("WiC dev acc", "wic", metric="dev.accuracy"),
    Col("UPOS test acc", "upos", metric="test.accuracy", digits=2),
    Col("WNUT-17 test F1", "wnut17", metric="test.f1"),
    Col("SQuAD held-out F1", "squad", metric="test.f1"),
]
FINETUNE_ROWS = [
    ("glove-6b-50d, frozen", "glove-6b-50d:frozen"),
    ("minilm-l6, frozen", "minilm-l6:frozen"),
    ("minilm-l6, full", "minilm-l6:full"),
    ("ELMo (WikiText-2), frozen", "elmo-wikitext2:frozen"),
    ("context2vec (WikiText-2), frozen", "context2vec-wikitext2:frozen"),
    ("CoVe (Multi30k), frozen", "cove-multi30k:frozen"),
    ("BERT small (WikiText-2), frozen", "bert-wikitext2:frozen"),
    ("BERT small (WikiText-2), full", "bert-wikitext2:full"),
]

CVT_ROWS = [
    (f"{t} {p}%", f"{k} {p}%")
    for t, k in (("UPOS", "upos"), ("WNUT-17", "wnut17"))
    for p in (10, 100)
]
CVT_COLS = [
    Col("labelled sentences", "n_train"),
    Col("supervised dev", "supervised", metric="dev", digits=2),
    Col("CVT dev", "cvt", metric="dev", digits=2),
    Col("supervised test", "supervised", metric="test", digits=2),
    Col("CVT test", "cvt", metric="test", digits=2),
    Col("CVT gain, test", "gain", metric="test", digits=2),
]
CVT_CURVE = [
    Col(f"{label}, after {steps}", method, metric=f"curve{i}", digits=2)
    for method, label in (("supervised", "supervised"), ("cvt", "CVT"))
    for i, steps in enumerate((500, 1000, 1200))
]
TOPIC_ROWS = [
    ("CombinedTM, minilm-l6", "combined"),
    ("CombinedTM, glove-6b-50d mean", "combined-glove"),
    ("ProdLDA (no embedding)", "prodlda"),
    ("LDA (gensim)", "lda"),
    ("BERTopic, minilm-l6", "bertopic"),
    ("CTM, published", "published:ctm"),
    ("LDA, published", "published:lda"),
    ("BERTopic, published", "published:bertopic"),
]


def topic_cols(ds: str) -> list[Col]:
    return [
        Col("NPMI", "", ds, "npmi", digits=3),
        Col("diversity", "", ds, "diversity", digits=3),
        Col("inverted RBO", "", ds, "inverted_rbo", digits=3),
        Col("runs", "", ds, "n_runs"),
        Col("s per run", "", ds, "seconds"),
    ]


SENSE_COLS = [
    Col("purity", "", metric="purity", digits=3),
    Col("ARI", "", metric="ari", digits=3),
    Col("senses found (mean)", "", metric="senses", digits=2),
    Col("words split (of 20)", "", metric="words_with_several", digits=0),
    Col("majority share", "", metric="majority", digits=3),
]
LOAD_COLS = [
    Col("requests/s", "", metric="rps", digits=1),
    Col("p50 ms", "", metric="p50_ms", digits=0),
    Col("p99 ms", "", metric="p99_ms", digits=0),
    Col("failed", "", metric="failed", digits=0),
    Col("cores the clients took", "", metric="client_cores", digits=2),
]


def load_rows(server: str, route: str) -> list[tuple[str, str]]:
    return [(f"{server} {route}, clients: {n}", f"{server} {route} c={n}") for n in (1, 8, 32, 128)]


DISTILL_COLS = [
    Col("STS-B dev", "", metric="stsb-dev", digits=1),
    Col("SICK-R", "", metric="sick-r", digits=1),
    Col("classification, mean of 6", "", metric="classify_mean", digits=1),
    Col("vs teacher (points)", "", metric="classify_vs_teacher", digits=1),
    Col("sentences/s", "", metric="sentences_per_s", digits=0),
    Col("x teacher's speed", "", metric="speed_vs_teacher", digits=1),
]

CL = "logistic regression on standardised frozen sentence vectors, C in {0.01, 0.1, 1}"

TABLES = {
    "distill-sif": Table(
        "distill-sif.json",
        [
            (f"{rows}, a = {a}", f"{rows}, a={a}")
            for rows in ("raw rows", "unit rows")
            for a in ("0.001", "0.0001", "1e-05")
        ],
        [Col("STS-B train", "", metric="stsb-train", digits=2)],
        bold=False,
        first="teacher rows before PCA, SIF's a",
    ),
    "quantized": Table(
        "quantized.json",
        [
            ("torch fp32", "torch fp32"),
            ("torch int8, every Linear", "torch int8"),
            ("torch int8, feed-forward outputs fp32", "torch int8-ffn-fp32"),
            ("ONNX fp32", "onnx fp32"),
            ("ONNX int8, every MatMul", "onnx int8"),
            ("ONNX int8, layers 0-1 feed-forward outputs fp32", "onnx int8-early-ffn-fp32"),
        ],
        [
            Col("words/s", "", metric="words_per_s", digits=0),
            Col("x torch fp32", "", metric="speedup", digits=2),
            Col("word-vector cosine to fp32, mean", "", metric="cosine_mean", digits=3),
            Col("1st pct", "", metric="cosine_p1", digits=3),
            Col("min", "", metric="cosine_min", digits=3),
            Col("STS-B dev", "", metric="stsb-dev", digits=1),
            Col("STS-B dev change", "", metric="stsb-dev_delta", digits=1),
            Col("STS-B dev sentences/s", "", metric="sentences_per_s", digits=0),
            Col("worst bench task change", "", metric="worst_task_delta", digits=1),
        ],
        bold=False,
        first="minilm-l6",
    ),
    "quantized-tasks": Table(
        "quantized.json#by_task",
        [
            (label, key)
            for label, key in (
                (
                    "CoarseWSD-20 test, full train",
                    "coarsewsd/CoarseWSD-20/test/1-NN sense centroids, full train",
                ),
                *[
                    (
                        f"CoarseWSD-20 test, {k}-shot",
                        f"coarsewsd/CoarseWSD-20/test/1-NN sense centroids, {k}-shot (mean of 5 seeded samples)",
                    )
                    for k in (1, 3, 10, 30)
                ],
                ("WiC dev, cosine threshold", "wic/WiC/dev/cosine threshold (chosen on train)"),
                ("WiC dev, probe", "wic/WiC/dev/logistic-regression probe on [u, v, |u-v|, u*v]"),
                ("STS-B dev", "sts/stsb-dev/dev/cosine of sentence vectors, x100"),
                ("SICK-R", "sts/sick-r/test/cosine of sentence vectors, x100"),
                ("SST-2 test", f"classify/sst2/test/{CL} chosen on dev"),
                *[
                    (
                        f"{t.upper()} 10-fold",
                        f"classify/{t}/10-fold cv/{CL} chosen by 3-fold CV inside each of 10 outer folds",
                    )
                    for t in ("mr", "cr", "subj", "mpqa")
                ],
                ("TREC test", f"classify/trec/test/{CL} chosen by 5-fold CV on train"),
            )
        ],
        [
            Col("torch fp32", "", metric="torch fp32", digits=2),
            Col("ONNX int8, early FFN fp32", "", metric="onnx int8-early-ffn-fp32", digits=2),
        ],
        bold=False,
        first="bench task",
    ),
    "distill": Table(
        "distill.json",
        [
            ("minilm-l6 (teacher)", "minilm-l6"),
            ("distilled minilm-l6, 256-d (ours)", "distilled"),
            ("DAN student of minilm-l6, 384-d (ours)", "dan student"),
            ("model2vec distill of minilm-l6, 256-d (peer)", "model2vec (peer)"),
            ("glove-6b-50d, mean of words", "glove-6b-50d"),
            ("minilm-l6 (teacher), earlier run", "minilm-l6", "distill-earlier.json"),
            (
                "ELMo, WikiText-2 (controlled experiment), mean, earlier run",
                "wikitext2-elmo",
                "distill-earlier.json",
            ),
            (
                "USE DAN, WikiText-2 multi-task, earlier run",
                "wikitext2-use-dan",
                "distill-earlier.json",
            ),
        ],
        DISTILL_COLS,
        bold=False,
    ),
    "index-speed": Table(
        "index.json#speed",
        [
            ("in this process (torch on 2 threads)", "in-process"),
            ("Ray, 1 actor (2 threads)", "ray, 1 actor"),
            ("Ray, 2 actors (1 thread each)", "ray, 2 actors"),
        ],
        [
            Col("words", "", metric="words", digits=0),
            Col("seconds", "", metric="seconds", digits=1),
            Col("words/s", "", metric="words_per_s", digits=0),
            Col("x in-process", "", metric="speedup", digits=2),
            Col("HNSW recall@10", "", metric="recall_at_10", digits=3),
        ],
        bold=False,
        first="minilm-l6, WikiText-2 train",
    ),
    "index-senses": Table(
        "index.json#senses",
        [("minilm-l6", "minilm-l6"), ("glove-6b-50d", "glove-6b-50d")],
        [
            Col("precision@10 (query's sense)", "", metric="precision_at_10", digits=3),
            Col("random pick", "", metric="chance", digits=3),
        ],
        bold=False,
        first="CoarseWSD-20, 20 words",
    ),
    "ddp": Table(
        "ddp.json",
        [("BERT small, batch 16 x 64 tokens", "bert"), ("USE DAN, next-sentence task", "use")],
        [
            Col("1 process, tokens/s", "", metric="one_process_tokens_per_s", digits=0),
            Col("2 processes, tokens/s", "", metric="two_processes_tokens_per_s", digits=0),
            Col("x 1 process", "", metric="speedup", digits=2),
        ],
        bold=False,
        first="ctxembed train",
    ),
    "embed-memory": Table(
        "embed-memory.json",
        [
            (f"{label}, {n:,} lines", f"{key}/{n}")
            for label, key in (
                ("minilm-l6 (torch fp32)", "minilm-l6"),
                ("minilm-l6 ONNX int8 (early FFN fp32)", "minilm-l6-onnx-int8"),
            )
            for n in (1, 5000, 20000)
        ],
        [
            Col("words", "", metric="words", digits=0),
            Col("peak RSS (MiB)", "", metric="peak_rss_mib", digits=0),
        ],
        bold=False,
        first="ctxembed embed, Multi30k captions",
    ),
    "senses": Table(
        "senses.json",
        [
            ("minilm-l6, silhouette", "minilm-l6/silhouette"),
            ("minilm-l6, HDBSCAN", "minilm-l6/hdbscan"),
            ("glove-6b-50d, silhouette", "glove-6b-50d/silhouette"),
            ("glove-6b-50d, HDBSCAN", "glove-6b-50d/hdbscan"),
        ],
        SENSE_COLS,
        bold=False,
        first="CoarseWSD-20 test, 20 words",
    ),
    "serve-ratios": Table(
        "serve-load.json",
        [("ctxembed serve, minilm-l6", "-")],
        [
            Col(
                "/v1/words ÷ embed_words, 32 clients",
                "ratio",
                metric="words_vs_library_c32",
                digits=2,
            ),
            Col(
                "/v1/embeddings ÷ embed_sentences, 32 clients",
                "ratio",
                metric="embeddings_vs_library_c32",
                digits=2,
            ),
            Col(
                "requests/s ÷ Infinity, 8 clients",
                "ratio",
                metric="embeddings_vs_infinity_rps_c8",
                digits=2,
            ),
            Col(
                "requests/s ÷ Infinity, 32 clients",
                "ratio",
                metric="embeddings_vs_infinity_rps_c32",
                digits=2,
            ),
            Col(
                "p99 ÷ Infinity's, 8 clients",
                "ratio",
                metric="embeddings_vs_infinity_p99_c8",
                digits=2,
            ),
            Col(
                "p99 ÷ Infinity's, 32 clients",
                "ratio",
                metric="embeddings_vs_infinity_p99_c32",
                digits=2,
            ),
        ],
        bold=False,
        first="ratio",
    ),
    "serve-load": Table(
        "serve-load.json",
        [
            ("library embed_words, one process, texts/s", "library_words_per_s"),
            ("library embed_sentences, one process, texts/s", "library_sentences_per_s"),
        ]
        + load_rows("ctxembed", "/v1/words")
        + load_rows("ctxembed", "/v1/embeddings")
        + load_rows("infinity", "/embeddings"),
        LOAD_COLS,
        bold=False,
        first="server, route, clients",
    ),
    "cvt": Table("cvt.json", CVT_ROWS, CVT_COLS, bold=False, first="task, labels"),
    "cvt-curve": Table(
        "cvt.json", CVT_ROWS, CVT_CURVE, bold=False, first="dev, seed 0, labelled steps"
    ),
    "topics-20ng": Table("topics-20ng.json", TOPIC_ROWS, topic_cols("20ng"), bold=False),
    "topics-bbc": Table("topics-bbc.json", TOPIC_ROWS, topic_cols("bbc"), bold=False),
    "topics-speed": Table(
        "topics-20ng.json",
        [
            (f"{label}", m)
            for label, m in TOPIC_ROWS
            if m in ("combined", "prodlda", "lda", "bertopic")
        ],
        [
            Col("s to train, K = 50", "", "20ng", "seconds@50"),
            Col("s per run, K = 10-50", "", "20ng", "seconds"),
        ],
        bold=False,
        first="20 Newsgroups, one thread",
    ),
    "topics-zeroshot": Table(
        "topics-bbc.json",
        [("BBC News, K = 20, seed 0", "zeroshot")],
        [
            Col("documents held apart", "", "bbc", "n_held_apart", digits=0),
            Col("NMI gold, CombinedTM", "", "bbc", "nmi_gold_combined", digits=3),
            Col("NMI gold, ZeroShotTM", "", "bbc", "nmi_gold_zeroshot", digits=3),
            Col("NMI CombinedTM vs ZeroShotTM", "", "bbc", "nmi_combined_zeroshot", digits=3),
        ],
        bold=False,
        first="held-apart documents",
    ),
    "finetune": Table("finetune", FINETUNE_ROWS, FINETUNE_COLS, first="model, mode"),
    "finetune-epochs": Table(
        "finetune",
        FINETUNE_ROWS,
        [Col(c.header.split(" ")[0], c.task, metric="best_of_run") for c in FINETUNE_COLS],
        bold=False,
        first="best epoch, of those run",
    ),
    "finetune-speed": Table(
        "finetune-speed.json",
        [("ctxembed finetune", "ctxembed"), ("plain PyTorch loop", "plain"), ("ratio", "ratio")],
        [
            Col("examples/s", "", metric="rate", digits=2),
            Col("peak GiB", "", metric="peak_gib", digits=2),
        ],
        bold=False,
        first="minilm-l6, full, SST-2",
    ),
    "finetune-cpu": Table(
        "finetune",
        [("minilm-l6, full, 2-core CPU", "cpu-minilm-l6:full")],
        [Col(c.header.split(" ")[0], c.task, metric="minutes_per_epoch") for c in FINETUNE_COLS],
        bold=False,
        first="minutes per epoch",
    ),
    "wsd": Table(
        MAIN,
        [("most frequent sense", "most frequent sense"), *MAIN_ROWS],
        [
            wsd("macro-F1"),
            wsd("accuracy", metric="accuracy"),
            wsd("1-shot F1", "1-shot"),
            wsd("10-shot F1", "10-shot"),
            wsd("30-shot F1", "30-shot"),
        ],
    ),
    "wic": Table(MAIN, MAIN_ROWS, [wic("cosine threshold", THRESHOLD), wic("LR probe", PROBE)]),
    "layers-minilm": layer_table(MAIN, "minilm-l6", ["0", "1", "2", "3", "4", "5", "6", "mean"]),
    "wordsim": Table(MAIN, MAIN_ROWS, WORDSIM),
    "sentences": Table(MAIN, MAIN_ROWS, STS + CLASSIFY),
    "analogy": Table(
        MAIN,
        MAIN_ROWS[:3],
        [
            Col("accuracy", "analogy", "google", "accuracy"),
            Col("coverage", "analogy", "google", "coverage"),
        ],
    ),
    "training-controlled": Table(
        "training.json",
        [
            ("ELMo `small` (LSTM)", "runs/wikitext2-elmo"),
            ("ELMo `small-transformer`", "runs/wikitext2-elmo-transformer"),
        ],
        [
            *TRAINING,
            Col("valid ppl fwd", "", metric="valid_ppl_forward"),
            Col("bwd", "", metric="valid_ppl_backward"),
            Col("mean", "", metric="valid_ppl_mean"),
        ],
        bold=False,
    ),
    "training-use": Table(
        "training.json",
        [
            ("USE DAN", "runs/wikitext2-use-dan"),
        ],
        TRAINING,
        bold=False,
    ),
    "controlled": Table(
        CONTROLLED,
        [
            ("most frequent sense", "most frequent sense"),
            ("Word2Vec, WikiText-2", W2V),
            ("GloVe, WikiText-2", GLOVE),
            ("ELMo-LSTM, WikiText-2", ELMO),
            ("transformer biLM, WikiText-2", ELMO_T),
            ("glove-6b-50d (6B words)", "glove-6b-50d"),
        ],
        [
            wsd("CoarseWSD-20 F1"),
            wsd("accuracy", metric="accuracy"),
            wsd("10-shot F1", "10-shot"),
            wic("WiC threshold", THRESHOLD),
            wic("WiC probe", PROBE),
            WORDSIM[0],
            *STS,
        ],
    ),
    "c2v-cove": Table(
        "cove-context2vec/results.json",
        [
            ("random ranking", "random"),
            ("glove-6b-50d (t2t)", "glove-6b-50d"),
            ("context2vec, WikiText-2 (c2t)", "wikitext2-context2vec"),
            ("context2vec (c2t*t2t)", "wikitext2-context2vec (c2t*t2t)"),
            ("CoVe, Multi30k (`[GloVe; CoVe]`)", "multi30k-cove"),
        ],
        [
            wsd("CoarseWSD-20 F1"),
            wic("WiC threshold", THRESHOLD),
            wic("WiC probe", PROBE),
            Col("SimLex-999", "wordsim", "simlex999", "spearman"),
            *STS,
            Col("LST GAP", "lexsub", "lst-test", "gap"),
            Col("CoInCo GAP", "lexsub", "coinco-test", "gap"),
        ],
    ),
    "mirror": Table(
        "mirror-minilm/results.json",
        [
            ("minilm-l6", "minilm-l6"),
            ("+ Mirror sentence", "mirror-sentence-minilm"),
            ("+ Mirror word", "mirror-word-minilm"),
        ],
        encoder_cols(),
    ),
    "mirror-bert": Table(
        "bert-mirror/results.json",
        [
            ("our BERT (WikiText-2)", "wikitext2-bert"),
            ("+ Mirror sentence", "mirror-sentence-bert"),
            ("+ Mirror word", "mirror-word-bert"),
        ],
        encoder_cols(),
    ),
    "use": Table(
        "use/results.json",
        [
            ("USE DAN", "wikitext2-use-dan"),
            ("glove-6b-50d (mean of word vectors)", "glove-6b-50d"),
            ("minilm-l6", "minilm-l6", MAIN),
        ],
        encoder_cols(),
    ),
    "layers-elmo": layer_table(CONTROLLED, ELMO, ["0", "1", "2", "mean"]),
    "layers-elmo-transformer": layer_table(CONTROLLED, ELMO_T, ["0", "1", "2", "3", "4", "mean"]),
}


BLOCK = re.compile(r"(<!-- table (\S+) -->\n)(.*?)(<!-- /table -->)", re.S)


def rewrite(text: str, tables: dict[str, Table]) -> str:
    seen = set()

    def one(m: re.Match) -> str:
        name = m[2]
        if name not in tables:
            raise SystemExit(f"docs/results.md names table {name!r}, which no spec defines")
        seen.add(name)
        return m[1] + render(tables[name]) + "\n" + m[4]

    out = BLOCK.sub(one, text)
    if missing := set(tables) - seen:
        raise SystemExit(f"specs without a place in docs/results.md: {sorted(missing)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    text = DOC.read_text(encoding="utf-8")
    new = rewrite(text, TABLES)
    if args.check:
        if new != text:
            print("docs/results.md: tables differ from the results files; run this script")
            return 1
        return 0
    if new != text:
        tmp = DOC.with_suffix(".tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
