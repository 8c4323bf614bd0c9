"""`engine sync` with fake connectors: restarts from confirmed state after crashes, garbage and hangs,
gives up on poison and permanent errors, skips a stream with a permanent error, survives SIGTERM,
reports a destination crash, and resumes from the state file when the destination keeps no state."""
from __future__ import annotations

import json
import signal
import subprocess
import time

from protocol.validate import MessageValidator
from tests.engine.conftest import ROOT, SECRET_KEY, child_env

ALL = {"customers": 12, "charges": 7}


def ids(db: dict, stream: str) -> list[str]:
    return sorted(db["tables"].get(stream, {}))


def assert_complete(result, streams=ALL):
    db = result.db()
    for name, count in streams.items():
        assert ids(db, name) == [f"{name}_{i:05d}" for i in range(count)], name
        assert db["state"]["streams"][name]["remaining"] == []


def test_happy_path_confirms_state_and_persists_it(runner):
    r = runner.sync()
    assert r.code == 0, r.stderr
    assert r.eof["status"] == "succeeded" and r.eof["has_more"] is False
    assert_complete(r)
    assert r.eof["state"] == r.db()["state"]
    assert json.loads((r.dir / "state.json").read_text()) == r.db()["state"]
    totals = json.loads((r.dir / "state.json.totals.json").read_text())
    assert totals["records"] == 19 and totals["inserted"] == 19 and totals["sync_complete"] is True
    assert r.messages[0]["type"] != "record" and not r.of("record")  # records go to the destination only
    assert "sync succeeded: 19 records" in r.stderr
    validator = MessageValidator(full=True)
    assert all(validator.errors(m) == [] for m in r.messages)
    again = runner.sync()  # the next run starts from the confirmed state: nothing left to read
    assert again.code == 0 and again.attempts()[-1]["starts"] == {"customers": 12, "charges": 7}


def test_source_exit_1_midway_restarts_from_confirmed_state(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 8, "how": "exit1"}, {}]))
    assert r.code == 0, r.stderr
    assert_complete(r)
    attempts = r.attempts()
    assert [a["starts"] for a in attempts] == [{"customers": 0, "charges": 0}, {"customers": 5, "charges": 0}]
    assert "exited with code 1" in r.stderr and "simulated crash" in r.stderr
    assert r.eof["progress"]["restarts"] == 1


def test_garbage_from_the_source_is_a_clear_error_then_a_restart(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 3, "how": "garbage"}, {}]))
    assert r.code == 0, r.stderr
    assert_complete(r)
    assert "bad line from the source: line" in r.stderr and "starts with: <html>502 Bad Gateway" in r.stderr


def test_hung_source_is_killed_after_the_timeout_and_restarted(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 6, "how": "hang"}, {}]), None,
                    "--source-timeout", "1")
    assert r.code == 0, r.stderr
    assert_complete(r)
    assert "printed nothing for 1s" in r.stderr


def test_the_same_failure_again_and_again_ends_the_run_with_a_clear_error(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 0, "how": "exit1"}]))
    assert r.code == 1
    assert len(r.attempts()) == 3  # poison threshold, no hot loop
    assert r.eof["status"] == "failed" and r.eof["has_more"] is True
    error = r.errors()[-1]
    assert error["code"] == "source_failed" and "same failure happened 3 times" in error["message"]
    assert "not (fully) synced: charges, customers" in r.stderr


def test_a_crash_after_progress_keeps_what_was_committed(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 6, "how": "sigkill"},
                                                    {"fail_after": 0, "how": "sigkill"}]))
    assert r.code == 1
    assert "killed by SIGKILL" in r.stderr
    db = r.db()
    # the first page was confirmed
    assert set(ids(db, "customers")) >= {f"customers_{i:05d}" for i in range(5)}
    assert r.eof["state"]["streams"]["customers"]["remaining"][0]["gte"] == 1_600_000_005
    assert json.loads((r.dir / "state.json").read_text()) == r.eof["state"]


def test_a_permanent_global_error_stops_at_once_with_its_code(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 2, "how": "auth"}]))
    assert r.code == 1
    assert len(r.attempts()) == 1
    assert r.errors()[-1]["code"] == "auth_failed" and "not retried" in r.errors()[-1]["message"]


def test_a_transient_error_trace_restarts_the_source(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 4, "how": "transient"}, {}]))
    assert r.code == 0, r.stderr
    assert_complete(r)
    assert len(r.attempts()) == 2


def test_a_stream_with_a_permanent_error_is_left_out_of_later_attempts(runner):
    r = runner.sync(runner.source_config(behaviour=[
        {"stream_error": {"stream": "customers"}, "fail_after": 3, "how": "exit1"}, {}]))
    attempts = r.attempts()
    assert [a["catalog"] for a in attempts] == [["customers", "charges"], ["charges"]]
    assert_complete(r, {"charges": 7})
    assert r.code == 1 and r.eof["status"] == "partial"
    assert r.eof["progress"]["streams"]["customers"]["errors"][0]["code"] == "permission_denied"
    assert "not (fully) synced: customers" in r.stderr


def test_sigterm_stops_the_source_lets_the_destination_commit_and_saves_state(runner):
    argv = runner.argv("sync", runner.source_config(streams={"customers": 400}, page=10,
                                                    behaviour=[{"sleep": 0.01}]),
                       runner.destination_config(), "--state-file", str(runner.dir / "state.json"),
                       "--progress", "plain", "--output", "json")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=child_env())
    deadline = time.time() + 30
    while time.time() < deadline and not (runner.dir / "state.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    r = runner.result(proc.returncode, out, err)
    assert r.code == 143, r.stderr
    assert r.eof["status"] == "partial" and r.eof["has_more"] is True
    saved = json.loads((r.dir / "state.json").read_text())
    assert saved == r.eof["state"] == r.db()["state"]
    done = saved["streams"]["customers"]["remaining"][0]["gte"] - 1_600_000_000
    assert done > 0 and set(ids(r.db(), "customers")) >= {f"customers_{i:05d}" for i in range(done)}
    assert "interrupted by SIGTERM" in r.stderr


def test_a_destination_crash_restarts_both_from_the_confirmed_state_and_applies_nothing_twice(runner):
    # every destination process commits two states, then crashes: restarted each time, from what it echoed
    r = runner.sync(runner.source_config(streams={"customers": 40}),
                    runner.destination_config(fail_after_states=2))
    assert r.code == 0, r.stderr
    assert_complete(r, {"customers": 40})
    totals = json.loads((r.dir / "state.json.totals.json").read_text())
    assert (totals["inserted"], totals["updated"]) == (40, 0)  # no record written twice
    starts = [a["starts"]["customers"] for a in r.attempts()]
    # each attempt from the state the dead destination confirmed last (the fourth dies after the end)
    assert starts == [0, 10, 20, 30, 40]
    assert r.eof["progress"]["restarts"] == 4
    assert "the destination failed: the destination exited with code 1: fake destination: disk full; " \
           "restarting both from the last confirmed state in" in r.stderr


def test_a_destination_that_keeps_failing_gives_up_with_a_clear_retryable_error(runner):
    r = runner.sync(runner.source_config(streams={"customers": 40}),
                    runner.destination_config(fail_after_states=2, crash_stays=True), timeout=60)
    assert r.code == 1
    error = r.errors()[-1]
    assert error["code"] == "destination_failed" and error["retryable"] is True
    assert "same failure happened 3 times in a row" in error["message"]
    assert "disk still full" in error["message"]
    assert "Confirmed state covers: customers" in error["message"]
    assert r.eof["state"]["streams"]["customers"]["remaining"][0]["gte"] == 1_600_000_010
    assert r.eof["progress"]["restarts"] == 3


def test_without_a_destination_state_command_the_state_file_is_used(runner):
    dest = runner.destination_config(no_state_command=True)
    first = runner.sync(runner.source_config(behaviour=[{"fail_after": 7, "how": "auth"}]), dest)
    assert first.code == 1
    assert json.loads((first.dir / "state.json").read_text())["streams"]["customers"]["remaining"][0]["gte"] \
        == 1_600_000_005
    (runner.dir / "attempts").unlink()
    second = runner.sync(runner.source_config(), dest)
    assert second.code == 0, second.stderr
    assert second.attempts()[-1]["starts"] == {"customers": 5, "charges": 0}
    assert_complete(second)


def test_streams_option_reads_only_those_streams_and_rejects_unknown_ones(runner):
    r = runner.sync(None, None, "--streams", "charges")
    assert r.code == 0, r.stderr
    assert r.attempts()[-1]["catalog"] == ["charges"] and set(r.db()["tables"]) == {"charges"}
    bad = runner.sync(None, None, "--streams", "nope")
    assert bad.code == 2 and "unknown stream(s) nope" in bad.stderr
    assert "available: charges, customers" in bad.stderr


def test_follow_is_passed_to_the_source_and_secrets_never_show(runner):
    r = runner.sync(runner.source_config(behaviour=[{"stderr": f"debug: using key {SECRET_KEY}"}]), None,
                    "--follow")
    assert r.code == 0, r.stderr
    assert r.attempts()[-1]["follow"] is True
    assert "source: debug: using key ****" in r.stderr  # the source's stderr, redacted


def test_engine_check_prints_a_verdict(runner):
    ok = subprocess.run(runner.argv("check", runner.source_config(), runner.destination_config()),
                        capture_output=True, cwd=ROOT, env=child_env(), timeout=30)
    assert ok.returncode == 0 and b"verdict: ready to sync" in ok.stderr
    assert json.loads(ok.stdout)["connection_status"]["status"] == "succeeded"
    bad = subprocess.run(runner.argv("check", runner.source_config(),
                                     runner.destination_config(fail_check=True)),
                         capture_output=True, cwd=ROOT, env=child_env(), timeout=30)
    assert bad.returncode == 1
    assert b"destination: FAILED [network] cannot connect to the fake db" in bad.stderr
    assert b"source: OK - fake source ok" in bad.stderr and b"verdict: NOT ready" in bad.stderr


def test_a_source_command_that_does_not_exist_is_a_clear_error(runner):
    argv = runner.argv("sync", runner.source_config(), runner.destination_config(), "--state-file",
                       str(runner.dir / "state.json"), "--output", "json", "--progress", "none")
    argv[argv.index("--source") + 1] = "/nonexistent/source-stripe"
    proc = subprocess.run(argv, capture_output=True, timeout=60, cwd=ROOT, env=child_env())
    r = runner.result(proc.returncode, proc.stdout, proc.stderr)
    assert r.code == 1 and r.eof["status"] == "failed"
    assert "cannot start the source '/nonexistent/source-stripe'" in r.stderr


# ---- giving up: only real progress resets the counters; a hard cap on restarts -------------------------

def test_state_changes_without_data_are_not_progress_the_same_crash_ends_the_run(runner):
    # every attempt confirms a different global state (the events cursor's checked_at follows the new
    # upper bound) but reads nothing, then crashes the same way: three attempts, not a restart loop
    r = runner.sync(runner.source_config(behaviour=[{"bump": True, "fail_after": 0, "how": "exit1"}]),
                    None, "--max-restarts", "50", timeout=30)
    assert r.code == 1, r.stderr
    assert len(r.attempts()) == 3
    assert r.eof["status"] == "failed" and r.eof["has_more"] is True
    error = r.errors()[-1]
    assert error["code"] == "source_failed"
    assert "same failure happened 3 times in a row" in error["message"]
    assert "exited with code 1" in error["message"]
    assert r.eof["state"]["global"]["events_cursor"]["checked_at"] == 1_600_001_003  # confirmed, and saved
    assert json.loads((r.dir / "state.json").read_text()) == r.eof["state"]


def test_a_crash_at_the_first_record_of_a_stream_after_others_completed_ends_the_run(runner):
    # customers completes (real progress, once); charges crashes at its first record on every attempt;
    # later attempts only move the finished stream's accounted_range.lt and the events cursor
    r = runner.sync(runner.source_config(behaviour=[{"bump": True, "fail_at_stream": "charges",
                                                     "how": "exit1"}]),
                    None, "--streams", "customers,charges", "--max-restarts", "50", timeout=30)
    assert r.code == 1, r.stderr
    # the first attempt's progress does not count toward the poison threshold: three more attempts
    assert [a["starts"] for a in r.attempts()] == [{"customers": 0, "charges": 0}] + \
        [{"customers": 12, "charges": 0}] * 3
    error = r.errors()[-1]
    assert "same failure happened 3 times in a row" in error["message"]
    assert "simulated crash" in error["message"]
    assert_complete(r, {"customers": 12})
    saved = json.loads((r.dir / "state.json").read_text())
    assert saved == r.eof["state"] and saved["streams"]["customers"]["accounted_range"]["lt"] == 1_600_000_015
    assert "charges" not in saved["streams"]
    assert "not (fully) synced: charges" in r.stderr and "3 restart(s)" in r.stderr


def test_after_progress_only_attempts_without_progress_count_toward_the_poison_threshold(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 6, "how": "exit1"},
                                                    {"fail_after": 0, "how": "exit1"}]), timeout=30)
    assert r.code == 1, r.stderr
    assert len(r.attempts()) == 4  # the attempt that made progress, then three that made none
    assert "same failure happened 3 times in a row" in r.errors()[-1]["message"]


def test_restarts_with_progress_end_at_the_total_restart_cap(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 6, "how": "exit1"}]), None,
                    "--max-total-restarts", "2", timeout=30)
    assert r.code == 1, r.stderr
    assert len(r.attempts()) == 3  # every attempt confirmed new pages: only the cap stops it
    assert "gave up after 2 restarts in this run" in r.errors()[-1]["message"]
    assert r.eof["status"] == "failed" and r.eof["progress"]["restarts"] == 2
    assert json.loads((r.dir / "state.json").read_text()) == r.eof["state"]


# ---- a run that fails before the source starts still ends with eof ------------------------------------

def _eof_last(r) -> dict:
    assert r.messages[-1]["type"] == "eof", r.messages
    eof = r.eof
    assert eof["status"] == "failed" and eof["has_more"] is True
    assert MessageValidator(full=True).errors(r.messages[-1]) == []
    return eof


def test_a_missing_destination_command_ends_with_a_failed_eof_carrying_the_state_file(runner):
    known = {"streams": {"customers": {"accounted_range": {"gte": 1, "lt": 2}, "remaining": []}},
             "global": None}
    (runner.dir / "state.json").write_text(json.dumps(known))
    argv = runner.argv("sync", runner.source_config(), runner.destination_config(), "--state-file",
                       str(runner.dir / "state.json"), "--output", "json", "--progress", "none")
    argv[argv.index("--destination") + 1] = "/nonexistent/destination-postgres"
    proc = subprocess.run(argv, capture_output=True, timeout=60, cwd=ROOT, env=child_env())
    r = runner.result(proc.returncode, proc.stdout, proc.stderr)
    assert r.code == 1
    assert _eof_last(r)["state"] == known
    assert r.errors()[-1]["code"] == "destination_failed"
    assert "cannot start the destination" in r.stderr


def test_an_unreachable_destination_ends_with_a_failed_eof_and_a_retryable_network_error(runner):
    r = runner.sync(None, runner.destination_config(state_error="network"))
    assert r.code == 1
    assert _eof_last(r)["state"] == {"streams": {}, "global": None}  # no state file: nothing known
    error = r.errors()[-1]
    assert error["code"] == "network" and error["retryable"] is True
    assert "cannot load the confirmed state" in error["message"]
    assert "cannot connect to the fake db" in r.stderr
    bad_password = runner.sync(None, runner.destination_config(state_error="auth_failed"))
    assert bad_password.code == 1 and _eof_last(bad_password)
    assert bad_password.errors()[-1]["code"] == "auth_failed"
    assert bad_password.errors()[-1]["retryable"] is False


def test_the_source_starts_while_the_state_loads_and_no_discover_runs_first(runner):
    first = runner.sync(runner.source_config(behaviour=[{"fail_after": 7, "how": "auth"}]))
    assert first.code == 1
    loaded = first.db()["state"]
    (runner.dir / "attempts").unlink()
    r = runner.sync(runner.source_config(fail_discover=True), runner.destination_config(state_delay=0.5),
                    "--streams", "customers")  # `discover` would fail: it is not run
    assert r.code == 0, r.stderr
    started = float((runner.dir / "started-1").read_text())
    state_printed = float((runner.dir / "db.json.state-printed").read_text())
    assert started < state_printed  # the source process was up before the confirmed state was known
    resume_at = loaded["streams"]["customers"]["remaining"][0]["gte"] - 1_600_000_000
    assert r.attempts()[-1]["starts"] == {"customers": resume_at}  # and it read that state, from the pipe


def test_a_state_that_cannot_load_stops_the_early_source_before_it_reads_anything(runner):
    started = runner.dir / "started-1"  # the source writes it first thing; the state fails only after
    r = runner.sync(None, runner.destination_config(state_error="network", state_waits_for=str(started)))
    assert r.code == 1 and r.errors()[-1]["code"] == "network"
    assert started.exists() and r.attempts() == []  # started, never read a state


# ---- progress and restart decisions come from protocol messages only: any state format ---------------

TOKENS = {"state_format": "tokens"}


def covered_seconds(r, stream: str) -> list[int]:
    """How much of the stream's range the engine showed as completed, status after status (enriched
    stream_status traces, then progress traces)."""
    shown = [t["stream_status"] for t in r.of("trace", "stream_status")
             if t["stream_status"]["stream"] == stream]
    shown += [t["progress"]["streams"][stream] for t in r.of("trace", "progress")]
    return [sum(x["lt"] - x["gte"] for x in s["completed_ranges"]) for s in shown]


def test_a_source_with_another_state_format_gets_per_stream_progress(runner):
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 8, "how": "exit1"}, {}], **TOKENS))
    assert r.code == 0, r.stderr
    # the fake's format
    assert r.db()["state"]["streams"]["customers"] == {"page_token": "p12", "position": 12}
    assert [a["starts"] for a in r.attempts()] == [{"customers": 0, "charges": 0},
                                                   {"customers": 5, "charges": 0}]
    for name, total in ALL.items():
        seen = covered_seconds(r, name)
        assert any(0 < x < total for x in seen) and seen[-1] == total, (name, seen)
        final = r.eof["progress"]["streams"][name]
        assert final["status"] == "complete" and final["record_count"] >= total
        assert final["completed_ranges"] == [final["total_range"]] == [{"gte": 1_600_000_000,
                                                                        "lt": 1_600_000_000 + total}]
    assert "customers: 15 records" in r.stderr  # the plain view's line when the stream completed


def test_no_progress_verdict_with_another_state_format(runner):
    # every attempt confirms a different state (a new watermark, a refreshed token) but moves no data
    r = runner.sync(runner.source_config(behaviour=[{"bump": True, "fail_at_stream": "charges",
                                                     "how": "exit1"}],
                                         **TOKENS), None, "--max-restarts", "50", timeout=30)
    assert r.code == 1, r.stderr
    assert len(r.attempts()) == 4  # customers completed in the first attempt (progress, once); then poison
    error = r.errors()[-1]
    assert "same failure happened 3 times in a row" in error["message"]
    assert "simulated crash" in error["message"]
    assert r.eof["state"]["global"] == {"watermark": 1_600_001_004}
    assert r.eof["state"]["streams"]["customers"] == {"page_token": "p12", "position": 12, "refreshed": 4}


def test_progress_verdict_with_another_state_format_and_no_destination_stats(runner):
    # each attempt confirms new pages; the destination reports no destination_stats, so the records sent
    # before each confirmed state are what shows progress: only the total restart cap ends the run
    r = runner.sync(runner.source_config(behaviour=[{"fail_after": 6, "how": "exit1"}], **TOKENS),
                    runner.destination_config(no_stats=True), "--max-total-restarts", "2", timeout=30)
    assert r.code == 1, r.stderr
    assert [a["starts"]["customers"] for a in r.attempts()] == [0, 5, 10]
    assert "gave up after 2 restarts in this run" in r.errors()[-1]["message"]


def test_each_connector_gets_only_what_it_needs_of_the_environment(runner):
    import os

    db_url = "postgresql://sync:Db-Pa55word-42@db.internal/stripe"
    env_file = str(runner.dir / "env.jsonl")
    argv = runner.argv("sync", runner.source_config(env_file=env_file),
                       runner.destination_config(env_file=env_file),
                       "--state-file", str(runner.dir / "state.json"), "--output", "none",
                       "--progress", "none")
    env = {**child_env(), "STRIPE_API_KEY": SECRET_KEY, "DATABASE_URL": db_url,
           "PGPASSWORD": "Db-Pa55word-42", "PGHOST": "db.internal", "MY_KEY_COPY": SECRET_KEY,
           "STRIPE_SYNC_STATE_DIR": str(runner.dir)}
    proc = subprocess.run(argv, capture_output=True, timeout=60, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    by_role: dict[str, list[dict]] = {"source": [], "destination": []}
    for line in (runner.dir / "env.jsonl").read_text().splitlines():
        entry = json.loads(line)
        by_role["destination" if entry["command"] in ("write", "state") else "source"].append(entry["env"])
    assert len(by_role["source"]) == 1 and len(by_role["destination"]) == 2  # read; state and write
    for child in by_role["source"]:  # the network-facing source: nothing of the database, not the key either
        assert not {"DATABASE_URL", "PGPASSWORD", "PGHOST", "STRIPE_API_KEY", "MY_KEY_COPY"} & set(child)
        assert "Db-Pa55word-42" not in json.dumps(child) and child["PATH"] == os.environ["PATH"]
    for child in by_role["destination"]:  # the destination: nothing of Stripe, libpq's variables kept
        assert not {"STRIPE_API_KEY", "MY_KEY_COPY", "STRIPE_SYNC_STATE_DIR"} & set(child)
        assert SECRET_KEY not in json.dumps(child) and child["PGPASSWORD"] == "Db-Pa55word-42"


def test_a_destination_that_ignores_snapshot_markers_gets_them_and_the_engine_warns(runner):
    r = runner.sync(runner.source_config(behaviour=[{"snapshot": True}]))
    assert r.code == 0, r.stderr
    assert_complete(r)
    assert "the destination does not answer snapshot markers: deletes older than the source's event " \
           "window are not swept" in r.stderr
    assert "re-read in full as a snapshot" in r.stderr  # the markers reached the view
    assert r.eof["status"] == "succeeded"
