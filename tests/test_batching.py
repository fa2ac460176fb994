"""The one batching helper: sorted by length, bounded by count and by padded tokens."""

from ctxembed.text.windows import batches


def test_batches_cover_every_piece_once_longest_first():
    lengths = [3, 50, 7, 7, 1, 20]
    got = list(batches(lengths, None, 2))
    flat = [p for b in got for p in b]
    assert sorted(i for i, *_ in flat) == list(range(6))
    assert [len(b) for b in got] == [2, 2, 2]
    assert [lengths[i] for i, *_ in flat] == sorted(lengths, reverse=True)
    assert [i for i, *_ in flat][2:4] == [2, 3]  # equal lengths keep input order


def test_long_texts_come_as_windows_in_batches():
    windows = list(batches([25, 3], 10, 2))
    pieces = [p for b in windows for p in b]
    assert all(len(b) <= 2 for b in windows) and all(e - s <= 10 for _, s, e, _, _ in pieces)
    owned = sorted((s, e) for i, _, _, s, e in pieces if i == 0)
    assert owned[0][0] == 0 and owned[-1][1] == 25  # the owned spans cover the text once
    assert all(a[1] == b[0] for a, b in zip(owned, owned[1:], strict=False))
