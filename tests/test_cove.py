import gzip

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError, ModelError
from ctxembed.cli import main
from ctxembed.models.cove import (
    CoveConfig,
    CoveEmbedder,
    CoveTrainConfig,
    bleu,
    read_wmtlstm,
    train_cove,
)
from ctxembed.models.static import StaticEmbedder

from .conftest import DATA
from .contract import EmbedderContract, assert_same

SMALL = CoveConfig(hidden_dim=32, tgt_embed_dim=32, dec_hidden=48, dropout=0.0)


def multi30k(split: str, n: int) -> tuple[list[str], list[str]]:
    out = []
    for lang in ("en", "de"):
        with gzip.open(DATA / "multi30k" / f"{split}.{lang}.gz", "rt", encoding="utf-8") as f:
            out.append(f.read().splitlines()[:n])
    return out[0], out[1]


@pytest.fixture(scope="module")
def trained(glove6b):
    """A tiny translation model that memorises 40 real Multi30k pairs."""
    torch.set_num_threads(1)
    src, tgt = multi30k("train", 40)
    cfg = CoveTrainConfig(epochs=60, min_count=1, batch_size=8, lr=5e-3)
    emb, hist = train_cove(src, tgt, glove6b, SMALL, cfg, valid=(src[:8], tgt[:8]), progress=False)
    torch.set_num_threads(2)
    return emb, hist, src, tgt


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


def test_tiny_model_overfits_real_pairs(trained):
    emb, hist, src, tgt = trained
    assert hist.valid[-1]["ppl"] < 3 < hist.valid[0]["ppl"]
    hyps = emb.translate(src[:8], beam=5)
    assert bleu(hyps, tgt[:8]) > 50
    assert bleu(emb.translate(src[:8], beam=1), tgt[:8]) > 50


def test_parts_and_layers(trained):
    emb = trained[0]
    text = ["A man in a blue shirt is standing on a ladder ."]
    both = emb.embed_words(text, layers="all", return_layers=True)[0]
    assert both.layers.shape == (3, 12, 50 + 64)
    glove = emb.glove.embed_words(text)[0].vectors
    # layer 0 is the context-free input (GloVe, zero-padded), as in every family
    assert_same(both.layers[0, :, :50], glove)
    assert not both.layers[0, :, 50:].any()
    assert_same(both.layers[2, :, :50], glove)
    cove = CoveEmbedder(emb.encoder, emb.glove, emb.cfg, part="cove")
    assert_same(cove.embed_words(text)[0].vectors, both.layers[2, :, 50:])
    assert_same(cove.embed_words(text, layers=1)[0].vectors, both.layers[1, :, 50:])
    g = CoveEmbedder(emb.encoder, emb.glove, emb.cfg, part="glove")
    assert g.n_layers == 1 and g.dim == 50
    with pytest.raises(InputError, match="part="):
        CoveEmbedder(emb.encoder, emb.glove, emb.cfg, part="decoder")


def test_released_encoder_layout_loads(tmp_path):
    """A file in the layout of salesforce's wmtlstm-*.pth: a 2-layer biLSTM state dict."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(300, 300, num_layers=2, bidirectional=True, batch_first=True)
    torch.save(lstm.state_dict(), tmp_path / "wmtlstm.pth")
    words = ["the", "bank", "river", "money"]
    glove = StaticEmbedder(words, np.random.default_rng(0).normal(size=(4, 300)).astype("f4"))
    emb = read_wmtlstm(tmp_path / "wmtlstm.pth", glove, part="cove")
    x = torch.from_numpy(glove.vectors[[0, 2, 1]]).unsqueeze(0)
    with torch.no_grad():
        expected = lstm(x)[0][0]
    got = emb.embed_words([["the", "river", "bank"]])[0].vectors
    assert_same(got, expected.numpy())
    # the same weights under an "rnn." prefix load too
    torch.save({f"rnn.{k}": v for k, v in lstm.state_dict().items()}, tmp_path / "prefixed.pth")
    assert read_wmtlstm(tmp_path / "prefixed.pth", glove).dim == 900


def test_released_encoder_bad_files(tmp_path):
    glove = StaticEmbedder(["a"], np.ones((1, 50), dtype="f4"))
    with pytest.raises(InputError, match="no such file"):
        read_wmtlstm(tmp_path / "missing.pth", glove)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable"):
        read_wmtlstm(tmp_path / "junk.pth", glove)
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="missing"):
        read_wmtlstm(tmp_path / "other.pth", glove)
    lstm = torch.nn.LSTM(300, 300, num_layers=2, bidirectional=True)
    torch.save(lstm.state_dict(), tmp_path / "wmtlstm.pth")
    with pytest.raises(ModelError, match="300-d inputs but the GloVe given is 50-d"):
        read_wmtlstm(tmp_path / "wmtlstm.pth", glove)


def test_misaligned_parallel_data_is_refused(glove6b):
    with pytest.raises(InputError, match="must align"):
        train_cove(["a b"], ["x", "y"], glove6b, SMALL, CoveTrainConfig(), progress=False)


def test_cli_trains_and_loads(tmp_path, capsys):
    src, tgt = multi30k("val", 30)
    for name, lines in (("s.en", src), ("t.de", tgt)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "cove"
    files = ["--src", str(tmp_path / "s.en"), "--tgt", str(tmp_path / "t.de")]
    pair = [str(tmp_path / "s.en"), str(tmp_path / "t.de")]
    args = ["train", "cove", *files, "--valid", *pair, "--test", *pair, "--out", str(out)]
    assert main([*args, "--max-steps", "2", "--quiet", "--beam", "2"]) == 0
    printed = capsys.readouterr().out
    assert "BLEU" in printed and "beam 2" in printed
    loaded = ctxembed.load(out, part="cove")
    assert loaded.dim == 600 and loaded.n_layers == 3
    (tmp_path / "short.de").write_text("eins\n", encoding="utf-8")
    bad = ["train", "cove", "--src", str(tmp_path / "s.en"), "--tgt", str(tmp_path / "short.de")]
    assert main([*bad, "--out", str(tmp_path / "x")]) == 1
    assert "must align" in capsys.readouterr().err
