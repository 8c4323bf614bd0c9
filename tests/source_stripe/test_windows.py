"""The pure pagination planners against an in-memory Stripe-like list: exact, resumable, efficient."""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from source_stripe.windows import (DENSE, FRESH, WALK, CursorPlanner, PageRequest, PaginationError, Pace,
                                   SplitPolicy, WindowPlanner, split_ranges)
from tests.source_stripe.fake_list import FakeList, answer, drive

SMALL = SplitPolicy(limit=10, part_pages=3, max_parts=6)


def dataset(rng: random.Random, n: int, span: int, bursts=()) -> list[tuple[int, str]]:
    keys = [(rng.randrange(span), f"o{i:06d}") for i in range(n)]
    j = n
    for at, count in bursts:
        keys += [(at, f"o{j + k:06d}") for k in range(count)]
        j += count
    return keys


def planner_for(gte: int, lt: int, policy: SplitPolicy = SMALL, two_ended: bool = True) -> WindowPlanner:
    return WindowPlanner((gte, lt), [{"gte": gte, "lt": lt, "cursor": None}], policy, ending_before=two_ended)


def assert_exact(emitted: list[str], expected: list[str]) -> None:
    assert len(emitted) == len(set(emitted)), "duplicates emitted"
    assert sorted(emitted) == sorted(expected)


datasets = hs.builds(
    lambda seed, n, span, bursts: (seed, n, span, bursts),
    hs.integers(0, 10**6), hs.integers(0, 400), hs.integers(1, 5000),
    hs.lists(hs.tuples(hs.integers(0, 4999), hs.integers(2, 120)), max_size=3))


@settings(max_examples=150, deadline=None)
@given(datasets, hs.booleans(), hs.integers(1, 12))
def test_every_object_exactly_once(ds, two_ended, in_flight):
    seed, n, span, bursts = ds
    rng = random.Random(seed)
    bursts = [(min(at, span - 1), c) for at, c in bursts]
    server = FakeList(dataset(rng, n, span, bursts))
    run = drive(planner_for(0, span, two_ended=two_ended), server, rng, max_in_flight=in_flight)
    assert_exact(run.emitted, server.ids_in(0, span))


@settings(max_examples=80, deadline=None)
@given(datasets, hs.integers(1, 10**6))
def test_resume_from_any_checkpoint_completes_exactly(ds, cut_seed):
    seed, n, span, bursts = ds
    rng = random.Random(seed)
    bursts = [(min(at, span - 1), c) for at, c in bursts]
    server = FakeList(dataset(rng, n, span, bursts))
    full = drive(planner_for(0, span), server, random.Random(seed), max_in_flight=6)
    if not full.checkpoints:
        return
    k = random.Random(cut_seed).randrange(len(full.checkpoints))
    before, snap = full.checkpoints[k]
    resumed = WindowPlanner(tuple(snap["accounted_range"].values()), snap["remaining"], SMALL)
    rest = drive(resumed, server, random.Random(cut_seed), max_in_flight=6)
    assert_exact(full.emitted[:before] + rest.emitted, server.ids_in(0, span))


def test_a_thousand_objects_in_one_second_come_out_once_and_walk_from_both_ends():
    server = FakeList([(500, f"b{i:04d}") for i in range(1000)] + [(i, f"s{i}") for i in range(0, 1000, 7)])
    policy = SplitPolicy(limit=100)
    run = drive(planner_for(0, 1000, policy), server, random.Random(1), max_in_flight=16)
    assert_exact(run.emitted, server.ids_in(0, 1000))
    one_ended = FakeList(server.keys)
    drive(planner_for(0, 1000, policy, two_ended=False), one_ended, random.Random(1), max_in_flight=16)
    assert server.requests <= one_ended.requests + 3


def test_dense_second_chain_is_about_halved():
    """10 pages in one second: a single chain takes 10 sequential round trips, two ends about 5 each."""
    server = FakeList([(7, f"d{i:04d}") for i in range(1000)] + [(3, "older")])
    planner = planner_for(0, 10, SplitPolicy(limit=100))
    rounds = 0
    ready = planner.initial_requests()
    emitted = []
    while ready:  # every ready request runs in parallel in one round
        rounds += 1
        nxt = []
        for req in ready:
            keys, more = (server.query(None, req.lt, limit=1) if req.kind == "anchor" else
                          server.query(req.gte, req.lt, req.starting_after, req.ending_before, req.limit))
            if req.kind == "anchor":
                nxt += planner.on_anchor(req, keys)
                continue
            out = planner.on_page(req, keys, more)
            emitted += [k[0] for k in keys[out.emit[0]:out.emit[1]]]
            nxt += out.requests
        ready = nxt
    assert_exact(emitted, server.ids_in(0, 10))
    assert rounds <= 8, rounds


def test_empty_and_tiny_ranges_cost_one_request():
    server = FakeList([])
    run = drive(planner_for(0, 10**9), server, random.Random(0))
    assert run.emitted == [] and server.requests == 1
    server = FakeList([(5, "a"), (5, "b"), (6, "c")])
    run = drive(planner_for(0, 10**9, SplitPolicy()), server, random.Random(0))
    assert_exact(run.emitted, ["a", "b", "c"])
    assert server.requests == 1


@pytest.mark.parametrize("skew", [1.0, 2.0, 3.0])
def test_request_count_close_to_minimum(skew):
    """Requests stay within 1.3 x the minimum number of pages + 5 (skewed to recent, from time 0)."""
    rng = random.Random(3)
    now = 1_700_000_000
    keys = [(now - int(5 * 365 * 86400 * rng.random() ** skew) - 1, f"c{i:06d}") for i in range(20_000)]
    server = FakeList(keys)
    run = drive(planner_for(0, now, SplitPolicy()), server, rng, max_in_flight=16)
    assert_exact(run.emitted, server.ids_in(0, now))
    minimum = math.ceil(len(keys) / 100)
    assert server.requests <= 1.3 * minimum + 5, (server.requests, minimum)


def test_snapshot_is_a_value_and_merges_fresh_windows():
    planner = WindowPlanner((0, 100),
                            [{"gte": 0, "lt": 50, "cursor": None}, {"gte": 50, "lt": 100, "cursor": None}])
    snap = planner.snapshot()
    assert snap == {"accounted_range": {"gte": 0, "lt": 100},
                    "remaining": [{"gte": 0, "lt": 100, "cursor": None}]}
    snap["remaining"].clear()
    assert planner.snapshot()["remaining"]


def test_page_shrinks_window_to_the_cursor_second_and_reports_the_covered_range():
    planner = planner_for(0, 100, SplitPolicy(limit=3, part_pages=100))
    (req,) = planner.initial_requests()
    out = planner.on_page(req, [("c", 90), ("b", 80), ("a", 70)], has_more=True)
    assert out.emit == (0, 3)
    assert out.completed == [(71, 100)]
    assert planner.snapshot()["remaining"] == [{"gte": 0, "lt": 71, "cursor": "a"}]
    assert out.requests == [PageRequest("top", req.wid, 0, 71, starting_after="a", limit=3)]


def test_missing_cursor_rereads_the_window_without_losing_anything():
    server = FakeList([(i // 3, f"x{i:03d}") for i in range(60)])
    planner = planner_for(0, 20, SplitPolicy(limit=5, part_pages=100))
    (req,) = planner.initial_requests()
    keys, more = server.query(req.gte, req.lt, limit=5)
    out = planner.on_page(req, keys, more)
    emitted = [k[0] for k in keys]
    (nxt,) = out.requests
    (retry,) = planner.on_missing_cursor(nxt)
    assert retry.starting_after is None and retry.lt == nxt.lt
    rest = drive_from(planner, server, [retry])
    assert set(emitted + rest) == set(server.ids_in(0, 20))


def drive_from(planner, server, ready):
    emitted = []
    while ready:
        req = ready.pop()
        keys, more = server.query(req.gte, req.lt, req.starting_after, req.ending_before, req.limit)
        out = planner.on_page(req, keys, more)
        emitted += [k[0] for k in keys[out.emit[0]:out.emit[1]]]
        ready += out.requests
    return emitted


def test_repeating_cursor_is_refused():
    planner = planner_for(0, 100, SplitPolicy(limit=2, part_pages=100))
    (req,) = planner.initial_requests()
    out = planner.on_page(req, [("b", 50), ("a", 40)], True)
    with pytest.raises(PaginationError):
        planner.on_page(out.requests[0], [("c", 40), ("a", 40)], True)


@settings(max_examples=300, deadline=None)
@given(hs.integers(0, 10**9), hs.integers(1, 10**9), hs.integers(0, 10**6),
       hs.one_of(hs.none(), hs.floats(1e-6, 1e4)), hs.integers(0, 40), hs.floats(0, 30), hs.floats(0, 2))
def test_split_ranges_cover_the_range_top_first_without_gaps(lo, width, age, density, spare, work, rtt):
    hi = lo + width
    parts = split_ranges(lo, hi, density, hi + age, SplitPolicy(), Pace(spare, rtt, work))
    assert parts[0][1] == hi and parts[-1][0] == lo
    assert all(a < b for a, b in parts)
    assert all(p[0] == q[1] for p, q in zip(parts, parts[1:], strict=False))
    assert len(parts) <= SplitPolicy().max_parts


def test_split_ranges_keep_a_small_window_whole_and_fan_out_with_spare_budget():
    assert split_ranges(0, 10, 5.0, 100, SplitPolicy()) == [(0, 10)]  # half a page left: just go on
    # 1 object/s over 10,000 s below an age of 1,000 s: 20 pages trusted (down to age 3,000), then unknown
    assert split_ranges(0, 10_000, 1.0, 11_000, SplitPolicy()) == [(0, 10_000)]  # no budget to spare
    free = split_ranges(0, 10_000, 1.0, 11_000, SplitPolicy(), Pace(spare=15))
    assert len(free) == 5 + 3
    assert sum(1 for a, _ in free if a >= 8_000) == 5  # known zone: parts of about min_part_pages
    ages = [11_000 - a for a, _ in free if a < 8_000]  # unknown zone: geometric in age, down to 0
    assert ages[-1] == 11_000 and all(x < y for x, y in zip(ages, ages[1:], strict=False))
    # a walk that would outlast all known work at the rates splits even without spare budget: 20 pages
    # walked one by one take 10 s, all known work needs 4 s: three parts
    *known, tail = split_ranges(0, 10_000, 1.0, 11_000, SplitPolicy(), Pace(0, 0.5, 4.0))
    assert len(known) == 3 and known[0][1] == 10_000 and known[-1][0] == 8_000 and tail == (0, 8_000)
    widths = [b - a for a, b in known]
    assert widths == sorted(widths)  # deeper parts wider: data thins out with age


def test_cursor_planner_pages_to_the_end_and_resumes():
    server = FakeList([(i, f"k{i:03d}") for i in range(250)])
    planner = CursorPlanner(limit=100)
    run = drive(planner, server, random.Random(0))
    assert_exact(run.emitted, server.ids_in(0, 250))
    assert planner.snapshot() == {"cursor": None, "done": True}
    resumed = CursorPlanner(cursor=run.emitted[99], limit=100)
    rest = drive(resumed, server, random.Random(0))
    assert_exact(run.emitted[:100] + rest.emitted, server.ids_in(0, 250))


def test_a_page_ending_in_a_crowded_second_isolates_it_and_walks_it_from_both_ends_once_it_is_big():
    # 50 objects one per second above a second holding 300, then sparse data below
    keys = [(950 + i, f"a{i:03d}") for i in range(50)] + [(900, f"d{i:03d}") for i in range(300)]
    keys += [(i, f"s{i:03d}") for i in range(0, 900, 9)]
    server = FakeList(keys)
    planner = planner_for(0, 1000, SplitPolicy(limit=100))
    (first,) = planner.initial_requests()
    assert first.urgency == FRESH  # nothing known of this time yet
    page, more = answer(server, first)  # 50 sparse objects, then 50 of second 900
    out = planner.on_page(first, page, more, Pace(spare=4))
    (top,) = [r for r in out.requests if (r.gte, r.lt) == (900, 901)]
    assert top.urgency == DENSE and not [r for r in out.requests if r.kind in ("anchor", "bottom")]
    assert all(r.urgency in (FRESH, WALK) for r in out.requests if r is not top)
    # a second full page in it: it is big, the bottom walk starts (nothing older seen: an anchor first)
    second, more = answer(server, top)
    out2 = planner.on_page(top, second, more)
    assert [(r.kind, r.urgency) for r in out2.requests] == [("top", DENSE), ("anchor", DENSE)]
    rest = drive(planner, server, random.Random(2), max_in_flight=8, pending=out.requests[1:] + out2.requests)
    emitted = [k[0] for k in page] + [k[0] for k in second] + rest.emitted
    assert_exact(emitted, server.ids_in(0, 1000))


def test_a_burst_of_a_page_or_two_costs_no_anchor_request():
    older = [(i, f"s{i:03d}") for i in range(0, 500, 50)]
    server = FakeList([(500, f"b{i:03d}") for i in range(150)] + older)
    run = drive(planner_for(0, 1000, SplitPolicy(limit=100)), server, random.Random(3), max_in_flight=1)
    assert_exact(run.emitted, server.ids_in(0, 1000))
    assert server.requests == 3  # the burst's two pages, one of the older objects: no anchor, no bottom walk


def test_the_walk_with_the_most_pages_left_weighs_most():
    # longest chain first: a crowded window walked last would be walked alone at the end (it did: a
    # stream's most recent 38 days waited 11 s behind sparse walks, then ran alone at its endpoint's rate)
    planner = planner_for(0, 10_000, SplitPolicy(limit=10, part_pages=1000))
    (req,) = planner.initial_requests()
    out = planner.on_page(req, [(f"n{i}", 9_999 - i) for i in range(10)], True)  # 1 object/s at the top
    (walk,) = out.requests
    sparse = planner_for(0, 10_000, SplitPolicy(limit=10, part_pages=1000))
    (req,) = sparse.initial_requests()
    (walk_sparse,) = sparse.on_page(req, [(f"n{i}", 9_999 - 100 * i) for i in range(10)], True).requests
    assert walk.urgency == walk_sparse.urgency == WALK
    assert walk.weight > walk_sparse.weight  # ~1,000 pages left against ~10
