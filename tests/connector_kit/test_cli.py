"""The connector CLI scaffolding through real subprocesses: the three installed executables, and a tiny
connector built on connector_kit (tests/connector_kit/fakes/scaffold_connector.py) for read/write paths.
Bad input ends in exit 2 with a trace error on stdout and one line on stderr; failures in exit 1; never a
traceback (unless --debug) and never a secret."""
from __future__ import annotations

import subprocess
import sys

import pytest

from protocol.config import connector_config_schema
from protocol.jsonio import dumps, loads
from protocol.validate import MessageValidator
from tests.connector_kit.conftest import FAKES
from tests.protocol.conftest import installed_command as exe

SCAFFOLD = [sys.executable, str(FAKES / "scaffold_connector.py")]
KEY = "sk_test_cliSecretKey4242"
VALIDATOR = MessageValidator(full=True)


def run(argv: list[str], stdin: bytes = b"") -> tuple[int, list[dict], str]:
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
    lines = [loads(line) for line in proc.stdout.splitlines()]
    for msg in lines:
        assert VALIDATOR.errors(msg) == [], msg
    return proc.returncode, lines, proc.stderr.decode()


@pytest.mark.parametrize("name", ["source-stripe", "destination-postgres"])
def test_spec_prints_one_valid_spec_message(name):
    code, lines, stderr = run(exe(name) + ["spec"])
    assert code == 0 and stderr == ""
    (msg,) = lines
    assert msg["spec"]["protocol_version"] == "1"
    assert msg["spec"]["connector"]["name"] == name
    assert msg["spec"]["config_schema"] == connector_config_schema(name)


def test_engine_help_works():
    proc = subprocess.run(exe("engine") + ["--help"], capture_output=True, timeout=60)
    assert proc.returncode == 0 and b"Usage:" in proc.stdout


def assert_usage_error(argv: list[str], *expected: str, secrets: tuple[str, ...] = ()) -> dict:
    code, lines, stderr = run(argv)
    assert code == 2, stderr
    (msg,) = lines
    error = msg["trace"]["error"]
    assert error["scope"] == "global" and error["code"] == "invalid_config"
    for text in expected:
        assert text in error["message"], error["message"]
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    for secret in secrets:
        assert secret not in stderr and secret not in dumps(lines).decode()
    return error


def test_bad_config_type_names_the_field():
    assert_usage_error(exe("source-stripe") + ["check", "--config",
                                               '{"api_key": "' + KEY + '", "max_retries": "x"}'],
                       "max_retries: 'x' is not of type 'integer'", secrets=(KEY,))


def test_bad_config_never_shows_the_secret():
    url = "postgresql://sync:Pa55-cli-secret@db.example:5432/x"
    error = assert_usage_error(exe("destination-postgres") + ["check", "--config", dumps(
        {"url": url, "hard_delete": url, "batch_size": 0}).decode()], "batch_size", "hard_delete",
        secrets=(url, "Pa55-cli-secret"))
    assert "****" in error["message"]


@pytest.mark.parametrize("config,expected", [
    ("missing-config.json", "--config: file not found: missing-config.json"),
    ('{"api_key": ', "--config: inline JSON is not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("{}", "api_key: required field is missing"),
])
def test_unusable_config_is_a_usage_error(config, expected):
    assert_usage_error(exe("source-stripe") + ["check", "--config", config], expected)


def test_bad_catalog_and_state_are_usage_errors(tmp_path):
    config = dumps({"api_key": KEY}).decode()
    assert_usage_error(SCAFFOLD + ["source", "read", "--config", config, "--catalog", '{"streams": 3}'],
                       "--catalog: expected", secrets=(KEY,))
    assert_usage_error(SCAFFOLD + ["source", "read", "--config", config, "--state", "[]"],
                       "--state: expected a JSON object", secrets=(KEY,))
    assert_usage_error(SCAFFOLD + ["source", "read", "--config", config, "--state", str(tmp_path / "nope")],
                       "--state: file not found")


def test_read_takes_catalog_and_state_inline_or_from_files(tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(dumps({"type": "catalog", "catalog": {"streams": [{"name": "invoices"}]}}))
    state = '{"streams": {"invoices": {"remaining": []}}, "global": null}'
    code, lines, stderr = run(SCAFFOLD + ["source", "read", "--config", dumps({"api_key": KEY}).decode(),
                                          "--catalog", str(catalog), "--state", state])
    assert code == 0, stderr
    assert [s["name"] for s in lines[0]["catalog"]["streams"]] == ["invoices"]
    assert lines[1]["log"] == {"level": "info", "message": "reading with key ****",
                               "data": {"state_streams": ["invoices"]}}  # the key is masked in logs
    assert {m["record"]["stream"] for m in lines if m["type"] == "record"} == {"invoices"}


@pytest.mark.parametrize("mode,code_,hint", [
    ("crash", "internal_error", "run again with --debug"),
    ("bad_request", "invalid_request", "check the api_version"),
    ("global_error", "auth_failed", None),
])
def test_failures_exit_1_with_an_error_message_and_no_traceback(mode, code_, hint):
    code, lines, stderr = run(SCAFFOLD + ["source", "read", "--config",
                                          dumps({"api_key": KEY, "mode": mode}).decode()])
    assert code == 1
    errors = [m["trace"]["error"] for m in lines if m["type"] == "trace"
              and m["trace"]["trace_type"] == "error"]
    assert [e["code"] for e in errors] == [code_]
    assert "Traceback" not in stderr and KEY not in stderr and KEY not in dumps(lines).decode()
    if hint:
        assert len(stderr.strip().splitlines()) == 1 and f"[{code_}]" in stderr and hint in stderr


def test_debug_shows_the_traceback_but_not_the_secret():
    code, _, stderr = run(SCAFFOLD + ["source", "--debug", "read", "--config",
                                      dumps({"api_key": KEY, "mode": "crash"}).decode()])
    assert code == 1 and "Traceback" in stderr and "RuntimeError: boom" in stderr and KEY not in stderr


def test_failed_check_is_a_connection_status_with_exit_1_and_masked_key():
    code, lines, stderr = run(SCAFFOLD + ["source", "check", "--config",
                                          dumps({"api_key": KEY, "mode": "global_error"}).decode()])
    assert code == 1
    (msg,) = lines
    assert msg["connection_status"]["status"] == "failed"
    assert msg["connection_status"]["error"]["code"] == "auth_failed"
    assert KEY not in dumps(msg).decode() and KEY not in stderr
    assert "****" in msg["connection_status"]["message"]


def test_write_reads_stdin_and_reports_a_bad_line_clearly():
    state = dumps({"type": "state", "state": {"state_type": "global", "data": {"n": 1}, "_generation": 2}})
    code, lines, stderr = run(SCAFFOLD + ["destination", "write", "--config", '{"url": "x"}'],
                              stdin=state + b"\n{oops\n")
    assert code == 1
    assert lines[0]["state"]["_generation"] == 2 and "destination_stats" in lines[0]["state"]
    assert lines[1]["trace"]["error"]["code"] == "bad_message"
    assert "line 2: invalid JSON" in lines[1]["trace"]["error"]["message"]
    assert "Traceback" not in stderr


def test_unknown_command_is_a_usage_error():
    proc = subprocess.run(exe("source-stripe") + ["frobnicate"], capture_output=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == b"" and b"No such command" in proc.stderr


@pytest.mark.parametrize("url,expected", [
    ("postgresql://sync:p@ss_Xy7secret@127.0.0.1:1/db", "unencoded '@'"),
    ("postgresql://sync:pa/ss_Xy7secret@127.0.0.1:1/db", "unencoded '/'"),
])
def test_a_password_with_an_unencoded_character_is_masked_whole_and_explained(url, expected):
    argv = exe("destination-postgres") + ["check", "--config", dumps({"url": url}).decode()]
    error = assert_usage_error(argv, expected, secrets=("ss_Xy7secret", "sync:p"))
    assert "postgresql://****@127.0.0.1:1/db" in error["message"]
    code, _, stderr = run(argv)
    assert "percent-encode" in stderr and "%40" in stderr


@pytest.mark.parametrize("url,expected", [
    ("postgresql://u:pw-secret@127.0.0.1:abc/db", 'invalid integer value "abc" for connection option "port"'),
    ("postgresql://u:pw-secret@127.0.0.1:1/db?sslmode=bogus", 'invalid sslmode value: "bogus"'),
])
def test_a_connection_setting_libpq_refuses_is_a_usage_error_not_retried(url, expected):
    import time

    started = time.monotonic()
    assert_usage_error(exe("destination-postgres") + ["check", "--config", dumps({"url": url}).decode()],
                       expected, secrets=("pw-secret",))
    assert time.monotonic() - started < 10  # no reconnect backoff
