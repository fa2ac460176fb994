"""Training data streams: the corpus goes to disk as ids, memory holds tables and a batch."""

import gc
import tracemalloc
from collections import Counter

import numpy as np

from ctxembed.models.elmo import LmData, lm_vocab, sequences
from ctxembed.train.corpus import Batches, Corpus, Encoded, sentences

from .conftest import wiki_lines


def test_encoded_round_trip_in_blocks():
    rows = [[i] * (i % 7) for i in range(150_000)]  # more than one write block, empty rows too
    enc = Encoded(rows)
    assert len(enc) == len(rows) and enc.lengths.tolist() == [len(r) for r in rows]
    assert all(enc[i][:, 0].tolist() == rows[i] for i in (0, 1, 6, 65_535, 65_536, 149_999))
    pairs = Encoded([[[1, 2], [3, 4]], [[5, 6]]], columns=2)
    assert pairs[0].tolist() == [[1, 2], [3, 4]] and pairs[1].tolist() == [[5, 6]]
    assert len(Encoded([])) == 0


def test_batches_sort_by_length_keep_ties_in_order_and_build_on_demand():
    built = []
    b = Batches(np.array([3, 1, 2, 1, 3]), 2, lambda g: built.append(g.tolist()) or g.tolist())
    assert len(b) == 3 and built == []
    assert [b[i] for i in range(3)] == [[1, 3], [2, 0], [4]]
    assert b[::2] == [[1, 3], [4]]


def held_bytes(build) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return held


def test_lm_data_memory_does_not_grow_with_the_corpus(tmp_path):
    """8 times the text, same vocabulary: held memory grows by index arrays, not by text."""
    lines = wiki_lines(300)
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text("\n".join(" ".join(w) for w in lines) + "\n")
    big.write_text(small.read_text() * 8)

    def build(path):
        corpus = Corpus(path)
        vocab = lm_vocab(Counter(w for line in corpus for w in line), 1)
        data = LmData(lambda: sequences(corpus, 20), vocab, 50)
        return data, data.batches(32)

    one, eight = held_bytes(lambda: build(small)), held_bytes(lambda: build(big))
    text = sum(len(w) + 50 for line in lines for w in line)  # a str per word, at the least
    # in memory, the 8x corpus would hold 7 more copies of the words (> 7 * text)
    assert eight - one < 0.5 * text, (one, eight, text)


def test_sentences_split_after_final_punctuation():
    line = ["it", "rained", ".", "we", "stayed", "in", "!", "ok"]
    # "ok" alone has no context: dropped
    assert list(sentences([line], 64)) == [["it", "rained", "."], ["we", "stayed", "in", "!"]]
    assert list(sentences([line], 2)) == [["it", "rained"], ["we", "stayed"], ["in", "!"]]
