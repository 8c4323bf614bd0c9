"""Unit tests of engine/sync/restart.py: restart decisions, error classification, attempt failures."""
from __future__ import annotations

import pytest

from engine.sync.restart import (Failure, History, RestartPolicy, backoff, classify_error, decide,
                                 exit_failure,
                                 signal_failure)

POLICY = RestartPolicy(max_restarts=4, poison_threshold=3, base_delay=1.0, max_delay=10.0, jitter=0.2)

CRASH = Failure("exit", "source_failed", "the source exited with code 1", 1)

@pytest.mark.parametrize("payload,kind", [
    ({"scope": "global", "code": "auth_failed", "retryable": False}, "global_permanent"),
    ({"scope": "global", "code": "invalid_config", "retryable": True}, "global_permanent"),
    ({"scope": "global", "code": "server_error", "retryable": True}, "transient"),
    ({"scope": "transient", "code": "network", "retryable": True}, "transient"),
    ({"scope": "stream", "stream": "charges", "code": "permission_denied", "retryable": False},
     "stream_permanent"),
    ({"scope": "stream", "stream": "charges", "code": "rate_limited", "retryable": True}, "stream_retryable"),
    # a stream error without a stream
    ({"scope": "stream", "code": "x", "retryable": False}, "global_permanent"),
])

def test_classify_error(payload, kind):
    assert classify_error(payload) == kind

def test_backoff_doubles_caps_and_jitters():
    assert [backoff(POLICY, n, 0.5) for n in (1, 2, 3, 4, 5, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(POLICY, 1, 0.0) == pytest.approx(0.8) and backoff(POLICY, 1, 0.999) == pytest.approx(1.2,
                                                                                                        abs=1e-3)

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

def test_only_attempts_without_progress_count_toward_giving_up():
    history = decide(POLICY, History(), CRASH, progressed=True, rand=0.5).history  # moved data, then crashed
    for _ in range(2):  # the same crash twice more without progress: not yet three in a row
        decision = decide(POLICY, history, CRASH, progressed=False, rand=0.5)
        assert decision.restart, decision.reason
        history = decision.history
    decision = decide(POLICY, history, CRASH, progressed=False, rand=0.5)
    assert not decision.restart and "3 times in a row without progress" in decision.reason


def test_an_outage_is_never_a_poison_it_gets_the_whole_backoff():
    outage = Failure("destination", "network", "cannot connect to db:5432", 1)
    history, delays = History(), []
    for _ in range(4):
        decision = decide(POLICY, history, outage, progressed=False, rand=0.5)
        assert decision.restart, decision.reason
        delays.append(decision.delay)
        history = decision.history
    assert delays == [1.0, 2.0, 4.0, 8.0]
    decision = decide(POLICY, history, outage, progressed=False, rand=0.5)
    assert not decision.restart and "4 restarts without progress" in decision.reason


def test_permanent_failures_are_never_retried():
    decision = decide(POLICY, History(), Failure("permanent", "auth_failed", "bad key"), progressed=True,
                      rand=0.5)
    assert not decision.restart and "not retried" in decision.reason

def test_signal_failure_maps_errors_to_attempt_failures_and_left_out_streams():
    failure, out = signal_failure("error", {"scope": "global", "code": "auth_failed", "retryable": False,
                                            "message": "Invalid API key"})
    assert failure.permanent and failure.code == "auth_failed" and out is None
    failure, out = signal_failure("error", {"scope": "transient", "code": "network", "retryable": True,
                                            "message": "reset"})
    assert failure.kind == "transient" and not failure.permanent
    failure, out = signal_failure("error",
                                  {"scope": "stream", "stream": "charges", "code": "permission_denied",
                                            "retryable": False, "message": "no"})
    assert failure is None and out == ("charges", "[permission_denied] no")
    assert signal_failure("bad_message", {"message": "line 3: invalid JSON"})[0].kind == "bad_message"
    assert signal_failure("control", {}) == (None, None)

def test_exit_failure_reads_exit_codes_and_unfinished_streams():
    assert exit_failure(0, "", [], []) is None
    assert exit_failure(2, "Error: no such option", [], []).permanent
    crash = exit_failure(-9, "", [], [])
    assert crash.kind == "crash" and crash.message == "the source was killed by SIGKILL"
    assert exit_failure(1, "boom", [], []).message == "the source exited with code 1: boom"
    assert "without finishing stream(s) a, b" in exit_failure(0, "", ["b", "a"], []).message
    assert exit_failure(0, "", [], ["c"]).kind == "transient"

def test_the_total_restart_cap_ends_even_a_run_that_progresses():
    policy = RestartPolicy(max_restarts=4, poison_threshold=3, max_total_restarts=3)
    history = History()
    for _ in range(3):
        decision = decide(policy, history, CRASH, progressed=True, rand=0.5)
        assert decision.restart
        history = decision.history
    decision = decide(policy, history, CRASH, progressed=True, rand=0.5)
    assert not decision.restart and "3 restarts in this run" in decision.reason
    assert CRASH.message in decision.reason
    unlimited = RestartPolicy(max_total_restarts=0)
    assert decide(unlimited, History(total_restarts=10_000), CRASH, progressed=True, rand=0.5).restart
