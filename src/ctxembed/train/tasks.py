"""Fine-tuning tasks: what each reads, its kind of head, and the metric it is scored by.

Every task reads into ``Example``s of one of six kinds:

- ``classify``: one text -> a class (SST-2, TREC, MR, CR, SUBJ, MPQA);
- ``pair-classify`` / ``pair-score``: two texts -> a class (SICK entailment) or a score
  (STS-B, SICK relatedness);
- ``word-pair``: a target word in each of two texts -> a class (WiC);
- ``tag``: words -> one tag each (UD English-EWT UPOS, WNUT-17 NER in BIO);
- ``span``: a question and a context -> the answer's span in the context (SQuAD v1.1).

The built-in tasks read the data shipped in ``data/`` with the splits named below (held-out
test splits are never read). A user's own task is a kind name with ``--train``/``--dev``
(/``--test``) JSON Lines files, one example per line, in the format ``read_jsonl`` names:
the same format ``ctxembed predict`` reads (without the labels).
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets import data_path
from ..errors import InputError
from ..io import read_lines
from ..text.words import split_words

KINDS = ("classify", "pair-classify", "pair-score", "word-pair", "tag", "span")


@dataclass
class Example:
    """One example: its texts as words (one, or two for pairs, question + context for spans),
    its label (a class name, a score, a tag list, or the answer texts) and where it came from.
    """

    texts: list[list[str]]
    label: Any = None
    where: str = ""  # "file, line N": for error messages
    targets: tuple[int, ...] = ()  # word-pair: the target word's index in each text
    raw: list[str] = field(default_factory=list)  # the raw texts, where offsets point into
    offsets: list[list[tuple[int, int]]] | None = None  # per text, per word: (start, end)
    span: tuple[int, int] | None = None  # span: the first answer's words, inclusive


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    about: str
    read: Callable[[], dict[str, list[Example]]] | None = None  # built-ins: split -> examples


# -- reading helpers --------------------------------------------------------------------------
def _raw(text: str, where: str) -> tuple[list[str], list[tuple[int, int]]]:
    words, offsets = split_words(text)
    if not words:
        raise InputError(f"{where}: the text is empty (no words in {text[:40]!r})")
    return words, offsets


def _text_example(texts: list[str], label: Any, where: str) -> Example:
    split = [_raw(t, where) for t in texts]
    return Example(
        [w for w, _ in split], label, where, raw=list(texts), offsets=[o for _, o in split]
    )


def _seeded_split(
    examples: list[Example], dev: float, test: float = 0.0, seed: int = 0
) -> dict[str, list[Example]]:
    """A fixed split of a set that ships without one (seeded, so every run sees the same)."""
    idx = list(range(len(examples)))
    random.Random(seed).shuffle(idx)
    n_dev, n_test = round(dev * len(idx)), round(test * len(idx))
    parts = {
        "dev": idx[:n_dev],
        "test": idx[n_dev : n_dev + n_test],
        "train": idx[n_dev + n_test :],
    }
    return {k: [examples[i] for i in sorted(v)] for k, v in parts.items() if v}


def _lines(rel: str) -> list[tuple[str, int, str]]:
    path = data_path(*rel.split("/"))
    return [(str(path), n, line) for n, line in read_lines(path) if line.strip()]


# -- the built-in tasks -------------------------------------------------------------------------
def _sst2() -> dict[str, list[Example]]:
    out = {}
    for split in ("train", "dev"):
        rows = _lines(f"sst2_glue/{split}.tsv.gz")[1:]  # header
        out[split] = [
            _text_example([t.rsplit("\t", 1)[0]], t.rsplit("\t", 1)[1].strip(), f"{p}, line {n}")
            for p, n, t in rows
        ]
    return out


def _trec() -> dict[str, list[Example]]:
    def read(file: str) -> list[Example]:
        return [
            _text_example([t.split(" ", 1)[1]], t.split(":", 1)[0], f"{p}, line {n}")
            for p, n, t in _lines(f"classification/{file}")
        ]

    train = _seeded_split(read("TREC.train.gz"), dev=0.1)
    return {**train, "test": read("TREC.test.gz")}


BINARY = {  # name: (positive file, negative file), under data/classification
    "mr": ("rt-polarity.pos.gz", "rt-polarity.neg.gz"),
    "cr": ("custrev.pos.gz", "custrev.neg.gz"),
    "subj": ("subj.subjective.gz", "subj.objective.gz"),
    "mpqa": ("mpqa.pos.gz", "mpqa.neg.gz"),
}


def _binary(name: str) -> Callable[[], dict[str, list[Example]]]:
    def read() -> dict[str, list[Example]]:
        examples = [
            _text_example([t], label, f"{p}, line {n}")
            for file, label in zip(BINARY[name], ("1", "0"), strict=True)
            for p, n, t in _lines(f"classification/{file}")
        ]
        return _seeded_split(examples, dev=0.1, test=0.1)  # no split ships: a fixed 80/10/10

    return read


def _stsb() -> dict[str, list[Example]]:
    out = {}
    for split in ("train", "dev"):  # the test split is held out
        rows = [(p, n, t.split("\t")) for p, n, t in _lines(f"stsb/sts-{split}.csv.gz")]
        out[split] = [
            _text_example([f[5], f[6]], float(f[4]), f"{p}, line {n}") for p, n, f in rows
        ]
    return out


def _sick(column: int, convert: Callable[[str], Any]) -> Callable[[], dict[str, list[Example]]]:
    def read() -> dict[str, list[Example]]:
        out = {}
        for split, file in (("train", "train"), ("dev", "trial"), ("test", "test_annotated")):
            rows = [(p, n, t.split("\t")) for p, n, t in _lines(f"sick/SICK_{file}.txt.gz")[1:]]
            out[split] = [
                _text_example([f[1], f[2]], convert(f[column]), f"{p}, line {n}")
                for p, n, f in rows
            ]
        return out

    return read


def _wic() -> dict[str, list[Example]]:
    out = {}
    for split in ("train", "dev"):  # the test split is held out
        rows = _lines(f"wic/{split}.data.txt.gz")
        gold = [t.strip() for _, _, t in _lines(f"wic/{split}.gold.txt")]
        if len(gold) != len(rows):
            raise InputError(f"WiC {split}: {len(rows)} pairs but {len(gold)} gold labels")
        examples = []
        for (p, n, t), g in zip(rows, gold, strict=True):
            _, _, idx, s1, s2 = t.split("\t")
            sides = [
                _drop_blank(s.split(" "), int(i))
                for s, i in zip((s1, s2), idx.split("-"), strict=True)
            ]
            texts, targets = [w for w, _ in sides], tuple(i for _, i in sides)
            examples.append(Example(texts, g, f"{p}, line {n}", targets))
        out[split] = examples
    return out


def _drop_blank(words: list[str], target: int) -> tuple[list[str], int]:
    """Without blank tokens (one WiC train sentence holds two no-break spaces as a token),
    the target index moved to match."""
    keep = [i for i, w in enumerate(words) if w.strip()]
    return [words[i] for i in keep], keep.index(target)


def _sentences(rows: Iterable[tuple[int, tuple[str, str] | None]], where: str) -> list[Example]:
    """``(line, (word, tag))`` rows, None at a sentence break, grouped into tagged sentences,
    each named by its first line."""
    out, words, tags, first = [], [], [], 0
    for n, pair in [*rows, (0, None)]:
        if pair is None:
            if words:
                out.append(Example([words], tags, f"{where}, line {first}"))
            words, tags = [], []
            continue
        first = first if words else n
        words.append(pair[0])
        tags.append(pair[1])
    return out


def _conllu(rel: str) -> list[Example]:
    """UD CoNLL-U: the syntactic words (multiword-token ranges and empty nodes skipped), UPOS."""
    path = data_path(*rel.split("/"))

    def rows() -> Iterator[tuple[int, tuple[str, str] | None]]:
        for n, line in read_lines(path):
            if not line.strip():
                yield n, None
            elif not line.startswith("#"):
                f = line.split("\t")
                if len(f) != 10:
                    raise InputError(
                        f"{path}, line {n}: a CoNLL-U line has 10 tab-separated fields"
                    )
                if "-" not in f[0] and "." not in f[0]:
                    yield n, (f[1], f[3])

    return _sentences(rows(), str(path))


def _upos() -> dict[str, list[Example]]:
    return {s: _conllu(f"ud_ewt/en_ewt-ud-{s}.conllu.gz") for s in ("train", "dev", "test")}


def read_conll(path: str | Path, name: str | None = None) -> list[Example]:
    """Two-column CoNLL (``word<TAB>tag``, a blank line between sentences)."""

    def rows() -> Iterator[tuple[int, tuple[str, str] | None]]:
        for n, line in read_lines(path, name):
            if not line.strip():
                yield n, None
                continue
            f = line.rstrip().split("\t") if "\t" in line else line.split()
            if len(f) != 2 or not f[0].strip():
                raise InputError(f"{name or path}, line {n}: expected a word and a tag")
            yield n, (f[0], f[1])

    return _sentences(rows(), str(name or path))


def _wnut17() -> dict[str, list[Example]]:
    files = {"train": "wnut17train.conll", "dev": "emerging.dev.conll"}
    files["test"] = "emerging.test.annotated"
    return {s: read_conll(data_path("wnut17", f + ".gz")) for s, f in files.items()}


def _squad() -> dict[str, list[Example]]:
    path = data_path("squad", "dev-v1.1.json.gz")
    split = {}
    for _, _, line in _lines("squad/split.tsv")[1:]:
        title, part, _ = line.split("\t")
        split[title] = part
    out: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    for article in articles:
        part = split[article["title"]]
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                where = f"{path}, question {qa['id']}"
                out[part].append(span_example(qa["question"], paragraph["context"], qa, where))
    return out


def span_example(question: str, context: str, qa: dict, where: str) -> Example:
    """A question over a context; with ``answers`` the first gives the trained span."""
    q_words, q_off = _raw(question, where)
    c_words, c_off = _raw(context, where)
    answers = qa.get("answers")
    span = None
    if answers:
        for a in answers:
            if not (
                isinstance(a.get("text"), str)
                and isinstance(a.get("answer_start"), int)
                and not isinstance(a.get("answer_start"), bool)
            ):
                raise InputError(
                    f"{where}: each answer needs 'text' (a string) and 'answer_start' (a number)"
                )
        start = answers[0]["answer_start"]
        end = start + len(answers[0]["text"])
        inside = [i for i, (s, e) in enumerate(c_off) if s < end and e > start]
        if not inside or context[start:end] != answers[0]["text"]:
            raise InputError(
                f"{where}: the answer {answers[0]['text']!r} is not at character {start} of "
                "the context"
            )
        span = (inside[0], inside[-1])
    label = [a["text"] for a in answers] if answers else None
    return Example(
        [q_words, c_words], label, where, raw=[question, context], offsets=[q_off, c_off], span=span
    )


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("sst2", "classify", "GLUE SST-2: train 67k phrases, dev 872", _sst2),
        Task("trec", "classify", "TREC 6-class: train (10% as dev), test", _trec),
        *(Task(n, "classify", f"{n.upper()}: fixed 80/10/10 split", _binary(n)) for n in BINARY),
        Task("stsb", "pair-score", "STS-B: train, dev (test held out)", _stsb),
        Task("sick-r", "pair-score", "SICK relatedness", _sick(3, float)),
        Task("sick-e", "pair-classify", "SICK entailment", _sick(4, str)),
        Task("wic", "word-pair", "WiC: train, dev (test held out)", _wic),
        Task("upos", "tag", "UD English-EWT UPOS: train, dev, test", _upos),
        Task("wnut17", "tag", "WNUT-17 NER (BIO), entity F1: train, dev, test", _wnut17),
        Task("squad", "span", "SQuAD v1.1 dev cut by article (data/squad/split.tsv)", _squad),
    ]
}
# what early stopping selects by on dev (higher is better); tags in BIO form: entity F1
METRICS = {"classify": "accuracy", "pair-classify": "accuracy", "pair-score": "spearman"}
METRICS |= {"word-pair": "accuracy", "tag": "accuracy", "span": "f1"}


# -- a user's files -----------------------------------------------------------------------------
FORMATS = {
    "classify": '{"text": "...", "label": "pos"}',
    "pair-classify": '{"text_a": "...", "text_b": "...", "label": "entailment"}',
    "pair-score": '{"text_a": "...", "text_b": "...", "label": 4.2}',
    "word-pair": '{"words_a": [...], "index_a": 3, "words_b": [...], "index_b": 0, "label": "T"}',
    "tag": '{"words": [...], "tags": [...]} or {"text": "..."} to predict',
    "span": '{"context": "...", "question": "...", "answers": [{"text": "...", "answer_start": 12}]}',
}


def read_jsonl(path: str | Path, kind: str, labelled: bool = True) -> list[Example]:
    """A JSON Lines file of ``kind`` examples (``FORMATS``); ``labelled`` asks for labels."""
    out = []
    for n, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object like {FORMATS[kind]}")
        out.append(parse_example(obj, kind, labelled, where))
    if not out:
        raise InputError(f"{path}: no examples in the file")
    return out


_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", list: "a list"}


def _field(obj: dict, key: str, kind: str, where: str, types: type | tuple) -> Any:
    value = obj.get(key)
    if key not in obj:
        raise InputError(f"{where}: needs {key!r} ({kind} examples look like {FORMATS[kind]})")
    if not isinstance(value, types) or isinstance(value, bool):
        want = " or ".join(
            _TYPE_NAMES[t] for t in (types if isinstance(types, tuple) else (types,))
        )
        got = "null" if value is None else type(value).__name__
        raise InputError(f"{where}: {key!r} must be {want}, got {got} ({value!r:.40})")
    return value


def _words(obj: dict, key: str, kind: str, where: str) -> list[str]:
    words = _field(obj, key, kind, where, list)
    if not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise InputError(f"{where}: {key!r} must be a non-empty list of non-empty strings")
    return words


def parse_example(obj: dict, kind: str, labelled: bool, where: str) -> Example:
    """One example from a JSON object of ``kind`` (``FORMATS``); ``where`` names it in errors."""
    label = None
    if labelled and kind not in ("tag", "span"):
        types = (int, float) if kind == "pair-score" else (str, int)
        label = _field(obj, "label", kind, where, types)
        label = float(label) if kind == "pair-score" else str(label)
        if kind == "pair-score" and not math.isfinite(label):
            raise InputError(f"{where}: the label {label} is not a finite number")
    if kind == "classify":
        return _text_example([_field(obj, "text", kind, where, str)], label, where)
    if kind in ("pair-classify", "pair-score"):
        texts = [_field(obj, k, kind, where, str) for k in ("text_a", "text_b")]
        return _text_example(texts, label, where)
    if kind == "word-pair":
        texts, targets = [], []
        for side in ("a", "b"):
            words = _words(obj, f"words_{side}", kind, where)
            i = _field(obj, f"index_{side}", kind, where, int)
            if not 0 <= i < len(words):
                raise InputError(f"{where}: index_{side} {i} is outside its {len(words)} words")
            texts.append(words)
            targets.append(i)
        return Example(texts, label, where, tuple(targets))
    if kind == "tag":
        if "words" in obj or labelled:
            words = _words(obj, "words", kind, where)
            tags = None
            if labelled:
                tags = _words(obj, "tags", kind, where)
                if len(tags) != len(words):
                    raise InputError(
                        f"{where}: {len(words)} words but {len(tags)} tags: give one tag per word"
                    )
            return Example([words], tags, where)
        return _text_example([_field(obj, "text", kind, where, str)], None, where)
    if kind == "span":
        context = _field(obj, "context", kind, where, str)
        question = _field(obj, "question", kind, where, str)
        if labelled:
            answers = _field(obj, "answers", kind, where, list)
            if not answers or not all(isinstance(a, dict) for a in answers):
                raise InputError(f"{where}: 'answers' must be a non-empty list of objects")
        return span_example(question, context, obj if labelled else {}, where)
    raise InputError(f"unknown task kind {kind!r}; kinds: {', '.join(KINDS)}")


def check_splits(splits: dict[str, list[Example]], kind: str) -> list[str] | None:
    """Every split has examples and every class (or tag) of dev/test was seen in train;
    returns the label set (sorted), or None for scores and spans."""
    for name, examples in splits.items():
        if not examples:
            raise InputError(f"the {name} split has no examples")
    if kind in ("pair-score", "span"):
        return None
    if kind == "tag":
        seen = sorted({t for e in splits["train"] for t in e.label})
        for name, examples in splits.items():
            for e in examples:
                new = sorted(set(e.label) - set(seen))
                if new:
                    raise InputError(
                        f"{e.where}: tag {new[0]!r} ({name}) never occurs in the training "
                        "data, so no model can learn it: add examples of it to train or drop it"
                    )
        return seen
    seen = sorted({e.label for e in splits["train"]})
    if len(seen) < 2:
        raise InputError(f"the training data has {len(seen)} class: a classifier needs two")
    for name, examples in splits.items():
        for e in examples:
            if e.label not in seen:
                raise InputError(
                    f"{e.where}: label {e.label!r} ({name}) never occurs in the training data, "
                    "so no model can learn it: add examples of it to train or drop it"
                )
    return seen
