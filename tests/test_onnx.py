"""ONNX exports of a transformer, run with onnxruntime behind the same interface."""

import numpy as np
import pytest

import ctxembed
from ctxembed.cli import main
from ctxembed.models.mirror import MirrorConfig, train_mirror

from .contract import EmbedderContract, assert_same

pytest.importorskip("onnxruntime")

TEXTS = [
    "I went to the bank to deposit money.",
    "We fished from the grassy bank of the river on a sunny day, far from town.",
]


def cosines(a, b) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """minilm-l6 exported by the CLI, fp32 and int8 (the recipe that keeps early FFNs)."""
    root = tmp_path_factory.mktemp("onnx")
    for name, extra in (("fp32", []), ("int8", ["--quantize", "int8-early-ffn-fp32"])):
        args = ["export", "--model", "minilm-l6", "--format", "onnx", *extra, str(root / name)]
        assert main(args) == 0
    return root


class TestOnnxContract(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self, exported):
        return ctxembed.load(exported / "fp32")


class TestOnnxInt8Contract(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self, exported):
        return ctxembed.load(exported / "int8")


def test_fp32_export_gives_torch_vectors_at_every_layer(exported, minilm):
    onnx = ctxembed.load(exported / "fp32")
    assert onnx.family == "onnx" and onnx.n_layers == minilm.n_layers
    for layers in (-1, 0, [2, 4], "all"):
        for a, b in zip(
            minilm.embed_words(TEXTS, layers=layers),
            onnx.embed_words(TEXTS, layers=layers),
            strict=True,
        ):
            assert_same(a.vectors, b.vectors)
    assert_same(minilm.embed_sentences(TEXTS), onnx.embed_sentences(TEXTS))
    # windows: a text longer than the window is cut the same way
    long = " ".join(["the bank of the river was steep and the water ran fast"] * 12)
    short_t = ctxembed.load("minilm-l6", max_length=32).embed_words([long])[0].vectors
    short_o = ctxembed.load(exported / "fp32", max_length=32).embed_words([long])[0].vectors
    assert_same(short_t, short_o)


def test_int8_export_stays_close_and_is_smaller(exported, minilm):
    q = ctxembed.load(exported / "int8")
    assert q.quantize == "int8-early-ffn-fp32"
    for a, b in zip(minilm.embed_words(TEXTS), q.embed_words(TEXTS), strict=True):
        cos = cosines(a.vectors, b.vectors)
        assert cos.min() > 0.95 and np.abs(a.vectors - b.vectors).max() > 1e-4  # changed
    fp32 = (exported / "fp32" / "model.onnx").stat().st_size
    assert (exported / "int8" / "model.onnx").stat().st_size < fp32 / 2


def test_saves_and_loads_back(exported, tmp_path):
    q = ctxembed.load(exported / "int8", normalize=True)
    q.save(tmp_path / "copy")
    again = ctxembed.load(tmp_path / "copy")
    assert again.quantize == q.quantize and again.normalize is True
    assert_same(again.embed_sentences(TEXTS), q.embed_sentences(TEXTS))


def test_export_refuses_what_it_cannot_do(exported, tmp_path, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    assert main(["export", "--model", "minilm-l6", "--format", "onnx", str(user)]) == 1
    assert (user / "notes.txt").read_text() == "keep me"
    capsys.readouterr()
    assert main(["export", "--model", "glove-6b-50d", "--format", "onnx", str(tmp_path / "g")]) == 1
    assert "exports a transformer" in capsys.readouterr().err
    args = ["export", "--model", "glove-6b-50d", "--format", "glove-text", "--quantize", "int8"]
    assert main([*args, str(tmp_path / "g.txt")]) == 1
    assert "--quantize is not an option of --format glove-text" in capsys.readouterr().err
    with pytest.raises(ctxembed.InputError, match="quantize"):
        ctxembed.load(exported / "fp32", quantize="int8")  # the recipe is fixed at export
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


def test_cannot_be_trained_and_names_a_damaged_graph(exported, tmp_path):
    onnx = ctxembed.load(exported / "fp32")
    assert onnx.tunable() is None
    with pytest.raises(ctxembed.ModelError, match="cannot be trained"):
        onnx.word_layers([])
    with pytest.raises(ctxembed.InputError, match="cannot be trained"):
        train_mirror(onnx, [["a", "few", "words"]] * 4, MirrorConfig())
    onnx.save(tmp_path / "broken")
    graph = tmp_path / "broken" / "model.onnx"
    graph.write_bytes(graph.read_bytes()[: 1 << 16])
    with pytest.raises(ctxembed.ModelError, match="export the model again"):
        ctxembed.load(tmp_path / "broken")
