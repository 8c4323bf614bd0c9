"""Unit tests of engine.supervisor (restart decisions, classification, generation tags) and of the
pure parts of engine.state_store (atomic state file, totals)."""
from __future__ import annotations

import os
import stat

import pytest

from engine.state_store import StateStore, Totals, sync_id
from engine.supervisor import (AttemptProgress, Failure, History, RestartPolicy, backoff, classify_error,
                               decide, generation_of, tag_state)
from protocol.errors import ConfigError
from protocol.jsonio import loads
from protocol.state import Stats

POLICY = RestartPolicy(max_restarts=4, poison_threshold=3, base_delay=1.0, max_delay=10.0, jitter=0.2)
CRASH = Failure("exit", "source_failed", "the source exited with code 1", 1)


@pytest.mark.parametrize("payload,kind", [
    ({"scope": "global", "code": "auth_failed", "retryable": False}, "global_permanent"),
    ({"scope": "global", "code": "invalid_config", "retryable": True}, "global_permanent"),
    ({"scope": "global", "code": "server_error", "retryable": True}, "transient"),
    ({"scope": "transient", "code": "network", "retryable": True}, "transient"),
    ({"scope": "stream", "stream": "charges", "code": "permission_denied", "retryable": False}, "stream_permanent"),
    ({"scope": "stream", "stream": "charges", "code": "rate_limited", "retryable": True}, "stream_retryable"),
    ({"scope": "stream", "code": "x", "retryable": False}, "global_permanent"),  # a stream error without a stream
])
def test_classify_error(payload, kind):
    assert classify_error(payload) == kind


def test_backoff_doubles_caps_and_jitters():
    assert [backoff(POLICY, n, 0.5) for n in (1, 2, 3, 4, 5, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(POLICY, 1, 0.0) == pytest.approx(0.8) and backoff(POLICY, 1, 0.999) == pytest.approx(1.2, abs=1e-3)


def test_the_same_failure_n_times_in_a_row_gives_up():
    history, delays = History(), []
    for _ in range(2):
        decision = decide(POLICY, history, CRASH, progressed=False, rand=0.5)
        assert decision.restart
        delays.append(decision.delay)
        history = decision.history
    assert delays == [1.0, 2.0]
    decision = decide(POLICY, history, CRASH, progressed=False, rand=0.5)
    assert not decision.restart and "3 times in a row" in decision.reason


def test_different_failures_still_end_after_max_restarts_without_progress():
    history = History()
    for n in range(4):
        failure = Failure("exit", "source_failed", f"exit {n}", n + 1)
        decision = decide(POLICY, history, failure, progressed=False, rand=0.5)
        assert decision.restart
        history = decision.history
    decision = decide(POLICY, history, Failure("hang", "timeout", "hung"), progressed=False, rand=0.5)
    assert not decision.restart and "4 restarts without progress" in decision.reason


def test_progress_resets_the_counters_and_the_backoff():
    history = History()
    for _ in range(2):
        history = decide(POLICY, history, CRASH, progressed=False, rand=0.5).history
    decision = decide(POLICY, history, CRASH, progressed=True, rand=0.5)
    assert decision.restart and decision.delay == 1.0 and decision.history.total_restarts == 3


def test_permanent_failures_are_never_retried():
    decision = decide(POLICY, History(), Failure("permanent", "auth_failed", "bad key"), progressed=True, rand=0.5)
    assert not decision.restart and "not retried" in decision.reason


def test_generation_tag_round_trip_keeps_every_key():
    msg = {"type": "state", "state": {"state_type": "stream", "stream": "c", "data": {"x": 1}, "extra": True}}
    tagged = loads(tag_state(msg, 7))
    assert tagged["state"] == {**msg["state"], "_generation": 7}
    assert generation_of(tagged["state"]) == 7 and generation_of({"_generation": True}) is None
    assert msg["state"].get("_generation") is None  # the input is not modified


def test_state_store_atomic_private_files(tmp_path):
    store = StateStore(tmp_path / "sub" / "state.json")
    assert store.load() is None
    store.save({"streams": {"a": {"n": 1}}, "global": {"events_cursor": 1}})
    assert store.load() == {"streams": {"a": {"n": 1}}, "global": {"events_cursor": 1}}
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["state.json"]  # no temporary file left
    store.path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        store.load()


def test_totals_accumulate_and_survive_bad_files(tmp_path):
    store = StateStore(tmp_path / "state.json")
    assert store.load_totals() == Totals()
    totals = Totals(runs=1).plus(records=10, requests=3, elapsed_ms=500, stats=Stats(inserted=8, updated=2))
    store.save_totals(totals)
    assert store.load_totals() == Totals(runs=1, records=10, requests=3, elapsed_ms=500, inserted=8, updated=2)
    store.totals_path.write_text("[]")
    assert store.load_totals() == Totals()


def test_sync_id_is_stable_and_secret_free():
    a = sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "s"}})
    assert a == sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "s"}})
    assert a != sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "t"}})


def test_signal_failure_maps_errors_to_attempt_failures_and_left_out_streams():
    from engine.supervisor import signal_failure

    failure, out = signal_failure("error", {"scope": "global", "code": "auth_failed", "retryable": False,
                                            "message": "Invalid API key"})
    assert failure.permanent and failure.code == "auth_failed" and out is None
    failure, out = signal_failure("error", {"scope": "transient", "code": "network", "retryable": True,
                                            "message": "reset"})
    assert failure.kind == "transient" and not failure.permanent
    failure, out = signal_failure("error", {"scope": "stream", "stream": "charges", "code": "permission_denied",
                                            "retryable": False, "message": "no"})
    assert failure is None and out == ("charges", "[permission_denied] no")
    assert signal_failure("bad_message", {"message": "line 3: invalid JSON"})[0].kind == "bad_message"
    assert signal_failure("control", {}) == (None, None)


def test_exit_failure_reads_exit_codes_and_unfinished_streams():
    from engine.supervisor import exit_failure

    assert exit_failure(0, "", [], []) is None
    assert exit_failure(2, "Error: no such option", [], []).permanent
    crash = exit_failure(-9, "", [], [])
    assert crash.kind == "crash" and crash.message == "the source was killed by SIGKILL"
    assert exit_failure(1, "boom", [], []).message == "the source exited with code 1: boom"
    assert "without finishing stream(s) a, b" in exit_failure(0, "", ["b", "a"], []).message
    assert exit_failure(0, "", [], ["c"]).kind == "transient"


def test_run_status_and_summary():
    from engine.outcome import RunSummary, run_status, summary

    assert run_status("done", 0, "succeeded", None) == ("succeeded", 0)
    assert run_status("done", 0, "partial", None) == ("partial", 1)
    assert run_status("done", 2, "succeeded", None) == ("failed", 1)  # states the destination never confirmed
    assert run_status("interrupted", 5, "partial", 15) == ("partial", 143)
    assert run_status("failed", 0, "succeeded", None) == ("failed", 1)
    text = summary(RunSummary("partial", 143, 1200, 3.25, 1, "/s.json", ("source_failed", "gave up"),
                              ["charges"], {"issuing_cards": "not enabled"}))
    assert text.splitlines() == [
        "engine: sync partial: 1,200 records in 3.2s, 1 restart(s); state saved to /s.json; interrupted by "
        "SIGTERM: the next run resumes from the confirmed state",
        "engine: error [source_failed]: gave up",
        "engine: not (fully) synced: charges",
        "engine: skipped by the source: issuing_cards (not enabled)"]


def test_summary_groups_skipped_streams_by_reason():
    from engine.outcome import RunSummary, summary

    text = summary(RunSummary("succeeded", 0, 10, 1.0, 0, None, None, [],
                              {"issuing_cards": "not enabled", "issuing_disputes": "not enabled", "quotes": "403"}))
    assert text.splitlines()[-1] == \
        "engine: skipped by the source: issuing_cards, issuing_disputes (not enabled); quotes (403)"


def test_the_total_restart_cap_ends_even_a_run_that_progresses():
    policy = RestartPolicy(max_restarts=4, poison_threshold=3, max_total_restarts=3)
    history = History()
    for _ in range(3):
        decision = decide(policy, history, CRASH, progressed=True, rand=0.5)
        assert decision.restart
        history = decision.history
    decision = decide(policy, history, CRASH, progressed=True, rand=0.5)
    assert not decision.restart and "3 restarts in this run" in decision.reason and CRASH.message in decision.reason
    unlimited = RestartPolicy(max_total_restarts=0)
    assert decide(unlimited, History(total_restarts=10_000), CRASH, progressed=True, rand=0.5).restart


CUSTOMERS, GLOBAL_KEY = ("stream", "customers"), ("global", "")
NO_ROWS = Stats()


def test_only_real_progress_counts():
    # a changed confirmation alone is not progress: a finished stream whose state follows the new upper
    # bound, an events cursor whose only change is a timestamp, a first state with all still to do
    attempt = AttemptProgress(2)
    attempt.forwarded(GLOBAL_KEY, {"cursor": {"checked_at": 90}}, had_records=False)
    attempt.confirmed(GLOBAL_KEY, {"cursor": {"checked_at": 90}}, NO_ROWS, changed=True)
    attempt.forwarded(CUSTOMERS, {"lt": 260}, had_records=False)
    attempt.confirmed(CUSTOMERS, {"lt": 260}, NO_ROWS, changed=True)
    assert not attempt.progressed(set()) and attempt.changed == {GLOBAL_KEY, CUSTOMERS}
    # an unchanged state is never progress, even with rows (a replay of what was committed)
    attempt.confirmed(CUSTOMERS, {"lt": 260}, Stats(inserted=5), changed=False)
    assert not attempt.progressed(set())
    # the stream advanced by stream_status alone (a range inside the known one completed) and its changed
    # state was confirmed; a stream that advanced without a changed confirmation does not count
    assert attempt.progressed({"customers"}) and not attempt.progressed({"charges"})


def test_rows_written_or_records_before_a_confirmed_state_are_progress():
    rows = AttemptProgress(1)
    rows.confirmed(CUSTOMERS, {"n": 1}, Stats(inserted=2), changed=True)  # e.g. new objects in a new range
    assert rows.progressed(set())
    events = AttemptProgress(1)  # events handled: records came before the global state (no stats)
    events.forwarded(GLOBAL_KEY, {"cursor": 1}, had_records=False)
    events.forwarded(GLOBAL_KEY, {"cursor": 2}, had_records=True)
    events.confirmed(GLOBAL_KEY, {"cursor": 1}, NO_ROWS, changed=True)
    assert not events.progressed(set())  # the state sent before any record moved nothing
    events.confirmed(GLOBAL_KEY, {"cursor": 2}, NO_ROWS, changed=True)
    assert events.progressed(set())
    cursor = AttemptProgress(1)  # a cursor stream's pages: records, then a changed state
    cursor.forwarded(CUSTOMERS, {"cursor": "b"}, had_records=True)
    cursor.confirmed(CUSTOMERS, {"cursor": "b"}, NO_ROWS, changed=True)
    assert cursor.progressed(set())
