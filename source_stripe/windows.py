"""Pure pagination state machines: time windows split on the fly, and plain cursor paging.

No I/O here. A planner hands out `PageRequest`s, is told each page's (id, timestamp) keys and `has_more`,
and answers with an `Outcome`: which slice of the page to emit, which time ranges are now complete, and
the next requests. `snapshot()` is the stream state (a value) after everything processed so far.

Time windows (`WindowPlanner`, streams with a `created` filter). A window `[gte, lt)` with `cursor` c
stands for "the objects created in [gte, lt) that come after c in list order" (Stripe lists newest
first: created desc, then a tie order within a second). After a page whose last item was created at
second t, everything in [t+1, lt) is covered, so the window shrinks to [gte, t+1) keeping the cursor:
the cursor always sits in the window's top second, and the same-second objects after it stay owned by
this window, so nothing at a boundary second is lost or read twice. The part below t holds no cursor,
so it can be cut into sub-windows freely (`split_ranges`): when the page density says more than
`part_pages` pages remain (geometric parts from the top, each `growth` times wider, so a sparse or
unknown past costs few empty windows), or when workers are idle and more than one page remains.

A second holding more than a page is a dense second: it becomes its own window `[T, T+1)` (a second
cannot be split by time) and, when the endpoint takes `ending_before`, is walked from both ends: the top
walk by `starting_after`, a bottom walk by `ending_before` starting from any object older than T (one
`anchor` request `created[lt]=T&limit=1` finds one when none was seen yet). The bottom walk's frontier
is the window's `floor`: remaining = the objects strictly between floor and cursor. Each walk stops at
the first page holding the other's frontier and emits only what lies before it, so the meeting costs at
most one extra request and no duplicate.

Cursor paging (`CursorPlanner`, streams without a `created` filter): one request after another with
`starting_after`; state `{"cursor": last id, "done": bool}`. Such a stream is re-read in full by every
run that starts after it finished (the list order is the only position we can trust).

Both refuse a cursor that repeats (a server looping on the same page): `PaginationError`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from protocol.ranges import Range
from protocol.state import time_window

Key = tuple["str | None", "int | None"]  # (object id, timestamp second; None when the object lacks it)


class PaginationError(Exception):
    """The server returned pages that cannot be right (a cursor that does not advance)."""


@dataclass(frozen=True)
class SplitPolicy:
    limit: int = 100
    part_pages: float = 32.0  # target pages per sub-window when a window is known to be big
    growth: float = 2.0  # each deeper sub-window is this much wider (unknown, often sparser past)
    max_parts: int = 8
    idle_part_pages: float = 4.0  # with idle workers, split down to parts of about this many pages
    age_factor: float = 2.0  # trust a page's density down to this x the age seen so far
    two_ended: bool = True  # walk dense seconds from both ends


@dataclass(frozen=True)
class PageRequest:
    kind: str  # "top" | "bottom" | "anchor" | "cursor"
    wid: int
    gte: int | None = None
    lt: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    limit: int = 100


@dataclass
class Outcome:
    emit: tuple[int, int] = (0, 0)  # slice of the page's items to emit
    completed: list[Range] = field(default_factory=list)
    requests: list[PageRequest] = field(default_factory=list)


@dataclass
class Window:
    wid: int
    gte: int
    lt: int
    cursor: str | None = None
    floor: str | None = None
    bottom: str = "none"  # none | running | off

    def to_wire(self) -> dict:
        d = {"gte": self.gte, "lt": self.lt, "cursor": self.cursor}
        if self.floor is not None:
            d["floor"] = self.floor
        return d


def geometric_parts(lo: int, hi: int, first_span: int, growth: float, max_parts: int) -> list[Range]:
    """Cut [lo, hi) into at most `max_parts` ranges from the top: widths first_span, x growth, ...

    The last (deepest) part takes whatever is left. Returned top first."""
    parts: list[Range] = []
    top, span = hi, max(1, int(first_span))
    while len(parts) < max_parts - 1 and top - span > lo:
        parts.append((top - span, top))
        top -= span
        span = max(span + 1, int(math.ceil(span * growth))) if growth > 1 else span
    parts.append((lo, top))
    return parts


def split_ranges(gte: int, t: int, covered_span: int, n: int, policy: SplitPolicy, idle: int = 0,
                 age: int | None = None, deepest: bool = False) -> list[Range] | None:
    """How to cut the remaining window [gte, t+1) after a page of `n` items covering `covered_span` seconds.

    The page's density is only trusted down to a horizon `age_factor` x `age` seconds below t (`age`: how
    far t is below the stream's upper bound; data seldom reaches back uniformly to the epoch). Parts are
    laid out above the horizon; whatever lies below it becomes one tail window, which splits itself
    when its own first page shows it is big. Returns parts top first (the first keeps the cursor, which
    sits in second t), or None to go on paging the window as it is. With idle workers and too little
    known to cut, the deepest window (reaching the stream's lower bound) still splits off the part below
    the horizon: that probe costs one request if the past is empty, and a parallel walk if it is not."""
    if t <= gte or n <= 0:
        return None
    density = n / max(1, covered_span)
    horizon = gte if age is None else max(gte, t - int(policy.age_factor * max(1, age)))
    est_pages = density * (t - horizon) / policy.limit
    if est_pages > policy.part_pages:
        part_objects, growth = policy.part_pages * policy.limit, policy.growth
        max_parts = policy.max_parts - 1
    elif idle > 0 and est_pages >= 2 * policy.idle_part_pages:
        wanted = min(idle + 1, int(est_pages // policy.idle_part_pages), policy.max_parts - 1)
        part_objects, growth, max_parts = policy.idle_part_pages * policy.limit, policy.growth, wanted
    elif idle > 0 and deepest and horizon > gte:  # idle workers: probe the unexplored past as its own window
        return [(horizon, t + 1), (gte, horizon)]
    else:
        return None
    first_span = max(1, round(part_objects / density))
    parts = geometric_parts(horizon, t + 1, first_span, growth, max(1, max_parts))
    if horizon > gte:
        parts.append((gte, horizon))
    return parts if len(parts) > 1 else None


class Planner(Protocol):
    """What the backfill drives (both planners below): requests out, pages in, a state snapshot."""

    @property
    def done(self) -> bool: ...
    def snapshot(self) -> dict: ...
    def initial_requests(self) -> list[PageRequest]: ...
    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool, idle: int = 0) -> Outcome: ...
    def on_missing_cursor(self, req: PageRequest) -> list[PageRequest]: ...


class WindowPlanner:
    """Time windows of one stream within its accounted range (see the module docstring)."""

    def __init__(self, accounted: Range, remaining: Iterable[dict], policy: SplitPolicy = SplitPolicy(),
                 ending_before: bool = True):
        self.accounted = accounted
        self.policy = policy
        self.two_ended = policy.two_ended and ending_before
        self.windows: dict[int, Window] = {}
        self._next_wid = 0
        self.oldest_seen: tuple[int, str] | None = None  # (ts, id) of the oldest object seen: a free anchor
        for r in remaining:
            self._add(int(r["gte"]), int(r["lt"]), r.get("cursor"), r.get("floor"))

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _add(self, gte: int, lt: int, cursor: str | None = None, floor: str | None = None) -> Window | None:
        if gte >= lt:
            return None
        w = Window(self._next_wid, gte, lt, cursor, floor)
        self._next_wid += 1
        self.windows[w.wid] = w
        return w

    @property
    def done(self) -> bool:
        return not self.windows

    def snapshot(self) -> dict:
        """The stream state: accounted range and the windows not yet covered (adjacent fresh ones merged)."""
        merged: list[dict] = []
        for w in sorted(self.windows.values(), key=lambda w: (w.gte, w.lt)):
            wire = w.to_wire()
            prev = merged[-1] if merged else None
            if prev is not None and prev["cursor"] is None and "floor" not in prev and w.cursor is None \
                    and w.floor is None and prev["lt"] == w.gte:
                prev["lt"] = w.lt
            else:
                merged.append(wire)
        return time_window(self.accounted, merged)

    def _top(self, w: Window) -> PageRequest:
        return PageRequest("top", w.wid, w.gte, w.lt, starting_after=w.cursor, limit=self.policy.limit)

    def _bottom(self, w: Window, anchor: str) -> PageRequest:
        w.bottom = "running"
        return PageRequest("bottom", w.wid, w.gte, w.lt, ending_before=w.floor or anchor,
                           limit=self.policy.limit)

    def initial_requests(self) -> list[PageRequest]:
        reqs = []
        for w in list(self.windows.values()):
            reqs.append(self._top(w))
            if w.floor is not None and w.cursor is not None and self.two_ended:
                reqs.append(self._bottom(w, w.floor))
        return reqs

    def _see(self, keys: Sequence[Key]) -> None:
        oldest_id, oldest_ts = keys[-1] if keys else (None, None)
        if oldest_id is not None and oldest_ts is not None:  # an anchor must be an object we can name
            cand = (int(oldest_ts), oldest_id)
            if self.oldest_seen is None or cand[0] < self.oldest_seen[0]:
                self.oldest_seen = cand

    def _finish(self, w: Window, emit: tuple[int, int], completed: list[Range] | None = None) -> Outcome:
        del self.windows[w.wid]
        return Outcome(emit, [*(completed or []), (w.gte, w.lt)], [])

    # ---- results ---------------------------------------------------------------------------------
    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool, idle: int = 0) -> Outcome:
        """A page came back for `req` (items newest first). Stale results of finished windows emit nothing."""
        w = self.windows.get(req.wid)
        if w is None:
            return Outcome()
        self._see(keys)
        if req.kind == "bottom":
            return self._on_bottom(w, keys, has_more)
        return self._on_top(w, req, keys, has_more, idle)

    def _on_top(self, w: Window, req: PageRequest, keys: Sequence[Key], has_more: bool, idle: int) -> Outcome:
        ids = [k[0] for k in keys]
        n = len(ids)
        if w.floor is not None and w.floor in ids:
            return self._finish(w, (0, ids.index(w.floor)))
        if n == 0 or not has_more:
            return self._finish(w, (0, n))
        if ids[-1] == req.starting_after or (w.cursor is not None and ids[-1] == w.cursor):
            raise PaginationError(f"cursor {ids[-1]} did not advance")
        lt = w.lt
        t = _clamp(keys[-1][1], w.gte, lt - 1)
        newest = _clamp(keys[0][1], w.gte, lt - 1)
        completed = [(t + 1, lt)] if t + 1 < lt else []
        w.lt, w.cursor = t + 1, ids[-1]
        mark = self._next_wid
        if newest == t and t > w.gte:  # the whole page sits in one second: isolate that dense second
            self._add(w.gte, t)
            w.gte = t
        elif t > w.gte:
            parts = split_ranges(w.gte, t, lt - t, n, self.policy, idle, age=self.accounted[1] - t,
                                 deepest=w.gte <= self.accounted[0])
            if parts:
                w.gte = parts[0][0]
                for a, b in parts[1:]:
                    self._add(a, b)
        reqs = [self._top(w)] + [self._top(x) for x in self.windows.values() if x.wid >= mark]
        if newest == t and w.lt - w.gte == 1 and self.two_ended and w.bottom == "none":
            reqs.append(self._start_bottom(w))
        return Outcome((0, n), completed, reqs)

    def _start_bottom(self, w: Window) -> PageRequest:
        if self.oldest_seen is not None and self.oldest_seen[0] < w.gte:
            return self._bottom(w, self.oldest_seen[1])
        w.bottom = "running"
        return PageRequest("anchor", w.wid, None, w.gte, limit=1)

    def on_anchor(self, req: PageRequest, keys: Sequence[Key]) -> list[PageRequest]:
        """The answer to an anchor request: the newest object below the dense second, if any."""
        w = self.windows.get(req.wid)
        if w is None:
            return []
        self._see(keys)
        anchor = keys[0][0] if keys else None
        if anchor is None or w.cursor is None:
            w.bottom = "off"
            return []
        return [self._bottom(w, anchor)]

    def _on_bottom(self, w: Window, keys: Sequence[Key], has_more: bool) -> Outcome:
        ids = [k[0] for k in keys]
        n = len(ids)
        if w.cursor is not None and w.cursor in ids:
            return self._finish(w, (ids.index(w.cursor) + 1, n))
        if n == 0 or not has_more:
            return self._finish(w, (0, n))
        newest = ids[0]
        if newest is None or newest == w.floor:
            raise PaginationError(f"ending_before cursor {newest} did not advance")
        w.floor = newest
        return Outcome((0, n), [], [self._bottom(w, newest)])

    def on_missing_cursor(self, req: PageRequest) -> list[PageRequest]:
        """The cursor object of `req` no longer exists: re-read the window's top second (duplicates, never
        losses) or give up the bottom walk."""
        w = self.windows.get(req.wid)
        if w is None:
            return []
        if req.kind == "bottom":
            w.floor, w.bottom = None, "off"
            return []
        if req.kind == "top":
            w.cursor = None
            return [self._top(w)]
        return []


class CursorPlanner:
    """Sequential `starting_after` paging (or one request when the endpoint is not paginated)."""

    def __init__(self, cursor: str | None = None, paginated: bool = True, limit: int = 100):
        self.cursor, self.paginated, self.limit = cursor, paginated, limit
        self.done = False

    def snapshot(self) -> dict:
        return {"cursor": self.cursor, "done": self.done}

    def _request(self) -> PageRequest:
        if not self.paginated:
            return PageRequest("cursor", 0, limit=0)
        return PageRequest("cursor", 0, starting_after=self.cursor, limit=self.limit)

    def initial_requests(self) -> list[PageRequest]:
        return [] if self.done else [self._request()]

    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool, idle: int = 0) -> Outcome:
        n = len(keys)
        if not self.paginated or n == 0 or not has_more:
            self.done, self.cursor = True, None
            return Outcome((0, n))
        if keys[-1][0] == req.starting_after:
            raise PaginationError(f"cursor {keys[-1][0]} did not advance")
        self.cursor = keys[-1][0]
        return Outcome((0, n), [], [self._request()])

    def on_missing_cursor(self, req: PageRequest) -> list[PageRequest]:
        self.cursor = None  # the cursor object was deleted: start over (duplicates, never losses)
        return [self._request()]


def _clamp(ts: int | None, lo: int, hi: int) -> int:
    if ts is None:
        return hi
    return max(lo, min(hi, int(ts)))
