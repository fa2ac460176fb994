"""Corpus indexes: build (in-process, on Ray, resumed after a kill) and contextual search."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ctxembed import InputError, ModelError
from ctxembed.cli import main
from ctxembed.eval.coarsewsd import load as coarsewsd

from .conftest import wiki_lines
from .contract import assert_same

pytest.importorskip("faiss")
pq = pytest.importorskip("pyarrow.parquet")
from ctxembed.scale.index import Index, build_index  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "wiki.txt"
    path.write_text("".join(" ".join(t) + "\n" for t in wiki_lines(240)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> tuple[Path, list]:
    """CoarseWSD-20's 'bank' training sentences (money or river), as JSON Lines of words."""
    every = coarsewsd("bank", "train")
    examples = [e for e in every if e.label == 0][:150] + [e for e in every if e.label == 1][:50]
    path = tmp_path_factory.mktemp("bank") / "bank.jsonl"
    path.write_text("".join(json.dumps({"words": e.tokens}) + "\n" for e in examples))
    return path, examples


def shards(folder: Path) -> dict[str, object]:
    return {p.name: pq.read_table(p) for p in sorted((folder / "shards").glob("*.parquet"))}


def assert_same_shards(one: Path, other: Path) -> None:
    """The same shards: ids, texts, words and offsets exactly, vectors to the contract's 1e-5
    (another process or thread count sums in another order)."""
    a, b = shards(one), shards(other)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].drop(["vector"]).equals(b[name].drop(["vector"]))
        vectors = [
            np.stack(t.column("vector").to_numpy(zero_copy_only=False)) for t in (a[name], b[name])
        ]
        assert_same(*vectors)


def test_build_writes_shards_and_an_exact_index(corpus, tmp_path, glove6b):
    info = build_index("glove-6b-50d", [corpus], tmp_path / "ix", shard_size=50, progress=False)
    tables = shards(tmp_path / "ix")
    assert len(tables) == 5 and info["kind"] == "flat"
    assert info["vectors"] == sum(t.num_rows for t in tables.values())
    first = tables["00000.parquet"].to_pylist()
    row = first[3]
    assert row["text"][row["start"] : row["end"]] == row["word"]
    (wv,) = glove6b.embed_words([row["text"]])
    v = wv.vectors[row["position"]]
    assert_same(np.asarray(row["vector"]), v / np.linalg.norm(v))
    assert [r["text_id"] for r in first][-1] == 49  # 50 texts a shard, ids in corpus order


def test_contextual_search_finds_the_sense_of_the_query(bank, tmp_path):
    path, examples = bank
    build_index("minilm-l6", [path], tmp_path / "ix", only_words=["bank"], progress=False)
    index = Index(tmp_path / "ix")
    assert {h.word.lower() for h in index.search_word("bank", "the bank", k=50)} == {"bank"}
    for like, sense in (
        ("We sat on the grassy bank of the river and watched the water.", 1),
        ("She opened an account at the bank and deposited her salary.", 0),
    ):
        hits = index.search_word("bank", like, k=10)
        labels = [examples[h.text_id].label for h in hits]
        assert labels.count(sense) >= 8, labels
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert np.mean([e.label for e in examples]) < 0.3  # a river hit is no base-rate luck


def test_sentence_index_finds_a_text_itself(corpus, tmp_path):
    build_index("minilm-l6", [corpus], tmp_path / "ix", mode="sentences", progress=False)
    index = Index(tmp_path / "ix")
    text = corpus.read_text(encoding="utf-8").splitlines()[17]
    (hit, *_) = index.search_sentence(text, k=3)
    assert hit.text_id == 17 and hit.score > 0.99 and hit.word is None
    with pytest.raises(InputError, match="holds sentence vectors"):
        index.search_word("the", "the cat")


def test_shards_without_a_kept_word_and_bad_lines(corpus, tmp_path):
    """--only-words may leave a shard empty; a malformed text is named by file and line."""
    lines = corpus.read_text(encoding="utf-8").splitlines()
    rare = next(w for w in ("river", "church", "album") if sum(w in x.split() for x in lines) < 8)
    info = build_index(
        "glove-6b-50d", [corpus], tmp_path / "ix", shard_size=5, only_words=[rare], progress=False
    )
    sizes = [t.num_rows for t in shards(tmp_path / "ix").values()]
    assert 0 in sizes and info["vectors"] == sum(sizes) > 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"words": ["a", "b"]}\n{"words": []}\n')
    with pytest.raises(InputError, match="bad.jsonl, line 2"):
        build_index("glove-6b-50d", [bad], tmp_path / "bad", progress=False)


def test_search_errors_are_named(corpus, tmp_path):
    build_index("glove-6b-50d", [corpus], tmp_path / "ix", progress=False)
    index = Index(tmp_path / "ix")
    with pytest.raises(InputError, match="not a word of the --like text"):
        index.search_word("river", "a sentence without it")
    with pytest.raises(InputError, match="does not occur"):
        index.search_word("zyzzyva", "a zyzzyva flew")
    with pytest.raises(InputError, match="k=0"):
        index.search_word("the", "the cat", k=0)
    with pytest.raises(InputError, match="holds word vectors"):
        index.search_sentence("the cat")
    with pytest.raises(InputError, match="not a finished index"):
        Index(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        Index(tmp_path / "nope")
    with pytest.raises(InputError, match="give one word"):
        index.search_word("river bank", "the river bank")
    with pytest.raises(InputError, match="--like: the text is empty"):
        index.search_word("the", "   ")


def test_a_query_without_a_vector_is_refused(tmp_path):
    """glove has no vector for a made-up word: ranking zero vectors would be noise."""
    c = tmp_path / "c.txt"
    c.write_text("a qwxzv flew over the bank\nthe qwxzv sat down\n")
    build_index("glove-6b-50d", [c], tmp_path / "ix", progress=False)
    with pytest.raises(InputError, match="'qwxzv' has no vector"):
        Index(tmp_path / "ix").search_word("qwxzv", "a qwxzv")
    build_index("glove-6b-50d", [c], tmp_path / "sx", mode="sentences", progress=False)
    with pytest.raises(InputError, match="has no vector"):
        Index(tmp_path / "sx").search_sentence("qwxzv zqxjvk")
    with pytest.raises(InputError, match="--sentence: the text is empty"):
        Index(tmp_path / "sx").search_sentence("  ")


def test_a_failed_build_leaves_nothing_and_the_fixed_one_builds(tmp_path):
    c = tmp_path / "c.jsonl"
    c.write_text('{"words": ["a", "b"]}\n{"words": []}\n')
    out = tmp_path / "ix"
    with pytest.raises(InputError, match="line 2"):
        build_index("glove-6b-50d", [c], out, progress=False)
    assert not out.exists()
    mine = tmp_path / "mine"  # the user's empty folder: it stays, empty
    mine.mkdir()
    with pytest.raises(InputError, match="line 2"):
        build_index("glove-6b-50d", [c], mine, progress=False)
    assert mine.is_dir() and not list(mine.iterdir())
    c.write_text('{"words": ["a", "b"]}\n{"words": ["c"]}\n')  # mended: no --overwrite needed
    assert build_index("glove-6b-50d", [c], out, progress=False)["vectors"] == 3
    with pytest.raises(InputError, match="is a folder"):
        build_index("glove-6b-50d", [tmp_path], tmp_path / "x", progress=False)


def test_damaged_files_are_named_and_a_rebuild_mends_them(corpus, tmp_path):
    out = tmp_path / "ix"
    build_index("glove-6b-50d", [corpus], out, shard_size=100, progress=False)
    before = [(h.text_id, h.position) for h in Index(out).search_word("the", "the cat", k=5)]
    (out / "vectors.faiss").write_bytes(b"junk")
    with pytest.raises(ModelError, match="vectors.faiss is missing or damaged"):
        Index(out).search_word("the", "the cat", k=5)
    (out / "shards" / "00001.parquet").write_bytes(b"junk")
    with pytest.raises(ModelError, match="00001.parquet is missing or damaged"):
        Index(out)
    # the first page header damaged: the footer still reads, the pages do not
    first = out / "shards" / "00000.parquet"
    data = bytearray(first.read_bytes())
    data[4:68] = b"\xff" * 64  # just after the magic "PAR1"
    first.write_bytes(bytes(data))
    pq.ParquetFile(first).close()
    info = build_index("glove-6b-50d", [corpus], out, shard_size=100, progress=False)
    assert info["shards_embedded"] == 2  # only the two damaged shards again
    assert [
        (h.text_id, h.position) for h in Index(out).search_word("the", "the cat", k=5)
    ] == before


def test_a_missing_shard_is_named_not_misread(corpus, tmp_path):
    out = tmp_path / "ix"
    build_index("glove-6b-50d", [corpus], out, shard_size=100, progress=False)
    (out / "shards" / "00001.parquet").unlink()  # later rows would shift onto wrong texts
    with pytest.raises(ModelError, match="shards are missing"):
        Index(out)


def test_a_build_that_fails_after_a_shard_keeps_it(tmp_path):
    c = tmp_path / "c.jsonl"
    c.write_text('{"words": ["a", "b"]}\n{"words": []}\n')
    out = tmp_path / "ix"
    with pytest.raises(InputError, match="line 2"):  # shard 0 (line 1) is written first
        build_index("glove-6b-50d", [c], out, shard_size=1, progress=False)
    assert (out / "shards" / "00000.parquet").is_file() and (out / "index.json").is_file()


def test_an_unreachable_ray_cluster_is_refused(corpus, tmp_path):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    with pytest.raises(InputError, match="cannot reach a Ray cluster"):
        build_index(
            "glove-6b-50d", [corpus], tmp_path / "ix", ray_address="127.0.0.1:1", progress=False
        )
    assert not (tmp_path / "ix").exists()


def test_refuses_another_model_and_a_users_folder(corpus, tmp_path, capsys):
    out = tmp_path / "ix"
    args = ["index", "build", "--corpus", str(corpus), "--out", str(out), "--quiet"]
    assert main([*args, "--model", "glove-6b-50d"]) == 0
    assert "word vectors (flat)" in capsys.readouterr().out
    assert main([*args, "--model", "minilm-l6"]) == 1
    assert "another model" in capsys.readouterr().err
    assert main([*args, "--model", "minilm-l6", "--overwrite"]) == 0
    assert json.loads((out / "index.json").read_text())["model"] == "minilm-l6"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main([*args[:4], "--out", str(mine), "--model", "glove-6b-50d", "--overwrite"]) == 1
    assert (mine / "notes.txt").read_text() == "keep" and len(list(mine.iterdir())) == 1
    q = ["index", "search", str(out), "--word", "the", "--like", "the cat sat", "-k", "2", "--json"]
    capsys.readouterr()
    assert main(q) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2 and hits[0]["word"].lower() == "the"
    assert main(["index", "search", str(out), "--word", "the"]) == 1
    assert "--like" in capsys.readouterr().err


def test_killed_build_resumes_to_the_same_index(corpus, tmp_path):
    """SIGKILL mid-build, run the same command again: finished shards are kept (not redone)
    and the result equals an uninterrupted build."""
    small = tmp_path / "small.txt"
    small.write_text("".join(corpus.read_text(encoding="utf-8").splitlines(True)[:80]))
    cmd = [sys.executable, "-m", "ctxembed.cli", "index", "build", "--model", "minilm-l6"]
    cmd += ["--corpus", str(small), "--shard-size", "8", "--quiet"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((killed / "shards").glob("*.parquet"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in (killed / "shards").glob("*.parquet")}
    assert 2 <= len(kept) < 10 and not (killed / "info.json").exists()
    assert subprocess.run([*cmd, "--out", str(killed)], check=False).returncode == 0
    assert all((killed / "shards" / n).stat().st_mtime_ns == t for n, t in kept.items())
    whole = tmp_path / "whole"
    assert subprocess.run([*cmd, "--out", str(whole)], check=False).returncode == 0
    assert_same_shards(killed, whole)
    assert not list((killed / "shards").glob(".*"))  # no half-written shard left


def test_ray_actors_build_the_same_index(corpus, tmp_path):
    pytest.importorskip("ray")
    here = build_index("glove-6b-50d", [corpus], tmp_path / "here", shard_size=60, progress=False)
    on_ray = build_index(
        "glove-6b-50d",
        [corpus],
        tmp_path / "ray",
        shard_size=60,
        ray_address="local",
        actors=2,
        progress=False,
    )
    assert here["vectors"] == on_ray["vectors"]
    assert_same_shards(tmp_path / "here", tmp_path / "ray")
    with pytest.raises(InputError, match="at most"):  # more actors than CPUs would hang
        build_index("glove-6b-50d", [corpus], tmp_path / "many", ray_address="local", actors=64)


def test_served_at_v1_search(corpus, tmp_path, glove6b):
    pytest.importorskip("fastapi")
    from ctxembed.serve.command import open_indexes

    from .servers import serving

    build_index("glove-6b-50d", [corpus], tmp_path / "ix", progress=False)
    models = {"glove": glove6b}
    indexes = open_indexes([f"wiki={tmp_path / 'ix'}"], {"glove": "glove-6b-50d"}, models)
    assert indexes["wiki"].model is glove6b  # the served model, not a second copy
    with serving(models, indexes) as (client, _, _):
        r = client.post("/v1/search", json={"word": "river", "like": "the river bank", "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["index"] == "wiki" and len(body["hits"]) == 3
        hit = body["hits"][0]
        assert hit["text"][hit["start"] : hit["end"]].lower() == "river"
        direct = Index(tmp_path / "ix").search_word("river", "the river bank", k=3)
        assert [h["score"] for h in body["hits"]] == pytest.approx(
            [h.score for h in direct], abs=1e-5
        )
        for payload, code, says in (
            ({"sentence": "a river"}, 400, "holds word vectors"),
            ({"word": "river"}, 400, "like"),
            ({"index": "other", "sentence": "x"}, 404, "no index 'other'"),
            ({"word": "river", "like": "the river", "k": 0}, 422, ""),
            ({"word": "zyzzyva", "like": "a zyzzyva"}, 400, "does not occur"),
        ):
            r = client.post("/v1/search", json=payload)
            assert r.status_code == code and says in r.json()["error"]["message"], r.text
