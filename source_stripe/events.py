"""Incremental sync from `/v1/events`: updates and deletes since each stream's events position.

Positions (one per stream, `positions.py`) live in the global state (`state.GlobalState`). A pass lists
events from the oldest position of the streams it reads (`created[gte]`, re-reading that second: an event
of it that became visible late is not lost) up to the pass's upper bound; an event becomes a record of
its stream only when it is newer than that stream's position, and after each chunk the positions of the
pass's streams move past everything the chunk held. Streams outside the pass keep their positions.
Since the next pass starts at a position's second whatever the bound was, a pass may read into the
current second (a poll woken by a webhook does, `source.WAKE_LOOKAHEAD_S`); `checked_at` may then be
ahead of the server by a second or two, which only matters to the 30-day expiry check.

Stripe lists events newest first; records must go out oldest first (the destination breaks ties of equal
`updated_at` by message order), with a checkpoint after each batch. So a pass takes time chunks from the
oldest (`event_windows.py`: windows of the range are read by several threads at once, discovered
breadth-first, and handed over in time order): each chunk is reversed, emitted, then the positions move
and a global state is emitted. Memory holds the chunks read ahead of the oldest unfinished one (about
`max_chunk_pages` pages), plus a single second with more events than that.

Vanished events are judged on evidence only: the chunk holding a position's second must list the ids the
position remembers for it (`positions.vanished`). Missing ids mean Stripe dropped events we still needed
(`on_vanished`); an error while listing is an error (raised), never a reason to reset anything.
No event is ever retrieved by id (`GET /v1/events/{id}`), so a proxy that breaks that path changes nothing.

An event becomes a record of the stream listing its `data.object.object` (`updated_at` = the event's
`created`); `*.deleted` becomes a tombstone (`deleted: true`) except `customer.subscription.deleted`,
which in Stripe means canceled: the subscription still exists and is listed with `status=all`.

An event about a parent of selected child streams (`invoice.updated`, `customer.subscription.updated`)
also re-derives the parent's children (`children.py`: the embedded list when complete, else the nested
endpoint, now) as a parent-scoped snapshot after the parent's record (of the newest event about that
parent in a chunk: it supersedes the older ones), so children removed meanwhile are
tombstoned; a deleted parent's children are all tombstoned. An event about a child object that names its
parent (`customer.tax_id.deleted`) is a record of the child stream, judged by the parent's position.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from protocol import messages
from source_stripe import children as kids
from source_stripe.client import Page, StripeClient
from source_stripe.event_windows import EventWindows
from source_stripe.positions import advance, is_after, oldest_first, vanished
from source_stripe.state import GlobalState
from source_stripe.streams import Stream

EVENTS_PATH = "/v1/events"
SOFT_DELETES = frozenset({"customer.subscription.deleted"})


def event_stream(event: dict, by_object: dict[str, Stream]) -> Stream | None:
    """The selected stream an event concerns, or None."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return None
    stream = by_object.get(str(obj.get("object")))
    if stream is None or not stream.matches_fixed_params(obj):
        return None
    if stream.parent is not None and not isinstance(obj.get(stream.parent.field), str):
        # not one of the parent's children: a customer's card (`customer.source.*`) has no `account`
        # ("will not be in the card object if the card belongs to a customer": Stripe's Card object)
        return None
    return stream


def event_record(event: dict, by_object: dict[str, Stream]) -> dict | None:
    """The record message an event stands for, or None when it concerns no selected stream."""
    stream = event_stream(event, by_object)
    if stream is None:
        return None
    etype = str(event.get("type", ""))
    deleted = etype.endswith(".deleted") and etype not in SOFT_DELETES
    return messages.record(stream.name, event["data"]["object"], deleted=deleted,
                           updated_at=event.get("created"))


class EventReader:
    """Reads event chunks through the client; `catch_up` yields records and global state snapshots.
    `workers` windows are read at once (`event_windows.py`), about `max_chunk_pages` pages ahead of the
    oldest (100: at 25 requests/s the workers never wait for a slow oldest window; ~12k events held)."""

    def __init__(self, client: StripeClient, events_stream: Stream, by_object: dict[str, Stream],
                 children_of: dict[str, list[Stream]] | None = None, max_chunk_pages: int = 100,
                 workers: int = 8):
        self.client, self.events_stream, self.by_object = client, events_stream, by_object
        self.children_of = children_of or {}
        self.max_chunk_pages, self.workers = max_chunk_pages, workers
        self.records = 0

    def _fetch(self, gte: int, lt: int, starting_after: str | None) -> Page:
        params = self.events_stream.list_params(gte=gte, lt=lt, starting_after=starting_after)
        return self.client.get(self.events_stream.path, params, expect_list=True)

    def catch_up(self, state: GlobalState, streams: list[str], upper: int,
                 on_vanished: Callable[[str, list[str]], None]) -> Iterator[dict]:
        """Emit every event in [oldest position of `streams`, upper) that is newer than its stream's
        position, oldest first, with a global state after each chunk (`state` is kept current).

        `on_vanished(stream, ids)` is called, before that chunk's global state, for each stream whose
        position's seen events the listing no longer holds. Raises StripeAPIError when events cannot be
        listed (the positions then stay where the last chunk put them)."""
        run = {name: state.positions[name] for name in streams if name in state.positions}
        if not run:
            return
        gte = min(int(p["created"]) for p in run.values())
        windows = EventWindows(self._fetch, self.workers, self.max_chunk_pages, path=self.events_stream.path)
        for lo, lt, raw in windows.chunks(gte, upper):
            events = oldest_first(raw)
            for name, pos in run.items():
                if pos.get("seen") and lo <= pos["created"] < lt:
                    listed = {e.get("id") for e in events if e.get("created") == pos["created"]}
                    gone = vanished(pos, listed, upper)  # type: ignore[arg-type]
                    if gone:
                        on_vanished(name, gone)
            handled = [(ev, stream) for ev in events if (stream := self._handled(ev, run)) is not None]
            # a parent's newest event in the chunk supersedes its older ones: only it re-derives children
            newest = {ev["data"]["object"]["id"]: n for n, (ev, s) in enumerate(handled)
                      if s.name in self.children_of}
            for n, (ev, stream) in enumerate(handled):
                rec = event_record(ev, self.by_object)
                if rec is not None:
                    self.records += 1
                    yield rec
                    if newest.get(ev["data"]["object"]["id"]) == n:
                        yield from self._children(stream.name, rec["record"], ev.get("created"))
            self._advance(state, run, events, lt)
            yield state.message()
        if any(p.get("checked_at", 0) < upper for p in run.values()):
            self._advance(state, run, [], upper)
            yield state.message()

    def _handled(self, ev: dict, run: dict[str, dict]) -> Stream | None:
        """The stream of an event this pass emits (newer than the position of the stream, or of its parent
        stream for a child object), or None."""
        stream = event_stream(ev, self.by_object)
        if stream is None:
            return None
        owner = stream.parent.stream if stream.parent else stream.name
        return stream if owner in run and is_after(ev, run[owner]) else None

    def _children(self, stream: str, record: dict, created: int | None) -> Iterator[dict]:
        """The children of a parent an event carried (none when it was deleted), re-derived."""
        for child in self.children_of.get(stream, []):
            parent = record["data"]
            found = kids.gone(child, parent["id"], created) if record.get("deleted") \
                else kids.read_children(self.client, child, parent, created)
            yield from kids.child_messages(found)

    @staticmethod
    def _advance(state: GlobalState, run: dict[str, dict], events: list[dict], checked_at: int) -> None:
        moved: dict[int, dict] = {}  # streams sharing a position share the result (the usual case)
        for name, pos in run.items():
            new = moved.get(id(pos))
            if new is None:
                new = moved[id(pos)] = advance(pos, [e for e in events if is_after(e, pos)], checked_at)
            run[name] = state.positions[name] = new
