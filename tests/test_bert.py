import json

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed.cli import main
from ctxembed.models.bert import SPECIALS, BertTrainConfig, MlmData, mask_tokens, train_bert

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same

TINY = dict(
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=96,
    max_position_embeddings=64,
)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    cfg = BertTrainConfig(vocab_size=1500, max_len=64, epochs=4, batch_size=16, lr=2e-3)
    emb, model, hist = train_bert(
        wiki_lines(150), TINY, cfg, valid=wiki_lines(20, "valid"), progress=False
    )
    torch.set_num_threads(2)
    return emb, model, hist


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


def test_loss_falls(trained):
    _, _, hist = trained
    # about 7.2 -> 6.2; the WordPiece vocabulary differs a little from run to run (tokenizers'
    # trainer breaks ties in hash-map order: huggingface/tokenizers#1794), so leave a margin
    assert np.mean(hist.losses[-10:]) < np.mean(hist.losses[:10]) - 0.7
    assert hist.valid[-1]["mlm_loss"] < hist.valid[0]["mlm_loss"]


def test_masking_follows_80_10_10():
    torch.manual_seed(0)
    ids = torch.randint(len(SPECIALS), 1000, (200, 100))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    words = torch.arange(100).expand(200, 100)
    inputs, labels = mask_tokens(ids, words, special, 4, 1000, prob=0.15)
    chosen = labels >= 0
    assert not chosen[special].any()
    assert chosen.float().mean().item() == pytest.approx(0.15 * 98 / 100, abs=0.005)
    masked = (inputs == 4) & chosen
    kept = (inputs == ids) & chosen
    replaced = chosen & ~masked & ~kept
    n = chosen.sum().item()
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.02)
    # a random replacement can draw the original token (1 in 996), so "kept" is a hair over 10%
    assert kept.sum().item() / n == pytest.approx(0.1, abs=0.015)
    assert replaced.sum().item() / n == pytest.approx(0.1, abs=0.015)
    assert (labels[chosen] == ids[chosen]).all() and (inputs[~chosen] == ids[~chosen]).all()


def test_whole_word_masking_takes_all_pieces_of_a_word():
    torch.manual_seed(0)
    ids = torch.randint(len(SPECIALS), 1000, (50, 60))
    words = (torch.arange(60) // 3).expand(50, 60)  # every word is 3 pieces
    special = torch.zeros_like(ids, dtype=torch.bool)
    _, labels = mask_tokens(ids, words, special, 4, 1000, prob=0.15, whole_word=True)
    chosen = (labels >= 0).view(50, 20, 3)
    assert (chosen.all(-1) | ~chosen.any(-1)).all()  # a word is chosen whole or not at all
    assert chosen.any()


def test_long_lines_become_several_sequences(trained):
    tok = trained[0].tokenizer
    data = MlmData([wiki_lines(1)[0] * 5], tok, 32)
    rows = [data.rows[i] for i in range(len(data.rows))]
    assert len(rows) > 1 and all(len(row) <= 30 for row in rows)  # 32 less [CLS] and [SEP]


def test_folder_is_a_hugging_face_checkpoint(tmp_path, wiki_text_file, capsys):
    from transformers import AutoModel, AutoModelForMaskedLM

    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    out = tmp_path / "bert"
    args = ["train", "bert", "--corpus", str(wiki_text_file), "--out", str(out)]
    opts = ["--config", str(tmp_path / "tiny.json"), "--vocab-size", "800", "--max-len", "64"]
    assert main([*args, *opts, "--max-steps", "3", "--quiet"]) == 0
    assert "bert (" in capsys.readouterr().out
    mlm = AutoModelForMaskedLM.from_pretrained(out)
    assert mlm.config.hidden_size == 48
    ours = ctxembed.load(out)
    hf = AutoModel.from_pretrained(out).eval()
    words = ["the", "riverbank", "flooded"]
    enc = ours.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = hf(**enc).last_hidden_state[0]
    pieces = np.array([-1 if w is None else w for w in enc.word_ids()])
    ref = np.stack([hidden[pieces == k].mean(0).numpy() for k in range(3)])
    assert_same(ours.embed_words([words])[0].vectors, ref)
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main([*args[:-1], str(tmp_path / "b2"), "--config", str(tmp_path / "bad.json")]) == 1
    assert "JSON object" in capsys.readouterr().err
    (tmp_path / "typo.json").write_text(json.dumps({**TINY, "hidden_sizee": 64}))
    assert main([*args[:-1], str(tmp_path / "b3"), "--config", str(tmp_path / "typo.json")]) == 1
    assert "unknown BertConfig field(s): hidden_sizee" in capsys.readouterr().err
    assert not (tmp_path / "b3").exists()
