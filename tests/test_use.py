import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError
from ctxembed.cli import main
from ctxembed.models.use import (
    NeighbourPairs,
    SentenceEncoder,
    UseConfig,
    UseEmbedder,
    UseTrainConfig,
    bigram_bucket,
    init_word_table,
    neighbour_batches,
    neighbour_loss,
    sick_nli,
    stsb_train,
    teacher_targets,
    train_use,
)
from ctxembed.text.windows import windows

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same

SMALL = dict(dim=48, hidden=96, n_layers=2, n_heads=2, ff_dim=96, n_buckets=4000, dropout=0.0)


def tiny(variant: str, tasks=("neighbour", "nli", "sts"), epochs: int = 3, init=None):
    torch.set_num_threads(1)
    cfg = UseTrainConfig(epochs=epochs, batch_size=32, min_count=1, tasks=tasks, init_vectors=init)
    out = train_use(
        wiki_lines(120),
        UseConfig(variant=variant, **SMALL),
        cfg,
        sick_nli()[:256],
        stsb_train()[:256],
        progress=False,
    )
    torch.set_num_threads(2)
    return out


@pytest.fixture(scope="module", params=["dan", "transformer"])
def trained(request):
    return tiny(request.param)


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


@pytest.mark.parametrize("variant", ["dan", "transformer"])
@pytest.mark.parametrize("task", ["neighbour", "nli", "sts"])
def test_each_task_loss_falls(variant, task):
    _, hist = tiny(variant, (task,), epochs=6)
    n = len(hist.losses) // 6  # the same batches each epoch, in another order
    first, last = np.mean(hist.losses[:n]), np.mean(hist.losses[-n:])
    assert last < 0.95 * first, (first, last)


def test_layers_per_variant(trained):
    emb = trained[0]
    assert emb.n_layers == (1 if emb.cfg.variant == "dan" else 3)
    (wv,) = emb.embed_words(["a man plays the guitar"], layers="all", return_layers=True)
    assert wv.layers.shape == (emb.n_layers, 5, 48)


def pairs_of(lines: list[list[str]]) -> NeighbourPairs:
    return NeighbourPairs(lines, 64, {w for line in lines for w in line})


def test_training_data_is_real():
    pairs = pairs_of(wiki_lines(50))
    assert len(pairs) > 50 and all(a[-1] in ".!?" for a, _ in pairs[:20])
    nli = sick_nli()
    assert len(nli) == 4500 and {y for *_, y in nli} == {0, 1, 2}
    sts = stsb_train()
    assert len(sts) == 5749 and min(s for *_, s in sts) >= 0 and max(s for *_, s in sts) <= 1
    assert bigram_bucket("new", "york", 1000) == bigram_bucket("new", "york", 1000)


def test_bad_input():
    with pytest.raises(InputError, match="variant"):
        tiny("lstm")
    with pytest.raises(InputError, match="no training data"):
        train_use(
            [["one"]], UseConfig(**SMALL), UseTrainConfig(tasks=("neighbour",)), progress=False
        )


def test_cli_trains(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "use"
    args = ["train", "use", "--variant", "transformer", "--corpus", str(wiki_text_file)]
    assert main([*args, "--out", str(out), "--max-steps", "3", "--quiet", "--dim", "32"]) == 0
    assert "use (transformer" in capsys.readouterr().out


def own_text_negatives(batch) -> int:
    """Rows whose own sentence is another row's gold neighbour: a false negative unmasked."""
    b = {tuple(y) for _, y in batch}
    return sum(tuple(x) in b for x, _ in batch)


def test_neighbour_batches_are_shuffled():
    pairs = pairs_of(wiki_lines(120))
    in_order = [pairs[b : b + 32] for b in range(0, len(pairs), 32)]
    shuffled = [[pairs[i] for i in ids] for ids in neighbour_batches(len(pairs), 32, seed=0)]
    # corpus order: (s1, s2), (s2, s3) in one batch, so most rows meet their own sentence
    assert sum(map(own_text_negatives, in_order)) > 0.5 * len(pairs)
    # shuffled: only chance meetings, about (batch - 1) / pairs of the rows, ~10% here
    assert sum(map(own_text_negatives, shuffled)) < 0.2 * len(pairs)
    assert sorted(map(str, (q for b in shuffled for q in b))) == sorted(map(str, pairs))
    again = neighbour_batches(len(pairs), 32, seed=0)
    assert [[pairs[i] for i in ids] for ids in again] == shuffled


def test_neighbour_loss_masks_identical_texts():
    s1, s2, s3, s4 = (["w", str(k)] for k in range(4))
    a, b = [s1, s2, s3, s1], [s2, s3, s4, s2]  # row 3 repeats row 0; s2 and s3 recur
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    got = neighbour_loss(u, v, a, b, scale=5.0)
    cos = torch.nn.functional.cosine_similarity(u[:, None], v[None], dim=-1) * 5.0

    def direction(sim, anchors, golds, cands):
        # row r: gold r against every candidate whose text is neither its sentence nor its gold
        out = []
        for r in range(4):
            keep = [c for c in range(4) if c == r or cands[c] not in (anchors[r], golds[r])]
            out.append(-torch.log_softmax(sim[r, keep], 0)[keep.index(r)])
        return torch.stack(out).mean()

    want = (direction(cos, a, b, b) + direction(cos.T, b, a, a)) / 2
    assert_same(got, want)
    # the old loss, every other row a negative, is another number
    plain = torch.nn.functional.cross_entropy(cos, torch.arange(4))
    assert abs(float(plain) - float(got)) > 0.01


def test_word_dropout_only_in_training():
    enc = SentenceEncoder(UseConfig(vocab_size=50, word_dropout=0.5, **SMALL))
    emb = UseEmbedder(enc, ["<pad>", "<unk>", *(f"w{k}" for k in range(48))])
    ids, bigrams = emb.batch([[f"w{k}" for k in range(20)], ["w3"]])
    enc.eval()
    with torch.no_grad():
        ref = enc(ids, bigrams)[0]
        assert_same(enc(ids, bigrams)[0], ref)
        enc.train()  # dropout=0.0 in SMALL: only word dropout is random here
        torch.manual_seed(0)
        dropped = enc(ids, bigrams)[0]
    assert not torch.allclose(dropped[0], ref[0], atol=1e-3)
    assert_same(dropped[1], ref[1])  # a one-word text keeps its word
    enc.cfg.word_dropout = 0.0
    with torch.no_grad():
        assert_same(enc(ids, bigrams)[0], ref)


def test_transformer_sums_over_sqrt_n(trained):
    emb = trained[0]
    if emb.cfg.variant != "transformer":
        pytest.skip("the DAN averages")
    texts = ["a man plays the guitar", "the cat sat on the mat in the sun"]
    words = emb.embed_words(texts)
    sent = emb.embed_sentences(texts)
    for w, s in zip(words, sent, strict=True):
        assert_same(s, w.vectors.sum(0) / np.sqrt(len(w.words)))


def test_long_texts_are_read_in_windows(trained):
    emb = trained[0]
    if emb.cfg.variant != "transformer":
        pytest.skip("the DAN is linear in the length")
    emb.cfg.window = 8
    try:
        words = [w for line in wiki_lines(3) for w in line][:30]
        short = words[:6]
        res = emb.embed_words([words, short], layers="all", return_layers=True)
        sent = emb.embed_sentences([words, short])
        want = np.empty_like(res[0].layers)
        for s, e, own_s, own_e in windows(len(words), 8):
            with torch.no_grad():
                _, states = emb.encoder(*emb.batch([words[s:e]]))
            want[:, own_s:own_e] = torch.stack(states)[:, 0, own_s - s : own_e - s].numpy()
        assert_same(res[0].layers, want)
        with torch.no_grad():  # a text within the window is read whole, as before
            vec, states = emb.encoder(*emb.batch([short]))
        assert_same(res[1].layers, torch.stack(states)[:, 0].numpy())
        assert_same(sent[1], vec[0].numpy())
        assert_same(sent[0], want[-1].sum(0) / np.sqrt(len(words)))
    finally:
        emb.cfg.window = 128


def test_word_table_starts_from_glove(glove6b):
    vocab = ["<pad>", "<unk>", "the", "guitar", "qqxqz"]
    enc = SentenceEncoder(UseConfig(vocab_size=len(vocab), dim=64))
    assert init_word_table(enc.embed, vocab, glove6b, seed=0) == 2
    w = enc.embed.weight.detach()
    assert_same(w[3, :50], glove6b.vector("guitar"))
    assert_same(w[3, 50:], np.zeros(14))
    assert_same(w[0], np.zeros(64))
    norm = np.linalg.norm(glove6b.vectors, axis=1).mean()
    assert 0.5 * norm < float(w[4].norm()) < 1.5 * norm  # not N(0, 1): norm ~8


def test_old_folders_keep_their_pooling():
    cfg = UseConfig.from_dict({"variant": "transformer", "vocab_size": 10})
    assert (cfg.pooling, cfg.word_dropout) == ("mean", 0.0)
    assert UseConfig().pooling == "sqrt" and UseConfig().word_dropout > 0


def test_teacher_task_pulls_sentence_vectors_toward_the_teachers(glove6b):
    texts = [s for s in wiki_lines(150) if len(s) > 3]
    targets = teacher_targets(glove6b, texts, 64, progress=False)
    assert len(targets) == len({tuple(t[:64]) for t in texts})
    cfg = UseTrainConfig(
        epochs=6, batch_size=32, min_count=1, tasks=("teacher",), init_vectors=None
    )
    model_cfg = UseConfig(variant="dan", **{**SMALL, "dim": 50})
    emb, hist = train_use(texts, model_cfg, cfg, teacher=targets, progress=False)
    n = len(hist.losses) // 6
    assert np.mean(hist.losses[-n:]) < 0.7 * np.mean(hist.losses[:n])
    got = emb.embed_sentences([" ".join(w) for w, _ in targets[:50]])
    cos = (got * np.stack([t for _, t in targets[:50]])).sum(1) / np.linalg.norm(got, axis=1)
    assert cos.mean() > 0.8  # the teacher's directions, learned
    with pytest.raises(InputError, match="--dim 50"):
        train_use(texts, UseConfig(**SMALL), cfg, teacher=targets, progress=False)


def test_cli_distils_a_teacher(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "dan"
    args = ["train", "use", "--corpus", str(wiki_text_file), "--out", str(out), "--quiet"]
    more = ["--teacher", "glove-6b-50d", "--without", "neighbour", "nli", "sts"]
    assert main([*args, *more, "--max-steps", "3"]) == 0
    assert "tasks teacher" in capsys.readouterr().out
    assert ctxembed.load(out).dim == 50  # the teacher's width
    assert main([*args, "--without", "neighbour", "nli", "sts", "--overwrite"]) == 1
    assert "leaves no task" in capsys.readouterr().err
