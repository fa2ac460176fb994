from dataclasses import replace

import numpy as np
import pytest

from ctxembed import InputError
from ctxembed.models.glove import GloVeConfig, build_vocab, count_cooccurrences, train_glove
from ctxembed.train.corpus import Corpus

from .conftest import wiki_lines


def test_cooccurrences_match_hand_count():
    # 'zz' is out of vocabulary: dropped before windowing, as in GloVe's cooccur.c
    corpus = Corpus([["a", "b", "zz", "c", "a"], ["c", "b"]])
    vocab = ["a", "b", "c"]
    rows, cols, vals = count_cooccurrences(corpus, vocab, window=2)
    got = {
        (vocab[i], vocab[j]): round(float(v), 6) for i, j, v in zip(rows, cols, vals, strict=True)
    }
    # line 1 after dropping zz: a b c a ; line 2: c b ; windows stop at line ends
    expected = {}
    for line in (["a", "b", "c", "a"], ["c", "b"]):
        for i in range(len(line)):
            for d in (1, 2):
                if i + d < len(line):
                    for x, y in ((line[i], line[i + d]), (line[i + d], line[i])):
                        expected[(x, y)] = expected.get((x, y), 0) + 1 / d
    assert got == {k: round(v, 6) for k, v in expected.items()}
    assert got[("a", "c")] == 1.5 and got[("b", "c")] == 2.0 and ("a", "a") not in got


def test_chunked_counting_equals_one_pass():
    corpus = Corpus(wiki_lines(150))
    vocab, _ = build_vocab(corpus, 2)
    whole = count_cooccurrences(corpus, vocab, 5, chunk_tokens=10**9)
    chunked = count_cooccurrences(corpus, vocab, 5, chunk_tokens=500)  # many chunks and merges
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_vocab_is_frequency_sorted_and_min_count_applies():
    vocab, total = build_vocab(Corpus([["b", "a", "b", "c"], ["b", "a"]]), 2)
    assert vocab == ["b", "a"] and total == 6
    with pytest.raises(InputError, match="min_count"):
        build_vocab(Corpus([["a", "b"]]), 5)


def test_loss_falls_and_frequent_words_find_sensible_neighbours():
    cfg = GloVeConfig(dim=50, window=10, min_count=5, epochs=10, x_max=10, lr=0.2)
    model = train_glove(Corpus(wiki_lines(3000)), cfg, progress=False)
    losses = model.config["stats"]["loss_per_epoch"]
    assert losses[-1] < 0.7 * losses[0]
    near = {w: [n for n, _ in model.most_similar(w, 10)] for w in ("he", "march", "1")}
    assert "she" in near["he"]
    assert {
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "january",
        "february",
        "may",
    } & set(near["march"])
    assert {"2", "3", "4", "5", "6", "7", "8", "9", "two", "one"} & set(near["1"])


def test_resume_continues_like_an_uninterrupted_run(tmp_path):
    corpus = Corpus(wiki_lines(200))
    cfg = GloVeConfig(dim=16, window=5, min_count=3, epochs=4, batch_size=2048)
    full = train_glove(corpus, cfg, progress=False)
    # a run that stopped after epoch 2 left its checkpoint behind
    train_glove(corpus, replace(cfg, epochs=2), progress=False, checkpoint_dir=tmp_path / "ck")
    resumed = train_glove(corpus, cfg, progress=False, checkpoint_dir=tmp_path / "ck", resume=True)
    np.testing.assert_allclose(resumed.vectors, full.vectors, atol=1e-4)
    losses = full.config["stats"]["loss_per_epoch"]
    assert resumed.config["stats"]["loss_per_epoch"] == pytest.approx(losses[2:], abs=1e-4)
    with pytest.raises(InputError, match="another config"):
        train_glove(
            corpus, replace(cfg, dim=8), progress=False, checkpoint_dir=tmp_path / "ck", resume=True
        )


def test_same_seed_same_vectors():
    corpus = Corpus(wiki_lines(100))
    cfg = GloVeConfig(dim=8, window=4, min_count=2, epochs=2)
    a = train_glove(corpus, cfg, progress=False)
    b = train_glove(corpus, cfg, progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)
