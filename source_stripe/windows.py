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
so it can be cut into sub-windows freely (`split_ranges`), by what the budget allows (`Pace`, told by the
backfill after each page): with requests to spare, breadth-first, one part per spare request (the time
the page's density is trusted for in parts of `min_part_pages`, the unexplored past below in parts
geometric in age, so a dense second deep in a sparse range is reached in a few rounds wherever it lies);
with the budget in use, only windows bigger than `part_pages`, or whose walk one page at a time would
outlast all known work at the rate (the critical path), split.

Each request says how urgent it is (`urgency`, then `weight`): the walks of a dense second first (the
critical path: they cannot be cut), then windows over unexplored time (unknown density; the widest first:
a burst is as likely at any time), then walks, the one with the most pages left first (`weight`: the
longest chain first, so no crowded window is left to be walked alone at the end; measured: with sparse
walks first, a stream's most recent 38 days waited 11 s in its queue, then ran alone at 25/s).

A second holding more than a page is a dense second (so is one that ends a page with `dense_tail` of its
objects): it becomes its own window `[T, T+1)` (a second cannot be split by time) and, when the endpoint
takes `ending_before`, is walked from both ends: the top walk by `starting_after`, a bottom walk by
`ending_before` starting from any object older than T, at once when one was seen, else once a second full
page proved T big (one `anchor` request `created[lt]=T&limit=1` finds one). The bottom walk's frontier is
the window's `floor`: remaining = the objects strictly between floor and cursor. Each walk stops at the
first page holding the other's frontier and emits only what lies before it, so the meeting costs at most
one extra request and no duplicate.

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
    part_pages: float = 32.0  # with the budget in use, windows bigger than this many pages still split
    min_part_pages: float = 4.0  # with budget to spare, split down to parts of about this many pages
    max_parts: int = 32  # parts of one split
    max_unknown_parts: int = 3  # of them below the trust horizon
    growth: float = 1.3  # above it, each deeper part this much wider
    age_factor: float = 2.0  # trust a page's density down to this x the age seen so far
    dense_tail: int = 50  # a page ending with this many objects of one second: treat it as a dense second
    two_ended: bool = True  # walk dense seconds from both ends


# Urgency of a request (lower goes first, at the backfill's ready queue and at the rate limiter): the walks
# of a dense second are the critical path; a fresh window explores time nobody has seen; walks go on.
DENSE, FRESH, WALK = 0, 1, 2


@dataclass(frozen=True)
class Pace:
    """What the request budget allows now, as the backfill sees it (a value: the planner stays pure).

    `spare`: requests the stream's share of the budget could run at once beyond those it has in flight or
    ready; `round_trip_s`: the seconds one request takes; `work_s`: the seconds the work known so far
    needs at the rates (all streams' at the account's, this stream's at its endpoint's)."""
    spare: int = 0
    round_trip_s: float = 0.0
    work_s: float = 0.0


@dataclass(frozen=True)
class PageRequest:
    kind: str  # "top" | "bottom" | "anchor" | "cursor"
    wid: int
    gte: int | None = None
    lt: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    limit: int = 100
    urgency: int = field(default=WALK, compare=False)
    weight: float = field(default=0.0, compare=False)  # among equal urgency: the heavier goes first


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
    density: float | None = None  # objects per second near the top, from the last page (None: unknown)

    def to_wire(self) -> dict:
        d = {"gte": self.gte, "lt": self.lt, "cursor": self.cursor}
        if self.floor is not None:
            d["floor"] = self.floor
        return d

    def pages(self, limit: int) -> float:
        """Estimated pages left (at least one; an unexplored window counts one)."""
        if self.density is None:
            return 1.0
        return max(1.0, self.density * (self.lt - self.gte) / limit)


def trust_horizon(lo: int, hi: int, density: float | None, upper: int, policy: SplitPolicy) -> int:
    """How far below `hi` a density is trusted: `age_factor` x the age of `hi` (no density: nowhere)."""
    if density is None:
        return hi
    return max(lo, hi - int(policy.age_factor * max(1, upper - hi)))


def split_ranges(lo: int, hi: int, density: float | None, upper: int, policy: SplitPolicy,
                 pace: Pace = Pace(), unknown_parts: int | None = None) -> list[Range]:
    """How to cut [lo, hi), a range below a page with `density` objects per second (None: unknown), of a
    stream whose accounted range ends at `upper`. Returns parts top first; [(lo, hi)] keeps it whole.

    The density is trusted down to a horizon `age_factor` x the age of `hi` below it (data seldom reaches
    back uniformly to the epoch). The known zone above the horizon is cut into parts each `growth` times
    wider than the one above (data thins out with age more often than not): as many
    as make parts of `part_pages`, or as many as its walk needs not to outlast all known work at the rates
    (`pace.work_s`), or, with budget to spare, one per spare request down to parts of
    `min_part_pages`. The unknown zone below the horizon becomes one tail window, or with budget to spare
    several, geometric in age (each reaching the same factor further back), so the unexplored past is probed
    at once, breadth-first: an empty part costs one request, a full one shows its own density."""
    if hi - lo <= 1:
        return [(lo, hi)]
    horizon = trust_horizon(lo, hi, density, upper, policy)
    known_pages = (density or 0.0) * (hi - horizon) / policy.limit
    wanted = min(policy.max_parts, pace.spare + 1)  # parts the spare budget can run at once
    k_unknown = 0
    if horizon > lo:
        cap = policy.max_unknown_parts if unknown_parts is None else unknown_parts
        k_unknown = max(1, min(wanted - 1, cap, horizon - lo))
    k_known = 0
    if hi > horizon:
        finest = max(1, math.ceil(known_pages / policy.min_part_pages))
        k_known = max(math.ceil(known_pages / policy.part_pages), min(wanted - k_unknown, finest), 1)
        if pace.work_s > 0:  # its walk, one page after another, against all known work at the rates
            walk_vs_work = known_pages * pace.round_trip_s / pace.work_s
            k_known = max(k_known, min(math.ceil(min(walk_vs_work, policy.max_parts)), finest))
        k_known = min(k_known, policy.max_parts - k_unknown, hi - horizon)
    if k_known + k_unknown <= 1 or (k_known <= 1 and pace.spare <= 0):
        return [(lo, hi)]  # little known, no budget to spare: page on (the next page shows more)
    parts = []
    g = policy.growth  # each deeper part wider: data thins out with age more often than not
    first = (hi - horizon) * (g - 1) / (g ** k_known - 1) if k_known else 0.0
    edge = float(hi)
    for i in range(k_known):
        top, bottom = round(edge), horizon if i == k_known - 1 else round(edge - first * g ** i)
        edge -= first * g ** i
        if bottom < top:
            parts.append((bottom, top))
    if k_unknown:
        near, far = upper - horizon, upper - lo  # ages of the unknown zone's ends
        ratio = (far / max(1, near)) ** (1 / k_unknown)
        top = horizon
        for i in range(1, k_unknown + 1):
            bottom = lo if i == k_unknown else max(lo, min(top - 1, upper - int(near * ratio ** i)))
            if bottom < top:
                parts.append((bottom, top))
                top = bottom
    return parts or [(lo, hi)]


class Planner(Protocol):
    """What the backfill drives (both planners below): requests out, pages in, a state snapshot."""

    @property
    def done(self) -> bool: ...
    def snapshot(self) -> dict: ...
    def initial_requests(self) -> list[PageRequest]: ...
    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool,
                pace: Pace = Pace()) -> Outcome: ...
    def on_missing_cursor(self, req: PageRequest) -> list[PageRequest]: ...
    def estimated_pages(self) -> float: ...


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
        self.spread_pages = 0  # full pages over more than one second: evidence that probing the past pays
        for r in remaining:
            self._add(int(r["gte"]), int(r["lt"]), r.get("cursor"), r.get("floor"))

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _add(self, gte: int, lt: int, cursor: str | None = None, floor: str | None = None,
             density: float | None = None) -> Window | None:
        if gte >= lt:
            return None
        w = Window(self._next_wid, gte, lt, cursor, floor, density=density)
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

    def estimated_pages(self) -> float:
        """Pages left by the densities seen so far (each unexplored window counts one)."""
        return sum(w.pages(self.policy.limit) for w in self.windows.values())

    def _top(self, w: Window) -> PageRequest:
        if w.cursor is None and w.density is None:
            urgency = FRESH  # time nobody has seen
        else:
            urgency = DENSE if w.lt - w.gte == 1 else WALK  # a window of one second: a dense second's walk
        weight = w.lt - w.gte if urgency == FRESH else w.pages(self.policy.limit)  # widest / longest first
        return PageRequest("top", w.wid, w.gte, w.lt, starting_after=w.cursor, limit=self.policy.limit,
                           urgency=urgency, weight=weight)

    def _bottom(self, w: Window, anchor: str) -> PageRequest:
        w.bottom = "running"
        return PageRequest("bottom", w.wid, w.gte, w.lt, ending_before=w.floor or anchor,
                           limit=self.policy.limit, urgency=DENSE)

    def initial_requests(self) -> list[PageRequest]:
        reqs = []
        for w in list(self.windows.values()):
            if w.floor is not None and w.cursor is not None and self.two_ended:
                reqs.append(self._bottom(w, w.floor))
            reqs.append(self._top(w))
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
    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool, pace: Pace = Pace()) -> Outcome:
        """A page came back for `req` (items newest first). Stale results of finished windows emit nothing."""
        w = self.windows.get(req.wid)
        if w is None:
            return Outcome()
        self._see(keys)
        if req.kind == "bottom":
            return self._on_bottom(w, keys, has_more)
        return self._on_top(w, req, keys, has_more, pace)

    def _on_top(self, w: Window, req: PageRequest, keys: Sequence[Key], has_more: bool,
                pace: Pace) -> Outcome:
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
        tail = _tail(keys, t, w.gte, lt - 1)  # objects of second t at the end of the page
        self.spread_pages += newest != t
        completed = [(t + 1, lt)] if t + 1 < lt else []
        if n > tail:  # the density of the seconds above t (a page all in one second says nothing of them)
            w.density = (n - tail) / max(1, lt - t - 1) if lt - t > 1 else w.density
        w.lt, w.cursor = t + 1, ids[-1]
        mark = self._next_wid
        dense = newest == t or tail >= self.policy.dense_tail
        if t > w.gte:
            upper = self.accounted[1]
            hi = t if dense else t + 1  # dense: the window walks second t; the time below is cut afresh
            horizon = trust_horizon(w.gte, hi, w.density, upper, self.policy)
            # probes of the unexplored past grow with the evidence of a big stream: small ones stay cheap
            unknown_parts = min(self.policy.max_unknown_parts, 1 + self.spread_pages)
            parts = split_ranges(w.gte, hi, w.density, upper, self.policy, pace, unknown_parts)
            w.gte = t if dense else parts.pop(0)[0]
            for a, b in parts:
                self._add(a, b, density=w.density if a >= horizon else None)
        reqs = [self._top(x) for x in self.windows.values() if x.wid >= mark]
        if dense and w.lt - w.gte == 1 and self.two_ended and w.bottom == "none":
            bottom = self._start_bottom(w, proven=lt - w.gte == 1)
            if bottom is not None:
                reqs.append(bottom)
        reqs.insert(0, self._top(w))
        return Outcome((0, n), completed, reqs)

    def _start_bottom(self, w: Window, proven: bool) -> PageRequest | None:
        """The bottom walk of dense second `w`: from an older object already seen, else, once a second full
        page in it proved it big (`proven`), after an `anchor` request for one (a burst of a page or two
        is cheaper walked from the top alone)."""
        if self.oldest_seen is not None and self.oldest_seen[0] < w.gte:
            return self._bottom(w, self.oldest_seen[1])
        if not proven:
            return None
        w.bottom = "running"
        return PageRequest("anchor", w.wid, None, w.gte, limit=1, urgency=DENSE)

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

    def estimated_pages(self) -> float:
        return 0.0 if self.done else 1.0

    def on_page(self, req: PageRequest, keys: Sequence[Key], has_more: bool, pace: Pace = Pace()) -> Outcome:
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


def _tail(keys: Sequence[Key], t: int, lo: int, hi: int) -> int:
    """How many keys at the end of a page (newest first) sit in second t."""
    n = 0
    for _, ts in reversed(keys):
        if _clamp(ts, lo, hi) != t:
            break
        n += 1
    return n


def _clamp(ts: int | None, lo: int, hi: int) -> int:
    if ts is None:
        return hi
    return max(lo, min(hi, int(ts)))
