"""The stream lifecycle of a source `read`, as one transition table (pure; docs/protocol.md, "Ordering
rules of a source read").

A stream is `pending` until its `stream_status` `started`, then `started` until exactly one terminal
status, `complete` or `skipped`; nothing for it may follow. `step(status, event)` says where a message
takes a stream and which rule it breaks, if any. Both readers of the lifecycle use this table: the
conformance kit (strict: every violation fails a check) and the engine's tracker (tolerant: a few
violations become warnings, none stops a run). Errors are orthogonal to the lifecycle: a stream that hit
an error still ends with `complete`.

Events (what a message means for its stream):
- `start`: `stream_status` `started` without `range_complete`;
- `progress`: `stream_status` `started` with `range_complete` (a note on a running stream; it also
  starts a pending one);
- `complete`, `skip`: the terminal statuses;
- `record`, `state`, `note` (a stream error or an estimate).
"""
from __future__ import annotations

from typing import Final, Literal

Status = Literal["pending", "started", "complete", "skipped"]
Event = Literal["start", "progress", "complete", "skip", "record", "state", "note"]
Violation = Literal["record_before_start", "state_before_start", "started_twice", "complete_without_start",
                    "after_end", "ended_twice"]

PENDING: Final = "pending"
STARTED: Final = "started"
COMPLETE: Final = "complete"
SKIPPED: Final = "skipped"
TERMINAL: Final[frozenset[str]] = frozenset({COMPLETE, SKIPPED})

_AFTER_END: dict[Event, tuple[Status | None, Violation | None]] = {
    "start": (None, "after_end"), "progress": (None, "after_end"), "complete": (None, "ended_twice"),
    "skip": (None, "ended_twice"), "record": (None, "after_end"), "state": (None, "after_end"),
    "note": (None, "after_end")}

# status -> event -> (next status, or None to stay; the rule the event breaks, or None)
TABLE: Final[dict[Status, dict[Event, tuple[Status | None, Violation | None]]]] = {
    "pending": {"start": ("started", None), "progress": ("started", None),
                "complete": ("complete", "complete_without_start"), "skip": ("skipped", None),
                "record": (None, "record_before_start"), "state": (None, "state_before_start"),
                "note": (None, None)},
    "started": {"start": (None, "started_twice"), "progress": (None, None), "complete": ("complete", None),
                "skip": ("skipped", None), "record": (None, None), "state": (None, None),
                "note": (None, None)},
    "complete": _AFTER_END,
    "skipped": _AFTER_END,
}


def step(status: Status, event: Event) -> tuple[Status, Violation | None]:
    """The stream's status after `event`, and the rule it broke (None when it is in order)."""
    nxt, violation = TABLE[status][event]
    return (status if nxt is None else nxt), violation


def status_event(status: object, range_complete: bool) -> Event | None:
    """The event of a `stream_status` payload's `status` (None for a value outside the protocol)."""
    if status == STARTED:
        return "progress" if range_complete else "start"
    if status == COMPLETE:
        return "complete"
    if status == SKIPPED:
        return "skip"
    return None
