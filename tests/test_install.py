"""ctxembed installed from its wheel works from any folder: the data ships inside the package.

The slow tests build the wheel from this tree, install it into a fresh venv whose dependencies
come from the test environment (nothing is downloaded) and run the CLI outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from ctxembed.datasets import DATA_DIR, data_path
from ctxembed.errors import InputError
from ctxembed.eval import common

from .conftest import DATA, ROOT


def test_data_path_finds_the_shipped_data():
    assert (
        data_path("wic", "dev.gold.txt").read_bytes()
        == (DATA / "wic" / "dev.gold.txt").read_bytes()
    )
    assert common.DATA == DATA_DIR


def test_missing_data_is_named():
    with pytest.raises(InputError, match=r"data not found: .*no-such-set.*data/README.md"):
        data_path("no-such-set", "train.txt")
    with pytest.raises(InputError, match="data not found"):
        common.checksum(DATA_DIR / "no-such-set.txt")


def sh(*cmd: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy of what the build reads, so that no build/ or egg-info lands in the tree
    # (a stale build/lib would leak deleted modules into later wheels).
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", src / "src", symlinks=True, ignore=skip)
    shutil.copytree(ROOT / "data", src / "data", ignore=skip)
    out = tmp_path_factory.mktemp("dist")
    sh(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        out,
        src,
    )
    (whl,) = out.glob("ctxembed-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("venv")
    sh(sys.executable, "-m", "venv", "--without-pip", env)
    py = env / "bin" / "python"
    site = Path(sh(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    # Dependencies from this environment's site-packages, after the venv's own. A path line is
    # not a site dir: the checkout's editable .pth in it is not read, so only the wheel is there.
    deps = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "test-deps.pth").write_text("".join(f"{d}\n" for d in deps))
    sh(
        sys.executable,
        "-m",
        "pip",
        "--python",
        py,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
    )
    return env


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder outside the checkout, with no data/ beside it."""
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.mark.slow
def test_wheel_ships_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"ctxembed/data/{p.relative_to(DATA).as_posix()}" for p in DATA.rglob("*") if p.is_file()
    }
    assert "ctxembed/data/README.md" in shipped and shipped <= names
    assert not any(n.startswith(("data/", "tests/", "runs/")) or "__pycache__" in n for n in names)
    # the data is about 21 MB (20 Newsgroups 8.4 of it); more means something else got in
    assert wheel.stat().st_size < 30e6


@pytest.mark.slow
def test_installed_package_is_the_wheel(venv, elsewhere):
    out = sh(
        venv / "bin" / "python",
        "-c",
        "import ctxembed, ctxembed.datasets as d; print(ctxembed.__file__); print(d.DATA_DIR)",
        cwd=elsewhere,
    )
    module, data = map(Path, out.split())
    assert module.is_relative_to(venv) and not module.is_relative_to(ROOT)
    assert data.is_relative_to(venv) and (data / "README.md").is_file()


@pytest.mark.slow
def test_train_cove_defaults_found_from_any_folder(venv, elsewhere):
    help_text = sh(venv / "bin" / "ctxembed", "train", "cove", "--help", cwd=elsewhere)
    assert "--src" in help_text and "Multi30k" in help_text
    code = (
        "from pathlib import Path; from ctxembed.cli import build_parser; "
        "a = build_parser().parse_args(['train', 'cove', '--out', 'x']); "
        "print(*[a.src, a.tgt, *a.valid, *a.test], sep='\\n')"
    )
    for path in map(Path, sh(venv / "bin" / "python", "-c", code, cwd=elsewhere).split()):
        assert path.is_file() and path.is_relative_to(venv), path


@pytest.mark.slow
def test_bench_from_any_folder(venv, elsewhere):
    sh(
        venv / "bin" / "ctxembed",
        "bench",
        "--models",
        "glove-6b-50d",
        "--limit",
        "50",
        "--out",
        "out",
        "--no-cache",
        "--quiet",
        cwd=elsewhere,
    )
    report = json.loads((elsewhere / "out" / "results.json").read_text())
    tasks = {r["task"] for r in report["results"]}
    assert {"wordsim", "analogy", "coarsewsd", "wic", "sts", "classify"} <= tasks, tasks
    assert not [s for s in report["skipped"] if "data not found" in s["reason"]]
