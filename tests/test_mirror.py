from dataclasses import replace

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError
from ctxembed.cli import main
from ctxembed.models.mirror import (
    MirrorConfig,
    info_nce,
    pool,
    span_mask,
    train_mirror,
    training_strings,
)
from ctxembed.train.corpus import sentences

from .conftest import wiki_lines
from .contract import assert_same


def test_paper_defaults_per_mode():
    s, w = MirrorConfig.for_mode("sentence"), MirrorConfig.for_mode("word")
    assert (s.temperature, s.span, s.epochs, s.n_items, s.batch_size) == (0.04, 5, 1, 10_000, 200)
    assert (w.temperature, w.span, w.epochs, w.max_len) == (0.2, 0, 2, 25)
    with pytest.raises(InputError, match="use one of"):
        MirrorConfig.for_mode("phrase")


def test_training_strings_are_real_sentences_or_frequent_words():
    lines = wiki_lines(200)
    sents = training_strings(lines, MirrorConfig.for_mode("sentence", n_items=50))
    assert len(sents) == 50 and len(set(sents)) == 50 and all(len(s.split()) >= 3 for s in sents)
    words = training_strings(lines, MirrorConfig.for_mode("word", n_items=20))
    assert words[0] == "the" and len(words) == 20 and all(w.isalpha() for w in words)


def test_positives_differ_from_their_anchors(minilm):
    torch.manual_seed(0)
    text = "the river bank was muddy after three days of rain"
    views = {span_mask(text, 5, 30, "[MASK]") for _ in range(20)}
    assert text not in views and len(views) > 5
    assert all(v.count("[MASK]") == 1 and len(v) == len(text) - 5 + 8 for v in views)
    assert span_mask("short text", 5, 30, "[MASK]") == "short text"  # under 30 characters
    # with dropout on, the same string encodes differently twice: the second source of views
    model = minilm.model
    model.train()
    try:
        a = pool(model, minilm.tokenizer, [text], 50)
        b = pool(model, minilm.tokenizer, [text], 50)
    finally:
        model.eval()
    assert not torch.allclose(a, b)


def test_info_nce_prefers_aligned_pairs():
    torch.manual_seed(0)
    a = torch.randn(8, 16)
    aligned = info_nce(a, a + 0.01 * torch.randn(8, 16), 0.05)
    shuffled = info_nce(a, a[torch.randperm(8)], 0.05)
    assert aligned < 0.1 < shuffled


def test_training_pools_as_the_embedder_reads_sentences(minilm):
    texts = ["the river bank was muddy after three days of rain", "Bank"]
    for mode in ("mean", "cls", "max"):
        with torch.no_grad():
            pooled = pool(minilm.model, minilm.tokenizer, texts, 50, mode)
        assert_same(pooled, minilm.embed_sentences(texts, pooling=mode, normalize=False))


def held_apart_loss(emb, texts: list[str], seed: int) -> float:
    """The objective on strings training never saw: seeded span masks and dropout."""
    torch.manual_seed(seed)
    views = [span_mask(t, 5, 30, emb.tokenizer.mask_token) for t in texts]
    emb.model.train()
    try:
        with torch.no_grad():
            a = pool(emb.model, emb.tokenizer, texts, 50, emb.sentence_pooling)
            b = pool(emb.model, emb.tokenizer, views, 50, emb.sentence_pooling)
    finally:
        emb.model.eval()
    return float(info_nce(a, b, 0.04))


def test_rewiring_minilm_pulls_views_together(minilm, tmp_path):
    lines = wiki_lines(300)
    held = [" ".join(w)[:150] for w in wiki_lines(200, "valid") if len(w) >= 8][:16]
    cfg = MirrorConfig.for_mode("sentence", n_items=32, batch_size=8, lr=5e-5)
    # untrained, the rewired embedder is the base: same pooling, same normalisation
    same, _, items = train_mirror(minilm, lines, replace(cfg, max_steps=0), progress=False)
    assert same.normalize and same.sentence_pooling == "mean"
    assert_same(same.embed_sentences(items[:4]), minilm.embed_sentences(items[:4]))
    rewired, hist, items = train_mirror(minilm, lines, replace(cfg, max_steps=4), progress=False)
    assert len(hist.losses) == 4 and np.isfinite(hist.losses).all()
    # 4 steps of 8 strings cut InfoNCE on 16 held-apart sentences from 0.32 to 0.05-0.08
    # (mean over two dropout seeds; ratio 0.17-0.26 over training seeds 0-2)
    before = np.mean([held_apart_loss(minilm, held, s) for s in (0, 1)])
    after = np.mean([held_apart_loss(rewired, held, s) for s in (0, 1)])
    assert after < 0.5 * before
    # the base is untouched (the 0-step copy is a snapshot of it); the rewired model round-trips
    assert_same(minilm.embed_sentences(items[:4]), same.embed_sentences(items[:4]))
    vecs = rewired.embed_sentences(items[:4])
    rewired.save(tmp_path / "m")
    assert_same(ctxembed.load(tmp_path / "m").embed_sentences(items[:4]), vecs)


def test_cli_refuses_a_static_base(tmp_path, wiki_text_file, capsys):
    args = ["train", "mirror", "--base", "glove-6b-50d", "--corpus", str(wiki_text_file)]
    assert main([*args, "--out", str(tmp_path / "m")]) == 1
    assert "needs a transformer" in capsys.readouterr().err


def test_sentence_sample_is_seeded_and_independent_of_line_order():
    lines = wiki_lines(200)
    cfg = MirrorConfig.for_mode("sentence", n_items=40)
    sample = training_strings(lines, cfg)
    assert set(training_strings(lines[::-1], cfg)) == set(sample)
    other = training_strings(lines, MirrorConfig.for_mode("sentence", n_items=40, seed=1))
    assert set(other) != set(sample)
    # the sample is spread over the corpus, not its first lines
    first = {" ".join(s) for s in sentences(lines[:50], 10_000)}
    assert len(set(sample) - first) > 10
