"""Sense induction: clustering of real vectors, the uses found, and ``ctxembed senses``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from ctxembed.cli import main  # noqa: E402
from ctxembed.senses import find_uses, induce, induce_senses, sentences  # noqa: E402

MONEY = [
    "I went to the bank to deposit money.",
    "The bank raised its interest rates again.",
    "She opened a savings account at the bank.",
    "The central bank cut rates to support the economy.",
]
RIVER = [
    "I sat by the bank of the river.",
    "We fished from the grassy bank of the stream.",
    "The boat drifted toward the muddy bank.",
    "Flowers grew along the bank of the canal.",
]


@pytest.mark.parametrize("method", ["silhouette", "hdbscan"])
def test_two_groups_of_real_vectors_are_two_senses(glove6b, method):
    finance = ["money", "loan", "deposit", "credit", "cash", "payment", "finance", "investment"]
    water = ["river", "stream", "lake", "creek", "shore", "water", "pond", "canal"]
    vecs = np.stack([glove6b.vector(w) for w in finance + water])
    labels = induce(vecs, method=method)
    assert len(set(labels[:8])) == 1 and len(set(labels[8:])) == 1 and labels[0] != labels[8]
    assert labels[0] == 0  # numbered by size, ties by first use


def test_one_vector_for_every_use_is_one_sense(glove6b):
    assert induce(np.stack([glove6b.vector("bank")] * 30)).tolist() == [0] * 30
    assert induce(np.stack([glove6b.vector("bank")] * 2)).tolist() == [0, 0]


def test_small_sets_are_merged_by_cosine(minilm, glove6b):
    texts = [MONEY[0], RIVER[0]]
    assert len(induce_senses(minilm, "bank", texts).senses) == 2
    assert len(induce_senses(glove6b, "bank", texts).senses) == 1


def test_money_and_river_uses_split_and_name_their_senses(minilm):
    result = induce_senses(minilm, "bank", MONEY + RIVER)
    assert result.labels[:4].tolist() in ([0] * 4, [1] * 4)
    assert len(set(result.labels[:4])) == 1 and len(set(result.labels[4:])) == 1
    assert result.labels[0] != result.labels[4]
    money = result.senses[result.labels[0]]
    river = result.senses[result.labels[4]]
    assert {"money", "rates", "account", "savings", "deposit"} & set(money.neighbours[:4])
    assert {"river", "stream", "canal", "muddy", "grassy"} & set(river.neighbours[:4])
    assert all(result.labels[i] == money.label for i in money.examples)
    assert result.points.shape == (8, 2)


def test_finding_uses_whole_words_only():
    text = "Banks bank the bank-note; BANK? embankment"
    uses = find_uses("bank", [text])
    assert [text[u.start : u.end] for u in uses] == ["bank", "BANK"]
    assert find_uses("bank", [text], limit=1)[0].start == 6
    paragraph = [" = Heading = ", " It rained . The bank flooded ! Then it stopped ."]
    assert sentences(paragraph) == ["It rained .", "The bank flooded !", "Then it stopped ."]


def test_cli_prints_senses_and_writes_a_png(capsys, tmp_path):
    corpus = tmp_path / "bank.txt"
    corpus.write_text("\n".join(MONEY + RIVER) + "\n")
    png = tmp_path / "bank.png"
    args = ["senses", "bank", "--model", "minilm-l6", "--corpus", str(corpus), "--png", str(png)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "8 uses, 2 sense(s)" in out and "[bank]" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(args) == 1 and "--overwrite" in capsys.readouterr().err
    assert main(["senses", "bank", "--model", "glove-6b-50d", "--corpus", str(corpus)]) == 0
    assert "8 uses, 1 sense(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "word, extra, says",
    [
        ("zebra", [], "does not occur"),
        ("river bank", [], "give one word"),
        ("bank", ["--png", "plot.jpg"], "ending in .png"),
    ],
)
def test_cli_refuses_bad_input(capsys, tmp_path, word, extra, says):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(MONEY) + "\n")
    extra = [str(tmp_path / e) if e.endswith(".jpg") else e for e in extra]
    args = ["senses", word, "--model", "glove-6b-50d", "--corpus", str(corpus), *extra]
    assert main(args) == 1
    assert says in capsys.readouterr().err
