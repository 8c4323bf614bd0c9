"""The pure rules of the Temporal mode: specs per account, secret references and leaks, durations, how a
run's end becomes a result or a retryable / non-retryable failure, the status lines."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("temporalio")

from temporalio.exceptions import ApplicationError  # noqa: E402

from engine.sync.restart import Failure  # noqa: E402
from engine.temporal.activities import MessageTap, not_synced, outcome  # noqa: E402
from engine.temporal.client import build_spec, parse_duration, secret_leaks  # noqa: E402
from engine.temporal.report import status_lines  # noqa: E402
from engine.temporal.secrets import WorkerSecrets  # noqa: E402
from engine.temporal.spec import PlatformSpec, SyncSpec, account_spec, bad_references  # noqa: E402
from protocol.errors import ConfigError  # noqa: E402

KEY = "sk_test_" + "k" * 24


def test_an_account_gets_its_own_workflow_id_schema_and_account_id():
    base = SyncSpec(name="shop", source_config={"base_url": "http://x"}, destination_config={"schema": "st"})
    platform = PlatformSpec(base=base)
    child = account_spec(platform, "acct_1Zz")
    assert (child.name, child.account, child.source_config, child.destination_config["schema"]) == (
        "shop/acct_1Zz",
        "acct_1Zz",
        {"base_url": "http://x", "account_id": "acct_1Zz"},
        "st_acct_1Zz",
    )
    own = account_spec(platform, None)
    assert (
        own.name == "shop/platform"
        and own.destination_config["schema"] == "st"
        and "account_id" not in own.source_config
    )
    assert base.source_config == {"base_url": "http://x"}  # the base is not changed


def test_references_and_leaks():
    assert (
        bad_references({"source.api_key": "env:STRIPE_API_KEY", "destination.url": "file:/etc/k.json#db"})
        == []
    )
    problems = bad_references({"source.api_key": KEY, "api_key": "env:X"})
    assert len(problems) == 2 and KEY not in " ".join(problems)
    assert secret_leaks({"api_key": KEY}, "source-stripe")
    assert secret_leaks({"url": "postgresql://u:pw12345@h/db"}, "python -m destination_postgres")
    assert secret_leaks({"token": "abcdef"}, "./my-source")  # unknown connector: the key-name rule
    assert secret_leaks({"note": f"key {KEY}"}, "./my-source")  # the redaction patterns
    assert secret_leaks({"base_url": "http://127.0.0.1:1", "schema": "x"}, "source-stripe") == []
    with pytest.raises(ConfigError, match="would put a secret"):
        build_spec("n", "source-stripe", "destination-postgres", {"api_key": KEY}, {}, {})
    spec = build_spec("n", "source-stripe", "destination-postgres", {}, {"schema": "s"}, {})
    assert spec.secrets == {"source.api_key": "env:STRIPE_API_KEY", "destination.url": "env:DATABASE_URL"}


def test_durations():
    assert [parse_duration(t, "--every") for t in ("30s", "5m", "5", "2h", "7d", "0.5m")] == [
        30,
        300,
        300,
        7200,
        604800,
        30,
    ]
    with pytest.raises(ConfigError, match="--every"):
        parse_duration("soon", "--every")


def test_worker_secrets_leave_the_environment_and_files_are_read_each_time(tmp_path):
    environ = {
        "STRIPE_API_KEY": KEY,
        "DATABASE_URL": "postgresql://u:pw12345@h/db",
        "PGPASSWORD": "pgpw",
        "PATH": "/bin",
    }
    secrets = WorkerSecrets.from_environ(environ)
    assert environ == {"PGPASSWORD": "pgpw", "PATH": "/bin"}  # libpq's own and the rest stay
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"shop": "sk_test_first000000000000"}))
    spec = SyncSpec(
        name="n",
        destination_config={"schema": "s"},
        secrets={"source.api_key": f"file:{keys}#shop", "destination.url": "env:DATABASE_URL"},
    )
    assert secrets.configs(spec)[0]["api_key"] == "sk_test_first000000000000"
    keys.write_text(json.dumps({"shop": "sk_test_second00000000000"}))
    source, destination = secrets.configs(spec)
    assert source["api_key"] == "sk_test_second00000000000" and destination["url"].startswith("postgresql://")
    for ref, words in (
        ("env:NOPE", "no environment variable NOPE"),
        (f"file:{keys}#other", "no string at"),
        (f"file:{tmp_path}/missing.json#k", "cannot read"),
    ):
        with pytest.raises(ConfigError, match=words):
            secrets.configs(SyncSpec(name="n", secrets={"source.api_key": ref}))


def tap(*messages: dict) -> MessageTap:
    t = MessageTap()
    t.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    return t


def error(code: str, scope: str = "global") -> dict:
    return {
        "type": "trace",
        "trace": {
            "trace_type": "error",
            "error": {"scope": scope, "code": code, "message": f"{code} happened"},
        },
    }


def eof(status: str, streams: dict | None = None) -> dict:
    return {
        "type": "eof",
        "eof": {
            "status": status,
            "has_more": status != "succeeded",
            "progress": {"record_count": 7, "streams": streams or {}},
        },
    }


def test_how_a_run_end_becomes_a_result_or_a_failure():
    spec = SyncSpec(name="n")
    ok = outcome(0, tap(eof("succeeded")), spec, "sync", "w", 1, 1.0)
    assert ok.status == "succeeded" and ok.records == 7
    with pytest.raises(ApplicationError) as permanent:
        outcome(1, tap(error("auth_failed"), eof("failed")), spec, "sync", "w", 1, 1.0)
    assert permanent.value.non_retryable and permanent.value.type == "auth_failed"
    with pytest.raises(ApplicationError) as destination:  # the destination's own code, not the run's
        outcome(
            1, tap(error("auth_failed"), error("destination_failed"), eof("failed")), spec, "sync", "w", 1, 1
        )
    assert destination.value.non_retryable and destination.value.type == "auth_failed"
    with pytest.raises(ApplicationError) as transient:
        outcome(1, tap(error("network"), eof("failed")), spec, "sync", "w", 1, 1.0)
    assert not transient.value.non_retryable and transient.value.type == "network"
    revoked = Failure("permanent", "permission_denied", "source error [permission_denied] account_invalid")
    with pytest.raises(ApplicationError) as gave_up:  # the engine's own class: global, not retryable
        outcome(1, tap(error("permission_denied"), eof("failed")), spec, "sync", "w", 1, 1.0, revoked)
    assert gave_up.value.non_retryable and gave_up.value.type == "permission_denied"
    streams = {
        "customers": {"status": "complete"},
        "issuing_cards": {
            "status": "errored",
            "errors": [{"code": "permission_denied", "message": "no access"}],
        },
        "disputes": {"status": "skipped"},
    }
    partial = outcome(
        1, tap(error("permission_denied", "stream"), eof("partial", streams)), spec, "sync", "w", 1, 1.0
    )
    assert partial.status == "partial"
    assert partial.not_synced == {"issuing_cards": "[permission_denied] no access"}
    assert not_synced(None) == {}


def test_status_lines_say_what_runs_where_and_what_is_parked():
    now = 1_700_000_000.0
    rows = [
        {
            "workflow": "s/acct_1",
            "execution": "running",
            "phase": "syncing",
            "account": "acct_1",
            "runs": 2,
            "last_success_at": now - 90,
            "activity": {
                "worker": "host:1",
                "attempt": 2,
                "heartbeat": {"records": 1234, "streams_done": 1, "streams": 3},
            },
        },
        {
            "workflow": "s/acct_2",
            "execution": "running",
            "phase": "parked",
            "runs": 0,
            "parked_reason": "[auth_failed] Invalid API Key provided: sk_test_****",
        },
        {
            "workflow": "s/acct_3",
            "execution": "running",
            "phase": "waiting",
            "next_run_at": now + 30,
            "last_worker": "host:2",
            "last_error": "[network] reset",
            "last_error_at": now - 10,
        },
    ]
    text = "\n".join(status_lines(rows, now))
    assert text.startswith("3 workflow(s): 1 parked, 1 syncing, 1 waiting")
    assert "on host:1, attempt 2, 1,234 records, 1/3 streams" in text
    assert "PARKED: [auth_failed]" in text and "waiting (next run in 30s)" in text
    assert (
        "last on host:2" in text and "last error (2023-11-14 22:13:10 (0m10s ago)): [network] reset" in text
    )
    assert status_lines([], now) == ["no workflows of that name (engine submit starts one)"]
    many = rows + [{"workflow": f"s/acct_{n}", "execution": "running", "phase": "waiting"} for n in range(60)]
    text = "\n".join(status_lines(many, now))
    assert text.startswith("63 workflow(s): 1 parked, 1 syncing, 61 waiting")
    assert "s/acct_2: parked" in text and "s/acct_7: waiting" not in text
    assert "60 more done or waiting without an error" in text
