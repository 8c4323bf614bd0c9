"""Unit tests of engine.tracker: range merging, status derivation, enrichment, anomalies, progress."""
from __future__ import annotations

from engine.tracker import Tracker


def status(stream, st, **extra):
    return {"stream": stream, "status": st, **extra}


def make(names=("customers", "charges")):
    t = Tracker(start_ms=0)
    t.set_catalog(names)
    return t


def test_completed_ranges_merge_half_open_and_adjacent():
    t = make()
    t.on_status(status("customers", "started", time_range={"gte": 0, "lt": 100}), 10)
    for gte, lt in [(50, 60), (0, 10), (10, 20), (60, 70), (30, 40)]:
        t.on_status(status("customers", "started", range_complete={"gte": gte, "lt": lt}), 20)
    snap = t.snapshot(1000)["streams"]["customers"]
    assert snap["completed_ranges"] == [{"gte": 0, "lt": 20}, {"gte": 30, "lt": 40}, {"gte": 50, "lt": 70}]
    assert snap["total_range"] == {"gte": 0, "lt": 100}


def test_enriched_status_carries_counts_rates_and_ranges():
    t = make()
    enriched, warnings, changed = t.on_status(status("customers", "started", time_range={"gte": 0, "lt": 10},
                                                     request_count=4), 1000)
    assert changed and not warnings
    for _ in range(50):
        assert t.on_record("customers") is None
    enriched, warnings, changed = t.on_status(status("customers", "complete",
                                                     range_complete={"gte": 0, "lt": 10}),
                                              3000)
    assert changed and not warnings
    assert enriched["record_count"] == 50
    assert enriched["records_per_second"] == 25.0
    assert enriched["completed_ranges"] == [{"gte": 0, "lt": 10}]
    assert enriched["total_range"] == {"gte": 0, "lt": 10}
    assert enriched["status"] == "complete"
    assert t.request_count == 4


def test_range_complete_on_a_started_stream_is_not_a_status_change():
    t = make()
    t.on_status(status("customers", "started"), 0)
    _, warnings, changed = t.on_status(status("customers", "started", range_complete={"gte": 0, "lt": 5}), 1)
    assert not changed and not warnings


def test_anomalies_become_warnings_once():
    t = make()
    assert t.on_state({"state_type": "stream", "stream": "customers", "data": {}}) == \
        (True, "stream 'customers': state before the stream started")
    assert t.on_state({"state_type": "stream", "stream": "customers", "data": {}}) == (True, None)
    t.on_status(status("customers", "started"), 0)
    _, warnings, _ = t.on_status(status("customers", "started"), 0)
    assert warnings == ["stream 'customers': started twice"]
    t.on_status(status("customers", "complete"), 0)
    assert t.on_record("customers") == "stream 'customers': record after the stream was complete"
    assert t.on_record("customers") is None
    assert t.on_record("ghost") == "stream 'ghost' is not in the catalog: its record messages are dropped"
    assert t.on_record("ghost") is None
    assert t.dropped_record_count == 2
    forward, warning = t.on_state({"state_type": "stream", "stream": "ghost", "data": {}})
    assert not forward and warning is None  # already warned about this stream
    enriched, warnings, _ = t.on_status(status("other", "started"), 0)
    assert enriched is None and warnings == ["stream 'other' is not in the catalog: its stream_status "
                                             "messages are dropped"]


def test_outcome_and_has_more():
    t = make()
    assert t.outcome(True) == "partial" and t.has_more()
    t.on_status(status("customers", "started"), 0)
    t.on_status(status("customers", "complete"), 0)
    t.on_status(status("charges", "skipped", reason="not enabled"), 0)
    assert t.outcome(True) == "succeeded" and not t.has_more()
    assert t.outcome(False) == "failed"
    t.on_error({"scope": "stream", "stream": "charges", "code": "permission_denied", "retryable": False,
                "message": "no"})
    # the source skipped it
    assert t.outcome(True) == "succeeded" and t.skipped() == {"charges": "not enabled"}
    t.on_error({"scope": "stream", "stream": "customers", "code": "server_error", "retryable": True,
                "message": "502"})
    assert t.outcome(True) == "partial" and t.errored() == ["customers"] and t.has_more()
    t.on_error({"scope": "global", "code": "auth_failed", "retryable": False, "message": "bad key"})
    assert t.outcome(True) == "failed"


def test_a_stream_that_ended_after_a_stream_error_has_more():
    # the protocol ends an errored stream `complete` with its checkpoint where the error left it; the
    # tracker knows that from the error trace, not from the state's contents
    t = make(["customers"])
    t.on_status(status("customers", "started"), 0)
    t.on_state({"state_type": "stream", "stream": "customers",
                "data": {"accounted_range": {"gte": 0, "lt": 10},
                         "remaining": [{"gte": 5, "lt": 10, "cursor": "x"}]}})
    t.on_status(status("customers", "complete"), 0)
    assert not t.has_more()  # the state is opaque: `remaining` in it means nothing to the engine
    t.on_error({"scope": "stream", "stream": "customers", "code": "invalid_request", "retryable": False,
                "message": "400"})
    assert t.has_more()


def test_seed_state_is_the_opaque_base_of_the_state_aggregate():
    t = make()
    data = {"accounted_range": {"gte": 0, "lt": 100},
            "remaining": [{"gte": 40, "lt": 60, "cursor": "cus_1"}, {"gte": 90, "lt": 100, "cursor": None}]}
    t.seed_state({"streams": {"customers": data, "unknown": {}}, "global": {"events_cursor": 5}})
    snap = t.snapshot(0)
    assert snap["streams"]["customers"]["completed_ranges"] == []
    assert snap["streams"]["customers"]["total_range"] is None
    assert t.state_aggregate() == {"streams": {"customers": data}, "global": {"events_cursor": 5}}
    # what was done shows as completed when the source announces it, whatever its state format
    t.on_status(status("customers", "started", time_range={"gte": 0, "lt": 100}), 1)
    for gte, lt in ((0, 40), (60, 90)):
        t.on_status(status("customers", "started", range_complete={"gte": gte, "lt": lt}), 1)
    assert t.snapshot(2)["streams"]["customers"]["completed_ranges"] == [{"gte": 0, "lt": 40},
                                                                         {"gte": 60, "lt": 90}]


def test_advanced_streams_come_from_protocol_messages_only():
    t = make(["customers", "charges", "refunds"])
    t.on_status(status("customers", "started", time_range={"gte": 0, "lt": 100}), 0)
    t.on_status(status("customers", "started", range_complete={"gte": 90, "lt": 100}), 0)
    t.on_status(status("charges", "started"), 0)
    t.on_status(status("charges", "complete"), 0)  # completed for the first time in the run
    t.on_status(status("refunds", "started"), 0)
    assert t.advanced_streams() == {"customers", "charges"}
    t.new_attempt()
    assert t.advanced_streams() == set()
    # the next attempt: a new upper bound adds (100, 120); completing it, or what was done, is not progress
    t.on_status(status("customers", "started", time_range={"gte": 0, "lt": 120}), 0)
    for done in ((90, 120), (95, 100)):
        t.on_status(status("customers", "started", range_complete={"gte": done[0], "lt": done[1]}), 0)
    t.on_status(status("charges", "started"), 0)
    t.on_status(status("charges", "complete"), 0)  # complete again: nothing new
    assert t.advanced_streams() == set()
    t.on_status(status("customers", "started", range_complete={"gte": 10, "lt": 20}), 0)  # inside (0, 100)
    t.on_record("refunds")
    assert t.advanced_streams() == {"customers"}
    assert t.attempt_records("refunds") == 1 and t.attempt_records(None) == 1 and t.attempt_records("x") == 0


def test_snapshot_rates_window_and_requests_across_attempts():
    t = make(["customers"])
    t.on_status(status("customers", "started", request_count=10), 0)
    for _ in range(100):
        t.on_record("customers")
    first = t.snapshot(1000)
    assert first["record_count"] == 100 and first["records_per_second"] == 100.0
    for _ in range(100):
        t.on_record("customers")
    second = t.snapshot(3000)
    assert second["window_records_per_second"] == 50.0  # 100 records in the 2 s since the last sample
    t.new_attempt()  # a restarted source counts its requests from zero again
    _, warnings, changed = t.on_status(status("customers", "started", request_count=3), 4000)
    assert changed and not warnings
    assert t.request_count == 13
    assert t.snapshot(4000)["request_count"] == 13


def test_new_attempt_accepts_a_new_lifecycle_but_keeps_counts_and_permanent_errors():
    t = make()
    t.on_status(status("customers", "started"), 0)
    t.on_record("customers")
    t.on_status(status("customers", "complete"), 0)
    t.on_error({"scope": "stream", "stream": "charges", "code": "permission_denied", "retryable": False,
                "message": "no"})
    t.new_attempt()
    _, warnings, _ = t.on_status(status("customers", "started"), 0)
    assert not warnings
    assert t.streams["customers"].record_count == 1
    assert t.streams["charges"].permanent_error


def test_errors_are_bounded():
    t = make(["customers"])
    for i in range(20):
        t.on_error({"scope": "stream", "stream": "customers", "code": "server_error", "retryable": True,
                    "message": f"boom {i}"})
    snap = t.snapshot(0)["streams"]["customers"]
    assert len(snap["errors"]) == 5 and snap["error_count"] == 20
    assert snap["errors"][-1]["message"] == "boom 19"


def test_the_tracker_follows_the_protocol_lifecycle_table_tolerantly():
    # the same table as the conformance kit (protocol.lifecycle): the first terminal status wins, a second
    # one is a warning; notes after the end and a record before the start are tolerated silently
    t = make(["customers"])
    assert t.on_record("customers") is None
    t.on_status(status("customers", "started"), 0)
    t.on_status(status("customers", "complete"), 0)
    _, warnings, changed = t.on_status(status("customers", "skipped", reason="x"), 0)
    assert warnings == ["stream 'customers': skipped after complete"] and not changed
    _, warnings, changed = t.on_status(status("customers", "started", range_complete={"gte": 0, "lt": 5}), 0)
    assert not warnings and not changed
    assert t.streams["customers"].status == "complete" and t.skipped() == {}
