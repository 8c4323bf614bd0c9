"""`engine sync` and `engine status` with the real connectors (source-stripe against the emulator,
destination-postgres): `--max-requests-per-second` reaches the source, `--no-state-file` keeps the state
in the destination only, and `engine status` puts the confirmed state into words from the protocol
(the source's `describe`, the destination's `state` and `stats`, the state file's totals)."""
from __future__ import annotations

import os
import subprocess
import sys

import psycopg2
import pytest

from protocol.jsonio import dumps, loads
from protocol.validate import validator_for
from stripe_emulator import start_emulator
from tests.engine.conftest import ROOT


@pytest.fixture
def emulator():
    with start_emulator({"profile": "small"}) as emu:
        yield emu


def engine(emulator, pg_url, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, STRIPE_API_KEY=emulator.api_key, STRIPE_BASE_URL=emulator.url,
                   DATABASE_URL=pg_url, **(env or {}))
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
                          env=environ, timeout=300)


def test_max_requests_per_second_reaches_the_source_and_no_state_file_writes_none(emulator, pg_url,
                                                                                  pg_schema, tmp_path):
    r = engine(emulator, pg_url, "sync", "--schema", pg_schema, "--streams", "customers,charges",
               "--max-requests-per-second", "7", "--no-state-file", "--progress", "plain", "--output", "json",
               env={"STRIPE_SYNC_STATE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    progress = [m["trace"]["progress"] for m in map(loads, r.stdout.splitlines())
                if m["type"] == "trace" and m["trace"]["trace_type"] == "progress"]
    assert progress[-1]["requests_per_second_limit"] == 7.0  # what the source said its budget is
    assert list(tmp_path.iterdir()) == [] and "state saved" not in r.stderr
    bad = engine(emulator, pg_url, "sync", "--no-state-file", "--state-file", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "exclude each other" in bad.stderr


def test_status_in_words_from_the_source_the_destination_and_the_totals(emulator, pg_url, pg_schema,
                                                                        tmp_path):
    state_file = str(tmp_path / "state.json")
    before = engine(emulator, pg_url, "status", "--schema", pg_schema, "--state-file", state_file)
    assert before.returncode == 0, before.stderr
    assert "confirmed state: nothing confirmed yet" in before.stdout
    emulator.delete("customers", emulator.dump("customers")["objects"][0]["id"])
    # the first sync's events cursor starts at its first second and the next sync re-reads that second:
    # a deletion in that same second would come back as a tombstone (at least once), so keep it older
    emulator.advance_clock(2)
    streams = ("--streams", "customers,checkout_sessions", "--state-file", state_file, "--progress", "none")
    sync = engine(emulator, pg_url, "sync", "--schema", pg_schema, *streams)
    assert sync.returncode == 0, sync.stderr
    emulator.delete("customers", emulator.dump("customers")["objects"][0]["id"])
    emulator.advance_clock(2)
    again = engine(emulator, pg_url, "sync", "--schema", pg_schema, *streams)
    assert again.returncode == 0, again.stderr

    text = engine(emulator, pg_url, "status", "--schema", pg_schema, "--state-file", state_file)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "confirmed state: 2 stream(s) and a global state, read from the destination" in out
    assert "last run: succeeded, ended " in out and "incremental position: account acct_" in out
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FILTER (WHERE _deleted_at IS NULL) FROM "{pg_schema}".customers')
        live = cur.fetchone()[0]
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("customers", "checkout"))}
    assert rows["customers"][1:3] == ["beginning", "→"] and rows["customers"][-2:] == [str(live), "1"]
    assert rows["checkout_sessions"][1:3] == ["-", "yes"]

    js = engine(emulator, pg_url, "status", "--schema", pg_schema, "--state-file", state_file,
                "--format", "json")
    report = loads(js.stdout)
    assert report["stats"]["streams"]["customers"]["deleted"] == 1
    assert set(report["totals"]["completed_at"]) == {"customers", "checkout_sessions"}
    # what the connectors printed has the documented shapes (docs/protocol.md, optional commands)
    for name, printed in (("state_description", report["description"]), ("table_stats", report["stats"])):
        assert not list(validator_for(name).iter_errors(printed)), name


def test_a_connect_account_the_key_cannot_act_as_is_not_ready_and_fails_the_sync(pg_url, pg_schema, tmp_path):
    with start_emulator({"profile": "small", "connected_accounts": {"acct_1Connected000001": {}}}) as emu:
        config = dumps({"api_key": emu.api_key, "base_url": emu.url, "account_id": "acct_nope"}).decode()
        check = engine(emu, pg_url, "check", "--source-config", config, "--schema", pg_schema)
        assert check.returncode == 1, check.stderr
        assert "verdict: NOT ready" in check.stderr and "access to account 'acct_nope'" in check.stderr
        sync = engine(emu, pg_url, "sync", "--source-config", config, "--schema", pg_schema,
                      "--progress", "plain", "--output", "json", env={"STRIPE_SYNC_STATE_DIR": str(tmp_path)})
    assert sync.returncode == 1, sync.stderr
    msgs = [loads(line) for line in sync.stdout.splitlines()]
    errors = [m["trace"]["error"] for m in msgs if m["type"] == "trace" and m["trace"].get("error")]
    assert errors and all((e["scope"], e["code"]) == ("global", "account_invalid") for e in errors), errors
    assert "acct_nope" in errors[-1]["message"] and "not (or no longer) connected" in sync.stderr
    eof = msgs[-1]["eof"]
    assert eof["status"] == "failed" and eof["progress"]["record_count"] == 0
    assert "skipped" not in sync.stderr and emu.api_key not in sync.stderr + sync.stdout
