"""Pure state transforms: planning a stream's run from its state, the account check, bad state messages."""
from __future__ import annotations

import pytest

from protocol.errors import ConfigError, ConnectorError
from source_stripe import state as st


def test_first_run_reads_everything_up_to_the_frozen_upper_bound():
    assert st.plan_time_stream("customers", None, 0, 1000) == ((0, 1000),
                                                               [{"gte": 0, "lt": 1000, "cursor": None}])


def test_unfinished_run_keeps_its_upper_bound_and_windows():
    data = {"accounted_range": {"gte": 0, "lt": 1000},
            "remaining": [{"gte": 10, "lt": 20, "cursor": "cus_1"}]}
    assert st.plan_time_stream("customers", data, 0, 5000) == ((0, 1000),
                                                               [{"gte": 10, "lt": 20, "cursor": "cus_1"}])


def test_finished_stream_extends_to_the_new_upper_bound():
    data = {"accounted_range": {"gte": 0, "lt": 1000}, "remaining": []}
    assert st.plan_time_stream("customers", data, 0, 5000) == ((0, 5000),
                                                               [{"gte": 1000, "lt": 5000, "cursor": None}])
    assert st.plan_time_stream("customers", data, 0, 1000) == ((0, 1000), [])


def test_an_earlier_start_date_adds_the_older_part():
    data = {"accounted_range": {"gte": 500, "lt": 1000}, "remaining": []}
    acc, windows = st.plan_time_stream("customers", data, 100, 1000)
    assert acc == (100, 1000) and windows == [{"gte": 100, "lt": 500, "cursor": None}]


def test_windows_outside_the_accounted_range_are_clipped_and_floor_kept():
    data = {"accounted_range": {"gte": 0, "lt": 100},
            "remaining": [{"gte": 50, "lt": 200, "cursor": None},
                          {"gte": 7, "lt": 8, "cursor": "a", "floor": "b"}]}
    _, windows = st.parse_time_state("x", data)
    assert windows == [{"gte": 50, "lt": 100, "cursor": None},
                       {"gte": 7, "lt": 8, "cursor": "a", "floor": "b"}]


@pytest.mark.parametrize("bad, where", [
    ({"remaining": []}, "accounted_range"),
    ({"accounted_range": {"gte": "0", "lt": 5}}, "accounted_range.gte"),
    ({"accounted_range": {"gte": 0, "lt": 5}, "remaining": [{"gte": 0, "lt": 5, "cursor": 3}]},
     "remaining[0].cursor"),
])
def test_bad_state_names_stream_and_field(bad, where):
    with pytest.raises(ConfigError) as exc:
        st.plan_time_stream("customers", bad, 0, 10)
    assert "customers" in exc.value.message and where in exc.value.message


def test_cursor_streams_resume_unless_done():
    assert st.plan_cursor_stream("apple_pay_domains", None) is None
    assert st.plan_cursor_stream("apple_pay_domains", {"cursor": "apwc_1", "done": False}) == "apwc_1"
    assert st.plan_cursor_stream("apple_pay_domains", {"cursor": None, "done": True}) is None


def test_state_of_another_account_or_mode_is_refused():
    glob = st.global_data({"id": "acct_A", "livemode": False}, None)
    st.check_account(glob, {"id": "acct_A", "livemode": False})
    st.check_account(None, {"id": "acct_B", "livemode": True})
    for other in ({"id": "acct_B", "livemode": False}, {"id": "acct_A", "livemode": True}):
        with pytest.raises(ConnectorError) as exc:
            st.check_account(glob, other)
        assert exc.value.code == "state_mismatch" and "acct_A" in exc.value.message


def test_aggregate_state_shape_errors():
    assert st.split_aggregate(None) == ({}, None)
    assert st.split_aggregate({"streams": {"a": {}}, "global": None}) == ({"a": {}}, None)
    with pytest.raises(ConfigError):
        st.split_aggregate({"streams": []})


def test_unknown_account_ids_compare_the_mode_only():
    glob = st.global_data({"id": None, "livemode": False}, None)
    st.check_account(glob, {"id": "acct_A", "livemode": False})
    with pytest.raises(ConnectorError):
        st.check_account(glob, {"id": None, "livemode": True})


_NOW = 1_700_000_000


@pytest.mark.parametrize("glob, where", [
    ({"account": "acct_1", "events_cursor": None}, "global.account"),
    ({"account": ["acct_1"], "events_cursor": None}, "global.account"),
    ({"account": {"id": 5, "livemode": False}, "events_cursor": None}, "global.account.id"),
    ({"events_cursor": {"created": _NOW, "seen": 5, "checked_at": _NOW}}, "global.events_cursor.seen"),
    ({"events_cursor": {"created": _NOW, "seen": "evt_1", "checked_at": _NOW}}, "global.events_cursor.seen"),
    ({"events_cursor": {"created": _NOW, "seen": [None], "checked_at": _NOW}}, "global.events_cursor.seen"),
    ({"events_cursor": {"created": _NOW, "seen": [], "checked_at": "x"}}, "global.events_cursor.checked_at"),
    ({"events_cursor": {"created": True, "seen": [], "checked_at": _NOW}}, "global.events_cursor"),
    ({"events": {"created": 1}}, "global.events"),
    ({"events": [{"created": 1, "seen": [], "checked_at": 1, "streams": "customers"}]},
     "global.events[0].streams"),
    ({"events": [{"created": "1", "streams": ["customers"]}]}, "global.events[0]"),
    ({"events": [], "snapshots": {"customers": {"id": 1, "scope": {}}}}, "global.snapshots.customers"),
])
def test_malformed_global_state_is_a_clear_config_error_not_a_crash(emulator, glob, where):
    """A global state of the wrong shape used to crash `read` (AttributeError/TypeError -> internal_error)."""
    from tests.source_stripe.conftest import read
    emu = emulator()
    # a fresh cursor: no expiry shortcut
    if "events_cursor" in glob and isinstance(glob["events_cursor"], dict):
        glob = {**glob, "events_cursor": {k: (emu.now() if v == _NOW else v)
                                          for k, v in glob["events_cursor"].items()}}
    with pytest.raises(ConfigError) as exc:
        read(emu, ["customers"], state={"streams": {}, "global": glob})
    assert where in exc.value.message


def test_a_start_date_after_the_upper_bound_reads_nothing_now_and_only_from_start_date_later():
    """A future start_date used to give an inverted accounted range (gte > lt) on the wire, and the next
    run then read [old upper, new upper): objects from before start_date."""
    acc, windows = st.plan_time_stream("customers", None, 5000, 1000)
    assert acc[0] <= acc[1] and windows == []
    data = {"accounted_range": {"gte": acc[0], "lt": acc[1]}, "remaining": []}
    acc2, windows2 = st.plan_time_stream("customers", data, 5000, 7000)
    assert acc2 == (5000, 7000) and windows2 == [{"gte": 5000, "lt": 7000, "cursor": None}]
    inverted = {"accounted_range": {"gte": 5000, "lt": 1000}, "remaining": []}  # written by the old code
    assert st.plan_time_stream("customers", inverted, 5000, 7000) == (acc2, windows2)


@pytest.mark.parametrize("done", ["false", "true", 0, None])
def test_a_cursor_state_whose_done_is_not_a_boolean_is_refused(done):
    """`"done": "false"` used to be read as done (bool("false") is True): the stream silently restarted."""
    with pytest.raises(ConfigError) as exc:
        st.plan_cursor_stream("checkout_sessions", {"cursor": "cs_1", "done": done})
    assert "checkout_sessions" in exc.value.message and "done" in exc.value.message


def test_stream_checkpoints_without_an_account_identity_are_refused():
    me = {"id": "acct_A", "livemode": False}
    st.check_account(None, me, has_stream_states=False)  # a first run: nothing to check
    st.check_account({"events_cursor": None}, me, has_stream_states=False)
    for glob in (None, {"events_cursor": None}, {"account": None}):
        with pytest.raises(ConnectorError) as exc:
            st.check_account(glob, me, has_stream_states=True)
        assert exc.value.code == "state_mismatch" and "no account identity" in exc.value.message


def test_a_parent_resumes_from_a_child_streams_copy_that_stayed_behind():
    old, new = {"cursor": "a", "done": False}, {"cursor": "b", "done": False}
    both = {"p": new, "c1": st.child_state("p", new), "c2": st.child_state("p", new)}
    assert st.parent_start_state("p", new, both, ["c1", "c2"]) == new
    behind = {**both, "c2": st.child_state("p", old)}  # a record of c2 could not be stored
    assert st.parent_start_state("p", new, behind, ["c1", "c2"]) == old
    two = {**behind, "c1": st.child_state("p", {"cursor": "z", "done": False})}
    assert st.parent_start_state("p", new, two, ["c1", "c2"]) is None  # from the start: only re-reads
    assert st.describe({"streams": {"p": {"cursor": None, "done": True}, "c1": st.child_state("p", new)},
                        "global": None})["streams"]["c1"]["complete"] is True
