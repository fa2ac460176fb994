import gzip

import numpy as np
import pytest

import ctxembed
from ctxembed import InputError, ModelError, OutOfVocabularyError
from ctxembed.io import WRITTEN
from ctxembed.models.static import StaticEmbedder, sniff_format

from .contract import EmbedderContract

WORDS = ["the", "bank", "river", "money", "naïve", "日本"]


@pytest.fixture
def small() -> StaticEmbedder:
    rng = np.random.default_rng(0)
    return StaticEmbedder(WORDS, rng.normal(size=(len(WORDS), 8)).astype(np.float32))


class TestGloVeContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, tiny_glove):
        return tiny_glove


class TestWord2VecContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, tiny_word2vec):
        return tiny_word2vec


@pytest.mark.parametrize("fmt", ["word2vec-text", "word2vec-binary", "glove-text"])
def test_published_formats_round_trip(small, tmp_path, fmt):
    path = tmp_path / f"vectors.{fmt}"
    small.write(path, fmt)
    assert sniff_format(path) == fmt
    again = ctxembed.load(path)
    assert again.words == WORDS
    tol = 0 if fmt == "word2vec-binary" else 1e-5
    np.testing.assert_allclose(again.vectors, small.vectors, atol=tol, rtol=tol)
    assert again.family == ("glove" if fmt == "glove-text" else "word2vec")


def test_reads_handwritten_c_text_and_gzip(tmp_path):
    text = "2 3\nbank 0.1 0.2 0.3\nriver -1 0 1e-2\n"
    (tmp_path / "v.txt").write_text(text)
    with gzip.open(tmp_path / "v.txt.gz", "wt") as f:
        f.write(text)
    for name in ("v.txt", "v.txt.gz"):
        m = ctxembed.load(tmp_path / name)
        np.testing.assert_allclose(m.vector("river"), [-1, 0, 0.01])


def test_reads_handwritten_c_binary(tmp_path):
    rows = [("bank", [0.5, -0.25]), ("río", [1.0, 2.0])]
    blob = b"2 2\n" + b"".join(
        w.encode() + b" " + np.array(v, "<f4").tobytes() + b"\n" for w, v in rows
    )
    (tmp_path / "v.bin").write_bytes(blob)
    m = ctxembed.load(tmp_path / "v.bin")
    assert m.words == ["bank", "río"]
    np.testing.assert_array_equal(m.vector("río"), np.array([1.0, 2.0], np.float32))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"hello world\n", "neither a word2vec header"),
        (b"3 4\nbank 0.1 0.2\n", "not a valid"),
        (b"\xff\xfe\x00garbage\n", "not UTF-8"),
    ],
)
def test_malformed_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        ctxembed.load(path)


def test_missing_path_and_unknown_name_list_known_models(tmp_path):
    with pytest.raises(ModelError, match="minilm-l6, glove-6b-50d"):
        ctxembed.load("no-such-model")
    with pytest.raises(ModelError, match="Known models"):
        ctxembed.load(tmp_path / "missing.txt")


def test_oov_policy(small):
    (wv,) = small.embed_words(["the unknownword bank"])
    assert wv.oov.tolist() == [False, True, False]
    assert not wv.vectors[1].any()
    strict = StaticEmbedder(WORDS, small.vectors, oov="error")
    with pytest.raises(OutOfVocabularyError, match="unknownword"):
        strict.embed_words(["the unknownword"])
    with pytest.raises(OutOfVocabularyError):
        strict.vector("unknownword")
    assert not small.vector("unknownword").any()
    np.testing.assert_array_equal(small.vector("BANK"), small.vector("bank"))  # lowercase fallback


def test_most_similar_matches_brute_force(small):
    q = small.vectors[1]
    unit = small.vectors / np.linalg.norm(small.vectors, axis=1, keepdims=True)
    order = np.argsort(-(unit @ (q / np.linalg.norm(q))))
    expected = [WORDS[i] for i in order if i != 1][:3]
    assert [w for w, _ in small.most_similar("bank", 3)] == expected
    assert small.most_similar(q, 1)[0][0] == "bank"  # a vector query keeps the word itself
    with pytest.raises(InputError):
        small.most_similar("bank", 0)


def test_glove_6b_asset(glove6b):
    assert len(glove6b) == 400_000 and glove6b.dim == 50
    near = [w for w, _ in glove6b.most_similar("bank", 10)]
    assert "banks" in near
    (a, b) = glove6b.embed_words(["the bank of the river", "the bank lent money"])
    np.testing.assert_array_equal(a.vectors[1], b.vectors[1])  # static: one vector per word


def test_saved_folder_has_manifest_and_no_pickle(small, tmp_path):
    small.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == [WRITTEN, "ctxembed.json", "vectors.safetensors", "vocab.txt"]
    (tmp_path / "m" / "vectors.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="safetensors"):
        ctxembed.load(tmp_path / "m")
