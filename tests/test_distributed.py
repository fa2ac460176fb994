"""Data-parallel training under torchrun (gloo, CPU): 2 processes against 1."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ctxembed

SCRIPT = Path(__file__).with_name("ddp_script.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def run(cmd: list[str], out: Path) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_two_processes_follow_the_one_process_loss_curve(tmp_path):
    """The same global batch (2 batches a step): one process takes both, or each of two
    takes one and the gradients are summed across them. The tolerance is the contract's
    1e-5 on every step's loss (measured: equal to the last bit, the sums run in the same
    order)."""
    one = run(
        [sys.executable, str(SCRIPT), str(tmp_path / "1.json"), "--group", "2"], tmp_path / "1.json"
    )
    two = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "2.json")], tmp_path / "2.json")
    assert len(one["losses"]) == len(two["losses"]) == 24  # 24 batches a epoch, 2 a step, 2 epochs
    np.testing.assert_allclose(two["losses"], one["losses"], atol=1e-5, rtol=0)
    assert one["losses"][-1] < 0.5 * one["losses"][0]  # it learns: the curves are not flat
    assert two["weights"] == pytest.approx(one["weights"], rel=1e-5)


def test_a_checkpoint_of_two_processes_resumes_in_one(tmp_path):
    ckpt = tmp_path / "ckpt"
    part = [*TORCHRUN, str(SCRIPT), str(tmp_path / "p.json"), "--max-steps", "10"]
    first = run([*part, "--checkpoint", str(ckpt)], tmp_path / "p.json")
    assert len(first["losses"]) == 10
    rest = [sys.executable, str(SCRIPT), str(tmp_path / "r.json"), "--group", "2"]
    resumed = run([*rest, "--checkpoint", str(ckpt), "--resume"], tmp_path / "r.json")
    whole = run([*rest[:3], "--group", "2"], tmp_path / "r.json")
    np.testing.assert_allclose(resumed["losses"], whole["losses"], atol=1e-5, rtol=0)
    # resumed with another step size (1 batch, the default of one process): refused
    other = [sys.executable, str(SCRIPT), str(tmp_path / "o.json"), "--checkpoint", str(ckpt)]
    done = subprocess.run([*other, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "batches per step" in done.stderr


def test_trainers_that_cannot_share_gradients_refuse(monkeypatch, tmp_path, wiki_text_file, capsys):
    from ctxembed.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    for family in ("word2vec", "glove"):
        args = ["train", family, "--corpus", str(wiki_text_file), "--out", str(tmp_path / family)]
        assert main(args) == 1
        assert "without torchrun" in capsys.readouterr().err
        assert not (tmp_path / family).exists()


def test_a_trainer_command_under_torchrun_writes_one_model(tmp_path, wiki_text_file):
    out = tmp_path / "use"
    cmd = [*TORCHRUN, "-m", "ctxembed.cli", "train", "use", "--corpus", str(wiki_text_file)]
    cmd += ["--out", str(out), "--max-steps", "4", "--dim", "32", "--without", "nli", "sts"]
    done = subprocess.run(
        [*cmd, "--quiet"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("-> ") == 1  # rank 0 alone saves and reports
    assert "4 steps" in done.stdout
    assert ctxembed.load(out).dim == 32
    assert not out.with_name("use.checkpoint").exists()
