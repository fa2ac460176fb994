"""Bad input to the public API and the CLI gets a named error, never a traceback or garbage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ctxembed
from ctxembed import InputError, ModelError, ScalarMix
from ctxembed.assets import ASSETS
from ctxembed.cli import main
from ctxembed.errors import MissingExtraError

from .conftest import wiki_lines
from .contract import assert_same

TINY_CORPUS = "the cat sat on the mat .\na dog ran far away .\n"  # no word occurs 3 times


@pytest.fixture
def minilm_copy(tmp_path):
    """A private copy of the minilm-l6 Hugging Face folder, free to damage."""
    folder = tmp_path / "minilm"
    shutil.copytree(ASSETS["minilm-l6"].path() / "model", folder)
    return folder


# -- damaged model folders ------------------------------------------------------------------
def test_truncated_safetensors_is_named(minilm_copy, tmp_path, capsys):
    weights = minilm_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"model\.safetensors.*truncated or damaged"):
        ctxembed.load(minilm_copy)
    src = tmp_path / "in.txt"
    src.write_text("a bank by the river\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # main() lets anything but a CtxembedError through, so exit 1 here means no traceback
    code = main(["embed", "--model", str(minilm_copy), "--quiet", str(src), str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "model.safetensors" in err and "copy it again" in err
    assert not out.exists()


def test_garbage_tokenizer_json_is_named(minilm_copy, tmp_path, capsys):
    (minilm_copy / "tokenizer.json").write_text("this is not a tokenizer {", encoding="utf-8")
    with pytest.raises(ModelError, match=r"tokenizer\.json.*damaged"):
        ctxembed.load(minilm_copy)
    code = main(["neighbors", "--model", str(minilm_copy), "bank"])
    assert code == 1 and "tokenizer.json" in capsys.readouterr().err
    (minilm_copy / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    with pytest.raises(ModelError, match=r"tokenizer\.json"):
        ctxembed.load(minilm_copy)


def test_pickled_weights_are_refused(minilm, minilm_copy):
    import torch

    torch.save(minilm.model.state_dict(), minilm_copy / "pytorch_model.bin")
    (minilm_copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="only safetensors"):
        ctxembed.load(minilm_copy)


# -- load() arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, 5, 3.5, ["minilm-l6"]])
def test_load_needs_a_name_or_path(bad):
    with pytest.raises(InputError, match="name or a path"):
        ctxembed.load(bad)


def test_unknown_keyword_lists_what_the_family_accepts(tiny_word2vec, tmp_path):
    with pytest.raises(InputError, match=r"'foo'.*device.*max_length"):
        ctxembed.load("minilm-l6", foo=1)
    with pytest.raises(InputError, match=r"'device'.*oov"):
        ctxembed.load("glove-6b-50d", device="cpu")
    tiny_word2vec.save(tmp_path / "w2v")
    with pytest.raises(InputError, match=r"'max_length'.*lowercase_fallback"):
        ctxembed.load(tmp_path / "w2v", max_length=8)
    tiny_word2vec.write(tmp_path / "w2v.txt")
    with pytest.raises(InputError, match=r"'bogus'.*format"):
        ctxembed.load(tmp_path / "w2v.txt", bogus=True)
    assert ctxembed.load(tmp_path / "w2v", oov="error").oov == "error"


@pytest.mark.parametrize("device", ["tpu", "cuda:x", 5, ""])
def test_malformed_device_is_named(device):
    with pytest.raises(InputError, match="device"):
        ctxembed.load("minilm-l6", device=device)


def test_unavailable_device_is_named():
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [f"cuda:{n_gpus}"] + ([] if n_gpus else ["cuda"])
    missing += [] if torch.backends.mps.is_available() else ["mps"]
    for device in missing:
        with pytest.raises(ModelError, match="not available here"):
            ctxembed.load("minilm-l6", device=device)
    cpu = ctxembed.load("minilm-l6", device=torch.device("cpu"))
    assert cpu.device == torch.device("cpu")


def test_max_length_beyond_the_position_table_is_refused(minilm):
    with pytest.raises(InputError, match=r"max_length=100000.*512"):
        ctxembed.load("minilm-l6", max_length=100000)
    with pytest.raises(InputError, match="max_length"):
        ctxembed.load("minilm-l6", max_length=0)
    assert ctxembed.load("minilm-l6", max_length=512).max_length == 512
    (long,) = ctxembed.load("minilm-l6", max_length=64).embed_words(["word " * 700])
    assert len(long) == 700 and np.isfinite(long.vectors).all()


def test_vector_of_a_non_string_is_named(glove6b):
    with pytest.raises(InputError, match="a string"):
        glove6b.vector(5)
    with pytest.raises(InputError, match="a string"):
        glove6b.lookup(5)


# -- ScalarMix --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("weights", "gamma", "message"),
    [
        ([], 1.0, "at least one weight"),
        ([float("nan")] * 7, 1.0, "finite"),
        ([float("inf")] + [0.0] * 6, 1.0, "finite"),
        ([0.0] * 7, float("nan"), "gamma"),
        ([0.0] * 7, float("inf"), "gamma"),
        ([0.0] * 7, 0.0, "other than 0"),  # every vector would be zero
    ],
)
def test_scalar_mix_rejects_empty_and_non_finite(weights, gamma, message):
    with pytest.raises(InputError, match=message):
        ScalarMix(weights, gamma)


# -- training on a corpus too small for min_count -------------------------------------------
def test_word2vec_min_count_above_every_count(tmp_path, capsys):
    from ctxembed.models.word2vec import Word2VecConfig, train_word2vec
    from ctxembed.train.corpus import Corpus

    corpus = Corpus([line.split() for line in TINY_CORPUS.splitlines()])
    with pytest.raises(InputError, match="lower min_count"):
        train_word2vec(corpus, Word2VecConfig(min_count=3, workers=1), progress=False)
    src = tmp_path / "tiny.txt"
    src.write_text(TINY_CORPUS, encoding="utf-8")
    out = tmp_path / "w2v"
    code = main(["train", "word2vec", "--corpus", str(src), "--out", str(out), "--quiet"])
    assert code == 1 and "--min-count" in capsys.readouterr().err and not out.exists()


def test_context2vec_min_count_above_every_count(tmp_path, capsys):
    from ctxembed.models.context2vec import (
        Context2VecConfig,
        Context2VecTrainConfig,
        train_context2vec,
    )

    sents = [line.split() for line in TINY_CORPUS.splitlines()]
    with pytest.raises(InputError, match="lower min_count"):
        train_context2vec(sents, Context2VecConfig(), Context2VecTrainConfig(), progress=False)
    src = tmp_path / "tiny.txt"
    src.write_text(TINY_CORPUS, encoding="utf-8")
    out = tmp_path / "c2v"
    code = main(["train", "context2vec", "--corpus", str(src), "--out", str(out), "--quiet"])
    assert code == 1 and "--min-count" in capsys.readouterr().err and not out.exists()


def test_word2vec_still_trains_when_some_words_pass_min_count():
    from ctxembed.models.word2vec import Word2VecConfig, train_word2vec

    cfg = Word2VecConfig(dim=8, min_count=50, epochs=1, workers=1)
    model = train_word2vec(wiki_lines(100), cfg, progress=False)
    assert 0 < len(model) < 200 and "the" in model


# -- mistakes a new user made with the CLI ----------------------------------------------------
def test_a_layer_named_twice_counts_twice(minilm):
    (b,) = minilm.embed_words(["the bank"], layers=[-1, 6, 2])
    (c,) = minilm.embed_words(["the bank"], layers=[6, 2], return_layers=True)
    assert_same(b.vectors, (2 * c.layers[0] + c.layers[1]) / 3)


def test_a_pipe_is_no_training_corpus(tmp_path):
    from ctxembed.train.corpus import Corpus

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        Corpus(fifo)  # a FIFO with no writer: the check never opens it
    with pytest.raises(InputError, match="--valid"):
        Corpus(tmp_path / "missing.txt", what="--valid")


def test_training_that_diverges_is_named_and_saves_nothing(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "g"
    args = ["train", "glove", "--corpus", str(wiki_text_file), "--out", str(out), "--quiet"]
    code = main([*args, "--epochs", "1", "--dim", "8", "--lr", "1e30"])
    assert code == 1 and "diverged" in capsys.readouterr().err and not out.exists()
    out = tmp_path / "e"
    elmo = ["train", "elmo", "--corpus", str(wiki_text_file), "--out", str(out), "--quiet"]
    code = main(
        [*elmo, "--config", str(tiny_elmo_config(tmp_path)), "--max-steps", "2", "--lr", "1e30"]
    )
    assert code == 1 and "diverged at step" in capsys.readouterr().err and not out.exists()


def tiny_elmo_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text('{"filters": [[1, 8], [2, 8]], "n_highway": 1, "cell_dim": 32, "proj_dim": 16}')
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"cell_dim": "x"}', r"cell_dim: 'x'.*int"),
        ('{"n_layers": 0}', "n_layers: 0.*at least 1"),
        ('{"dropout": -0.5}', "dropout"),
        ('{"cell_clip": null}', None),  # None is a value this field takes
    ],
)
def test_config_values_are_checked_before_training(tmp_path, capsys, config, message):
    from ctxembed.models.elmo import CONFIGS, ElmoConfig
    from ctxembed.train.options import model_config

    path = tmp_path / "c.json"
    path.write_text(config)
    if message is None:
        assert (
            model_config(str(path), CONFIGS, ElmoConfig.from_dict, "ELMo", ElmoConfig()).cell_clip
            is None
        )
        return
    with pytest.raises(InputError, match=message):
        model_config(str(path), CONFIGS, ElmoConfig.from_dict, "ELMo", ElmoConfig())
    with pytest.raises(InputError, match="a folder"):
        model_config(str(tmp_path), CONFIGS, ElmoConfig.from_dict, "ELMo", ElmoConfig())


def test_resume_from_another_model_is_one_line(tmp_path):
    import torch

    from ctxembed.train.loop import load_checkpoint, save_checkpoint

    small = torch.nn.Linear(2, 2)
    meta = {"step": 1, "epoch": 0, "batch": 1, "n_batches": 2, "seed": 0, "losses": [0.5]}
    save_checkpoint(tmp_path / "ck", small, torch.optim.Adam(small.parameters()), meta)
    big = torch.nn.Linear(3, 3)
    with pytest.raises(InputError, match="another model") as e:
        load_checkpoint(tmp_path / "ck", big, torch.optim.Adam(big.parameters()))
    assert len(str(e.value)) < 300  # not torch's list of every mismatched tensor


def test_resume_with_nothing_to_resume_says_so(tmp_path, wiki_text_file, capsys):
    args = ["train", "glove", "--corpus", str(wiki_text_file), "--quiet", "--resume"]
    assert main([*args, "--out", str(tmp_path / "g"), "--epochs", "1", "--dim", "8"]) == 0
    assert "no checkpoint" in capsys.readouterr().err


def test_a_missing_extra_is_named_with_its_pip_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    code = main(
        ["bench", "--models", "glove-6b-50d", "--tasks", "wordsim", "--out", str(tmp_path / "b")]
    )
    assert code == 1
    assert 'pip install "ctxembed[eval]"' in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    monkeypatch.setitem(sys.modules, "h5py", None)
    from ctxembed.models.elmo import read_hdf5

    with pytest.raises(MissingExtraError, match=r"ctxembed\[elmo\]"):
        read_hdf5(tmp_path / "options.json", tmp_path / "weights.hdf5")


def test_embedding_needs_no_extra(tmp_path):
    """The core install embeds: loading vectors and embedding import no evaluation package."""
    vectors = tmp_path / "v.txt"
    vectors.write_text("bank 0.1 0.2 0.3\nriver 0.3 0.2 0.1\n")
    code = (
        "import sys, ctxembed; m = ctxembed.load(sys.argv[1]); m.embed_words(['bank river']); "
        "print(' '.join(x for x in ('sklearn', 'matplotlib', 'h5py', 'sacrebleu', 'pyarrow') "
        "if x in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(vectors)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_a_checkpoint_with_a_damaged_record_is_named(tmp_path):
    import torch

    from ctxembed.io import CHECKPOINT
    from ctxembed.train.loop import load_checkpoint, save_checkpoint

    lin = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path / "ck", lin, None, {"step": 1})
    with pytest.raises(InputError, match="lacks epoch"):
        load_checkpoint(tmp_path / "ck", lin, None)
    (tmp_path / "ck" / CHECKPOINT).write_text("[1, 2]")
    with pytest.raises(InputError, match="cannot resume"):
        load_checkpoint(tmp_path / "ck", lin, None)


def test_resume_with_another_learning_rate_is_refused(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "e"
    args = ["train", "context2vec", "--corpus", str(wiki_text_file), "--out", str(out), "--quiet"]
    small = ["--epochs", "2", "--max-steps", "2", "--checkpoint-every", "1"]
    (tmp_path / "c.json").write_text(json.dumps({"embed_dim": 8, "hidden_dim": 8, "out_dim": 8}))
    args += ["--config", str(tmp_path / "c.json")]
    assert main([*args, *small]) == 0  # leaves no checkpoint: the run finished
    ck = Path(f"{out}.checkpoint")
    from ctxembed.models.context2vec import (
        Context2VecConfig,
        Context2VecTrainConfig,
        train_context2vec,
    )
    from ctxembed.train.corpus import Corpus

    cfg = Context2VecTrainConfig(epochs=2, max_steps=1)
    model_cfg = Context2VecConfig(embed_dim=8, hidden_dim=8, out_dim=8)
    train_context2vec(Corpus(wiki_text_file), model_cfg, cfg, checkpoint=ck, progress=False)
    code = main([*args, "--epochs", "2", "--lr", "0.5", "--resume", "--overwrite"])
    err = capsys.readouterr().err  # made with other settings: the message names the one
    assert code == 1 and "lr: " in err and "-> 0.5" in err and "seed" not in err


def test_config_values_only_the_layers_check_are_named_before_training(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the bank of the river\n" * 5)
    (tmp_path / "e.json").write_text(json.dumps({"dropout": 1.5}))
    code = main(
        [
            "train",
            "elmo",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "m"),
            "--config",
            str(tmp_path / "e.json"),
        ]
    )
    assert code == 1 and "dropout" in capsys.readouterr().err
    code = main(
        [
            "train",
            "use",
            "--variant",
            "transformer",
            "--dim",
            "30",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "u"),
        ]
    )
    assert code == 1 and "not a multiple of the 4 attention heads" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "u").exists()


def test_elmo_window_must_be_a_whole_number(tmp_path):
    from ctxembed.models.elmo import BiLM, ElmoConfig, ElmoEmbedder

    model = BiLM(ElmoConfig(filters=[(1, 4)], n_highway=1, cell_dim=8, proj_dim=4, n_layers=1))
    for bad in ("64", 2.5, 0, True):
        with pytest.raises(InputError, match="whole number"):
            ElmoEmbedder(model, window=bad)


def test_an_unusable_temporary_folder_is_named(monkeypatch, tmp_path):
    import tempfile

    from ctxembed.train.corpus import Encoded

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "file" / "tmp"))  # as TMPDIR would
    with pytest.raises(InputError, match="TMPDIR"):
        Encoded([[1, 2, 3]])


def test_an_output_named_with_a_tilde_is_checked_where_it_lands(monkeypatch, tmp_path):
    from ctxembed.io import check_out_file

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="--overwrite"):
        check_out_file(Path("~/keep.txt"), overwrite=False)


def test_embed_does_not_write_into_the_model_folder(tmp_path, tiny_word2vec, capsys):
    tiny_word2vec.save(tmp_path / "m")
    (tmp_path / "in.txt").write_text("the bank\n")
    code = main(
        [
            "embed",
            "--model",
            str(tmp_path / "m"),
            str(tmp_path / "in.txt"),
            str(tmp_path / "m" / "x.npz"),
        ]
    )
    assert code == 1 and "inside" in capsys.readouterr().err
    assert not (tmp_path / "m" / "x.npz").exists()
