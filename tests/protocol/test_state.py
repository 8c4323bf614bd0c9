"""protocol/state.py: the normative state shapes (aggregate, state keys, destination_stats, the
time-window checkpoint), read strictly where a source checks its own state and tolerantly elsewhere."""
from __future__ import annotations

import pytest

from protocol import state as protocol_state
from protocol.errors import ConfigError
from protocol.state import StateShapeError, Stats


def test_apply_is_pure_and_reports_changes():
    base = {"streams": {"a": {"n": 1}}, "global": None}
    same, changed = protocol_state.apply(base, {"state_type": "stream", "stream": "a", "data": {"n": 1}})
    assert same is base and not changed
    new, changed = protocol_state.apply(base, {"state_type": "stream", "stream": "b", "data": {"n": 2}})
    assert changed and new == {"streams": {"a": {"n": 1}, "b": {"n": 2}}, "global": None}
    assert base == {"streams": {"a": {"n": 1}}, "global": None}
    new, changed = protocol_state.apply(new, {"state_type": "global", "data": {"events_cursor": 3}})
    assert changed and new["global"] == {"events_cursor": 3}
    assert protocol_state.apply(base, {"state_type": "stream", "data": 1}) == (base, False)  # no stream name


def test_aggregate_shapes_tolerant_and_strict():
    assert protocol_state.normalize({"streams": None}) == {"streams": {}, "global": None}
    assert protocol_state.normalize({"global": {"g": 1}}) == {"streams": {}, "global": {"g": 1}}
    assert protocol_state.normalize([]) is None and protocol_state.normalize({"streams": []}) is None
    assert protocol_state.split(None) == ({}, None)
    assert protocol_state.split({"streams": {"a": 1}, "global": {}}) == ({"a": 1}, None)
    for bad, why in (([], "expected"), ({"streams": []}, "streams must be an object"),
                     ({"global": 3}, "global must be an object or null")):
        with pytest.raises(ConfigError, match=why):
            protocol_state.split(bad)
    assert protocol_state.state_key({"state_type": "stream", "stream": "a"}) == ("stream", "a", "")
    assert protocol_state.state_key({"state_type": "global"}) == ("global", "", "")
    assert protocol_state.state_key({"state_type": "stream"}) is None
    assert protocol_state.state_key({"state_type": "global", "partition": 3}) is None


def test_partition_states_have_aggregates_of_their_own():
    agg = protocol_state.empty()
    for payload in ({"state_type": "global", "data": {"g": 0}},
                    {"state_type": "stream", "stream": "c", "data": 1, "partition": "acct_a"},
                    {"state_type": "stream", "stream": "c", "data": 2, "partition": "acct_b"},
                    {"state_type": "global", "data": {"g": "a"}, "partition": "acct_a"}):
        agg, changed = protocol_state.apply(agg, payload)
        assert changed
    assert protocol_state.state_key({"state_type": "stream", "stream": "c", "partition": "acct_a"}) == \
        ("stream", "c", "acct_a")
    assert agg == {"streams": {}, "global": {"g": 0},
                   "partitions": {"acct_a": {"streams": {"c": 1}, "global": {"g": "a"}},
                                  "acct_b": {"streams": {"c": 2}, "global": None}}}
    assert protocol_state.apply(agg, {"state_type": "stream", "stream": "c", "data": 2,
                                      "partition": "acct_b"}) == (agg, False)
    assert protocol_state.data_at(agg, ("stream", "c", "acct_b")) == 2
    assert protocol_state.normalize(agg) == agg
    assert protocol_state.partitions(agg) == {"acct_a": ({"c": 1}, {"g": "a"}), "acct_b": ({"c": 2}, None)}
    with pytest.raises(ConfigError, match="partitions must be an object"):
        protocol_state.partitions({"partitions": []})


def test_destination_stats_are_read_tolerantly():
    assert Stats.from_wire({"inserted": 2, "deleted": "x", "updated": True}) == Stats(inserted=2)
    assert Stats.from_wire(None) == protocol_state.ZERO and Stats.from_wire({"updated": -3}).rows_written == 0
    assert Stats(1, 2, 3).plus(Stats(1, 1, 1)) == Stats(2, 3, 4) and Stats(1, 2, 3).rows_written == 6
    assert Stats(1, 2, 3).to_wire() == {"inserted": 1, "updated": 2, "deleted": 3, "unchanged": 0}
    assert Stats(0, 0, 0, 7).rows_written == 0 and Stats(0, 1, 0, 7).plus(Stats(unchanged=1)).unchanged == 8


def test_time_window_checkpoint():
    data = protocol_state.time_window((0, 100), [{"gte": 40, "lt": 60, "cursor": "c", "floor": "f"}])
    assert data == {"accounted_range": {"gte": 0, "lt": 100},
                    "remaining": [{"gte": 40, "lt": 60, "cursor": "c", "floor": "f"}]}
    assert protocol_state.parse_time_window(data) == ((0, 100), data["remaining"])
    assert protocol_state.covered((0, 100), data["remaining"]) == [(0, 40), (60, 100)]
    for bad, why in (({"remaining": []}, "expected"),
                     ({"accounted_range": {"gte": True, "lt": 1}}, "accounted_range.gte must be an integer"),
                     ({"accounted_range": {"gte": 0, "lt": 1}, "remaining": {}}, "remaining must be a list"),
                     ({"accounted_range": {"gte": 0, "lt": 1}, "remaining": [3]},
                      r"remaining\[0\] must be an"),
                     ({"accounted_range": {"gte": 0, "lt": 1}, "remaining": [{"gte": 0, "lt": "x"}]},
                      r"remaining\[0\].lt must be an integer"),
                     ({"accounted_range": {"gte": 0, "lt": 1},
                       "remaining": [{"gte": 0, "lt": 1, "cursor": 5}]},
                      r"remaining\[0\].cursor must be an object id or null")):
        with pytest.raises(StateShapeError, match=why):
            protocol_state.parse_time_window(bad)
