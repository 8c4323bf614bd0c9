"""Which streams a read re-reads as snapshots, and from where (pure: no I/O). docs/source-stripe.md,
"Snapshots: deletes the events missed".

A stream is *owed* a snapshot (protocol/snapshot.py) when its events cannot tell what was deleted:
- its events were lost: its position expired or vanished (positions.py), or it has a stream state but no
  position at all; the position then moves on (to the run's upper bound) in the same global state that
  records the snapshot owed, so no crash can lose the debt;
- it is re-read in full anyway: a stream without a `created` filter whose last read finished;
- `read --sweep-deletes` asks for it: every time stream that was read before.
A snapshot owed stays in the global state until its `end` was emitted. The stream state of a stream
inside a snapshot names it (`"snapshot": id`), so a resumed read continues the snapshot where its
checkpoint is; a stream state of something else (the one before the snapshot started) means the
snapshot starts from its scope.

Scopes: a time stream's snapshot covers `[lower, upper)` of the run on its timestamp field (a range
scope); a stream without a `created` filter is covered whole (a stream scope).
"""
from __future__ import annotations

from typing import Any

from protocol import snapshot as snap
from protocol import state as protocol_state
from protocol.ranges import Range
from source_stripe.state import parse_cursor_state, snapshot_of
from source_stripe.streams import Stream


def new(stream: Stream, lower: int, upper: int, token: str) -> dict:
    """A new snapshot owed by `stream` (`{"id", "scope"}`): unique per read (`token`)."""
    if stream.mode == "time":
        scope = snap.range_scope(stream.timestamp_field or "created", [(lower, max(lower, upper))])
    else:
        scope = snap.stream_scope()
    return {"id": f"{stream.name}@{upper}.{token}", "scope": scope.to_wire()}


def verify(stream: Stream, covered: list[Range], token: str) -> dict:
    """The snapshot `read --verify` lists: what the stream state says was read."""
    if stream.mode == "time":
        scope = snap.range_scope(stream.timestamp_field or "created", covered)
    else:
        scope = snap.stream_scope()
    return {"id": f"{stream.name}@verify.{token}", "scope": scope.to_wire()}


def routine(stream: Stream, data: Any, sweep: bool) -> bool:
    """Whether this read re-reads `stream` in full anyway (so as a snapshot): a stream without a time
    filter whose last read finished, or any time stream read before when sweeping."""
    if data is None:
        return False
    if stream.mode != "time":
        return parse_cursor_state(stream.name, data)[1]
    return sweep


def start_state(stream: Stream, data: Any, owed: dict | None) -> Any:
    """The stream state this read plans from: the saved one, unless a snapshot is owed that it does not
    belong to (then the snapshot's scope from its start)."""
    if owed is None or snapshot_of(data) == owed["id"]:
        return data
    if stream.mode != "time":
        return None
    scope = snap.scope_from_wire(owed["scope"])
    spans = list(scope.ranges) if isinstance(scope, snap.Scope) else []
    if not spans:
        return None
    hull = (spans[0][0], spans[-1][1])
    return protocol_state.time_window(hull, [{"gte": a, "lt": b, "cursor": None} for a, b in spans])
