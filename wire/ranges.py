"""Half-open byte ranges ``[start, end)``: merge, add, and find what is missing."""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sort and coalesce overlapping or touching ranges; drop empty ones."""
    result: list[Range] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result


def add(ranges: Iterable[Range], new: Range) -> list[Range]:
    return merge([*ranges, new])


def missing(ranges: Iterable[Range], size: int) -> list[Range]:
    """The parts of ``[0, size)`` not covered by ``ranges``."""
    gaps: list[Range] = []
    cursor = 0
    for start, end in merge(ranges):
        if start > cursor:
            gaps.append((cursor, min(start, size)))
        cursor = max(cursor, end)
    if cursor < size:
        gaps.append((cursor, size))
    return [g for g in gaps if g[1] > g[0]]


def covered(ranges: Iterable[Range], size: int) -> bool:
    return not missing(ranges, size)
