"""The backfill's choice of the next request across streams (no HTTP: stub planners and a stub client)."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from source_stripe.backfill import Backfill, StreamJob
from source_stripe.rate_limit import Limiter
from source_stripe.streams import registry
from source_stripe.windows import DENSE, WALK, PageRequest


@dataclass
class StubPlanner:
    pages: float

    def estimated_pages(self) -> float:
        return self.pages


@dataclass
class StubClient:
    limiter: Limiter = field(default_factory=lambda: Limiter(100, 25))
    round_trip_s: float = 0.25
    request_count: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def job(name: str, pages: float, weight: float, n: int = 50) -> StreamJob:
    j = StreamJob(registry()[name], StubPlanner(pages))  # type: ignore[arg-type]
    j.state = "active"
    j.ready.extend(PageRequest("top", i, 0, 10, urgency=WALK, weight=weight) for i in range(n))
    return j


def takes(backfill: Backfill, n: int) -> Counter:
    return Counter(backfill._take()[0].stream.name for _ in range(n))  # type: ignore[index]


def test_streams_share_the_requests_under_way_by_the_work_they_have_left():
    # charges' walks weigh far more (sparser time), yet customers gets its share: weights order a
    # stream's own requests, not one stream against another (which left a dense stream for the end)
    customers, charges = job("customers", 100, weight=1.0), job("charges", 100, weight=1000.0)
    counts = takes(Backfill(StubClient(), [customers, charges]), 10)  # type: ignore[arg-type]
    assert counts == {"customers": 5, "charges": 5}
    big, small = job("customers", 300, weight=1.0), job("charges", 100, weight=1.0)
    counts = takes(Backfill(StubClient(Limiter(20, 25)), [big, small]), 8)  # type: ignore[arg-type]
    assert counts == {"customers": 6, "charges": 2}  # the account is the limit: 3 to 1, as their work


def test_a_dense_walk_goes_first_and_a_stream_whose_endpoint_is_busy_yields():
    customers, charges = job("customers", 100, weight=1.0), job("charges", 1, weight=1.0, n=3)
    charges.ready.extend([PageRequest("top", 99, 5, 6, starting_after="ch_1", urgency=DENSE)])
    backfill = Backfill(StubClient(), [customers, charges])  # type: ignore[arg-type]
    first, req = backfill._take()  # type: ignore[misc]
    assert first.stream.name == "charges" and req.urgency == DENSE
    customers.in_flight = 8  # 25/s x 0.25 s + 1: its endpoint has all it can serve under way
    assert takes(backfill, 3) == {"charges": 3}
