"""Events positions, one per stream (pure: no I/O). docs/source-stripe.md, "Incremental: events".

A position says how far the events of `/v1/events` were applied *for one stream*:
`{"created": t, "seen": [event ids of second t], "checked_at": u}`: every event listed before `u` that
concerns the stream was handled; `t` is the second of the newest event handled (of any stream: a run
reads the whole events list and moves the positions of the streams it reads past every event it saw,
whether it was theirs or not), and `seen` the events of second `t` already handled. The next read lists
`created[gte]=t` again (an event of that second that became visible late is not lost; `seen` drops the
ones already handled).

A run reads events from the oldest position among its streams. An event is a record of stream S only
when it is newer than S's position (`is_after`); after each chunk only the positions of the run's
streams move (`advance`). Streams outside the run keep theirs, so a subset never skips anybody's events.

Stripe keeps events 30 days (https://docs.stripe.com/api/events: "we only guarantee access to events
through the Retrieve Event API for 30 days"): a position whose `checked_at` is older than that is
`is_expired`, and one whose seen events are no longer listed has `vanished`; either way the stream's
missed updates and deletes cannot be read, and it is re-read as a snapshot (source.py).

Wire form (in the global state): positions shared by several streams are written once,
`[{"streams": [...], "created", "seen", "checked_at"}]` (`encode`/`decode`), since a full run gives
every stream the same position and `seen` can hold many ids after a burst.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

RETENTION_S = 30 * 86400
RETENTION_MARGIN_S = 3600


def new_position(now: int) -> dict:
    return {"created": now, "seen": [], "checked_at": now}


def is_expired(pos: Mapping, now: int, retention_s: int = RETENTION_S) -> bool:
    """True when events the position still needs may already be gone (older than the retention window)."""
    checked = pos.get("checked_at", pos.get("created", 0))
    return checked < now - retention_s + RETENTION_MARGIN_S


def is_after(event: Mapping, pos: Mapping) -> bool:
    """Whether an event is newer than a position (not handled for its stream yet)."""
    t = int(event.get("created", 0))
    return t > pos["created"] or (t == pos["created"] and event.get("id") not in (pos.get("seen") or ()))


def oldest_first(newest_first: list[dict]) -> list[dict]:
    """Events in the order they happened (Stripe lists them newest first), de-duplicated by id."""
    out, ids = [], set()
    for ev in reversed(newest_first):
        if ev.get("id") not in ids:
            ids.add(ev.get("id"))
            out.append(ev)
    return out


def advance(pos: Mapping, handled: Iterable[Mapping], checked_at: int) -> dict:
    """The position after handling `handled` (events after it, oldest first) of a chunk read up to
    `checked_at`."""
    created, seen = pos["created"], list(pos.get("seen") or [])
    for ev in handled:
        t = int(ev.get("created", created))
        if t > created:
            created, seen = t, []
        if t == created and ev["id"] not in seen:
            seen.append(ev["id"])
    return {"created": created, "seen": seen, "checked_at": max(checked_at, pos.get("checked_at", 0))}


def vanished(pos: Mapping, listed_at_created: set[str], now: int) -> list[str]:
    """Seen ids of a position that its second's listing no longer holds (evidence that Stripe dropped
    events before our retention assumption), or []. Seen events older than the retention are gone
    normally: a quiet account's newest event ages out while every run checks the events since it."""
    if is_expired({"checked_at": pos["created"]}, now):
        return []
    return [i for i in pos.get("seen") or () if i not in listed_at_created]


def _key(pos: Mapping) -> tuple:
    return pos["created"], tuple(pos.get("seen") or ()), pos.get("checked_at", pos["created"])


def encode(positions: Mapping[str, Mapping]) -> list[dict]:
    """The wire form: one entry per distinct position, naming its streams (sorted, stable)."""
    groups: dict[tuple, list[str]] = {}
    for stream in sorted(positions):
        groups.setdefault(_key(positions[stream]), []).append(stream)
    return [{"streams": names, "created": k[0], "seen": list(k[1]), "checked_at": k[2]}
            for k, names in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[1]))]


def decode(wire: list[dict]) -> dict[str, dict]:
    """{stream: position} of the wire form (shape already checked by state.py)."""
    out: dict[str, dict] = {}
    for group in wire:
        pos = {"created": group["created"], "seen": list(group.get("seen") or []),
               "checked_at": group.get("checked_at", group["created"])}
        for stream in group["streams"]:
            out[stream] = dict(pos)
    return out
