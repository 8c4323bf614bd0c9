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
    assert counts == {"customers": 5, "charges": 3}  # the account is the limit: more for more work,
    # yet never less than an equal share (4.5 and 3 of the 6 the account serves in a round trip)


def test_a_stream_whose_estimate_is_still_small_may_split_to_an_equal_share():
    # live mode: 7 streams of one account; one stream's first pages showed much work, the others' little
    # (unexplored windows count one page). With half an equal share (1.9 of the 26 requests the account
    # serves in a round trip) the others had no spare request to split by and walked one window each at
    # a few requests per second until the first ran out, then ended alone at their endpoints' rate
    names = ["customers", "charges", "invoices", "payment_intents", "products", "prices", "refunds"]
    jobs = [job(name, 1000.0 if name == "customers" else 1.0, weight=1.0, n=0) for name in names]
    for j in jobs:
        j.in_flight = 1
    backfill = Backfill(StubClient(), jobs, max_concurrent_requests=32)  # type: ignore[arg-type]
    assert [backfill._pace(j).spare for j in jobs[1:]] == [2] * 6  # 26 / 7 = 3.7, one under way


def test_a_dense_walk_goes_first_and_a_stream_whose_endpoint_is_busy_yields():
    customers, charges = job("customers", 100, weight=1.0), job("charges", 1, weight=1.0, n=3)
    charges.ready.extend([PageRequest("top", 99, 5, 6, starting_after="ch_1", urgency=DENSE)])
    backfill = Backfill(StubClient(), [customers, charges])  # type: ignore[arg-type]
    first, req = backfill._take()  # type: ignore[misc]
    assert first.stream.name == "charges" and req.urgency == DENSE
    customers.in_flight = 8  # 25/s x 0.25 s + 1: its endpoint has all it can serve under way
    assert takes(backfill, 3) == {"charges": 3}
