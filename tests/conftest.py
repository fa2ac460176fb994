"""Shared fixtures: real data slices and small models, built once per session."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("CTXEMBED_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: use --runslow or CTXEMBED_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def wiki_lines(n: int, split: str = "train", lowercase: bool = True) -> list[list[str]]:
    """The first ``n`` non-empty, non-heading lines of WikiText-2 as token lists."""
    out = []
    with gzip.open(DATA / "wikitext2" / f"wiki.{split}.tokens.gz", "rt", encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("="):
                continue
            out.append(s.lower().split() if lowercase else s.split())
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="session")
def wiki_text_file(tmp_path_factory) -> Path:
    """A small real corpus file: 600 WikiText-2 paragraphs, lowercased."""
    path = tmp_path_factory.mktemp("corpus") / "wiki600.txt"
    path.write_text("".join(" ".join(t) + "\n" for t in wiki_lines(600)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def minilm():
    import ctxembed

    return ctxembed.load("minilm-l6")


@pytest.fixture(scope="session")
def glove6b():
    import ctxembed

    return ctxembed.load("glove-6b-50d")


@pytest.fixture(scope="session")
def tiny_glove():
    from ctxembed.models.glove import GloVeConfig, train_glove
    from ctxembed.train.corpus import Corpus

    cfg = GloVeConfig(dim=32, window=8, min_count=3, epochs=5, x_max=10, lr=0.2, batch_size=4096)
    return train_glove(Corpus(wiki_lines(400)), cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_word2vec():
    from ctxembed.models.word2vec import Word2VecConfig, train_word2vec
    from ctxembed.train.corpus import Corpus

    cfg = Word2VecConfig(dim=32, window=4, min_count=3, epochs=2, workers=1)
    return train_word2vec(Corpus(wiki_lines(400)), cfg, progress=False)
