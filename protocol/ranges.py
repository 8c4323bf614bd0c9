"""Pure helpers for half-open time ranges `[gte, lt)` in integer Unix seconds.

Ranges are tuples `(gte, lt)` with `gte < lt`; empty ranges (`gte >= lt`) are dropped everywhere.
`merge` sorts and joins overlapping *and adjacent* ranges (`[1,3)` + `[3,5)` -> `[1,5)`), `subtract`
removes one set from another, `covers` tells whether a set includes a range.

The wire form `{"gte": <int>, "lt": <int>}` (docs/protocol.md, "Framing") is read and written only here:
`to_wire` writes it; `from_wire` is the one reader, tolerant: anything that is not an object with two
integers (booleans are not integers) is None, so a bad range in a message never crashes its reader.
Strict readers (a source checking its own state) say why with `wire_problem`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def wire_problem(value: Any) -> str | None:
    """Why `value` is not a wire range (`'gte must be an integer (Unix seconds), got ...'`), or None."""
    if not isinstance(value, dict):
        return "must be an object {\"gte\": int, \"lt\": int}"
    for key in ("gte", "lt"):
        if not _is_int(value.get(key)):
            return f"{key} must be an integer (Unix seconds), got {value.get(key)!r}"
    return None


def from_wire(value: Any) -> Range | None:
    """The range of a wire `{gte, lt}` object, or None when `value` is not one."""
    if isinstance(value, dict) and _is_int(value.get("gte")) and _is_int(value.get("lt")):
        return (value["gte"], value["lt"])
    return None


def list_to_wire(ranges: Iterable[Range]) -> list[dict]:
    return [to_wire(r) for r in ranges]


def list_from_wire(items: Any) -> list[Range]:
    """The ranges of a wire list, leaving out items that are not ranges."""
    if not isinstance(items, list):
        return []
    return [r for r in map(from_wire, items) if r is not None]
