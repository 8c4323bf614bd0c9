"""The conformance kit (protocol/conformance/) on connectors written in POSIX shell (language-agnostic),
on a Python connector built on connector_kit, and on the installed executables; plus its pure checkers."""
from __future__ import annotations

import subprocess
import sys

import pytest

from protocol import messages
from protocol.conformance import Options, check_destination, check_source
from protocol.conformance.checks import EchoChecker, ReadChecker
from protocol.conformance.report import FAIL, PASS, SKIP, Report
from tests.connector_kit.conftest import FAKES as KIT_FAKES
from tests.protocol.conftest import FAKES

KEY = "sk_test_kitSecret0042"
CONFIG = f'{{"api_key": "{KEY}"}}'
DST_CONFIG = '{"url": "postgresql://kit:kit-pw-0042@localhost/db"}'


def shell(script: str, bug: str | None = None) -> list[str]:
    return (["env", f"BUG={bug}"] if bug else []) + ["sh", str(FAKES / script)]


def failures(report: Report) -> dict[str, str]:
    return {c.name: f"line {c.line_no}: {c.reason} | {c.excerpt}" for c in report.by_status(FAIL)}


def kit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "protocol.conformance", *args], capture_output=True,
                          text=True,
                          timeout=120)


def test_shell_source_passes_through_the_command_line():
    proc = kit("source", "--config", CONFIG, "--", "sh", str(FAKES / "source_ok.sh"))
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0] == f"conformance: source sh {FAKES / 'source_ok.sh'}"
    assert lines[-1].startswith("result: PASS (") and "0 failed" in lines[-1]
    assert all(line.startswith(("PASS  ", "SKIP  ")) for line in lines[1:-1])
    for name in ("spec: exit code", "usage: exit code", "check: connection succeeded",
                 "discover: one catalog message with unique stream names",
                 "read: first message is the catalog",
                 "read: exactly one terminal status (complete/skipped) per stream",
                 "read: no secret in stdout or stderr"):
        assert any(line.startswith(f"PASS  {name}") for line in lines), name


def test_broken_shell_source_fails_through_the_command_line():
    proc = kit("source", "--config", CONFIG, "--", *shell("source_broken.sh", "state_before_started"))
    assert proc.returncode == 1
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert line.startswith("FAIL  read: a stream state comes after its stream started -- line 2: state for "
                           "stream 'customers' before its stream_status started | {\"type\":\"state\"")
    assert proc.stdout.splitlines()[-1].startswith("result: FAIL (")


@pytest.mark.parametrize("bug,check,reason", [
    ("state_before_started", "read: a stream state comes after its stream started",
     "line 2: state for stream 'customers' before its stream_status started"),
    ("record_before_started", "read: each stream starts once, before its records",
     "line 8: record for stream 'invoices' before its stream_status started"),
    ("missing_terminal", "read: exactly one terminal status (complete/skipped) per stream",
     "no complete/skipped status for 1 stream(s): 'invoices' (started at line 8)"),
    ("duplicate_terminal", "read: exactly one terminal status (complete/skipped) per stream",
     "line 8: second terminal status for stream 'customers' (first at line 7)"),
    ("record_after_complete", "read: nothing for a stream after its terminal status",
     "line 8: record for stream 'customers' after its complete status (line 7)"),
    ("unknown_stream", "read: every stream named is in the catalog",
     "line 3: record for stream 'ghosts', which is not in the catalog"),
    ("catalog_not_first", "read: first message is the catalog",
     "line 1: first message is a log, not the catalog"),
    ("not_json", "read: stdout carries only valid protocol messages",
     "line 3: not a protocol message: invalid JSON"),
    ("schema_violation", "read: stdout carries only valid protocol messages",
     "line 3: record message does not match its schema: record: 'emitted_at' is a required property"),
    ("secret_on_stderr", "read: no secret in stdout or stderr", "a secret of the config appears on stderr"),
    ("secret_on_stdout", "read: no secret in stdout or stderr",
     "line 13: a secret of the config appears on stdout"),
    ("exit_1_without_error", "read: exit code", "exit code 1 but no global error on stdout; stderr: "
                                                "source_broken.sh: something went wrong"),
    ("global_error_exit_0", "read: exit code", "line 13: exit code 0 although the output reports a failure"),
    ("after_eof", "read: nothing after eof", "line 14: log message after the eof of line 13"),
])
def test_each_broken_shell_source_fails_for_the_right_reason(bug, check, reason):
    report = check_source(shell("source_broken.sh", bug), Options(config=CONFIG))
    found = failures(report)
    assert list(found) == [check], report.format()
    assert reason in found[check], found[check]
    assert KEY not in report.format()  # the report masks the secret it found


def test_a_source_without_discover_is_reported_as_not_supported():
    report = check_source(shell("source_broken.sh", "no_discover"), Options(config=CONFIG))
    assert report.passed
    skipped = report.checks["discover: supported"]
    assert skipped.status == SKIP and "not supported" in skipped.reason
    assert "No such command" in skipped.reason
    assert not any(name.startswith("discover: exit") for name in report.checks)


def test_a_hanging_source_is_killed_after_the_timeout():
    report = check_source(shell("source_broken.sh", "hang"), Options(config=CONFIG, timeout=1.5))
    assert failures(report) == {"read: finishes in time": "line None: killed after 1.5s | "}


def test_a_missing_command_fails_clearly():
    report = check_source(["/nonexistent/connector"], Options())
    found = failures(report)
    assert "exit code 127 (command not found)" in found["spec: exit code"]
    assert "cannot run '/nonexistent/connector'" in found["spec: exit code"]


def test_shell_destination_that_echoes_states_passes():
    proc = kit("destination", "--config", DST_CONFIG, "--records", "9", "--", *shell("destination_ok.sh"))
    assert proc.returncode == 0, proc.stdout
    assert "PASS  write: every state is echoed -- 7 states echoed" in proc.stdout


@pytest.mark.parametrize("bug,check,reason", [
    ("drop_state", "write: every state is echoed", "1 of 7 states never echoed (input lines 12)"),
    ("duplicate_state", "write: states are echoed in order, each once",
     "line 2: state of input line 8 echoed twice (first at line 1)"),
    ("reorder", "write: states are echoed in order, each once",
     "line 2: state of input line 8 echoed after a later"),
    ("strip_keys", "write: echoed states keep every key",
     "line 1: key '_generation' of the state of input line 8 is missing"),
    ("invented_state", "write: no echo of a state that was never sent", "line 8: echoed state matches none"),
])
def test_each_broken_shell_destination_fails_for_the_right_reason(bug, check, reason):
    report = check_destination(shell("destination_broken.sh", bug), Options(config=DST_CONFIG))
    found = failures(report)
    assert list(found) == [check], report.format()
    assert reason in found[check]


@pytest.mark.parametrize("mode", ["ok", "stream_error", "global_error"])
def test_a_python_connector_built_on_protocol_cli_passes(mode):
    cmd = [sys.executable, str(KIT_FAKES / "scaffold_connector.py")]
    report = check_source(cmd + ["source"], Options(config=f'{{"api_key": "{KEY}", "mode": "{mode}"}}'))
    if mode == "global_error":  # a rejected key: check fails (exit 1), read ends with a global error
        assert list(failures(report)) == ["check: connection succeeded"]
        assert report.checks["read: exit code"].reason == "exit code 1"
    else:
        assert report.passed, report.format()
    assert check_destination(cmd + ["destination"], Options(config=DST_CONFIG)).passed


@pytest.mark.parametrize("kind,name", [("source", "source-stripe"), ("destination", "destination-postgres")])
def test_installed_executables_pass_spec_and_usage_checks(kind, name, installed):
    report = (check_source if kind == "source" else check_destination)(installed(name), Options())
    assert report.passed, report.format()
    assert report.checks["spec: one spec message with protocol_version \"1\""].status == PASS
    assert report.checks["usage: exit code"].reason == "exit code 2"
    assert {c.name for c in report.by_status(SKIP)} >= {"check: runs", "write: runs" if kind == "destination"
                                                       else "read: runs"}


def _read_report(*msgs: dict) -> Report:
    report = Report()
    checker = ReadChecker(report)
    for n, msg in enumerate(msgs, start=1):
        checker.feed(n, msg)
    checker.finish()
    return report


CATALOG = messages.catalog([messages.catalog_stream("a", {}), messages.catalog_stream("b", {})])
SNAPSHOT_RULE = "read: a snapshot begins after its stream started and ends before its terminal status"
STARTED = messages.stream_status("a", "started")
COMPLETE = messages.stream_status("a", "complete")
SKIPPED_B = messages.stream_status("b", "skipped", reason="permission_denied")


def test_read_checker_accepts_errors_skips_and_global_failures():
    assert _read_report(CATALOG, STARTED, messages.snapshot("a", "begin", "s1", {"kind": "stream"}),
                        messages.record("a", {}), messages.snapshot("a", "end", "s1"), COMPLETE,
                        SKIPPED_B).passed
    assert _read_report(CATALOG, STARTED, messages.record("a", {}), messages.stream_state("a", {}),
                        messages.error("stream", "server_error", "x", stream="a"), COMPLETE,
                        messages.error("stream", "permission_denied", "x", stream="b"), SKIPPED_B,
                        messages.global_state({})).passed
    # a global error ends the run: unfinished streams are fine, but nothing may follow for them
    assert _read_report(CATALOG, STARTED, messages.error("global", "auth_failed", "x")).passed
    assert _read_report(messages.error("global", "auth_failed", "x")).passed  # failed before the catalog
    report = _read_report(CATALOG, STARTED, messages.error("global", "auth_failed", "x"),
                          messages.record("a", {}))
    assert failures(report) == {"read: no record or state after a global error":
                                "line 4: record after the global error of line 3 | "}


@pytest.mark.parametrize("msgs,check,reason", [
    ((CATALOG, STARTED, STARTED, COMPLETE, SKIPPED_B), "read: each stream starts once, before its records",
     "stream 'a' started twice (first at line 2)"),
    ((CATALOG, COMPLETE, SKIPPED_B), "read: each stream starts once, before its records",
     "stream 'a' complete without having started"),
    ((CATALOG, STARTED, COMPLETE, messages.stream_status("b", "skipped")),
     "read: exactly one terminal status (complete/skipped) per stream",
     "stream 'b' skipped without a reason"),
    ((CATALOG, STARTED, COMPLETE, SKIPPED_B, messages.error("stream", "x", "y", stream="b")),
     "read: nothing for a stream after its terminal status", "error for stream 'b' after its skipped status"),
    ((CATALOG, STARTED, COMPLETE, SKIPPED_B, messages.estimate("zzz", 1)),
     "read: every stream named is in the catalog", "estimate for stream 'zzz', which is not in the catalog"),
    ((CATALOG, STARTED, COMPLETE, SKIPPED_B, CATALOG), "read: first message is the catalog",
     "a second catalog"),
    ((STARTED, COMPLETE), "read: first message is the catalog", "first message is a trace, not the catalog"),
    ((CATALOG, STARTED, COMPLETE), "read: exactly one terminal status (complete/skipped) per stream",
     "no complete/skipped status for 1 stream(s): 'b' (never started)"),
    ((CATALOG, messages.snapshot("a", "begin", "s1", {"kind": "stream"}), STARTED, COMPLETE, SKIPPED_B),
     SNAPSHOT_RULE, "snapshot begin for stream 'a', which is not running"),
    ((CATALOG, STARTED, messages.snapshot("a", "end", "s1"), COMPLETE, SKIPPED_B), SNAPSHOT_RULE,
     "snapshot end 's1' for stream 'a' without its begin"),
    ((CATALOG, STARTED, messages.snapshot("a", "begin", "s1"), COMPLETE, SKIPPED_B), SNAPSHOT_RULE,
     "without a scope"),
])
def test_read_checker_rules(msgs, check, reason):
    found = failures(_read_report(*msgs))
    assert check in found and reason in found[check], found


def test_echo_checker_allows_added_keys_and_late_echoes():
    sent = [(1, {"state_type": "global", "data": {"n": 1}, "_generation": 1}),
            (5, {"state_type": "stream", "stream": "a", "data": {"n": 2}})]
    report = Report()
    checker = EchoChecker(report, sent)
    checker.feed(9,
                 {"type": "state", "state": {**sent[0][1], "destination_stats": {"inserted": 1}, "extra": 1}})
    checker.feed(10, {"type": "log", "log": {"level": "info", "message": "committed"}})
    checker.feed(11, {"type": "state", "state": sent[1][1]})
    checker.finish()
    assert report.passed
    assert report.checks["write: every state is echoed"].reason == "2 states echoed"


def test_report_format_is_one_line_per_check_with_masked_excerpts():
    report = Report(title="source x", secrets=["hunter2-secret"])
    report.check("a: ok")
    report.fail("b: rule", "bad thing", 12,
                b'{"type":"log","log":{"message":"hunter2-secret' + b"x" * 200 + b'"}}\n')
    report.fail("b: rule", "again", 13)
    report.check("c: later").skip("no --config given")
    assert report.format().splitlines() == [
        "conformance: source x",
        "PASS  a: ok",
        'FAIL  b: rule -- line 12: bad thing | {"type":"log","log":{"message":"****'
        + "x" * 64 + "... (+1 more)",
        "SKIP  c: later -- no --config given",
        "result: FAIL (1 passed, 1 failed, 1 skipped)",
    ]


def test_destination_postgres_passes_the_kit_on_a_real_database(pg_url, pg_schema, installed):
    from protocol.jsonio import dumps

    report = check_destination(installed("destination-postgres"),
                               Options(config=dumps({"url": pg_url, "schema": pg_schema}).decode()))
    assert report.passed, report.format()
    assert report.checks["write: every state is echoed"].reason == "7 states echoed"


def test_read_checker_takes_range_complete_as_a_note_on_a_started_stream():
    # source-stripe reports every finished window as `started` with `range_complete` (docs/protocol.md): the
    # lifecycle table (protocol.lifecycle) makes that a note on a running stream, not a second start
    note = messages.stream_status("a", "started", range_complete=messages.time_range(0, 10))
    assert _read_report(CATALOG, STARTED, note, note, COMPLETE, SKIPPED_B).passed
    assert _read_report(CATALOG, note, COMPLETE, SKIPPED_B).passed  # a note also starts a pending stream
    assert failures(_read_report(CATALOG, STARTED, COMPLETE, note, SKIPPED_B)) == {
        "read: nothing for a stream after its terminal status":
            "line 4: started status for stream 'a' after its complete status (line 3) | "}
