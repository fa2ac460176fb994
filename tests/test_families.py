"""A family plugs in from its own module: load, save, train and bench find it in the registry.

The toy family below lives in this file only. Its word vectors are hashed co-occurrence
counts from a corpus (layer 0), and layer 1 mixes in the neighbours' vectors, so it is
contextual. Registering it is the only step: no other file names it.
"""

from __future__ import annotations

import argparse
import ast
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ctxembed
from ctxembed.cli import main
from ctxembed.embedder import Embedder, Family, Trainer, read_manifest, write_manifest
from ctxembed.families import families, register, unregister
from ctxembed.io import atomic_dir
from ctxembed.options import overwrite, positive
from ctxembed.train import options
from ctxembed.train.corpus import Corpus

from .conftest import wiki_lines
from .contract import EmbedderContract, assert_same

SRC = Path(ctxembed.__file__).parent


class ToyEmbedder(Embedder):
    family = "toy"
    n_layers = 2

    def __init__(self, vocab: list[str], table: np.ndarray):
        self.vocab, self.table, self.dim = vocab, table.astype(np.float32), table.shape[1]
        self.index = {w: i for i, w in enumerate(vocab)}

    def _vector(self, word: str) -> np.ndarray:
        i = self.index.get(word.lower())
        return self.table[i] if i is not None else np.zeros(self.dim, np.float32)

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        out = []
        for doc in docs:
            base = np.stack([self._vector(w) for w in doc.words])
            padded = np.pad(base, ((1, 1), (0, 0)))
            mixed = (padded[:-2] + base + padded[2:]) / 3  # layer 1: the word in its context
            both = np.stack([base, mixed])
            oov = np.array([w.lower() not in self.index for w in doc.words])
            out.append((both[list(layers)], oov))
        return out

    def save(self, path, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            save_file({"table": self.table}, str(tmp / "model.safetensors"))
            (tmp / "vocab.json").write_text(json.dumps(self.vocab))
            write_manifest(tmp, "toy", {"dim": self.dim})

    @classmethod
    def from_folder(cls, path: Path, **options) -> ToyEmbedder:
        assert read_manifest(path)["family"] == "toy"
        vocab = json.loads((path / "vocab.json").read_text())
        return cls(vocab, load_file(str(path / "model.safetensors"))["table"])


def train_toy(corpus, dim: int = 16, window: int = 2) -> ToyEmbedder:
    lines = [[w.lower() for w in line] for line in corpus]
    vocab = sorted(Counter(w for line in lines for w in line))
    index = {w: i for i, w in enumerate(vocab)}
    table = np.zeros((len(vocab), dim), np.float32)
    for line in lines:
        for i, w in enumerate(line):
            for c in line[max(0, i - window) : i] + line[i + 1 : i + 1 + window]:
                table[index[w], zlib.crc32(c.encode()) % dim] += 1
    table = np.log1p(table)
    return ToyEmbedder(
        vocab, table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-9)
    )


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--dim", type=positive, default=16, help="vector size")
    overwrite(t)


def run(args: argparse.Namespace) -> int:
    options.check_out(args)
    train_toy(Corpus(args.corpus), args.dim).save(args.out, overwrite=args.overwrite)
    print(f"toy -> {args.out}")
    return 0


TOY = Family(
    "toy",
    embedder=ToyEmbedder,
    trainer=Trainer("train the toy family", add_arguments, run, "a test's family"),
)


@pytest.fixture
def toy():
    register(TOY)
    yield TOY
    unregister("toy")


class TestToyContract(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self):
        register(TOY)  # the contract reloads saved folders through ctxembed.load
        yield train_toy(wiki_lines(60))
        unregister("toy")


def test_load_save_train_and_bench_find_a_registered_family(toy, tmp_path, wiki_text_file, capsys):
    assert families()["toy"] is TOY
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "train the toy family" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "toy", "--help"])
    help_text = capsys.readouterr().out
    assert "--dim" in help_text and "default: 16" in help_text

    out = tmp_path / "toy"
    assert main(["train", "toy", "--corpus", str(wiki_text_file), "--out", str(out)]) == 0
    model = ctxembed.load(out)
    assert isinstance(model, ToyEmbedder) and model.n_layers == 2
    again = tmp_path / "again"
    model.save(again)
    a, b = (
        m.embed_words(["the bank of the river"])[0].vectors for m in (model, ctxembed.load(again))
    )
    assert_same(a, b)
    with pytest.raises(ctxembed.InputError, match="not an option"):
        ctxembed.load(out, window=3)

    report = tmp_path / "report"
    code = main(
        [
            "bench",
            "--models",
            str(out),
            "--tasks",
            "wordsim",
            "--limit",
            "30",
            "--no-cache",
            "--out",
            str(report),
            "--quiet",
        ]
    )
    assert code == 0
    results = json.loads((report / "results.json").read_text())
    assert {r["model"] for r in results["results"]} == {"toy"}


def test_an_unregistered_family_is_named(tmp_path, wiki_text_file, toy):
    out = tmp_path / "toy"
    assert main(["train", "toy", "--corpus", str(wiki_text_file), "--out", str(out)]) == 0
    unregister("toy")
    with pytest.raises(ctxembed.ModelError, match="family 'toy' is not known"):
        ctxembed.load(out)


def test_every_builtin_family_declares_itself_once():
    every = families()
    trainers = {n for n, f in every.items() if f.trainer is not None}
    assert trainers == {
        "bert", "context2vec", "cove", "ctm", "cvt", "distilled", "elmo", "glove", "mirror", "use",
        "word2vec",
    }  # fmt: skip
    assert {"static", "transformer"} <= set(every)
    # cli.py and families.py name no family
    for module in ("cli.py", "families.py"):
        text = (SRC / module).read_text()
        named = [n for n in every if f'"{n}"' in text]
        assert named == [], (module, named)


def imports_of(path: Path, package: str) -> set[str]:
    """ctxembed modules that ``path`` imports, at any depth of the file (lazy imports too)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            out.update(n for n in [target, *names] if n.startswith("ctxembed"))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("ctxembed"))
    return out


def module_graph() -> dict[str, set[str]]:
    modules = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = name if rel.name == "__init__" else name.rsplit(".", 1)[0]
        modules[name] = (path, package)
    return {
        name: {m for m in imports_of(path, package) if m in modules and m != name}
        for name, (path, package) in modules.items()
    }


def test_no_import_cycle_among_ctxembed_modules():
    graph = module_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt == "ctxembed" or node == "ctxembed":
                continue  # the package's __init__ re-exports; its version is read lazily
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_models_never_import_eval():
    for name, deps in module_graph().items():
        if name.startswith("ctxembed.models"):
            assert not any(d.startswith("ctxembed.eval") for d in deps), (name, deps)


def test_eval_calls_no_private_method_of_an_embedder():
    for path in (SRC / "eval").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                owner = node.value
                assert not (isinstance(owner, ast.Name) and owner.id in ("embedder", "model")), (
                    f"{path.name}:{node.lineno} uses {owner.id}.{node.attr}"
                )


def test_a_registered_format_is_tried_before_the_builtins(tmp_path):
    """Static vectors accept any file: a plug-in's own file format must be asked first."""
    path = tmp_path / "words.toy"
    path.write_text("bank river money\n")

    def open_toy(p: Path, **options) -> ToyEmbedder:
        return train_toy([p.read_text().split()], dim=4)

    register(
        Family("toyfile", detect=lambda p: p.suffix == ".toy", open=open_toy, opens="toy file")
    )
    try:
        assert isinstance(ctxembed.load(path), ToyEmbedder)
        with pytest.raises(ctxembed.InputError, match="not an option for a toy file"):
            ctxembed.load(path, window=2)
    finally:
        unregister("toyfile")
    other = tmp_path / "v.txt"
    other.write_text("bank 0.1 0.2\n")
    with pytest.raises(ctxembed.InputError, match="not an option for a vectors file"):
        ctxembed.load(other, window=2)
