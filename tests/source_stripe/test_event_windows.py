"""Events read over several windows at once (source_stripe/event_windows.py): the chunks hold every event
of the range exactly once, oldest window first and whole seconds each; requests stay near the minimum;
look-ahead bounds what is held; an error ends the chunks at its window."""
from __future__ import annotations

import math
import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from source_stripe.client import Page
from source_stripe.errors import StripeAPIError
from source_stripe.event_windows import EventWindows, part_count, split
from source_stripe.positions import oldest_first


class FakeEvents:
    """/v1/events over a fixed list: newest first, `created` filter, `starting_after`, `limit` per page."""

    def __init__(self, created: list[int], limit: int = 100, latency_s: float = 0.0,
                 fail_at: int | None = None):
        events = [{"id": f"evt_{i:06d}", "created": t} for i, t in enumerate(created)]
        self.events = sorted(events, key=lambda e: (e["created"], e["id"]), reverse=True)
        self.limit, self.latency_s, self.fail_at = limit, latency_s, fail_at
        self.lock = threading.Lock()
        self.requests = 0
        self.log: list[tuple[int, int, str | None, int]] = []  # (gte, lt, starting_after, len(data))
        self.in_flight = self.max_in_flight = 0

    def fetch(self, gte: int, lt: int, starting_after: str | None) -> Page:
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            if self.fail_at is not None and gte <= self.fail_at < lt:
                raise StripeAPIError(500, "boom", path="/v1/events")
            start = 0
            if starting_after is not None:
                start = next(i for i, e in enumerate(self.events) if e["id"] == starting_after) + 1
            match = [e for e in self.events[start:] if gte <= e["created"] < lt]
            with self.lock:
                self.log.append((gte, lt, starting_after, min(len(match), self.limit)))
            return Page({"data": match[:self.limit], "has_more": len(match) > self.limit}, 0, 0)
        finally:
            with self.lock:
                self.in_flight -= 1


def read_all(fake: FakeEvents, gte: int, upper: int, workers: int = 8, lookahead: int = 50):
    windows = EventWindows(fake.fetch, workers, lookahead, page_size=fake.limit)
    return list(windows.chunks(gte, upper))


def check_chunks(chunks, gte: int, upper: int, fake: FakeEvents) -> None:
    if chunks:
        assert chunks[0][0] == gte and chunks[-1][1] == upper
    for (_, lt, _), (lo, _, _) in zip(chunks, chunks[1:], strict=False):
        assert lt == lo  # contiguous, oldest first
    for lo, lt, events in chunks:
        assert all(lo <= e["created"] < lt for e in events)
    got = [e for _, _, events in chunks for e in oldest_first(events)]
    expected = [e for e in reversed(fake.events) if gte <= e["created"] < upper]
    assert got == expected  # every event once, in the order it happened


bursty = hs.lists(hs.tuples(hs.integers(0, 5000), hs.integers(1, 400)), max_size=6)


@settings(max_examples=120, deadline=None)
@given(hs.lists(hs.integers(0, 5000), max_size=1500), bursty, hs.integers(1, 12), hs.integers(1, 20),
       hs.sampled_from([3, 10, 100]))
def test_every_event_once_in_order_in_whole_seconds(spread, bursts, workers, lookahead, limit):
    created = spread + [t for t, n in bursts for _ in range(n)]
    fake = FakeEvents(created, limit=limit)
    check_chunks(read_all(fake, 0, 5001, workers, lookahead), 0, 5001, fake)


def test_a_backlog_is_read_by_several_windows_at_once_near_the_minimum_of_requests():
    created = [i * 3 for i in range(20_000)]  # 20,000 events over 60,000 s: 200 pages
    fake = FakeEvents(created, latency_s=0.002)
    chunks = read_all(fake, 0, 60_000)
    check_chunks(chunks, 0, 60_000, fake)
    assert fake.max_in_flight >= 4
    # near the minimum whatever the workers' speed: no page read twice, and a window's chain of pages
    # has at most one that is not full (its last); how windows are split depends on timing, so the
    # total is bounded loosely
    requested = [(gte, lt, after) for gte, lt, after, _ in fake.log]
    assert len(set(requested)) == len(requested), "a page was read twice"
    partial = Counter((gte, lt) for gte, lt, _, n in fake.log if n < fake.limit)
    assert max(partial.values(), default=0) <= 1, partial
    pages = math.ceil(len(created) / 100)
    assert fake.requests <= 2 * pages + 3, (fake.requests, pages)


def test_a_small_backlog_costs_one_request_and_a_dense_second_is_one_chain():
    fake = FakeEvents([10, 20, 30])
    assert [(lo, lt, len(ev)) for lo, lt, ev in read_all(fake, 0, 100)] == [(0, 100, 3)]
    assert fake.requests == 1
    dense = FakeEvents([50] * 1000 + [10, 90])
    check_chunks(read_all(dense, 0, 100), 0, 100, dense)
    assert dense.requests <= 10 + 3  # the dense second's 10 pages, plus the windows around it


def test_lookahead_bounds_the_windows_held_while_the_consumer_is_slow():
    fake = FakeEvents([i * 10 for i in range(5000)], limit=10)
    windows = EventWindows(fake.fetch, 8, 5, page_size=10)
    got, held = [], []
    for chunk in windows.chunks(0, 50_000):
        got.append(chunk)
        time.sleep(0.005)  # the consumer is busy: the workers wait instead of reading far ahead
        with windows.cond:
            held.append(sum(1 for w in windows.windows if w.state != "pending"))
    check_chunks(got, 0, 50_000, fake)
    # at most the look-ahead plus the oldest windows (always read, so that the head never waits), plus
    # one finished part per worker whose page split its window just before it paused (the room is checked
    # before a read and after each page: 16-18 seen when other tests' threads slowed the consumer), not
    # the backlog's 500 pages
    assert max(held) <= 5 + 8 + 8 and len(got) > 20


def test_an_error_ends_the_chunks_at_its_window():
    fake = FakeEvents([i * 10 for i in range(3000)], fail_at=20_000)
    got = []
    with pytest.raises(StripeAPIError):
        for chunk in EventWindows(fake.fetch, 4, 50).chunks(0, 30_000):
            got.append(chunk)
    assert all(lt <= 20_000 for _, lt, _ in got)  # nothing at or after the failed second
    assert got == [] or got[0][0] == 0


def test_split_and_part_count():
    assert split(0, 10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert split(5, 7, 4) == [(5, 6), (6, 7)]  # whole seconds only
    assert part_count(100, 10, 10, 100, free=7) == 1  # about one page left: one window
    assert part_count(100, 10, 1000, 100, free=7) == 8  # 100 pages left: as many as the workers
    assert part_count(100, 10, 120, 100, free=7) == 3  # 12 pages: a window per 4
