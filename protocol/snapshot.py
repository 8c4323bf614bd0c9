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
Any scope may also carry `where`: `{field: value}` (top-level properties or key fields, string or
integer values) that every object of the scope has, e.g. `{"_account_id": "acct_1"}`: several parts of
one stream (the accounts of a Connect platform) are then re-read and swept on their own, each its own
snapshot, and a row of another part is never a candidate nor swept.
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
    where: tuple[tuple[str, str | int], ...] = ()  # equal top-level (or key) values, sorted

    def to_wire(self) -> dict:
        out: dict[str, Any]
        if self.kind == RANGE:
            out = {"kind": RANGE, "field": self.field, "ranges": ranges.list_to_wire(list(self.ranges))}
        elif self.kind == PARENT and self.parent is not None:
            out = {"kind": PARENT, "parent": {"stream": self.parent[0], "id": self.parent[1]}}
            if self.field:
                out["field"] = self.field
        else:
            out = {"kind": self.kind}
        if self.where:
            out["where"] = dict(self.where)
        return out


@dataclass(frozen=True)
class Unknown:
    """A scope this reader cannot evaluate; `reason` says why (for the `ignored` answer)."""

    reason: str


def range_scope(field: str, spans: Iterable[Range], where: dict | None = None) -> Scope:
    return Scope(RANGE, field=field, ranges=tuple(ranges.merge(list(spans))),
                 where=tuple(sorted((where or {}).items())))


def stream_scope(where: dict | None = None) -> Scope:
    return Scope(STREAM, where=tuple(sorted((where or {}).items())))


def _where(value: Any) -> dict | None:
    """The `where` of a wire scope ({} when absent), None when malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (type(v) is str or type(v) is int) for k, v in value.items()):
        return None
    return value


def parent_scope(parent_stream: str, parent_id: str, field: str | None = None,
                 where: dict | None = None) -> Scope:
    return Scope(PARENT, field=field, parent=(parent_stream, parent_id),
                 where=tuple(sorted((where or {}).items())))


def scope_from_wire(value: Any) -> Scope | Unknown:
    """The scope of a `snapshot` marker (tolerant: anything not understood is `Unknown`)."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return Unknown("the snapshot has no scope")
    kind = value["kind"]
    where = _where(value.get("where"))
    if where is None:
        return Unknown("a scope's where must map property names to strings or integers")
    if kind == STREAM:
        return stream_scope(where)
    if kind == RANGE:
        field, spans = value.get("field"), value.get("ranges")
        if not isinstance(field, str) or not field or not isinstance(spans, list):
            return Unknown("a range scope needs a field and a list of ranges")
        parsed = [ranges.from_wire(s) for s in spans]
        if any(p is None for p in parsed):
            return Unknown("a range scope holds an invalid range")
        return range_scope(field, [p for p in parsed if p is not None], where)
    if kind == PARENT:
        parent = value.get("parent")
        if isinstance(parent, dict) and isinstance(parent.get("stream"), str) \
                and isinstance(parent.get("id"), str):
            field = value.get("field")
            return parent_scope(parent["stream"], parent["id"], field if isinstance(field, str) else None,
                                where)
        return Unknown("a parent scope needs parent.stream and parent.id")
    return Unknown(f"unknown scope kind {kind!r}")
