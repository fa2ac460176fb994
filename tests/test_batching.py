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


def test_token_budget_splits_long_texts_apart():
    lengths = [100, 90, 10, 10, 10, 10]
    got = [[i for i, *_ in b] for b in batches(lengths, None, 8, max_tokens=120)]
    assert got[0] == [0] and got[1] == [1]  # 2 x 100 padded would pass the budget
    assert got[2] == [2, 3, 4, 5]
    windows = list(batches([25], 10, 4))  # one long text: its windows, batched
    assert sum(len(b) for b in windows) > 1 and all(
        e - s <= 10 for b in windows for _, s, e, _, _ in b
    )
