"""Errors against the emulator: bad key stops the run, forbidden/not-enabled streams are skipped, a stream
that keeps failing ends with an error and its checkpoint where it was, a deleted cursor loses nothing."""
from __future__ import annotations

from connector_kit.connector import ReadRequest
from protocol.jsonio import dumps
from source_stripe import source
from tests.source_stripe.conftest import (aggregate_state, ids, parse_lines, read, run_cli,
                                          src_config, statuses, traces, truth)


def test_invalid_key_is_a_global_error_and_the_key_never_shows(emulator):
    emu = emulator()
    key = "sk_test_ThisIsNotTheRightKey123456"
    proc = run_cli("read", "--config", dumps({**src_config(emu), "api_key": key}).decode())
    assert proc.returncode == 1
    msgs = parse_lines(proc.stdout)
    assert msgs[0]["type"] == "catalog"
    (err,) = traces(msgs, "error")
    assert err["scope"] == "global" and err["code"] == "auth_failed" and err["http_status"] == 401
    assert "RightKey123456" not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2 and "auth_failed" in proc.stderr


def test_forbidden_and_not_enabled_streams_are_skipped_others_complete(emulator):
    emu = emulator({"profile": "small", "restricted_keys": {"rk_test_limited": ["charges"]},
                    "not_enabled": ["issuing"]})
    msgs = read(emu, ["charges", "customers", "issuing_cards"], api_key="rk_test_limited")
    errors = {e["stream"]: e for e in traces(msgs, "error")}
    assert errors["charges"]["code"] == "permission_denied" and errors["charges"]["scope"] == "stream"
    assert errors["issuing_cards"]["code"] == "permission_denied"
    for stream in ("charges", "issuing_cards"):
        assert statuses(msgs, stream) == ["started", "skipped"]
        skipped = [t for t in traces(msgs, "stream_status") if t["stream"] == stream
                   and t["status"] == "skipped"]
        assert skipped[0]["reason"]
    assert statuses(msgs, "customers") == ["started", "complete"]
    assert set(ids(msgs, "customers")) == truth(emu, "customers")


def test_stream_failing_after_retries_keeps_its_checkpoint(emulator):
    emu = emulator({"profile": "small", "dataset": {"charges": 450, "customers": 50}})
    first = read(emu, ["charges"], cut_after=2)  # a few pages in
    state = aggregate_state(first)
    emu.set_faults(error_rate=1.0, paths=["/v1/charges"])
    msgs = read(emu, ["charges", "customers"], state=state, max_retries=1)
    (err,) = traces(msgs, "error")
    assert (err["stream"], err["code"], err["retryable"], err["http_status"]) == ("charges", "server_error",
                                                                                  True, 500)
    assert statuses(msgs, "charges")[-1] == "complete"
    assert [m for m in msgs if m["type"] == "state" and m["state"].get("stream") == "charges"] == []
    assert statuses(msgs, "customers") == ["started", "complete"]
    emu.reset_faults()
    rest = read(emu, ["charges"], state=aggregate_state(msgs, state))
    assert set(ids(first, "charges") + ids(rest, "charges")) == truth(emu, "charges")


def test_deleted_cursor_object_rereads_that_part_and_loses_nothing(emulator):
    emu = emulator({"profile": "small", "dataset": {"customers": {"count": 900, "years": 1, "skew": 1}}})
    full = read(emu, ["customers"])
    k = next(i for i, m in enumerate(full) if m["type"] == "state" and m["state"]["state_type"] == "stream"
             and any(w["cursor"] for w in m["state"]["data"]["remaining"]))
    first = full[:k + 1]
    state = aggregate_state(first)
    cursors = [w["cursor"] for w in state["streams"]["customers"]["remaining"] if w["cursor"]]
    emu.delete("customers", cursors[0])
    rest = read(emu, ["customers"], state=state)
    warns = [m["log"]["message"] for m in rest if m["type"] == "log" and m["log"]["level"] == "warn"]
    assert any("no longer exists" in w for w in warns)
    assert set(ids(first, "customers") + ids(rest, "customers")) >= truth(emu, "customers")
    assert not traces(rest, "error")


def test_a_restricted_key_that_cannot_read_the_account_still_syncs(emulator):
    emu = emulator({"profile": "small", "restricted_keys": {"rk_test_noacct": ["account", "event"]}})
    msgs = read(emu, ["customers"], api_key="rk_test_noacct")
    assert set(ids(msgs, "customers")) == truth(emu, "customers")
    state = aggregate_state(msgs)
    assert state["global"]["account"] == {"id": None, "livemode": False}
    new = emu.create("customers", {"name": "after the first run"})["id"]
    msgs = read(emu, ["customers"], api_key="rk_test_noacct", state=state)
    assert new in ids(msgs, "customers")  # the backfill still runs, then the run fails clearly
    [error] = traces(msgs, "error")
    assert error["scope"] == "global" and error["code"] == "permission_denied" and not error["retryable"]
    assert "events could not be listed" in error["message"] and "customers" in error["message"]
    assert aggregate_state(msgs, state)["global"]["events"] == state["global"]["events"]  # nothing skipped


def read_logging(emu, streams: list[str], **config) -> tuple[list[dict], list[dict]]:
    """An in-process `read` with its live log channel: (yielded messages, messages logged at once)."""
    logged: list[dict] = []
    cfg = {**src_config(emu, **config), "streams": streams}
    return list(source.read(ReadRequest(cfg, None, None, {}, logged.append))), logged


def test_every_backoff_is_one_warning_saying_what_is_retried_and_why(emulator):
    emu = emulator({"profile": "small", "dataset": {"customers": 30}})
    emu.set_faults(script=[{"kind": "error", "path": "/v1/customers", "count": 3}])
    msgs, logged = read_logging(emu, ["customers"], max_retries=5)
    assert statuses(msgs, "customers") == ["started", "complete"] and not traces(msgs, "error")
    assert set(ids(msgs, "customers")) == truth(emu, "customers")
    retries = [m["log"] for m in logged]
    assert [r["level"] for r in retries] == ["warn"] * 3
    assert [r["data"]["retry"] for r in retries] == [1, 2, 3]
    assert retries[0]["message"].startswith("retrying GET /v1/customers: HTTP 500 server_error "
                                            "(An unknown error occurred); retry 1 of 5 in ")
    assert all(r["data"]["http_status"] == 500 and r["data"]["delay_s"] > 0 for r in retries)


def test_a_rate_limit_is_retried_even_when_stripe_should_retry_says_false(emulator):
    emu = emulator({"profile": "small", "dataset": {"customers": 450}})
    emu.set_rate_limits({"test": 4, "endpoint": 4, "should_retry": False})  # 429 + Stripe-Should-Retry: false
    msgs, logged = read_logging(emu, ["customers"], max_retries=20, max_concurrent_requests=8)
    assert not traces(msgs, "error"), traces(msgs, "error")
    assert set(ids(msgs, "customers")) == truth(emu, "customers")
    throttled = [m["log"] for m in logged if m["log"]["data"]["http_status"] == 429]
    assert throttled and "HTTP 429 rate_limited" in throttled[0]["message"]
