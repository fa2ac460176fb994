"""Half-overlapping windows over a long sequence, for encoders with a bounded context."""

from __future__ import annotations

import math
from itertools import pairwise


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
