"""Acceptance (issues 6 and 11): `engine sync` from the Stripe emulator into Postgres, killed with SIGKILL
at points spread over the whole run, backfill and incremental, and re-run each time (the data changing
in between), ends with tables exactly equal to the emulator's ground truth: every live object with its
exact JSON, every deleted one tombstoned.

Real processes end to end: the emulator (HTTP), `python -m engine sync` spawning `python -m
source_stripe` and `python -m destination_postgres`, a real PostgreSQL. A kill point is a share of the
phase's work and a victim. The backfill's points are spread evenly over it (stratified shares of all
objects: the run is killed once the rows already stored plus the records it read reach that share);
an incremental round's points are shares of its changes; the first point of each phase falls at
start-up (before any record). How far a run has read comes from the engine's progress traces, so
kills fall early, midway and late whatever the machine's speed. Victims:
- the engine, as a crash would: its children are orphaned (the source dies at its next write, the
  destination commits what it received and exits); the next run resumes from the confirmed state;
- the destination or the source: the engine restarts it from the confirmed state and that same run
  must end `succeeded`.
The default suite runs `KILL_POINTS` points (about a minute); `-m slow` runs a soak of `SOAK_POINTS`.
The seed is printed; set E2E_SEED to replay a run. A component that does not import or start is a
failure, never a skip.
"""
from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from stripe_emulator import start_emulator

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ["customers", "charges", "products", "prices", "invoices"]
DATASET = {"customers": 3000, "charges": 2000, "products": 80, "prices": 300, "invoices": 600}
TOTAL = sum(DATASET.values())
# victims of the kill points of each phase, in order (where each falls is drawn per point); a run whose
# destination or source is killed goes on to the end, so in the backfill it comes last
KILL_POINTS = {"backfill": ["engine"] * 5 + ["destination"],
               "incremental": ["engine", "source", "engine", "destination"]}
SOAK_POINTS = {"backfill": ["engine"] * 20 + ["destination"], "incremental": KILL_POINTS["incremental"] * 4}
CHANGES_PER_ROUND = 150


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.time() + timeout
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def table_rows(pg_url: str, schema: str, table: str) -> dict[str, tuple[dict, object]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))
        if cur.fetchone()[0] is None:
            return {}
        cur.execute(f'SELECT id, _raw_data, _deleted_at FROM "{schema}"."{table}"')
        return {row[0]: (row[1], row[2]) for row in cur.fetchall()}


def stored(pg_url: str, schema: str) -> int:
    return sum(len(table_rows(pg_url, schema, s)) for s in STREAMS)


def mutate(emu, rng: random.Random, n: int) -> int:
    """About `n` creates, updates and deletes between runs (they reach the source as events)."""
    live = {s: [o["id"] for o in emu.dump(s)["objects"]] for s in ("customers", "products")}
    for i in range(n):
        roll = rng.random()
        if roll < 0.3:
            emu.create("customers", email=f"new{rng.randrange(10**6)}@example.com")
        elif roll < 0.85:
            stream = "customers" if rng.random() < 0.7 else "products"
            emu.update(stream, rng.choice(live[stream]), metadata={"round": str(i), "r": str(rng.random())})
        else:
            victim = rng.choice(live["customers"])
            live["customers"].remove(victim)
            emu.delete("customers", victim)
    return n


@dataclass
class Run:
    code: int | None  # None: killed
    killed: str | None  # what was killed, with the record count it had reached
    stderr: str


def run_sync(argv: list[str], log: Path, victim: str | None = None, after_records: int = 0,
             timeout: float = 240) -> Run:
    """One `engine sync`; with a victim, SIGKILL it once the run has read `after_records` records."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        reached = threading.Event()
        records = [0]

        def watch() -> None:  # the engine's progress traces say how far this run has read
            assert proc.stdout is not None
            for line in proc.stdout:
                msg = json.loads(line)
                if msg["type"] == "trace" and msg["trace"]["trace_type"] == "progress":
                    records[0] = msg["trace"]["progress"]["record_count"]
                    if records[0] >= after_records:
                        reached.set()
            reached.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        killed = None
        if victim is not None:
            reached.wait(timeout)
            if proc.poll() is None:
                killed = _kill(proc, victim, records[0])
        if victim == "engine" and killed:
            proc.wait(timeout=30)
            watcher.join(5)
            return Run(None, killed, log.read_text())
        code = proc.wait(timeout=timeout)
        watcher.join(5)
    return Run(code, killed, log.read_text())


def _kill(proc: subprocess.Popen, victim: str, at: int) -> str | None:
    kids = children_of(proc.pid)
    if victim == "engine":
        proc.send_signal(signal.SIGKILL)
        _orphans.extend(kids)
        return f"engine at {at} records"
    marker = "destination_postgres write" if victim == "destination" else "source_stripe read"
    pid = next((k for k in kids if marker in cmdline(k)), None)
    if pid is None:
        return None  # between two attempts: nothing of that kind running
    os.kill(pid, signal.SIGKILL)
    return f"{victim} at {at} records"


_orphans: list[int] = []


def assert_equal_to_ground_truth(emu, pg_url: str, schema: str) -> None:
    for stream in STREAMS:
        truth = emu.dump(stream)
        rows = table_rows(pg_url, schema, stream)
        live = {o["id"]: o for o in truth["objects"]}
        deleted = {d["id"] for d in truth.get("deleted", [])}
        synced_live = {k: raw for k, (raw, deleted_at) in rows.items() if deleted_at is None}
        missing, extra = sorted(set(live) - set(synced_live)), sorted(set(synced_live) - set(live))
        assert not missing and not extra, \
            f"{stream}: {len(missing)} objects missing (e.g. {missing[:3]}), " \
            f"{len(extra)} live rows not live in Stripe (e.g. {extra[:3]})"
        mismatched = [k for k in live if synced_live[k] != live[k]]
        assert not mismatched, f"{stream}: {len(mismatched)} objects differ, e.g. {mismatched[:3]}"
        tombstoned = {k for k, (_, deleted_at) in rows.items() if deleted_at is not None}
        assert tombstoned <= deleted, f"{stream}: tombstoned rows not deleted: {tombstoned - deleted}"
        assert deleted & set(rows) <= tombstoned, f"{stream}: deleted objects still live in the table"


def kill_and_rerun(pg_url: str, schema: str, tmp_path: Path, points: dict[str, list[str]]) -> None:
    seed = int(os.environ.get("E2E_SEED", random.randrange(10**6)))
    print(f"E2E_SEED={seed}")
    rng = random.Random(seed)
    py = shlex.quote(sys.executable)
    _orphans.clear()
    with start_emulator({"dataset": DATASET, "seed": 7}) as emu:
        source = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": 100,
                  "max_requests_per_second_per_endpoint": 100}
        destination = {"url": pg_url, "schema": schema}
        argv = [sys.executable, "-m", "engine", "sync", "--source", f"{py} -m source_stripe",
                "--destination", f"{py} -m destination_postgres", "--source-config", json.dumps(source),
                "--destination-config", json.dumps(destination), "--streams", ",".join(STREAMS),
                "--state-file", str(tmp_path / "state.json"), "--progress", "plain", "--output", "json",
                "--progress-interval", "0.05", "--restart-delay", "0.1"]
        n, landed, log = 0, 0, []
        for phase, victims in points.items():
            k = len(victims)
            shares = [0.0] + [(i + rng.random()) / k for i in range(1, k)]  # start-up, then spread evenly
            for victim, share in zip(victims, shares, strict=True):
                if phase == "incremental":
                    mutate(emu, rng, CHANGES_PER_ROUND)
                    time.sleep(1.1)  # a run reads up to its start: let the changes' second pass
                    after, where = int(share * CHANGES_PER_ROUND), f"{CHANGES_PER_ROUND} changes"
                else:
                    assert not wait_gone(_orphans, 60), "orphaned connectors did not end"
                    before = stored(pg_url, schema)
                    after, where = max(0, int(share * TOTAL) - before), f"{before} of {TOTAL} rows stored"
                n += 1
                run = run_sync(argv, tmp_path / f"run{n}.err", victim, after)
                landed += run.killed is not None
                log.append(f"{phase} point {n}: {victim} at share {share:.2f} ({where}; after {after} "
                           f"records): {run.killed or 'not running'} -> exit {run.code}")
                if victim != "engine" or not run.killed:  # the engine restarted its child: it must succeed
                    assert run.code == 0, f"{log[-1]}\n{run.stderr[-3000:]}"
                    assert "Traceback" not in run.stderr
            if phase == "backfill":
                done = run_sync(argv, tmp_path / "backfill-done.err")  # the backfill finishes, unkilled
                assert done.code == 0, done.stderr[-3000:]
        print("\n".join(log))
        assert not wait_gone(_orphans, 60), "orphaned connectors did not end after the engine was killed"
        mutate(emu, rng, CHANGES_PER_ROUND)
        time.sleep(1.1)
        final = run_sync(argv, tmp_path / "final.err")
        assert final.code == 0, final.stderr[-3000:]
        assert "sk_test" not in final.stderr and "Traceback" not in final.stderr
        total_points = sum(len(v) for v in points.values())
        print(f"{landed} of {total_points} kill points landed on a running process")
        assert landed >= total_points * 0.7, "most kill points must land on a running process"
        assert_equal_to_ground_truth(emu, pg_url, schema)


def test_sigkill_spread_over_backfill_and_incremental_runs_ends_equal_to_ground_truth(pg_url, pg_schema,
                                                                                       tmp_path):
    kill_and_rerun(pg_url, pg_schema, tmp_path, KILL_POINTS)


@pytest.mark.slow
def test_kill_soak(pg_url, pg_schema, tmp_path):
    kill_and_rerun(pg_url, pg_schema, tmp_path, SOAK_POINTS)
