import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError, OutOfVocabularyError
from ctxembed.cli import main
from ctxembed.eval import lexsub
from ctxembed.models.context2vec import (
    Context2Vec,
    Context2VecConfig,
    Context2VecTrainConfig,
    train_context2vec,
)
from ctxembed.train.corpus import sentences

from .conftest import wiki_lines
from .contract import TOL, EmbedderContract, assert_same

SMALL = Context2VecConfig(embed_dim=48, hidden_dim=96, out_dim=96)


@pytest.fixture(scope="module")
def trained():
    """Trained in the test on 100 real WikiText-2 paragraphs (about 400 sentences)."""
    torch.set_num_threads(1)
    lines = wiki_lines(100)
    cfg = Context2VecTrainConfig(epochs=10, min_count=1, batch_size=16, lr=5e-3)
    emb, hist = train_context2vec(lines, SMALL, cfg, valid=lines[:20], progress=False)
    torch.set_num_threads(2)
    return emb, hist, lines


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


def test_loss_falls_and_gold_words_rank_high(trained):
    emb, hist, _ = trained
    assert np.mean(hist.losses[-20:]) < 0.5 * np.mean(hist.losses[:20])
    assert hist.valid[-1]["mrr"] > 2 * hist.valid[0]["mrr"]


def test_substitutes_find_the_original_word_of_real_sentences(trained):
    emb, _, lines = trained
    sents = list(sentences(lines, 64))[:60]
    hits = 0
    for s in sents:
        i = len(s) // 2
        hits += s[i] in [w for w, _ in emb.substitutes(s, i, k=10)]
    # chance is 10 / vocabulary (about 0.2%); the model must have learnt the contexts
    assert hits >= 0.2 * len(sents)


def test_context_vector_ignores_the_word_in_the_slot(trained):
    emb = trained[0]
    a = emb.context_vector("the game was released in [] .")
    b = emb.context_vector(["the", "game", "was", "released", "in", "march", "."], 5)
    assert_same(a, b)
    c = emb.context_vector(["the", "game", "was", "released", "in", "march", "!"], 5)
    assert not np.allclose(a, c, atol=1e-4)


def test_layers_are_target_embedding_then_context(trained):
    emb = trained[0]
    (wv,) = emb.embed_words([["the", "game", "was", "released"]], layers="all", return_layers=True)
    assert_same(wv.layers[0, 1], emb.target_vector("game"))
    assert_same(wv.layers[1, 1], emb.context_vector(["the", "game", "was", "released"], 1))
    sim = emb.similarity("the [] was released", "game")
    c, t = wv.layers[1, 1], wv.layers[0, 1]
    assert sim == pytest.approx(float(c @ t / np.linalg.norm(c) / np.linalg.norm(t)), abs=TOL)


def test_word_similarity_reads_the_target_embeddings(trained):
    from ctxembed.eval import wordsim
    from ctxembed.eval.common import Cache, Context

    emb = trained[0]
    # a word alone has an empty context: its layer-1 vectors are all the same
    alone = emb.embed_words(["game", "film"], layers=1)
    assert_same(alone[0].vectors, alone[1].vectors)
    res = wordsim.run(Context("c2v", emb, Cache(None, "c2v"), limit=200))
    assert all(r.details["layer"] == "0" for r in res)
    assert any(np.isfinite(r.metrics["spearman"]) and r.details["pairs"] > 0 for r in res)


def test_forward_masks_padding():
    torch.manual_seed(0)
    model = Context2Vec(Context2VecConfig(vocab_size=20, embed_dim=8, hidden_dim=8, out_dim=8))
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]])
    both = model(ids, torch.tensor([5, 3]))
    alone = model(ids[1:, :3], torch.tensor([3]))
    assert both.shape == (2, 3, 8)
    assert_same(both[1, :1], alone[0, :1])


def test_bad_slot_input_is_a_clear_error(trained):
    emb = trained[0]
    with pytest.raises(InputError, match="out of range"):
        emb.substitutes(["a", "b"], 5)
    with pytest.raises(InputError, match="context is empty"):
        emb.substitutes("[]")
    with pytest.raises(InputError, match="exactly one slot"):
        emb.substitutes("no slot here")
    with pytest.raises(InputError, match="one way only"):  # which slot was meant?
        emb.substitutes("the [] was released", 2)
    with pytest.raises(OutOfVocabularyError, match="not in this context2vec vocabulary"):
        emb.similarity("the [] was released", "qwertyuiop")


def test_empty_corpus_is_refused():
    with pytest.raises(InputError, match="no sentence"):
        train_context2vec([["one"]], SMALL, Context2VecTrainConfig(), progress=False)


def test_lexsub_gap_and_ranking():
    assert lexsub.gap(["a", "b", "c"], {"a": 2, "b": 1}) == pytest.approx(1.0)
    # gold weights 2 (for b) and 1 (for a); ranked c, b, a
    # GAP = (2/2 + 3/3) / (2/1 + 3/2) = 2 / 3.5
    assert lexsub.gap(["c", "b", "a"], {"a": 1, "b": 2}) == pytest.approx(2 / 3.5)
    assert lexsub.rank(["x", "y", "z"], np.array([0.1, -np.inf, 0.5])) == ["z", "x", "y"]
    insts = lexsub.load("lst-test")
    assert len(insts) > 1500 and all(" " not in c for i in insts for c in i.candidates)
    assert all(set(i.gold) & set(i.candidates) for i in insts[:100])


def test_cli_trains_and_substitutes(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "c2v"
    args = ["train", "context2vec", "--corpus", str(wiki_text_file), "--out", str(out)]
    assert main([*args, "--max-steps", "3", "--quiet", "--config", "small"]) == 0
    assert "context2vec (small" in capsys.readouterr().out
    assert isinstance(ctxembed.load(out), ctxembed.Embedder)
    assert main(["substitutes", str(out), "the [] was released", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().split("\n")) == 3
    assert main(["substitutes", str(out), "no slot"]) == 1
    assert "exactly one slot" in capsys.readouterr().err
