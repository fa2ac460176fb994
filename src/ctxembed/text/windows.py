"""Length-sorted batches of texts, read whole or in half-overlapping windows (for encoders
with a bounded context): the one batching helper every embedder uses."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import pairwise

from tqdm.auto import tqdm


def windows(n: int, size: int) -> list[tuple[int, int, int, int]]:
    """Windows ``(start, end, own_start, own_end)`` over ``n`` items, overlapping by half.

    Each item is owned by the window whose centre is nearest to it, so it sees at least a
    quarter window of context on both sides (except at the ends of the sequence).
    """
    if size < 1:
        raise ValueError(f"window size must be >= 1, got {size}")
    if n <= size:
        return [(0, n, 0, n)]
    step = max(size // 2, 1)
    starts = list(range(0, n - size, step)) + [n - size]
    centres = [s + size / 2 for s in starts]
    cuts = [0] + [math.ceil((a + b) / 2) for a, b in pairwise(centres)] + [n]
    return [(s, s + size, cuts[k], cuts[k + 1]) for k, s in enumerate(starts)]


def window_pieces(lengths: Sequence[int], size: int | None) -> list[tuple[int, int, int, int, int]]:
    """``(item, start, end, own_start, own_end)`` for every window of every sequence
    (``size=None``: each read whole), longest first, so that neighbours batched together
    need little padding. Each item's owned spans cover it exactly once."""
    pieces = [
        (i, *span)
        for i, n in enumerate(lengths)
        for span in (windows(n, size) if size else [(0, n, 0, n)])
    ]
    pieces.sort(key=lambda p: p[2] - p[1], reverse=True)
    return pieces


def batches(
    lengths: Sequence[int],
    size: int | None,
    batch_size: int,
    progress: bool = False,
    unit: str = "window",
) -> Iterator[list[tuple[int, int, int, int, int]]]:
    """``window_pieces`` in batches of at most ``batch_size``.

    Every embedder reads its input through this: pieces sorted by length (so batch mates
    need little padding), a progress bar counting pieces, and each caller writes a piece's
    owned span back to its item, which restores input order.
    """
    pieces = window_pieces(lengths, size)
    with tqdm(total=len(pieces), disable=not progress, desc="embedding", unit=unit) as bar:
        for b in range(0, len(pieces), batch_size):
            yield pieces[b : b + batch_size]
            bar.update(min(batch_size, len(pieces) - b))
