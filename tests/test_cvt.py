"""Cross-View Training: the views see what the paper says, the teacher takes no gradient, the
tagger learns real UPOS tags, saves as an embedder and a predictor, and resumes exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed.cli import main
from ctxembed.errors import InputError
from ctxembed.models.cvt import (
    CONFIGS,
    CVTEmbedder,
    CVTTagger,
    CVTTrainConfig,
    Vocab,
    cvt_loss,
    labelled_subset,
    score,
    train_cvt,
)
from ctxembed.train.corpus import Corpus
from ctxembed.train.tasks import TASKS, check_splits

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same

TINY = CONFIGS["tiny"]


@pytest.fixture(scope="module")
def upos():
    d = TASKS["upos"].read()
    return {"train": d["train"][:400], "dev": d["dev"][:200]}


def fit(splits, unlabelled=None, kw=None, **changes):
    cfg = CVTTrainConfig(
        steps=200, eval_every=100, batch_size=16, warmup=20, word_vectors=None, seed=0
    )
    cfg = replace(cfg, **changes)
    return train_cvt(splits, TINY, cfg, unlabelled, progress=False, **(kw or {}))


@pytest.fixture(scope="module")
def trained(upos):
    torch.set_num_threads(1)
    out = fit(upos, Corpus(wiki_lines(150, lowercase=False)))
    torch.set_num_threads(2)
    return out


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


def test_tagger_learns_real_tags(trained, upos):
    embedder, labels, hist = trained
    dev = score(embedder, upos["dev"])["accuracy"]
    majority = max(sum(t == tag for e in upos["dev"] for t in e.label) for tag in labels) / sum(
        len(e.label) for e in upos["dev"]
    )
    assert dev > 100 * majority + 25, (dev, majority)
    assert hist.valid[-1]["accuracy"] == pytest.approx(dev, abs=1e-9)  # scored with the EMA
    assert len(hist.losses) == 400  # 200 labelled + 200 unlabelled steps, alternating


def toy(n_tags: int = 4) -> tuple[CVTTagger, Vocab]:
    torch.manual_seed(0)
    words = ["<pad>", "<unk>", *(f"w{i}" for i in range(18))]
    chars = ["<pad>", "<unk>", "w", *"0123456789"]
    cfg = replace(TINY, vocab_size=len(words), n_chars=len(chars), n_tags=n_tags)
    return CVTTagger(cfg), Vocab(words, chars, cfg)


def test_future_and_past_views_never_see_their_word():
    tagger, vocab = toy()
    tagger.eval()
    sent = ["w1", "w7", "w3", "w12", "w5", "w9"]
    t = 3
    other = [*sent[:t], "w4", *sent[t + 1 :]]
    a = tagger.view_logits(*tagger(*vocab.batch([sent]))[1:], 0.0)
    b = tagger.view_logits(*tagger(*vocab.batch([other]))[1:], 0.0)
    assert_same(a["future"][0, t], b["future"][0, t])  # h1f_{t-1}: before word t
    assert_same(a["past"][0, t], b["past"][0, t])  # h1b_{t+1}: after word t
    assert not torch.allclose(a["fwd"][0, t], b["fwd"][0, t], atol=1e-4)
    assert not torch.allclose(a["bwd"][0, t], b["bwd"][0, t], atol=1e-4)
    # the forward view at t does not see later words, the backward view not earlier ones
    assert_same(a["fwd"][0, t - 1], b["fwd"][0, t - 1])
    assert_same(a["bwd"][0, t + 1], b["bwd"][0, t + 1])


def test_unlabelled_loss_trains_the_views_not_the_teacher():
    tagger, vocab = toy()
    ids, chars, lengths = vocab.batch([["w1", "w2", "w3"] * 2 + ["w4"], ["w5"] * 5, ["w6", "w0"]])
    with torch.no_grad():
        teacher = torch.softmax(tagger.primary_logits(*tagger(ids, chars, lengths)[1:]), -1)
    _, h1, h2 = tagger(ids, chars, lengths, 0.2)
    cvt_loss(teacher, tagger.view_logits(h1, h2, 0.2), lengths, 0.1).backward()
    assert all(p.grad is None for p in tagger.primary.parameters())  # the teacher is fixed
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tagger.aux.parameters())
    assert tagger.lstm1.weight_ih_l0.grad.abs().sum() > 0
    assert tagger.lstm2.weight_ih_l0.grad.abs().sum() > 0  # through the "full" view


def test_character_features_do_not_depend_on_batch_mates():
    tagger, vocab = toy()
    tagger.eval()
    alone = tagger.inputs(*vocab.batch([["w1", "w2"]])[:2])
    mixed = tagger.inputs(*vocab.batch([["w1", "w2"], ["w0123456789w" * 3]])[:2])
    assert_same(alone[0], mixed[0, :2])


def test_cvt_loss_masks_padding_and_the_ends():
    teacher = torch.softmax(torch.randn(2, 4, 3), -1)
    views = {v: torch.randn(2, 4, 3) for v in ("fwd", "bwd", "future", "past", "full")}
    lengths = torch.tensor([4, 2])
    base = cvt_loss(teacher, views, lengths)
    changed = {k: v.clone() for k, v in views.items()}
    changed["fwd"][1, 2:] += 100  # padding of the second sentence
    changed["future"][:, 0] += 100  # no word before the first
    changed["past"][0, 3] += 100  # no word after the last
    changed["past"][1, 1] += 100
    assert_same(cvt_loss(teacher, changed, lengths), base)


def test_labelled_subset_is_fixed_whatever_the_seed(upos):
    a = labelled_subset(upos["train"], 0.1)
    assert len(a) == 40
    assert [e.where for e in a] == [e.where for e in labelled_subset(upos["train"], 0.1)]
    assert len(labelled_subset(upos["train"], 1.0)) == 400


def test_resume_equals_an_uninterrupted_run(upos, tmp_path):
    torch.set_num_threads(1)
    un = Corpus(wiki_lines(40, lowercase=False))
    small = {"train": upos["train"][:100], "dev": upos["dev"][:40]}
    changes = {"steps": 40, "eval_every": 20, "checkpoint_every": 10}
    tags = check_splits(upos, "tag")  # a rare dev tag may be missing from these 100
    whole, _, h1 = fit(small, un, kw={"labels": tags}, **changes)
    ckpt = tmp_path / "ck"
    fit(small, un, max_steps=30, kw={"checkpoint": ckpt, "labels": tags}, **changes)
    resumed, _, h2 = fit(
        small, un, kw={"checkpoint": ckpt, "resume": True, "labels": tags}, **changes
    )
    torch.set_num_threads(2)
    assert len(h2.losses) == len(h1.losses) == 80
    assert_same(h2.losses, h1.losses)
    a = whole.embed_words(["The bank was closed ."], layers="all")[0].vectors
    b = resumed.embed_words(["The bank was closed ."], layers="all")[0].vectors
    assert_same(a, b)


def test_cli_trains_predicts_and_embeds(tmp_path, wiki_text_file, capsys):
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    d = TASKS["upos"].read()
    seen = {t for e in d["train"][:120] for t in e.label}
    held = [e for e in d["dev"][:60] if set(e.label) <= seen]
    for path, rows in ((train, d["train"][:120]), (dev, held)):
        path.write_text(
            "".join(json.dumps({"words": e.texts[0], "tags": e.label}) + "\n" for e in rows)
        )
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"word_dim": 16, "char_dim": 8, "char_filters": 8, "projection": 32}))
    out = tmp_path / "cvt"
    args = ["train", "cvt", "--task", "tag", "--train", str(train), "--dev", str(dev)]
    args += ["--unlabeled", str(wiki_text_file), "--labeled-fraction", "0.5", "--out", str(out)]
    args += ["--config", str(cfg), "--steps", "20", "--eval-every", "10", "--word-vectors", "none"]
    assert main([*args, "--quiet"]) == 0
    assert "cvt tagger (tag, 60 labelled sentences)" in capsys.readouterr().out
    model = ctxembed.load(out)
    assert isinstance(model, CVTEmbedder) and model.n_layers == 3
    res = model.embed_words(["Time flies like an arrow ."], return_layers=True, layers="all")[0]
    assert res.layers.shape == (3, 6, 2 * model.cfg.hidden)
    assert_same(res.layers[0][:, : model.cfg.hidden], res.layers[0][:, model.cfg.hidden :])
    pred = tmp_path / "pred.jsonl"
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "Time flies like an arrow ."}) + "\n")
    assert main(["predict", str(out), str(inp), str(pred)]) == 0
    got = json.loads(pred.read_text())
    logits = model.tag_logits([["Time", "flies", "like", "an", "arrow", "."]])[0]
    assert got["tags"] == [model.tags[i] for i in logits.argmax(-1).tolist()]
    assert got["offsets"][1] == [5, 10]
    assert model.record["n_train"] == 60 and "dev" in model.record["scores"]
    # the same tagger, fine-tuned frozen as any family: its biLSTM layers are features
    assert np.isfinite(model.embed_sentences(["a short text"])).all()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--task", "sst2"], "a tagging task"),
        (["--task", "tag"], "--train and --dev"),
        (["--word-vectors", "no-such-model"], "unknown model"),
    ],
)
def test_bad_options_are_named(tmp_path, capsys, extra, message):
    args = ["train", "cvt", "--out", str(tmp_path / "o"), "--config", "tiny", "--steps", "2"]
    assert main([*args, *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("share", ["0", "1.5", "-1", "half"])
def test_labelled_share_must_be_in_0_1(tmp_path, capsys, share):
    with pytest.raises(SystemExit) as e:  # a usage error: argparse's exit 2
        main(["train", "cvt", "--out", str(tmp_path / "o"), "--labeled-fraction", share])
    assert e.value.code == 2 and "above 0 and at most 1" in capsys.readouterr().err


def test_word_vectors_of_another_width_are_refused(upos, glove6b):
    with pytest.raises(InputError, match="50-d vectors for a 32-d"):
        train_cvt(
            upos, TINY, CVTTrainConfig(steps=1, word_vectors="x"), None, glove6b, progress=False
        )
