import json
import subprocess
import sys

import numpy as np
import pytest

import ctxembed
from ctxembed.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


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
        assert z["words"].tolist()[:5] == ["I", "went", "to", "the", "bank"]
        assert z["offsets"][4].tolist() == [14, 18]
        np.testing.assert_array_equal(z["vectors"][4], glove6b.vector("bank"))


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
    np.testing.assert_allclose(np.array(got[1]["vectors"]), expected, atol=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"fine\n\nafter blank\n", "line 2: the text is empty"),
        (b"fine\ncaf\xe9\n", "line 2: not valid UTF-8"),
        (b"ok\n\xe2\x80\x8b\n", "line 2: the text is empty"),
    ],
)
def test_embed_bad_input_names_the_line(capsys, tmp_path, content, message):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    code, _, err = run(
        capsys, "embed", "--model", "glove-6b-50d", str(src), str(tmp_path / "o.npz")
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
    np.testing.assert_array_equal(ctxembed.load(tmp_path / "v.bin").vectors, model.vectors)


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
    code, _, err = run(capsys, *args[:7], str(tmp_path / "missing.json"), "--quiet")
    assert code == 1 and "no such file" in err
