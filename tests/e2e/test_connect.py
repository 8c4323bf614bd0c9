"""Acceptance (issue 16, Connect): `engine sync --accounts all` reads a platform and its connected accounts
(the emulator over real HTTP) into ONE schema of a real PostgreSQL, and every table equals each account's
ground truth object by object, including ids that collide across accounts:

- a full run, then changes in 10 accounts (and one account connected since): exact again, and only the
  changed accounts read events beyond their cursor check (one /v1/events request each for the others);
- an account that revoked the platform's access: an error naming that account (exit 1, eof partial), its
  rows kept and its state marked revoked, the others exact; the next run only mentions it (exit 0);
- SIGKILL of the engine at random points of a multi-account sync, reruns in between: exact at the end.
"""
from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from tests.e2e.test_sync_kill import children_of, wait_gone

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ["customers", "products", "charges"]
SHARED_A, SHARED_B = "acct_1SharedIdsAaaaa", "acct_1SharedIdsBbbbb"
CONFIG = {
    "seed": 16, "dataset": {"customers": 60, "products": 5, "charges": 40},
    "objects": {"products": [{"id": "prod_shared", "name": "The platform's plan"}]},
    "connected_accounts": {
        SHARED_A: {"dataset": {"customers": 5, "charges": 3},
                   "objects": {"products": [{"id": "prod_shared", "name": "A's plan"}]}},
        SHARED_B: {"dataset": {"customers": 4},
                   "objects": {"products": [{"id": "prod_shared", "name": "B's plan"}]}},
        "generate": {"count": 48, "sizes": [
            {"name": "tiny", "weight": 30, "dataset": {"customers": 3, "products": 1, "charges": 2}},
            {"name": "small", "weight": 15, "dataset": {"customers": 25, "products": 4, "charges": 30}},
            {"name": "medium", "weight": 3, "dataset": {"customers": 250, "products": 10, "charges": 300}}]},
    },
}


def sync_argv(emu, pg_url: str, schema: str, state: Path, **source: object) -> list[str]:
    py = shlex.quote(sys.executable)
    src = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": 200,
           "max_platform_requests_per_second": 800, **source}
    return [sys.executable, "-m", "engine", "sync", "--source", f"{py} -m source_stripe",
            "--destination", f"{py} -m destination_postgres", "--source-config", json.dumps(src),
            "--destination-config", json.dumps({"url": pg_url, "schema": schema}), "--accounts", "all",
            "--streams", ",".join(STREAMS), "--state-file", str(state), "--progress", "plain",
            "--output", "json", "--restart-delay", "0.1"]


def run(argv: list[str]) -> tuple[int, dict, str]:
    done = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=600)
    lines = done.stdout.splitlines()
    eof = json.loads(lines[-1])["eof"] if lines else {}
    return done.returncode, eof, done.stderr.decode()


def rows_by_account(pg_url: str, schema: str, table: str) -> dict[str, dict[str, tuple[dict, object]]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT _account_id, id, _raw_data, _deleted_at FROM "{schema}"."{table}"')
        out: dict[str, dict[str, tuple[dict, object]]] = {}
        for account, oid, raw, deleted_at in cur.fetchall():
            out.setdefault(account, {})[oid] = (raw, deleted_at)
        return out


def accounts_of(emu) -> list[str]:
    return [emu.account_id] + [a["id"] for a in emu.connected_accounts() if not a.get("revoked")]


def assert_exact(emu, pg_url: str, schema: str, accounts: list[str]) -> None:
    """Every table equals every account's ground truth: live objects with their exact JSON, deleted ones
    tombstoned, nothing of one account in another's rows."""
    for stream in STREAMS:
        tables = rows_by_account(pg_url, schema, stream)
        for account in accounts:
            truth = emu.dump(stream, account=None if account == emu.account_id else account)
            rows = tables.get(account, {})
            live = {o["id"]: o for o in truth["objects"]}
            synced = {k: raw for k, (raw, deleted_at) in rows.items() if deleted_at is None}
            assert set(synced) == set(live), \
                f"{account} {stream}: missing {sorted(set(live) - set(synced))[:3]}, " \
                f"extra {sorted(set(synced) - set(live))[:3]}"
            differ = [k for k in live if synced[k] != live[k]]
            assert not differ, f"{account} {stream}: {len(differ)} objects differ, e.g. {differ[:3]}"
            deleted = {d["id"] for d in truth.get("deleted", [])}
            assert {k for k, (_, at) in rows.items() if at is not None} <= deleted


def events_requests(emu) -> Counter:
    """/v1/events requests per account (the platform's under its own id)."""
    return Counter(e.get("account") or emu.account_id for e in emu.requests(path="/v1/events"))


@pytest.fixture
def platform():
    from stripe_emulator import start_emulator

    with start_emulator(CONFIG) as emu:
        yield emu


def test_fifty_accounts_into_one_schema_then_changes_in_ten_accounts(platform, pg_url, pg_schema, tmp_path):
    emu = platform
    argv = sync_argv(emu, pg_url, pg_schema, tmp_path / "state.json")
    code, eof, stderr = run(argv)
    assert code == 0, stderr
    assert eof["status"] == "succeeded" and eof["progress"]["partitions"]["done"] == 51
    accounts = accounts_of(emu)
    assert len(accounts) == 51
    assert_exact(emu, pg_url, pg_schema, accounts)
    products = rows_by_account(pg_url, pg_schema, "products")
    names = {a: products[a]["prod_shared"][0]["name"] for a in (emu.account_id, SHARED_A, SHARED_B)}
    assert names == {emu.account_id: "The platform's plan", SHARED_A: "A's plan", SHARED_B: "B's plan"}
    assert "accounts 51/51 done" in stderr and "sk_test" not in stderr

    rng = random.Random(16)
    changed = rng.sample(accounts[1:], 9) + [emu.account_id]
    for account in changed:
        who = None if account == emu.account_id else account
        live = [o["id"] for o in emu.dump("customers", account=who)["objects"]]
        emu.update("customers", live[0], name="Renamed", account=who)
        emu.create("customers", email=f"new-{account}@example.com", account=who)
        emu.delete("customers", live[-1], account=who)
    added = emu.add_account("acct_1AddedLater0001", dataset={"customers": 7})["id"]
    time.sleep(1.1)  # changes in the second a run starts belong to the next run
    emu.clear_requests()
    code, eof, stderr = run(argv)
    assert code == 0, stderr
    accounts = accounts_of(emu)
    assert added in accounts and len(accounts) == 52
    assert_exact(emu, pg_url, pg_schema, accounts)
    calls = events_requests(emu)
    unchanged = [a for a in accounts if a not in changed and a != added]
    assert all(calls[a] == 1 for a in unchanged), {a: calls[a] for a in unchanged if calls[a] != 1}
    # the changed accounts read their events (one page here: the same request, with events in it)
    assert all(1 <= calls[a] <= 2 for a in changed)
    with_events = {e.get("account") or emu.account_id for e in emu.requests(path="/v1/events")
                   if e["status"] == 200} & set(accounts)
    assert with_events == set(accounts) - {added}  # a new account starts at its backfill: no events yet


def test_a_revoked_account_fails_alone_and_is_marked(platform, pg_url, pg_schema, tmp_path):
    emu = platform
    argv = sync_argv(emu, pg_url, pg_schema, tmp_path / "state.json")
    code, _, stderr = run(argv)
    assert code == 0, stderr
    revoked = SHARED_B
    kept = rows_by_account(pg_url, pg_schema, "customers")[revoked]
    emu.revoke_account(revoked)
    other = SHARED_A
    emu.create("customers", email="after@example.com", account=other)
    time.sleep(1.1)
    code, eof, stderr = run(argv)
    assert code == 1, stderr
    assert eof["status"] == "partial" and eof["has_more"]
    assert eof["progress"]["partitions"]["failed"] == 1
    assert f"account {revoked}" in stderr and "account_invalid" in stderr
    assert "Traceback" not in stderr
    assert_exact(emu, pg_url, pg_schema, accounts_of(emu))  # the others (the revoked one is not listed)
    assert rows_by_account(pg_url, pg_schema, "customers")[revoked] == kept  # its rows stay
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT data->\'revoked\'->>\'reason\' FROM "{pg_schema}"._sync_state '
                    "WHERE scope = 'global' AND part = %s", (revoked,))
        assert cur.fetchone() == ("account_invalid",)
    code, eof, stderr = run(argv)  # later runs: mentioned, not an error
    assert code == 0, stderr
    assert f"account {revoked}: revoked the platform's access" in stderr


@pytest.mark.parametrize("kills", [6])
def test_sigkill_during_a_multi_account_sync_then_rerun_is_exact(platform, pg_url, pg_schema, tmp_path,
                                                                 kills):
    emu = platform
    seed = int(os.environ.get("E2E_SEED", random.randrange(10**6)))
    print(f"E2E_SEED={seed}")
    rng = random.Random(seed)
    argv = sync_argv(emu, pg_url, pg_schema, tmp_path / "state.json", max_requests_per_second=40,
                     max_accounts_in_flight=4)
    emu.set_faults(latency={"ms": 15})
    orphans: list[int] = []
    killed = 0
    for n in range(kills):
        if n in (2, 4):
            account = rng.choice(accounts_of(emu)[1:])
            live = [o["id"] for o in emu.dump("customers", account=account)["objects"]]
            emu.update("customers", live[0], name=f"Renamed {n}", account=account)
            emu.delete("customers", live[-1], account=account)
        with open(tmp_path / f"run{n}.err", "wb") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
            deadline = time.time() + rng.uniform(0.5, 3.0)
            kids: set[int] = set()
            while time.time() < deadline and proc.poll() is None:
                kids.update(children_of(proc.pid))
                time.sleep(0.02)
            if proc.poll() is None:
                kids.update(children_of(proc.pid))
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=30)
            orphans.extend(kids)
    print(f"{killed} of {kills} runs were killed before they finished")
    assert killed >= kills // 2  # the kills hit runs under way, not finished ones
    assert not wait_gone(orphans, 60), "orphaned connectors did not end after the engine was killed"
    emu.reset_faults()
    time.sleep(1.1)
    code, eof, stderr = run(argv)
    assert code == 0, stderr
    assert eof["status"] == "succeeded"
    assert_exact(emu, pg_url, pg_schema, accounts_of(emu))
