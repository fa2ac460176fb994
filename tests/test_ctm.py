"""Contextualized topic models on real BBC News documents: topics that follow the gold
categories, the same topics under the same seed, ZeroShotTM reading the embedding alone,
folders that load back, the CLI, and the topic-quality measures."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

import ctxembed
from ctxembed.cli import main
from ctxembed.errors import InputError
from ctxembed.eval.topics import Coherence, diversity, inverted_rbo, rbo
from ctxembed.models.ctm import CTMConfig, CTMModel, CTMTrainConfig, read_documents, train_ctm

from .conftest import DATA
from .contract import EmbedderContract, assert_same


@pytest.fixture(scope="module")
def bbc():
    with gzip.open(DATA / "topics" / "bbc_news.tsv.gz", "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][:800]
    return [r[0] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope="module")
def vectors(bbc, glove6b):
    return glove6b.embed_sentences(bbc[0])


def fit(texts, emb, inputs="combined", seed=0, k=5, encoder=None):
    torch.set_num_threads(1)
    cfg = CTMTrainConfig(epochs=25, seed=seed, vocab_size=1000)
    model, hist = train_ctm(
        texts, CTMConfig(topics=k, inputs=inputs, encoder="glove-6b-50d"), cfg, encoder, emb,
        progress=False,
    )  # fmt: skip
    torch.set_num_threads(2)
    return model, hist


@pytest.fixture(scope="module")
def combined(bbc, vectors, glove6b):
    return fit(bbc[0], vectors, encoder=glove6b)


def test_topics_follow_the_gold_categories(combined, bbc, vectors):
    model, hist = combined
    assert np.mean(hist.losses[-20:]) < np.mean(hist.losses[:20])
    theta = model.doc_topics(bbc[0], embeddings=vectors)
    assert theta.shape == (800, 5)
    assert_same(theta.sum(1), np.ones(800))
    nmi = normalized_mutual_info_score(bbc[1], theta.argmax(1))
    assert nmi > 0.4, nmi  # 5 categories; a model that ignored the text would be near 0
    assert len(model.topics(10)) == 5 and all(len(t) == 10 for t in model.topics(10))


def test_same_seed_same_topics_other_seed_other_topics(combined, bbc, vectors):
    again, _ = fit(bbc[0], vectors)
    assert again.topics(10) == combined[0].topics(10)
    assert_same(
        again.doc_topics(bbc[0][:50], vectors[:50]),
        combined[0].doc_topics(bbc[0][:50], vectors[:50]),
    )
    other, _ = fit(bbc[0], vectors, seed=1)
    assert other.topics(10) != combined[0].topics(10)


def test_zeroshot_reads_the_embedding_alone(bbc, vectors):
    zs, _ = fit(bbc[0], vectors, inputs="zeroshot")
    unseen = ["qwerty zxcvb"] * 40  # no vocabulary word at all
    assert_same(zs.doc_topics(unseen, vectors[:40]), zs.doc_topics(bbc[0][:40], vectors[:40]))
    nmi = normalized_mutual_info_score(bbc[1], zs.doc_topics(bbc[0], vectors).argmax(1))
    assert nmi > 0.3, nmi


def test_combined_reads_the_words_too(combined, bbc, vectors):
    model = combined[0]
    a = model.doc_topics(bbc[0][:40], vectors[:40])
    b = model.doc_topics(["qwerty zxcvb"] * 40, vectors[:40])
    assert np.abs(a - b).max() > 1e-3


def test_prodlda_needs_no_encoder(bbc):
    model, _ = fit(bbc[0], None, inputs="bow")
    assert model.encoder is None
    theta = model.embed_sentences(bbc[0][:10])
    assert theta.shape == (10, 5) and np.isfinite(theta).all()


def test_save_and_load_keep_topics_and_distributions(combined, bbc, vectors, tmp_path):
    model = combined[0]
    model.save(tmp_path / "m")
    back = ctxembed.load(tmp_path / "m")
    assert isinstance(back, CTMModel) and back.topics(10) == model.topics(10)
    assert_same(back.doc_topics(bbc[0][:30]), model.doc_topics(bbc[0][:30], vectors[:30]))
    assert "context-free" in repr(back)


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, combined):
        return combined[0]


def test_word_vectors_are_the_topic_loadings(combined):
    model = combined[0]
    top = model.topics(1)[0][0]
    wv = model.embed_words([f"{top} qwertyzz"])[0]
    assert_same(wv.vectors[0], model.model.beta.detach()[:, model.index[top]])
    assert wv.oov.tolist() == [False, True] and not wv.vectors[1].any()


def test_cli_trains_lists_topics_and_predicts(tmp_path, bbc, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in bbc[0][:300]))
    out = tmp_path / "ctm"
    args = ["train", "ctm", "--corpus", str(docs), "--topics", "4", "--encoder", "glove-6b-50d"]
    assert main([*args, "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    assert "CombinedTM topics=4" in capsys.readouterr().out
    assert main(["topics", str(out), "-n", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(len(line.split("\t")[1].split()) == 5 for line in lines)
    pred = tmp_path / "pred.jsonl"
    assert main(["predict", str(out), str(docs), str(pred)]) == 0
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    assert len(rows) == 300 and all(abs(sum(r["topics"]) - 1) < 1e-4 for r in rows)
    assert all(r["top"][0][0] == int(np.argmax(r["topics"])) for r in rows)


def test_bad_input_is_named(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["train", "ctm", "--corpus", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "no documents" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "x"}\n')
    with pytest.raises(InputError, match='"text" string'):
        read_documents(bad)
    assert main(["topics", "glove-6b-50d"]) == 1
    assert "train ctm" in capsys.readouterr().err
    # an output folder that holds the corpus would delete it when replaced
    docs = tmp_path / "docs.txt"
    docs.write_text("alpha beta gamma\ndelta epsilon beta\nalpha delta gamma\n")
    own = tmp_path / "own"
    assert main(["train", "ctm", "--corpus", str(docs), "--out", str(own), "--bow"]) == 0
    args = ["train", "ctm", "--corpus", str(own / "vocab.txt"), "--out", str(own), "--bow"]
    assert main([*args, "--overwrite", "--quiet"]) == 1
    assert "inside" in capsys.readouterr().err and (own / "vocab.txt").exists()
    with pytest.raises(InputError, match="no words besides stop words"):
        train_ctm(["the and of", "is it"], CTMConfig(inputs="bow"), CTMTrainConfig(epochs=1))


def test_topic_measures():
    assert rbo(list("abcdefghij"), list("abcdefghij")) == pytest.approx(1.0)
    assert rbo(list("abcdefghij"), list("klmnopqrst")) == 0.0
    assert 0 < rbo(list("abcdefghij"), list("bacdefghij")) < 1
    assert rbo(list("abcdefghij"), list("abcdefghzz")) > rbo(list("zzcdefghij"), list("abcdefghij"))
    assert diversity([["a", "b"], ["a", "c"]]) == 0.75
    assert inverted_rbo([list("abcdefghij")] * 3) == pytest.approx(0.0)
    # NPMI: words that always occur together are coherent, words that never do are not
    texts = [["apple", "pear"], ["car", "road"]] * 20 + [["apple", "pear", "plum"]] * 5
    together, apart = ["apple", "pear"], ["apple", "road"]
    c = Coherence(texts, [together, apart])
    assert c.npmi([together]) > 0.5 > c.npmi([apart])
