"""Incremental sync from `/v1/events`: updates and deletes since the events cursor.

Cursor (in the global state): `{"created": t, "seen": [ids of events of second t already emitted],
"checked_at": u}`: every event created before `u` was handled, the newest one at second `t`. The next
pass lists events with `created[gte]=t` (the overlap re-reads second t, so an event of that second that
became visible late is not lost; `seen` drops the ones already emitted) up to the pass's upper bound.
Since the next pass starts at `t` whatever the bound was, a pass may read into the current second (a
poll woken by a webhook does, `source.WAKE_LOOKAHEAD_S`); `u` may then be ahead of the server by a
second or two, which only matters to the 30-day expiry check.

Stripe lists events newest first; records must go out oldest first (the destination breaks ties of equal
`updated_at` by message order), with a checkpoint after each batch. So a pass walks time chunks from the
oldest: each chunk is read whole (newest first), reversed, emitted, then the cursor moves and a global
state is emitted. A chunk holding more than `max_chunk_pages` pages is cut down (density estimate) and
read again, so memory stays bounded except for a single second with more events than that.

An event becomes a record of the stream listing its `data.object.object` (`updated_at` = the event's
`created`); `*.deleted` becomes a tombstone (`deleted: true`) except `customer.subscription.deleted`,
which in Stripe means canceled: the subscription still exists and is listed with `status=all`.

Stripe keeps events 30 days: a cursor whose `checked_at` is older than that, or whose seen events have
vanished, cannot be caught up; the caller then re-backfills (`is_expired`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from protocol import messages
from source_stripe.client import StripeClient
from source_stripe.errors import StripeAPIError
from source_stripe.streams import Stream

EVENTS_PATH = "/v1/events"
SOFT_DELETES = frozenset({"customer.subscription.deleted"})
RETENTION_S = 30 * 86400
RETENTION_MARGIN_S = 3600


def new_cursor(now: int) -> dict:
    return {"created": now, "seen": [], "checked_at": now}


def is_expired(cursor: dict, now: int, retention_s: int = RETENTION_S) -> bool:
    """True when events the cursor still needs may already be gone (older than the retention window)."""
    checked = cursor.get("checked_at", cursor.get("created", 0))
    return checked < now - retention_s + RETENTION_MARGIN_S


def event_record(event: dict, by_object: dict[str, Stream]) -> dict | None:
    """The record message an event stands for, or None when it concerns no selected stream."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return None
    stream = by_object.get(str(obj.get("object")))
    if stream is None or not stream.matches_fixed_params(obj):
        return None
    etype = str(event.get("type", ""))
    deleted = etype.endswith(".deleted") and etype not in SOFT_DELETES
    return messages.record(stream.name, obj, deleted=deleted, updated_at=event.get("created"))


def oldest_first(newest_first: list[dict]) -> list[dict]:
    """Events in the order they happened (Stripe lists them newest first), de-duplicated by id."""
    out, ids = [], set()
    for ev in reversed(newest_first):
        if ev.get("id") not in ids:
            ids.add(ev.get("id"))
            out.append(ev)
    return out


def advance(cursor: dict, emitted: list[dict], checked_at: int) -> dict:
    """The cursor after emitting `emitted` (oldest first) from a chunk read up to `checked_at`."""
    created, seen = cursor["created"], list(cursor.get("seen") or [])
    for ev in emitted:
        t = int(ev.get("created", created))
        if t > created:
            created, seen = t, []
        if t == created and ev["id"] not in seen:
            seen.append(ev["id"])
    return {"created": created, "seen": seen, "checked_at": max(checked_at, cursor.get("checked_at", 0))}


class EventReader:
    """Reads event chunks through the client; `catch_up` yields records and global state snapshots."""

    def __init__(self, client: StripeClient, events_stream: Stream, by_object: dict[str, Stream],
                 max_chunk_pages: int = 50):
        self.client, self.events_stream, self.by_object = client, events_stream, by_object
        self.max_chunk_pages = max_chunk_pages
        self.records = 0

    def _params(self, gte: int, lt: int, starting_after: str | None) -> dict:
        return self.events_stream.list_params(gte=gte, lt=lt, starting_after=starting_after)

    def _read_chunk(self, gte: int, lt: int) -> tuple[list[dict], int | None]:
        """All events of [gte, lt) newest first, or (partial, a smaller lt to try) when there are too many."""
        events: list[dict] = []
        cursor = None
        pages = 0
        while True:
            page = self.client.get(self.events_stream.path, self._params(gte, lt, cursor), expect_list=True)
            data = [e for e in page.data if isinstance(e, dict)]
            events.extend(data)
            pages += 1
            if not page.has_more or not data:
                return events, None
            if data[-1].get("id") == cursor:
                raise StripeAPIError(502, "events cursor did not advance", path=self.events_stream.path)
            cursor = data[-1].get("id")
            if pages >= self.max_chunk_pages and lt - gte > 1:
                oldest = int(data[-1].get("created", lt - 1))
                covered = max(1, lt - oldest)
                per_second = len(events) / covered
                span = max(1, int(self.max_chunk_pages * 50 / max(per_second, 1e-9)))
                return events, gte + min(span, max(1, (lt - gte) // 2))

    def catch_up(self, cursor: dict, upper: int, state_data: Callable[[dict], dict]) -> Iterator[dict]:
        """Emit every event in [cursor.created, upper) oldest first, with a global state after each chunk.

        `state_data(cursor) -> dict` builds the global state data (it adds the account identity)."""
        gte = int(cursor["created"])
        seen = set(cursor.get("seen") or [])
        while gte < upper:
            lt = upper
            while True:
                events, smaller = self._read_chunk(gte, lt)
                if smaller is None:
                    break
                lt = smaller
            batch = [ev for ev in oldest_first(events) if ev.get("id") not in seen]
            for ev in batch:
                rec = event_record(ev, self.by_object)
                if rec is not None:
                    self.records += 1
                    yield rec
            cursor = advance(cursor, batch, lt)
            seen = set(cursor["seen"])
            yield messages.global_state(state_data(cursor))
            gte = lt
        if gte >= upper and cursor.get("checked_at", 0) < upper:
            cursor = {**cursor, "checked_at": upper}
            yield messages.global_state(state_data(cursor))

    def seen_events_vanished(self, cursor: dict, now: int) -> bool:
        """Whether an event the cursor remembers was already dropped by Stripe before its time (a retention
        shorter than we assume). Seen events older than the retention are gone normally: a quiet account's
        newest event ages out while every run checks the events since it (`checked_at` says so)."""
        seen = cursor.get("seen") or []
        if not seen or is_expired({"checked_at": int(cursor["created"])}, now):
            return False
        try:
            self.client.get(f"{self.events_stream.path}/{seen[-1]}")
        except StripeAPIError as err:
            if err.is_auth:
                raise
            return err.status == 404  # other errors: cannot tell; the catch-up will report them
        return False
