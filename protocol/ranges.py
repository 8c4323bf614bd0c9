"""Pure helpers for half-open time ranges `[gte, lt)` in integer Unix seconds.

Ranges are tuples `(gte, lt)` with `gte < lt`; empty ranges (`gte >= lt`) are dropped everywhere.
`merge` sorts and joins overlapping *and adjacent* ranges (`[1,3)` + `[3,5)` -> `[1,5)`), `subtract`
removes one set from another, `covers` tells whether a set includes a range. `to_wire`/`from_wire`
convert to and from the `{"gte": .., "lt": ..}` form used on the wire.
"""
from __future__ import annotations

from typing import Iterable

Range = tuple[int, int]


def normalize(ranges: Iterable[Range]) -> list[Range]:
    return [(int(a), int(b)) for a, b in ranges if a < b]


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, disjoint, non-adjacent ranges covering exactly the union of the input."""
    out: list[Range] = []
    for a, b in sorted(normalize(ranges)):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def add(ranges: Iterable[Range], new: Range) -> list[Range]:
    return merge([*ranges, new])


def subtract(ranges: Iterable[Range], removed: Iterable[Range]) -> list[Range]:
    """The parts of `ranges` not covered by `removed`, merged."""
    result: list[Range] = []
    cuts = merge(removed)
    for a, b in merge(ranges):
        pos = a
        for ca, cb in cuts:
            if cb <= pos or ca >= b:
                continue
            if ca > pos:
                result.append((pos, ca))
            pos = max(pos, cb)
            if pos >= b:
                break
        if pos < b:
            result.append((pos, b))
    return result


def covers(ranges: Iterable[Range], target: Range) -> bool:
    """True when the union of `ranges` includes all of `target` (an empty target is always covered)."""
    return not subtract([target], ranges)


def intersect(ranges: Iterable[Range], window: Range) -> list[Range]:
    """The parts of `ranges` inside `window`, merged."""
    return merge((max(a, window[0]), min(b, window[1])) for a, b in ranges)


def total_length(ranges: Iterable[Range]) -> int:
    return sum(b - a for a, b in merge(ranges))


def to_wire(r: Range) -> dict:
    return {"gte": r[0], "lt": r[1]}


def from_wire(d: dict) -> Range:
    return (int(d["gte"]), int(d["lt"]))


def list_to_wire(ranges: Iterable[Range]) -> list[dict]:
    return [to_wire(r) for r in ranges]


def list_from_wire(items: Iterable[dict]) -> list[Range]:
    return [from_wire(d) for d in items]
