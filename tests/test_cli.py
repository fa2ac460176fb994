import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import ctxembed
from ctxembed.cli import main
from ctxembed.io import WRITTEN

from .conftest import wiki_lines
from .contract import assert_same


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def npz_words(z) -> list[str]:
    """The words of an ``embed`` .npz, the way README says to read them."""
    buf, ends = z["word_bytes"].tobytes(), z["word_ends"]
    return [buf[s:e].decode() for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]


def test_models_lists_the_registry(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "minilm-l6" in out and "glove-6b-50d" in out and "installed" in out


def test_embed_text_lines_to_npz(capsys, tmp_path, glove6b):
    src = tmp_path / "in.txt"
    src.write_text("I went to the bank.\nThe river bank flooded\n", encoding="utf-8")
    code, out, _ = run(
        capsys, "embed", "--model", "glove-6b-50d", "--quiet", str(src), str(tmp_path / "o.npz")
    )
    assert code == 0 and "2 texts, 10 words" in out
    with np.load(tmp_path / "o.npz", allow_pickle=False) as z:
        assert z["lengths"].tolist() == [6, 4] and z["vectors"].shape == (10, 50)
        assert npz_words(z)[:5] == ["I", "went", "to", "the", "bank"]
        assert z["offsets"][4].tolist() == [14, 18]
        assert_same(z["vectors"][4], glove6b.vector("bank"))


def test_embed_jsonl_to_jsonl_with_layers(capsys, tmp_path, minilm):
    src = tmp_path / "in.jsonl"
    rows = [{"text": "a bank by the river"}, {"words": ["money", "in", "the", "bank"]}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, _ = run(
        capsys,
        "embed",
        "--model",
        "minilm-l6",
        "--layers",
        "0,6",
        "--quiet",
        str(src),
        str(tmp_path / "o.jsonl"),
    )
    assert code == 0
    got = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert got[1]["words"] == ["money", "in", "the", "bank"] and got[1]["offsets"] is None
    expected = minilm.embed_words([rows[1]["words"]], layers=[0, 6])[0].vectors
    assert_same(np.array(got[1]["vectors"]), expected)


@pytest.mark.parametrize(
    "content, option, message",
    [
        (b"fine\n\nafter blank\n", "--keep-blank", "line 2: the text is empty"),
        (b"fine\ncaf\xe9\n", "--quiet", "line 2: not valid UTF-8"),
        (b"ok\n\xe2\x80\x8b\n", "--quiet", "line 2: the text is empty"),
    ],
)
def test_embed_bad_input_names_the_line(capsys, tmp_path, content, option, message):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    code, _, err = run(
        capsys, "embed", "--model", "glove-6b-50d", option, str(src), str(tmp_path / "o.npz")
    )
    assert code == 1 and message in err
    assert not list(tmp_path.glob("*o.npz*")), "nothing half-written"


def test_embed_errors(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "embed",
        "--model",
        "glove-6b-50d",
        str(tmp_path / "nope.txt"),
        str(tmp_path / "o.npz"),
    )
    assert code == 1 and "no such file" in err
    (tmp_path / "in.txt").write_text("text\n")
    code, _, err = run(
        capsys, "embed", "--model", "gpt-17", str(tmp_path / "in.txt"), str(tmp_path / "o.npz")
    )
    assert code == 1 and "unknown model 'gpt-17'" in err and "minilm-l6" in err
    code, _, err = run(
        capsys,
        "embed",
        "--model",
        "minilm-l6",
        "--layers",
        "9",
        str(tmp_path / "in.txt"),
        str(tmp_path / "o.npz"),
    )
    assert code == 1 and "layer 9 is out of range" in err
    code, _, err = run(
        capsys,
        "embed",
        "--model",
        "glove-6b-50d",
        str(tmp_path / "in.txt"),
        str(tmp_path / "o.csv"),
    )
    assert code == 1 and ".npz or .jsonl" in err
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": 1}\n')
    code, _, err = run(
        capsys,
        "embed",
        "--model",
        "glove-6b-50d",
        str(tmp_path / "bad.jsonl"),
        str(tmp_path / "o.npz"),
    )
    assert code == 1 and "line 2" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["embed", "--model", "minilm-l6", "--layers", "top", "a", "b.npz"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_compare_static_vs_contextual(capsys):
    code, out, _ = run(
        capsys,
        "compare",
        "--model",
        "glove-6b-50d,minilm-l6",
        "--word",
        "bank",
        "I went to the bank to deposit money",
        "The bank lent us money",
        "I sat by the bank of the river",
    )
    assert code == 0
    glove, minilm = out.split("glove-6b-50d (glove)")[1].split("minilm-l6 (transformer)")
    assert glove.count("1.000") == 9  # the same vector in every context
    rows = [line.split()[1:] for line in minilm.strip().splitlines()[2:5]]
    sim = np.array(rows, dtype=float)
    assert sim[0, 1] > sim[0, 2]


def test_compare_word_missing_from_a_context(capsys):
    code, _, err = run(
        capsys, "compare", "--model", "glove-6b-50d", "--word", "bank", "a bank", "no such word"
    )
    assert code == 1 and "context #2 does not contain the word 'bank'" in err


def test_neighbors(capsys):
    code, out, _ = run(capsys, "neighbors", "--model", "glove-6b-50d", "-k", "5", "bank")
    assert code == 0 and "banks" in out and len(out.splitlines()) == 5
    code, _, err = run(capsys, "neighbors", "--model", "glove-6b-50d", "qwzxv")
    assert code == 1 and "not in the vocabulary" in err
    code, _, err = run(capsys, "neighbors", "--model", "minilm-l6", "bank")
    assert code == 1 and "static model" in err


@pytest.mark.parametrize("family", ["word2vec", "glove"])
def test_train_then_load_and_export(capsys, tmp_path, wiki_text_file, family):
    out_dir = tmp_path / family
    code, out, _ = run(
        capsys,
        "train",
        family,
        "--corpus",
        str(wiki_text_file),
        "--out",
        str(out_dir),
        "--dim",
        "16",
        "--epochs",
        "2",
        "--quiet",
    )
    assert code == 0 and out.startswith(f"{family}: ") and "tokens/s" in out
    model = ctxembed.load(out_dir)
    assert model.family == family and model.dim == 16 and "the" in model
    assert not (tmp_path / f"{family}.checkpoint").exists()
    code, _, _ = run(
        capsys,
        "export",
        "--model",
        str(out_dir),
        "--format",
        "word2vec-binary",
        str(tmp_path / "v.bin"),
    )
    assert code == 0
    assert_same(ctxembed.load(tmp_path / "v.bin").vectors, model.vectors)


def test_train_bad_corpus(capsys, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    code, _, err = run(
        capsys,
        "train",
        "glove",
        "--corpus",
        str(tmp_path / "empty.txt"),
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 1 and "empty" in err
    (tmp_path / "latin.txt").write_bytes(b"ok words\nna\xefve\n")
    code, _, err = run(
        capsys,
        "train",
        "word2vec",
        "--corpus",
        str(tmp_path / "latin.txt"),
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 1 and "line 2: not valid UTF-8" in err
    assert not (tmp_path / "m").exists()


def test_console_script_runs():
    exe = [sys.executable, "-m", "ctxembed.cli"]
    assert subprocess.run([*exe, "--help"], capture_output=True).returncode == 0
    bad = subprocess.run([*exe, "neighbors"], capture_output=True, text=True)
    assert bad.returncode == 2 and "required" in bad.stderr


def test_train_elmo_with_a_config_file(capsys, tmp_path, wiki_text_file):
    cfg = {
        "filters": [[1, 8], [2, 8]],
        "n_highway": 1,
        "cell_dim": 32,
        "proj_dim": 16,
        "n_layers": 1,
    }
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    out = tmp_path / "elmo"
    args = [
        "train",
        "elmo",
        "--corpus",
        str(wiki_text_file),
        "--out",
        str(out),
        "--config",
        str(tmp_path / "tiny.json"),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--samples",
        "20",
        "--quiet",
    ]
    code, stdout, _ = run(capsys, *args)
    assert code == 0 and stdout.startswith("elmo (") and "2 steps" in stdout
    model = ctxembed.load(out)
    assert model.family == "elmo" and model.dim == 32 and model.n_layers == 2
    pub = tmp_path / "pub"
    code, stdout, _ = run(capsys, "export", "--model", str(out), "--format", "elmo-hdf5", str(pub))
    names = sorted(p.name for p in pub.iterdir())
    assert code == 0 and names == [WRITTEN, "options.json", "weights.hdf5"]
    texts = ["the bank of the river", "a long time ago"]
    for a, b in zip(model.embed_words(texts), ctxembed.load(pub).embed_words(texts), strict=True):
        assert_same(a.vectors, b.vectors)
    code, _, err = run(capsys, "export", "--model", str(out), "--format", "elmo-hdf5", str(pub))
    assert code == 1 and "--overwrite" in err
    export = ["export", "--model", str(out), "--format", "elmo-hdf5", "--overwrite", str(pub)]
    assert run(capsys, *export)[0] == 0
    code, _, err = run(capsys, *export[:-1], str(tmp_path))  # the folder that holds the model
    assert code == 1 and "is inside" in err
    # a published ELMo the user downloaded has the very same two files, and is still theirs
    download = tmp_path / "allennlp-elmo"
    download.mkdir()
    for name in ("options.json", "weights.hdf5"):
        shutil.copy(pub / name, download / name)
    code, _, err = run(capsys, *export[:-1], str(download))
    assert code == 1 and "did not write" in err
    assert sorted(p.name for p in download.iterdir()) == ["options.json", "weights.hdf5"]
    code, _, err = run(capsys, *args[:7], str(tmp_path / "missing.json"), "--overwrite")
    assert code == 1 and "no such file" in err


def test_embed_skips_blank_lines_and_counts_oov(capsys, tmp_path, glove6b):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "the bank qwzxv"}\n\n{"words": ["qwzxv", "river"]}\n\n')
    txt = tmp_path / "in.txt"
    txt.write_text("the bank qwzxv\n\nqwzxv river\n\n")
    out_npz = tmp_path / "o.npz"
    code, out, _ = run(
        capsys, "embed", "--model", "glove-6b-50d", "--quiet", str(txt), str(out_npz)
    )
    assert code == 0 and "2 texts, 5 words (2 out of vocabulary)" in out
    assert "skipped 2 blank lines" in out
    with np.load(out_npz, allow_pickle=False) as z:
        assert z["lines"].tolist() == [1, 3] and z["oov"].tolist() == [0, 0, 1, 1, 0]
        assert npz_words(z) == ["the", "bank", "qwzxv", "qwzxv", "river"]
    out_jsonl = tmp_path / "o.jsonl"
    code, out, _ = run(
        capsys, "embed", "--model", "glove-6b-50d", "--quiet", str(src), str(out_jsonl)
    )
    assert code == 0 and "(2 out of vocabulary)" in out
    rows = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3]
    assert rows[0]["oov"] == [False, False, True] and rows[1]["oov"] == [True, False]
    assert_same(rows[1]["vectors"][1], glove6b.vector("river"))


def test_embed_npz_size_follows_content(capsys, tmp_path):
    src = tmp_path / "in.txt"
    lines = ["x" * 20_000] + [" ".join(t) for t in wiki_lines(100)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "o.npz"
    code, stdout, _ = run(capsys, "embed", "--model", "glove-6b-50d", "--quiet", str(src), str(out))
    assert code == 0
    with np.load(out, allow_pickle=False) as z:
        n_words = len(z["vectors"])
        assert npz_words(z)[0] == "x" * 20_000 and z["lengths"].sum() == n_words
    # vectors plus the words' bytes and offsets; the old fixed-width words took 80 kB each
    assert out.stat().st_size < n_words * (50 * 4 + 100) + 2 * src.stat().st_size


def test_embed_refuses_to_overwrite(capsys, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "the bank"}\n')
    code, _, err = run(
        capsys, "embed", "--model", "glove-6b-50d", "--overwrite", str(src), str(src)
    )
    assert code == 1 and "the input" in err
    assert src.read_text() == '{"text": "the bank"}\n'
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    code, _, err = run(capsys, "embed", "--model", "glove-6b-50d", str(src), str(out))
    assert code == 1 and "--overwrite" in err and out.read_text() == "precious\n"
    code, _, _ = run(capsys, "embed", "--model", "glove-6b-50d", "--overwrite", str(src), str(out))
    assert code == 0 and json.loads(out.read_text())["words"] == ["the", "bank"]


def test_embed_long_text_shows_windows_done(capsys, tmp_path):
    src = tmp_path / "in.txt"
    from ctxembed.embedfile import LONG_TEXT

    text = " ".join(w for t in wiki_lines(100) for w in t)[: 2 * LONG_TEXT]
    assert len(text) > LONG_TEXT  # goes alone, with the model's own progress bar
    src.write_text(text + "\n", encoding="utf-8")
    code, _, err = run(capsys, "embed", "--model", "minilm-l6", str(src), str(tmp_path / "o.npz"))
    assert code == 0 and "window" in err


@pytest.mark.slow  # a subprocess that loads glove-6b-50d
def test_sigterm_leaves_no_temporary_files(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("the bank of the river flooded again\n" * 20_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctxembed.cli", "embed", "--model", "glove-6b-50d", "--quiet"]
        + [str(src), str(tmp_path / "o.npz")],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".o.npz.*.tmp")) and proc.poll() is None:
        assert time.monotonic() < deadline, "embedding never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_train_refuses_an_unrelated_out_before_training(capsys, tmp_path, wiki_text_file):
    stuff = tmp_path / "stuff"
    stuff.mkdir()
    (stuff / "notes.txt").write_text("mine")
    (tmp_path / "some_file").write_text("also mine")
    for family in ("word2vec", "glove", "elmo", "context2vec", "bert", "use", "ctm", "cvt"):
        for out, message in [(stuff, "did not write"), (tmp_path / "some_file", "not a folder")]:
            # the corpus does not exist: the error is about --out, so it came first
            data = ["--unlabeled"] if family == "cvt" else ["--corpus"]
            code, _, err = run(
                capsys, "train", family, *data, "missing.txt", "--out", str(out), "--overwrite"
            )
            assert code == 1 and message in err, (family, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["some_file", "stuff"]
    assert [p.name for p in stuff.iterdir()] == ["notes.txt"]
    code, _, err = run(
        capsys,
        "train",
        "mirror",
        "--base",
        "minilm-l6",
        "--corpus",
        "missing.txt",
        "--out",
        str(stuff),
    )
    assert code == 1 and "did not write" in err


def test_train_out_dot_and_overwrite(capsys, tmp_path, monkeypatch, wiki_text_file):
    monkeypatch.chdir(tmp_path)
    args = ["train", "word2vec", "--corpus", str(wiki_text_file), "--dim", "8", "--epochs", "1"]
    code, _, err = run(capsys, *args, "--out", ".")
    assert code == 1 and "current folder" in err
    assert run(capsys, *args, "--out", "m", "--quiet")[0] == 0
    code, _, err = run(capsys, *args, "--out", "m", "--quiet")
    assert code == 1 and "--overwrite" in err
    assert run(capsys, *args, "--out", "m", "--quiet", "--overwrite")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_train_glove_resumes_from_its_checkpoint(capsys, tmp_path, wiki_text_file):
    from ctxembed.models.glove import GloVeConfig, train_glove
    from ctxembed.train.corpus import Corpus

    out, ck = tmp_path / "g", tmp_path / "g.checkpoint"
    train_glove(
        Corpus(wiki_text_file), GloVeConfig(dim=8, epochs=1), progress=False, checkpoint_dir=ck
    )
    args = ["train", "glove", "--corpus", str(wiki_text_file), "--out", str(out), "--dim", "8"]
    code, _, err = run(capsys, *args, "--epochs", "2", "--quiet")
    assert code == 1 and "--resume" in err
    code, out_text, _ = run(capsys, *args, "--epochs", "2", "--quiet", "--resume")
    # the record covers both epochs: the one from the checkpoint, and the one run now
    assert code == 0 and len(ctxembed.load(out).config["stats"]["loss_per_epoch"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"], "the checkpoint is removed"
    ck.mkdir()
    (ck / "notes.txt").write_text("mine")
    code, _, err = run(capsys, *args, "--quiet", "--resume", "--overwrite")
    assert code == 1 and "did not write" in err and (ck / "notes.txt").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["glove", "--lr", "-1"], "--lr: must be a finite number above 0"),
        (["glove", "--x-max", "0"], "--x-max: must be a finite number above 0"),
        (["glove", "--alpha", "nan"], "--alpha: must be a finite number above 0"),
        (["elmo", "--samples", "-5"], "--samples: must be 0 or more"),
        (["cove", "--label-smoothing", "1.5"], "--label-smoothing: must be at least 0"),
        (["mirror", "--base", "minilm-l6", "--temperature", "inf"], "--temperature: must be"),
    ],
)
def test_train_refuses_nonsense_numbers(capsys, tmp_path, args, message):
    with pytest.raises(SystemExit) as e:
        main(["train", *args, "--corpus", "c.txt", "--out", str(tmp_path / "m")])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_mix_weights_must_be_finite(capsys, tmp_path):
    (tmp_path / "in.txt").write_text("the bank\n")
    for mix in ("mix:nan,1,1,1,1,1,1", "mix:1,1,1,1,1,1,1@inf"):
        code, _, err = run(
            capsys,
            "embed",
            "--model",
            "minilm-l6",
            "--layers",
            mix,
            str(tmp_path / "in.txt"),
            str(tmp_path / "o.npz"),
        )
        assert code == 1 and "finite" in err


def test_bench_never_replaces_a_report_it_did_not_write(capsys, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.md").write_text("my notes")
    bench = ["bench", "--models", "glove-6b-50d", "--tasks", "wordsim", "--limit", "5", "--quiet"]
    code, _, err = run(capsys, *bench, "--no-cache", "--out", str(out))
    assert code == 1 and "did not write" in err
    assert (out / "results.md").read_text() == "my notes"
    (out / "results.md").unlink()
    assert run(capsys, *bench, "--no-cache", "--out", str(out))[0] == 0
    code, _, err = run(capsys, *bench, "--no-cache", "--out", str(out))
    assert code == 1 and "--overwrite" in err  # its own earlier report: only when asked
    assert run(capsys, *bench, "--no-cache", "--overwrite", "--out", str(out))[0] == 0
    (tmp_path / "afile").write_text("x")
    code, _, err = run(capsys, *bench, "--out", str(tmp_path / "afile" / "sub"))
    assert code == 1 and "is a file" in err  # before any model runs


def test_export_never_writes_into_its_input(capsys, tmp_path, tiny_word2vec):
    tiny_word2vec.save(tmp_path / "w2v")
    manifest = (tmp_path / "w2v" / "ctxembed.json").read_text()
    for target in ("ctxembed.json", "vocab.txt"):
        export = ["export", "--model", str(tmp_path / "w2v"), "--format", "word2vec-text"]
        code, _, err = run(capsys, *export, "--overwrite", str(tmp_path / "w2v" / target))
        assert code == 1 and "input" in err
    assert (tmp_path / "w2v" / "ctxembed.json").read_text() == manifest
    assert ctxembed.load(tmp_path / "w2v").dim == tiny_word2vec.dim


def test_embed_a_folder_or_a_pipe(capsys, tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("ctxembed-embed-*"))
    code, _, err = run(
        capsys, "embed", "--model", "glove-6b-50d", str(tmp_path), str(tmp_path / "o.npz")
    )
    assert code == 1 and "is a folder" in err
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf 'the bank\\n\\377\\n' > {fifo}"])
    code, _, err = run(
        capsys, "embed", "--model", "glove-6b-50d", str(fifo), str(tmp_path / "o.npz")
    )
    writer.wait(timeout=30)
    assert code == 1 and f"{fifo}, line 2: not valid UTF-8" in err  # the pipe's name, not a copy's
    assert set(Path(tempfile.gettempdir()).glob("ctxembed-embed-*")) == before


def test_compare_checks_every_model_first(capsys):
    ctx = ["I went to the bank", "the river bank"]
    code, out, err = run(
        capsys, "compare", "--model", "glove-6b-50d,nosuch", "--word", "bank", *ctx
    )
    assert code == 1 and "nosuch" in err and "#1" not in out
    code, _, err = run(capsys, "compare", "--model", ",", "--word", "bank", *ctx)
    assert code == 1 and "at least one model" in err
