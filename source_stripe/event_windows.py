"""The events of [gte, upper) as chunks in time order, read over several time windows at once.

`/v1/events` lists newest first, a page at a time: one window is one chain, so a backlog read as one
window costs pages x round trip. Instead the range is discovered breadth-first, like the back-fill's
(windows.py): a window's pages tell its density. After a page that says `has_more`, the seconds
after the page's oldest second are complete (the page holds all their events: a finished window),
and the rest, that second included, is cut into parts: about one per `PART_PAGES` pages estimated
from the density seen (at most one more than the free workers; two when the page was all one second,
which says nothing of the others). The newest part goes on listing after the page's last event (no
request is spent again on what was listed), the older ones are fresh windows, read the same way. A
single dense second stays one chain. Windows hold whole seconds, so a chunk does too (the positions'
`seen` ids and the vanished check rely on it).

`chunks()` yields the events of consecutive finished windows, oldest window first (each window's
events newest first, as listed), so the caller keeps its ordering guarantee: oldest first, a
checkpoint after each chunk. Workers take the oldest unread window first; a window is read (or goes
on after a page) only while fewer than `lookahead` windows are finished or under way, `workers` more
for the oldest `workers` windows (the next to be yielded), any number for the oldest, so memory holds
about `lookahead` + `workers` pages (plus a dense single second) whatever the backlog. An error after the
client's retries ends the chunks at the window it hit (no window after it is started): the chunks
before it are yielded, then it is raised (the caller's positions stay at the last chunk). Closing
the generator stops the workers after their current request.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from source_stripe.client import Page
from source_stripe.errors import StripeAPIError

PART_PAGES = 4  # estimated pages per new window (fewer windows: fewer part-filled pages)

Fetch = Callable[[int, int, "str | None"], Page]  # (gte, lt, starting_after) -> one list page


@dataclass(eq=False)
class _Window:
    gte: int
    lt: int
    state: str = "pending"  # pending | reading | done
    events: list[dict] = field(default_factory=list)  # newest first
    cursor: str | None = None  # the last event listed: a paused window goes on after it
    dense: int | None = None  # the second its last page was all of (walked on, not cut again)
    error: BaseException | None = None


def split(gte: int, lt: int, parts: int) -> list[tuple[int, int]]:
    """[gte, lt) cut into at most `parts` windows of whole seconds, oldest first."""
    bounds = sorted({gte + (lt - gte) * i // parts for i in range(parts)} | {lt})
    return list(zip(bounds, bounds[1:], strict=False))


def part_count(page_events: int, seen_span_s: int, older_span_s: int, page_size: int, free: int) -> int:
    """How many windows the unread older part gets: its estimated pages (the density of the first
    page) / PART_PAGES, at least one, at most one more than the free workers."""
    estimate = page_events / max(1, seen_span_s) * older_span_s / max(1, page_size)
    return max(1, min(math.ceil(estimate / PART_PAGES), free + 1))


class EventWindows:
    def __init__(self, fetch: Fetch, workers: int, lookahead: int, page_size: int = 100,
                 path: str = "/v1/events"):
        self.fetch, self.workers, self.lookahead = fetch, max(1, workers), max(1, lookahead)
        self.page_size, self.path = page_size, path
        self.cond = threading.Condition()
        self.windows: list[_Window] = []  # oldest first; the head is the next to be yielded
        self.halt = False

    def chunks(self, gte: int, upper: int) -> Iterator[tuple[int, int, list[dict]]]:
        """(gte, lt, events newest first) of consecutive parts of [gte, upper), oldest first."""
        if gte >= upper:
            return
        self.windows, self.halt = [_Window(gte, upper)], False
        for i in range(self.workers):
            threading.Thread(target=self._work, name=f"events-{i}", daemon=True).start()
        try:
            while True:
                with self.cond:
                    while self.windows and self.windows[0].state != "done":
                        self.cond.wait()
                    if not self.windows:
                        return
                    batch: list[_Window] = []
                    while self.windows and self.windows[0].state == "done" and len(batch) < self.lookahead:
                        if self.windows[0].error is not None:
                            break
                        batch.append(self.windows.pop(0))
                    failed = self.windows[0].error if self.windows and not batch else None
                    self.cond.notify_all()
                if failed is not None:
                    raise failed
                yield batch[0].gte, batch[-1].lt, [e for w in reversed(batch) for e in w.events]
        finally:
            with self.cond:
                self.halt = True
                self.cond.notify_all()

    # ---- workers -----------------------------------------------------------------------------------
    def _next(self) -> _Window | None:
        """The window to read next (cond held; waits), or None when there is nothing left to read."""
        while not self.halt and self.windows:
            busy = self._busy()
            failed = next((i for i, w in enumerate(self.windows) if w.error is not None), len(self.windows))
            i = next((i for i, w in enumerate(self.windows[:failed]) if w.state == "pending"), None)
            if i is not None and (i == 0 or busy < self._room(i)):
                return self.windows[i]  # only windows before a failed one: the chunks end there
            self.cond.wait()
        return None

    def _work(self) -> None:
        while True:
            with self.cond:
                w = self._next()
                if w is None:
                    return
                w.state = "reading"
            try:
                finished = self._read(w)
            except BaseException as exc:  # Cancelled, StripeAPIError, a bug: the consumer raises it
                with self.cond:
                    w.error, w.state = exc, "done"
                    self.cond.notify_all()
                return
            if finished:
                with self.cond:
                    w.state = "done"
                    self.cond.notify_all()

    def _read(self, w: _Window) -> bool:
        """List `w` on from its cursor; True when it is finished, False when paused."""
        while True:
            page = self.fetch(w.gte, w.lt, w.cursor)
            data = [e for e in page.data if isinstance(e, dict)]
            w.events.extend(data)
            if not page.has_more or not data:
                return True
            if data[-1].get("id") == w.cursor:
                raise StripeAPIError(502, "events cursor did not advance", path=self.path)
            w.cursor = data[-1].get("id")
            oldest = min(max(int(data[-1].get("created", w.lt - 1)), w.gte), w.lt - 1)
            with self.cond:
                if w.dense != oldest:
                    self._split(w, oldest)
                w.dense = oldest if all(int(e.get("created", oldest)) == oldest for e in data) else None
                at = self.windows.index(w)
                if at > 0 and self._busy() > self._room(at):
                    w.state = "pending"  # far enough ahead: paused, any worker goes on later
                    self.cond.notify_all()
                    return False

    def _busy(self) -> int:
        return sum(1 for w in self.windows if w.state != "pending")

    def _room(self, at: int) -> int:
        """How many windows may be finished or under way for the one at index `at` to be read: the
        oldest `workers` (the next to be yielded) get `workers` more than the look-ahead."""
        return self.lookahead + (self.workers if at < self.workers else 0)

    def _split(self, w: _Window, oldest: int) -> None:
        """After a page that says `has_more` (its oldest second `oldest`; cond held): the seconds after
        `oldest` are complete (a finished window); [w.gte, oldest] is cut into parts by the density seen
        (two when the page was all one second: it says nothing of the others), the newest part going on
        as `w` after the page's last event, the older ones fresh windows."""
        newer = [e for e in w.events if int(e.get("created", oldest)) > oldest]
        free = self.workers - sum(1 for x in self.windows if x.state == "reading")
        parts = split(w.gte, oldest + 1, part_count(len(newer), w.lt - oldest - 1, oldest + 1 - w.gte,
                                                    self.page_size, free) if newer else 2)
        at = self.windows.index(w)
        if newer:
            self.windows.insert(at + 1, _Window(oldest + 1, w.lt, "done", newer))
            w.lt, w.events = oldest + 1, w.events[len(newer):]
        self.windows[at:at] = [_Window(a, b) for a, b in parts[:-1]]
        w.gte = parts[-1][0]
        self.cond.notify_all()
