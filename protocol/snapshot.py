"""Snapshots and delete sweeps (docs/protocol.md, "Snapshots and delete sweeps"): the one module that
builds and reads a snapshot's scope and names its phases. Pure: no I/O.

A snapshot is a full re-read of a *scope* of a stream, bracketed by two `trace` `snapshot` markers of the
source: `begin` before the first record of the re-read, `end` once every object of the scope that exists
was emitted. Whatever the destination holds live inside the scope and did not receive in between is a
*candidate*: maybe deleted, maybe only hidden from the list. Nobody tombstones a candidate on the
listing's word: the source confirms each one (`confirm`), answering with a tombstone or the current object.

Scopes (`Scope.kind`):
- `range`: the stream's objects whose top-level `field` (Unix seconds, e.g. `created`) lies in one of
  `ranges` (half-open `{gte, lt}`);
- `stream`: every object of the stream (a list without a time filter);
- `parent`: the children of one parent object (`parent = (parent stream, parent id)`), for child streams;
  `field` names the child's top-level property holding the parent id. Its `end` carries `as_of` (Unix
  seconds): the records in between are the complete set of that parent's children as of then, so a
  destination tombstones, at version `as_of`, its live rows of that parent not received whose version is
  not newer (no confirmation round: the list of one parent's children has no filter to hide a child).
A reader meets kinds it does not know with `Unknown`, never an exception: it must then ignore the
snapshot (no candidates), which is always safe.

A snapshot `id` is unique per re-read. `begin` of an id already begun continues it (a source resumed
from a checkpoint re-announces its snapshot); `begin` or `end` of an id already ended changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from protocol import ranges
from protocol.ranges import Range

BEGIN: Final = "begin"
END: Final = "end"
SWEPT: Final = "swept"  # a destination's answer to `end`: committed, candidates counted
IGNORED: Final = "ignored"  # a destination's answer to `end`: no sweep (a scope it cannot evaluate ...)
SOURCE_PHASES: Final = (BEGIN, END)

RANGE: Final = "range"
STREAM: Final = "stream"
PARENT: Final = "parent"


@dataclass(frozen=True)
class Scope:
    kind: str
    field: str | None = None  # range: the property the ranges apply to; parent: the one naming the parent
    ranges: tuple[Range, ...] = ()  # range: merged, half-open
    parent: tuple[str, str] | None = None  # parent: (stream, id)

    def to_wire(self) -> dict:
        if self.kind == RANGE:
            return {"kind": RANGE, "field": self.field, "ranges": ranges.list_to_wire(list(self.ranges))}
        if self.kind == PARENT and self.parent is not None:
            out: dict = {"kind": PARENT, "parent": {"stream": self.parent[0], "id": self.parent[1]}}
            return {**out, "field": self.field} if self.field else out
        return {"kind": self.kind}


@dataclass(frozen=True)
class Unknown:
    """A scope this reader cannot evaluate; `reason` says why (for the `ignored` answer)."""

    reason: str


def range_scope(field: str, spans: Iterable[Range]) -> Scope:
    return Scope(RANGE, field=field, ranges=tuple(ranges.merge(list(spans))))


def stream_scope() -> Scope:
    return Scope(STREAM)


def parent_scope(parent_stream: str, parent_id: str, field: str | None = None) -> Scope:
    return Scope(PARENT, field=field, parent=(parent_stream, parent_id))


def scope_from_wire(value: Any) -> Scope | Unknown:
    """The scope of a `snapshot` marker (tolerant: anything not understood is `Unknown`)."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return Unknown("the snapshot has no scope")
    kind = value["kind"]
    if kind == STREAM:
        return stream_scope()
    if kind == RANGE:
        field, spans = value.get("field"), value.get("ranges")
        if not isinstance(field, str) or not field or not isinstance(spans, list):
            return Unknown("a range scope needs a field and a list of ranges")
        parsed = [ranges.from_wire(s) for s in spans]
        if any(p is None for p in parsed):
            return Unknown("a range scope holds an invalid range")
        return range_scope(field, [p for p in parsed if p is not None])
    if kind == PARENT:
        parent = value.get("parent")
        if isinstance(parent, dict) and isinstance(parent.get("stream"), str) \
                and isinstance(parent.get("id"), str):
            field = value.get("field")
            return parent_scope(parent["stream"], parent["id"], field if isinstance(field, str) else None)
        return Unknown("a parent scope needs parent.stream and parent.id")
    return Unknown(f"unknown scope kind {kind!r}")
