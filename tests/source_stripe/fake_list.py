"""An in-memory list with Stripe's pagination semantics, for testing the pure planners without HTTP.

Objects are (created, id) keys kept sorted; lists are newest first (created desc, then id desc), with
`created[gte]/created[lt]`, `starting_after`, `ending_before` and `limit` like Stripe (and the emulator).
`drive` plays a planner against it, completing in-flight requests in a random order (as concurrent
workers would) and records every emitted key and every state snapshot.
"""
from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass, field

from source_stripe.windows import PageRequest, Pace


class FakeList:
    def __init__(self, keys: list[tuple[int, str]]):
        self.keys = sorted(keys)
        self.pos = {k[1]: i for i, k in enumerate(self.keys)}
        self.requests = 0

    def query(self, gte, lt, starting_after=None, ending_before=None, limit=100):
        self.requests += 1
        keys = self.keys
        lo = 0 if gte is None else bisect_left(keys, (gte,))
        hi = len(keys) if lt is None else bisect_left(keys, (lt,))
        if ending_before is not None:
            start = max(self.pos[ending_before] + 1, lo)
            end = min(start + limit, hi)
            return [(keys[j][1], keys[j][0]) for j in range(end - 1, start - 1, -1)], end < hi
        top = hi if starting_after is None else min(self.pos[starting_after], hi)
        stop = max(top - limit, lo)
        return [(keys[j][1], keys[j][0]) for j in range(top - 1, stop - 1, -1)], stop > lo

    def ids_in(self, gte, lt) -> list[str]:
        return [k[1] for k in self.keys if gte <= k[0] < lt]


@dataclass
class Run:
    emitted: list[str] = field(default_factory=list)
    checkpoints: list[tuple[int, dict]] = field(default_factory=list)  # (records emitted before, snapshot)


def answer(server: FakeList, req: PageRequest):
    if req.kind == "anchor":
        return server.query(None, req.lt, None, None, 1)
    if req.kind == "cursor":
        return server.query(None, None, req.starting_after, None, req.limit or 10**9)
    return server.query(req.gte, req.lt, req.starting_after, req.ending_before, req.limit)


def drive(planner, server: FakeList, rng: random.Random, max_in_flight: int = 8,
          stop_after: int | None = None, pending: list[PageRequest] | None = None) -> Run:
    """Run `planner` to the end (or `stop_after` pages), completing a random in-flight request each step;
    from `pending` requests when given (else the planner's initial ones)."""
    run = Run()
    ready = list(planner.initial_requests() if pending is None else pending)
    in_flight: list[tuple[PageRequest, tuple]] = []
    pages = 0
    while ready or in_flight:
        while ready and len(in_flight) < max_in_flight:  # issue: the answer reflects the data at issue time
            req = ready.pop(0)
            in_flight.append((req, answer(server, req)))
        req, (keys, more) = in_flight.pop(rng.randrange(len(in_flight)))
        if req.kind == "anchor":
            ready += planner.on_anchor(req, keys)
            continue
        idle = max_in_flight - len(in_flight) - len(ready)
        # the budget as a backfill would see it, varied so every way of splitting is exercised
        pace = Pace(max(0, idle), rng.choice((0.0, 0.25)), rng.choice((0.0, 0.5, 4.0)))
        out = planner.on_page(req, keys, more, pace)
        run.emitted += [k[0] for k in keys[out.emit[0]:out.emit[1]]]
        run.checkpoints.append((len(run.emitted), planner.snapshot()))
        ready += out.requests
        pages += 1
        if stop_after is not None and pages >= stop_after:
            break
    return run
