"""Distilled static encoders (Model2Vec's recipe): a tiny BERT trained here as the teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed.cli import main
from ctxembed.errors import InputError
from ctxembed.models.bert import BertTrainConfig, train_bert
from ctxembed.models.distilled import DistilledEmbedder, distill

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same
from .test_bert import TINY  # the same tiny BERT shape as the BERT family's tests

LINES = [" ".join(t) for t in wiki_lines(300)]


@pytest.fixture(scope="module")
def teacher():
    torch.set_num_threads(1)
    cfg = BertTrainConfig(vocab_size=1200, max_len=64, epochs=2, batch_size=16, lr=2e-3)
    emb, _, _ = train_bert(wiki_lines(120), TINY, cfg, progress=False)
    torch.set_num_threads(2)
    return emb


@pytest.fixture(scope="module")
def student(teacher):
    return distill(teacher, dim=16, lines=LINES, sif=1e-3, teacher_name="tiny-bert", progress=False)


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, student):
        return student


def test_rows_are_the_teachers_token_vectors_reduced_and_weighted(teacher, student):
    n = len(teacher.tokenizer)
    assert student.table.shape == (n, 16) and student.dim == 16
    raw = distill(teacher, dim=None, lines=(), progress=False)  # no PCA, no SIF
    ids = [[i] for i in range(0, n, 97)]
    assert_same(raw.table[::97], teacher.embed_ids(ids))
    # SIF: a frequent token weighs less than a rare one of the same raw norm
    the = teacher.tokenizer.convert_tokens_to_ids("the")
    counts = np.bincount(
        [i for ids in teacher.tokenizer(LINES, add_special_tokens=False)["input_ids"] for i in ids],
        minlength=n,
    )
    rare = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    plain = distill(teacher, dim=16, lines=(), progress=False)  # the same PCA, no SIF
    weight = np.linalg.norm(student.table, axis=1) / np.linalg.norm(plain.table, axis=1)
    assert weight[the] < 0.5 * weight[rare]


def test_a_sentence_is_the_mean_of_its_token_rows(student):
    text = "the river bank was muddy"
    ids = student.tokenizer(text, add_special_tokens=False)["input_ids"]
    mean = student.table[ids].mean(0)
    assert_same(student.embed_sentences([text])[0], mean / np.linalg.norm(mean))
    # word vectors are context-free: "bank" is the same in any sentence
    a, b = student.embed_words(["the bank of the river", "a bank lends money"])
    assert_same(a.vectors[1], b.vectors[1])
    assert "context-free" in repr(student)


def test_refuses_a_static_teacher_and_a_bad_width(teacher, glove6b):
    with pytest.raises(InputError, match="transformer teacher"):
        distill(glove6b, dim=16, progress=False)
    with pytest.raises(InputError, match="dim=999"):
        distill(teacher, dim=999, progress=False)


def test_cli_distills_a_teacher_folder(teacher, tmp_path, capsys):
    teacher.save(tmp_path / "teacher")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES[:100]) + "\n")
    out = tmp_path / "student"
    args = ["distill", "--teacher", str(tmp_path / "teacher"), "--out", str(out), "--dim", "8",
            "--corpus", str(corpus)]  # fmt: skip
    assert main(args) == 0
    model = ctxembed.load(out)
    assert isinstance(model, DistilledEmbedder) and model.dim == 8
    assert "distilled" in capsys.readouterr().out
    assert main(args) == 1 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    bad = ["distill", "--teacher", str(tmp_path / "teacher"), "--out", str(tmp_path / "s2"),
           "--corpus", str(empty)]  # fmt: skip
    assert main(bad) == 1 and "no text to count tokens in" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()


def test_pooling_pretokenized_and_dropped_words(student):
    text = "unbelievably muddy banks"
    ids = student.tokenizer([text.split()], is_split_into_words=True, add_special_tokens=False)
    rows = student.table[ids["input_ids"][0]]
    word_of = ids.word_ids(0)
    for pooling, pick in (("first", 0), ("last", -1)):
        got = student.embed_words([text], pooling=pooling)[0].vectors
        for w in range(3):
            mine = [r for r, k in zip(rows, word_of, strict=True) if k == w]
            assert_same(got[w], mine[pick])
    assert_same(student.embed_sentences([text.split()]), student.embed_sentences([text]))
    # a raw string reads the same beside a word list as alone (tokenized whole, not by word)
    mixed = student.embed_sentences(["unbelievably", text, ["a", "b"]])
    assert_same(mixed[1], student.embed_sentences([text])[0])
    # a word the tokenizer drops entirely reads as the unknown token, as in the teacher
    (wv,) = student.embed_words(["a \ufffd b"])
    assert_same(wv.vectors[1], student.table[student.unk])
    assert_same(student.embed_sentences(["\ufffd"])[0], _unit(student.table[student.unk]))
    with pytest.raises(InputError, match="layer 3"):
        student.embed_sentences(["a b"], layers=3)
    with pytest.raises(InputError, match="text 1 is empty"):
        student.embed_sentences(["a b", " \u200b "])
    with pytest.raises(InputError):
        student.embed_sentences(b"")
    assert student.embed_sentences([]).shape == (0, student.dim)


def _unit(v):
    return v / np.linalg.norm(v)
