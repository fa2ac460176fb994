"""The contract every embedder passes (after flair's and AllenNLP's embedding tests).

Subclass ``EmbedderContract`` and provide an ``embedder`` fixture.
"""

from __future__ import annotations

import numpy as np
import pytest

import ctxembed
from ctxembed import InputError
from ctxembed.text.words import split_words

# The one tolerance for "the same result by another path" (batched vs alone, saved vs loaded,
# tensordot vs mean, resumed vs uninterrupted): float32 sums differ with CPU and thread count.
TOL = 1e-5


def assert_same(a, b) -> None:
    """``a`` and ``b`` agree to the contract tolerance (absolute; arrays or tensors)."""

    def array(x) -> np.ndarray:
        return np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)

    np.testing.assert_allclose(array(a), array(b), atol=TOL, rtol=0)


TEXTS = [
    "I went to the bank to deposit money.",
    "The river bank was muddy after three days of rain, and the fish were hiding.",
    "Bank",
    "state-of-the-art models don't always win; prices rose 3.5% in 2024 ( roughly ).",
]
ODD = [
    "naïve café déjà vu — Zürich’s crème brûlée",
    "emoji 🙂 and ✨ sparkles ✨",
    "zero\u200bwidth and\ttabs\nnewlines",
    "x" * 300,
    "?!?! ... ,,,",
    "日本語のテキスト",
    "a \ufffd replacement character",
]


class EmbedderContract:
    @pytest.fixture
    def embedder(self) -> ctxembed.Embedder:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_words_in_order(self, embedder):
        res = embedder.embed_words(TEXTS)
        assert len(res) == len(TEXTS)
        for text, wv in zip(TEXTS, res, strict=True):
            words, offsets = split_words(text)
            assert wv.words == words and wv.offsets == offsets
            assert all(text[s:e] == w for w, (s, e) in zip(wv.words, wv.offsets, strict=True))
            assert wv.vectors.shape == (len(words), embedder.dim)
            assert wv.vectors.dtype == np.float32

    def test_odd_text_gets_finite_vectors(self, embedder):
        for wv in embedder.embed_words(ODD):
            assert len(wv.words) > 0
            assert wv.vectors.shape == (len(wv.words), embedder.dim)
            assert np.isfinite(wv.vectors).all()

    def test_pretokenized_used_as_given(self, embedder):
        words = ["New York", "is", "big", "."]
        (wv,) = embedder.embed_words([words])
        assert wv.words == words and wv.offsets is None
        assert wv.vectors.shape == (4, embedder.dim)

    def test_batch_mates_do_not_change_vectors(self, embedder):
        texts = TEXTS + ODD
        together = embedder.embed_words(texts, batch_size=3)
        for text, wv in zip(texts, together, strict=True):
            (alone,) = embedder.embed_words([text], batch_size=1)
            assert_same(wv.vectors, alone.vectors)
        sent = embedder.embed_sentences(texts, batch_size=4)
        for i, text in enumerate(texts):
            assert_same(sent[i], embedder.embed_sentences([text])[0])

    def test_save_and_load_give_identical_vectors(self, embedder, tmp_path):
        embedder.save(tmp_path / "model")
        again = ctxembed.load(tmp_path / "model")
        assert type(again) is type(embedder) and again.dim == embedder.dim
        for a, b in zip(embedder.embed_words(TEXTS), again.embed_words(TEXTS), strict=True):
            assert_same(a.vectors, b.vectors)
        assert_same(embedder.embed_sentences(TEXTS), again.embed_sentences(TEXTS))
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left"

    def test_sentences_shape(self, embedder):
        out = embedder.embed_sentences(TEXTS)
        assert out.shape == (len(TEXTS), embedder.dim) and out.dtype == np.float32

    @pytest.mark.parametrize("bad", ["", "   ", "\u200b", [], ["ok", ""], [["nested"]], None, 3])
    def test_bad_input_is_named(self, embedder, bad):
        with pytest.raises(InputError):
            embedder.embed_words(["fine text", bad])

    def test_word_layers_match_embed_words(self, embedder):
        """Fine-tuning trains through ``word_layers``: it gives what ``embed_words`` gives at
        every layer, or, for a family used frozen only, a named error."""
        import torch

        from ctxembed import ModelError
        from ctxembed.text.words import prepare

        texts = [*TEXTS, ODD[0]]
        if embedder.tunable() is None:
            with pytest.raises(ModelError, match="frozen"):
                embedder.word_layers(prepare(texts))
            return
        with torch.no_grad():
            stacks = embedder.word_layers(prepare(texts), batch_size=2)
        ref = embedder.embed_words(texts, layers="all", return_layers=True)
        for stack, wv in zip(stacks, ref, strict=True):
            assert tuple(stack.shape) == wv.layers.shape
            assert_same(stack.cpu(), wv.layers)

    def test_layer_out_of_range(self, embedder):
        with pytest.raises(InputError, match="out of range"):
            embedder.embed_words(TEXTS[:1], layers=embedder.n_layers)
        with pytest.raises(InputError):
            embedder.embed_words(TEXTS[:1], pooling="median")
