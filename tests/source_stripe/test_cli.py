"""The source-stripe executable: spec, check, discover, read (as a subprocess), messages valid on the wire."""
from __future__ import annotations

import os
import subprocess
import sys

from protocol.jsonio import dumps
from protocol.validate import MessageValidator
from tests.source_stripe.conftest import REPO, parse_lines, records, run_cli, src_config, traces


def test_spec_carries_config_and_state_schemas():
    proc = run_cli("spec")
    (msg,) = parse_lines(proc.stdout)
    spec = msg["spec"]
    assert spec["connector"]["name"] == "source-stripe"
    assert spec["config_schema"]["properties"]["api_key"]["secret"] is True
    assert "oneOf" in spec["state_schema"]


def test_check_names_the_account_and_mode(emulator):
    emu = emulator()
    proc = run_cli("check", "--config", dumps(src_config(emu)).decode())
    (msg,) = parse_lines(proc.stdout)
    assert proc.returncode == 0
    assert msg["connection_status"] == {"status": "succeeded",
                                        "message": f"Connected to {emu.account_id} (test mode)"}


def test_discover_lists_the_default_streams_and_the_child_streams_read_when_named(emulator):
    emu = emulator()
    proc = run_cli("discover", "--config", dumps(src_config(emu)).decode())
    (msg,) = parse_lines(proc.stdout)
    streams = {s["name"]: s for s in msg["catalog"]["streams"]}
    assert len(streams) == 61 + 8
    assert [n for n, s in streams.items() if s["metadata"].get("default") is False] == [
        "account_capabilities", "account_external_accounts", "account_persons", "checkout_session_line_items",
        "customer_balance_transactions", "customer_tax_ids", "payment_link_line_items", "quote_line_items"]
    assert streams["invoice_line_items"]["metadata"]["parent"] == {"stream": "invoices", "field": "invoice"}
    assert streams["invoice_line_items"]["json_schema"]["properties"]["invoice"] == {"type": ["string"]}
    assert streams["invoiceitems"]["cursor_field"] == ["date"]
    assert streams["customers"]["supports_time_range"] is True
    assert streams["checkout_sessions"]["supports_time_range"] is False
    assert streams["customers"]["metadata"]["path"] == "/v1/customers"
    assert streams["customers"]["primary_key"] == [["_account_id"], ["id"]]  # ids are unique per account
    # capability ids (card_payments) repeat across the platform's accounts
    assert streams["account_capabilities"]["primary_key"] == [["_account_id"], ["account"], ["id"]]
    assert streams["account_external_accounts"]["json_schema"]["properties"]["object"]["enum"] == [
        "bank_account", "card"]
    assert "email" in streams["customers"]["json_schema"]["properties"]


def test_read_with_a_catalog_emits_valid_messages_catalog_first(emulator):
    emu = emulator({"profile": "small", "dataset": {"customers": 260, "checkout_sessions": 120}})
    catalog = {"streams": [{"name": "customers"}, {"name": "checkout_sessions"},
                           {"name": "reporting_report_types"}]}
    proc = run_cli("read", "--config", dumps(src_config(emu)).decode(), "--catalog", dumps(catalog).decode())
    assert proc.returncode == 0, proc.stderr
    msgs = parse_lines(proc.stdout)
    assert msgs[0]["type"] == "catalog"
    assert [s["name"] for s in msgs[0]["catalog"]["streams"]] == ["checkout_sessions", "customers",
                                                                   "reporting_report_types"]
    validator = MessageValidator(full=True)
    problems = [(m["type"], validator.errors(m)) for m in msgs if validator.errors(m)]
    assert not problems, problems[:3]
    assert sum(m["type"] == "record"
               for m in msgs) == 380 + len(emu.dump("reporting_report_types")["objects"])
    assert not traces(msgs, "error")
    assert emu.api_key not in proc.stdout + proc.stderr


def test_bad_config_and_unknown_streams_are_usage_errors():
    proc = run_cli("read", "--config", '{"api_key": "sk_test_x", "max_requests_per_second": -1}')
    assert proc.returncode == 2 and "max_requests_per_second" in proc.stderr
    proc = run_cli("read", "--config", '{"api_key": "sk_test_x", "streams": ["customers", "nope", "events"]}')
    assert proc.returncode == 2
    assert "nope: unknown stream" in proc.stderr and "events: not readable" in proc.stderr
    proc = run_cli("read", "--config", '{"api_key": "sk_test_x", "start_date": "last tuesday"}')
    assert proc.returncode == 2 and "start_date" in proc.stderr


def test_check_refuses_the_configs_read_refuses():
    for command in ("check", "read", "discover"):
        proc = run_cli(command, "--config", '{"api_key": "sk_test_x", "start_date": "last tuesday"}')
        assert proc.returncode == 2, (command, proc.stderr)
        (msg,) = parse_lines(proc.stdout)
        assert msg["trace"]["error"]["code"] == "invalid_config"
        assert "start_date: 'last tuesday' is not Unix seconds or an ISO date" in proc.stderr


def test_a_connect_account_the_key_cannot_act_as_is_a_global_error_not_a_skipped_sync(emulator):
    emu = emulator({"profile": "small", "connected_accounts": {"acct_1Connected000001": {}}})
    config = dumps(src_config(emu, account_id="acct_nope", streams=["customers", "charges"])).decode()
    proc = run_cli("read", "--config", config)
    assert proc.returncode == 1, proc.stderr
    msgs = parse_lines(proc.stdout)
    (err,) = traces(msgs, "error")
    assert (err["scope"], err["code"], err["http_status"]) == ("global", "account_invalid", 403)
    assert "acct_nope" in err["message"] and "not (or no longer) connected to the platform" in proc.stderr
    assert not [m for m in msgs if m["type"] == "record"] and not traces(msgs, "stream_status")
    check = run_cli("check", "--config", config)
    assert check.returncode == 1
    (status,) = parse_lines(check.stdout)
    assert status["connection_status"]["status"] == "failed"
    assert status["connection_status"]["error"]["code"] == "account_invalid"


def test_a_bad_state_on_a_pipe_is_a_usage_error(emulator):
    """`read --state /dev/fd/N`, as the engine starts it: the state comes down a pipe later."""
    emu = emulator({"profile": "small", "dataset": {"customers": 5}})
    r, w = os.pipe()
    argv = ["read", "--config", dumps(src_config(emu)).decode(), "--catalog",
            '{"streams": [{"name": "customers"}]}', "--state", f"/dev/fd/{r}"]
    proc = subprocess.Popen([sys.executable, "-m", "source_stripe", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, pass_fds=(r,))
    os.close(r)
    os.write(w, b"[1, 2]")
    os.close(w)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "--state: expected a JSON object" in err and "Traceback" not in err
    assert not records(parse_lines(out), "customers")
