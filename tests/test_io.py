"""Writing folders and files: nothing the library did not write is ever removed."""

import os
import stat

import numpy as np
import pytest

import ctxembed
from ctxembed.errors import InputError
from ctxembed.io import CHECKPOINT, MANIFEST, WRITTEN, NpzWriter, atomic_dir, atomic_file, check_dir


def test_save_refuses_a_folder_it_did_not_write(tmp_path, tiny_glove):
    stuff = tmp_path / "stuff"
    stuff.mkdir()
    (stuff / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="did not write"):
        tiny_glove.save(stuff)
    with pytest.raises(InputError, match="did not write"):
        tiny_glove.save(stuff, overwrite=True)
    assert [p.name for p in stuff.iterdir()] == ["thesis.tex"]
    assert (stuff / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["stuff"], "no temporary folder left"


def test_save_replaces_its_own_folder_only_when_asked(tmp_path, tiny_glove, tiny_word2vec):
    out = tmp_path / "m"
    out.mkdir()  # an empty folder holds nothing to lose
    tiny_glove.save(out)
    with pytest.raises(InputError, match="--overwrite"):
        tiny_word2vec.save(out)
    assert ctxembed.load(out).family == "glove"
    tiny_word2vec.save(out, overwrite=True)
    assert ctxembed.load(out).family == "word2vec"
    assert [p.name for p in tmp_path.iterdir()] == ["m"], "the old folder is gone"


def test_overwrite_never_takes_a_file_added_to_a_saved_folder(tmp_path, tiny_glove):
    out = tmp_path / "m"
    tiny_glove.save(out)
    (out / "notes.txt").write_text("my notes on this model")
    with pytest.raises(InputError, match=r"did not write \(notes.txt\)"):
        tiny_glove.save(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "my notes on this model"
    (out / "notes.txt").unlink()
    (out / "mine").mkdir()  # an empty folder of the user's counts as much as a file
    with pytest.raises(InputError, match=r"did not write \(mine\)"):
        tiny_glove.save(out, overwrite=True)
    (out / "mine").rmdir()
    tiny_glove.save(out, overwrite=True)  # all of it ctxembed's again
    assert (out / MANIFEST).exists()


def test_a_folder_with_no_written_list_is_never_replaced(tmp_path, tiny_glove):
    # a manifest alone proves nothing: a user can copy one, and older versions kept no list
    out = tmp_path / "m"
    tiny_glove.save(out)
    (out / WRITTEN).unlink()
    with pytest.raises(InputError, match="did not write"):
        tiny_glove.save(out, overwrite=True)
    assert (out / MANIFEST).exists()


def test_refuses_a_file_the_current_folder_and_home(tmp_path, monkeypatch, tiny_glove):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        tiny_glove.save(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "x"
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "work")
    for path, kind in [(".", "the current folder"), ("..", "your home folder"), ("/", "root")]:
        with pytest.raises(InputError, match=kind):
            check_dir(path, overwrite=True)
    # even a home folder that looks like ctxembed's own is never replaced
    tiny_glove.save(home / "work" / "m")
    (home / "ctxembed.json").write_text("{}")
    with pytest.raises(InputError, match="home folder"):
        tiny_glove.save(home, overwrite=True)
    assert (home / "work" / "m" / "ctxembed.json").exists()


def test_checkpoints_are_replaced_only_when_they_are_checkpoints(tmp_path):
    ck = tmp_path / "ck"
    for step in (1, 2):
        with atomic_dir(ck, overwrite=True) as tmp:
            (tmp / CHECKPOINT).write_text(str(step))
    assert (ck / CHECKPOINT).read_text() == "2"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="did not write"), atomic_dir(other, True):
        pass
    assert (other / "notes.txt").read_text() == "mine"


def test_every_file_of_a_saved_folder_has_the_same_mode(tmp_path, tiny_glove):
    tiny_glove.save(tmp_path / "m")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "m").iterdir()}
    mask = os.umask(0)
    os.umask(mask)
    assert "vectors.safetensors" in modes or any(n.endswith(".safetensors") for n in modes)
    assert set(modes.values()) == {0o666 & ~mask}, modes


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "m") as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "f.txt", "w") as f:
        f.write("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_npz_writer_streams_members_numpy_reads(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((7, 3)).astype(np.float32)
    with atomic_file(tmp_path / "a.npz") as f, NpzWriter(f) as z:
        ends = z.spool("ends", np.int64)
        with z.member("vectors", np.float32, (7, 3)) as put:
            for part in np.array_split(vecs, 3):
                put(part)
                ends(np.array([len(part)]))
    with np.load(tmp_path / "a.npz", allow_pickle=False) as got:
        np.testing.assert_array_equal(got["vectors"], vecs)
        assert got["ends"].tolist() == [3, 2, 2]
    with (
        pytest.raises(ValueError, match="shape"),
        atomic_file(tmp_path / "b.npz") as f,
        NpzWriter(f) as z,
        z.member("vectors", np.float32, (7, 3)) as put,
    ):
        put(vecs[:2])
    assert not (tmp_path / "b.npz").exists()


def test_out_file_checks_its_folder_before_any_work(tmp_path):
    from ctxembed.io import check_out_file

    (tmp_path / "f.txt").write_text("mine")
    check_out_file(tmp_path / "new" / "deeper" / "out.npz", False)  # made when written
    for bad in (tmp_path / "f.txt" / "out.npz", tmp_path / "f.txt" / "sub" / "out.npz"):
        with pytest.raises(InputError, match="is a file, not a folder"):
            check_out_file(bad, False)
    assert (tmp_path / "f.txt").read_text() == "mine"
