"""protocol/ranges.py against a brute-force model: a set of ranges is the set of whole seconds it covers."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ranges
from protocol.ranges import (add, covers, from_wire, intersect, list_from_wire, list_to_wire, merge, subtract,
                             to_wire, total_length, wire_problem)

range_st = st.tuples(st.integers(0, 40), st.integers(0, 40))  # includes empty and reversed ranges
ranges_st = st.lists(range_st, max_size=8)


def seconds(rs) -> set[int]:
    return {s for a, b in rs for s in range(a, b)}


def is_canonical(rs) -> bool:
    """Sorted, non-empty, and separated by a gap (adjacent ranges must have been joined)."""
    return all(a < b for a, b in rs) and all(rs[i][1] < rs[i + 1][0] for i in range(len(rs) - 1))


@settings(max_examples=300)
@given(ranges_st)
def test_merge_covers_exactly_the_union_and_is_canonical(rs):
    merged = merge(rs)
    assert seconds(merged) == seconds(rs)
    assert is_canonical(merged)
    assert merge(merged) == merged  # idempotent
    assert merge(list(reversed(rs))) == merged  # order does not matter


@given(ranges_st)
def test_merge_is_the_unique_canonical_form(rs):
    covered = sorted(seconds(rs))
    expected = []
    for s in covered:  # rebuild maximal runs of consecutive seconds
        if expected and expected[-1][1] == s:
            expected[-1] = (expected[-1][0], s + 1)
        else:
            expected.append((s, s + 1))
    assert merge(rs) == expected


@settings(max_examples=300)
@given(ranges_st, ranges_st)
def test_subtract_matches_set_difference(rs, removed):
    result = subtract(rs, removed)
    assert seconds(result) == seconds(rs) - seconds(removed)
    assert is_canonical(result)


@given(ranges_st, ranges_st)
def test_subtract_then_add_back_restores_a_covering(rs, removed):
    rest = subtract(rs, removed)
    cut_out = [part for r in removed for part in intersect(rs, r)]
    assert merge(rest + cut_out) == merge(rs)  # what was cut out plus what is left: exactly the start
    for r in removed:
        rest = add(rest, r)
    assert all(covers(rest, r) for r in rs)  # adding back whole removed ranges covers the start again
    assert seconds(rest) == seconds(rs) | seconds(removed)


@settings(max_examples=300)
@given(ranges_st, range_st)
def test_covers_matches_subset(rs, target):
    assert covers(rs, target) == (seconds([target]) <= seconds(rs))


@given(ranges_st, range_st)
def test_intersect_and_total_length(rs, window):
    assert seconds(intersect(rs, window)) == seconds(rs) & seconds([window])
    assert total_length(rs) == len(seconds(rs))


@given(ranges_st, range_st)
def test_add_is_merge_with_one_more(rs, new):
    assert add(rs, new) == merge([*rs, new])
    assert seconds(add(rs, new)) == seconds(rs) | seconds([new])


def test_table_of_edge_cases():
    assert merge([(1, 3), (3, 5)]) == [(1, 5)]  # adjacent ranges join
    assert merge([(1, 3), (4, 5)]) == [(1, 3), (4, 5)]  # a one-second gap stays
    assert merge([(5, 5), (7, 6)]) == []  # empty and reversed ranges vanish
    assert subtract([(0, 10)], [(3, 5)]) == [(0, 3), (5, 10)]
    assert subtract([(0, 10)], [(0, 10)]) == []
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert covers([(0, 5), (5, 10)], (2, 8))
    assert not covers([(0, 5), (6, 10)], (2, 8))
    assert covers([], (3, 3))  # an empty target is always covered
    assert intersect([(0, 10), (20, 30)], (5, 25)) == [(5, 10), (20, 25)]


def test_wire_round_trip():
    assert to_wire((1, 2)) == {"gte": 1, "lt": 2}
    assert from_wire({"gte": "1", "lt": 2}) is None  # no coercion: the wire form holds integers
    rs = [(1, 2), (5, 9)]
    assert list_from_wire(list_to_wire(rs)) == rs
    assert ranges.normalize([(3, 1), (1, 3)]) == [(1, 3)]


def test_from_wire_is_the_one_tolerant_reader_of_the_wire_form():
    assert from_wire({"gte": 1, "lt": 2, "extra": 0}) == (1, 2)
    assert [from_wire(v)
            for v in (None, [], {"gte": 1}, {"gte": True, "lt": 2}, {"gte": 1.0, "lt": 2})] == [None] * 5
    assert list_from_wire([{"gte": 1, "lt": 2}, "x", {"gte": 3}]) == [(1, 2)] and list_from_wire(None) == []
    assert wire_problem({"gte": 1, "lt": "2"}) == "lt must be an integer (Unix seconds), got '2'"
    assert wire_problem({"gte": 1, "lt": 2}) is None
