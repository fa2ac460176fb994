import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from ctxembed import InputError
from ctxembed.models.glove import (
    GloVeConfig,
    _adagrad,
    _Params,
    build_vocab,
    count_cooccurrences,
    glove_step,
    train_glove,
)
from ctxembed.train.corpus import Corpus

from .conftest import wiki_lines
from .contract import TOL, assert_same


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
        assert_same(a, b)


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
    assert_same(resumed.vectors, full.vectors)
    losses = full.config["stats"]["loss_per_epoch"]
    assert resumed.config["stats"]["loss_per_epoch"] == pytest.approx(losses, abs=TOL)
    with pytest.raises(InputError, match="past --epochs"):  # the checkpoint is at epoch 2
        train_glove(
            corpus,
            replace(cfg, epochs=1),
            progress=False,
            checkpoint_dir=tmp_path / "ck",
            resume=True,
        )
    with pytest.raises(InputError, match="another"):
        train_glove(
            corpus, replace(cfg, dim=8), progress=False, checkpoint_dir=tmp_path / "ck", resume=True
        )


def test_same_seed_same_vectors():
    corpus = Corpus(wiki_lines(100))
    cfg = GloVeConfig(dim=8, window=4, min_count=2, epochs=2)
    a = train_glove(corpus, cfg, progress=False)
    b = train_glove(corpus, cfg, progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)


def glove_c(W, C, bw, bc, gW, gC, gbw, gbc, pairs, x_max, alpha, eta, clip):
    """stanfordnlp/GloVe glove.c's glove_thread, pair after pair, in plain Python floats."""
    for i, j, x in pairs:
        diff = sum(w * c for w, c in zip(W[i], C[j], strict=True)) + bw[i] + bc[j] - math.log(x)
        fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
        for b in range(len(W[i])):
            t1 = min(max(fdiff * C[j][b], -clip), clip) * eta
            t2 = min(max(fdiff * W[i][b], -clip), clip) * eta
            W[i][b] -= t1 / math.sqrt(gW[i][b])  # the step reads the accumulator first
            C[j][b] -= t2 / math.sqrt(gC[j][b])
            gW[i][b] += t1 * t1
            gC[j][b] += t2 * t2
        fdiff *= eta
        bw[i] -= fdiff / math.sqrt(gbw[i])
        bc[j] -= fdiff / math.sqrt(gbc[j])
        gbw[i] += fdiff * fdiff
        gbc[j] += fdiff * fdiff


@pytest.mark.parametrize("batched", [False, True])
def test_update_is_glove_c(batched):
    # a tiny co-occurrence matrix; word 0 recurs, so its accumulator matters between pairs
    pairs = [(0, 1, 3.0), (1, 0, 3.0), (0, 2, 150.0), (2, 2, 0.5), (0, 0, 1.0)]
    p = _Params(3, 4, seed=1)
    # accumulators away from 1 and larger vectors, so the order of step and accumulation
    # matters and the clip bites
    p.gW += torch.rand(3, 4, generator=torch.Generator().manual_seed(2))
    p.W *= 40
    ref = [getattr(p, n).double().tolist() for n in _Params.NAMES]
    kw = dict(x_max=100.0, alpha=0.75, eta=0.05, clip=0.5)
    glove_c(*ref, pairs, **kw)
    i, j, x = (torch.tensor(c) for c in zip(*pairs, strict=True))
    x = x.float()
    logx, weight = x.log(), (x / 100.0).pow(0.75).clamp(max=1.0)
    for k in range(len(pairs)):
        glove_step(p, i[k : k + 1], j[k : k + 1], logx[k : k + 1], weight[k : k + 1], 0.05, 0.5)
    if batched:  # two pairs with distinct rows and columns in one batch
        glove_c(*ref, pairs[:2], **kw)
        glove_step(p, i[:2], j[:2], logx[:2], weight[:2], 0.05, 0.5)
    for n, r in zip(_Params.NAMES, ref, strict=True):
        assert_same(getattr(p, n).double().numpy(), np.array(r))


def test_pairs_of_one_batch_on_one_row_see_each_others_steps():
    # glove.c, pair after pair with these gradients: each step reads the accumulator that
    # the earlier pairs on its row left
    rows = torch.tensor([0, 2, 0, 0, 2])
    grad = torch.tensor([[3.0, -1.0], [2.0, 0.5], [-4.0, 2.0], [1.0, 1.0], [0.5, -3.0]])
    param, acc = torch.zeros(3, 2), torch.ones(3, 2)
    want, want_acc = param.double().tolist(), acc.double().tolist()
    for r, g in zip(rows.tolist(), grad.double().tolist(), strict=True):
        for b in range(2):
            want[r][b] -= 0.5 * g[b] / math.sqrt(want_acc[r][b])
            want_acc[r][b] += (0.5 * g[b]) ** 2
    _adagrad(param, acc, rows, grad, lr=0.5)
    assert_same(param.double().numpy(), np.array(want))
    assert_same(acc.double().numpy(), np.array(want_acc))
