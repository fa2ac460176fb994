import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError
from ctxembed.cli import main
from ctxembed.models.mirror import (
    MirrorConfig,
    info_nce,
    mean_pool,
    span_mask,
    train_mirror,
    training_strings,
)

from .conftest import wiki_lines


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
        a = mean_pool(model, minilm.tokenizer, [text], 50)
        b = mean_pool(model, minilm.tokenizer, [text], 50)
    finally:
        model.eval()
    assert not torch.allclose(a, b)


def test_info_nce_prefers_aligned_pairs():
    torch.manual_seed(0)
    a = torch.randn(8, 16)
    aligned = info_nce(a, a + 0.01 * torch.randn(8, 16), 0.05)
    shuffled = info_nce(a, a[torch.randperm(8)], 0.05)
    assert aligned < 0.1 < shuffled


def test_rewiring_minilm_pulls_views_together(minilm, tmp_path):
    lines = wiki_lines(300)
    cfg = MirrorConfig.for_mode("sentence", n_items=16, batch_size=8, max_steps=2, lr=5e-5)
    rewired, hist, items = train_mirror(minilm, lines, cfg, progress=False)
    assert len(hist.losses) == 2 and np.isfinite(hist.losses).all()
    # base untouched; rewired differs and round-trips
    before = minilm.embed_sentences(items[:4])
    after = rewired.embed_sentences(items[:4])
    assert not np.allclose(before, after, atol=1e-4)
    np.testing.assert_array_equal(before, minilm.embed_sentences(items[:4]))
    rewired.save(tmp_path / "m")
    np.testing.assert_array_equal(ctxembed.load(tmp_path / "m").embed_sentences(items[:4]), after)


def test_cli_refuses_a_static_base(tmp_path, wiki_text_file, capsys):
    args = ["train", "mirror", "--base", "glove-6b-50d", "--corpus", str(wiki_text_file)]
    assert main([*args, "--out", str(tmp_path / "m")]) == 1
    assert "needs a transformer" in capsys.readouterr().err
