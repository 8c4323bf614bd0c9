"""`destination-postgres write` as a real subprocess: checkpoints appear as input arrives, a dropped
connection is survived, and SIGKILL at any point leaves `_sync_state` covering only rows present."""
from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import threading
import time


from destination_postgres.writer import LOCK_CLASS, schema_lock_key
from protocol.jsonio import dumps, dumps_line, loads
from tests.destination_postgres.helpers import catalog, rec, state, table
from tests.tcp_proxy import Proxy

PROPS = {"id": {"type": "string"}, "seq": {"type": "integer"}}


def start(config: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "destination_postgres", "write", "--config",
                             dumps(config).decode()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def send(proc: subprocess.Popen, *items: dict) -> None:
    proc.stdin.write(b"".join(dumps_line(i) for i in items))
    proc.stdin.flush()


def read_line(proc: subprocess.Popen, timeout: float) -> dict | None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return loads(proc.stdout.readline()) if ready else None


def test_each_state_is_echoed_once_its_rows_are_visible(dst_config, db):
    proc = start(dst_config)
    try:
        send(proc, catalog(items=PROPS))
        for k in range(3):
            send(proc, *[rec("items", {"id": f"i{k}_{n}", "seq": n}) for n in range(5)])
            if k == 0:
                assert read_line(proc, 0.5) is None  # nothing to echo before the state arrives
            send(proc, state("items", {"k": k}))
            echo = read_line(proc, 10)
            assert echo["state"]["data"] == {"k": k}, echo
            visible = {r["id"] for r in table(db, dst_config["schema"], "items")}
            assert {f"i{k}_{n}" for n in range(5)} <= visible
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_lost_connection_is_reopened_and_the_batch_replayed(dst_config, db):
    proc = start({**dst_config, "retries": 3})
    try:
        send(proc, catalog(items=PROPS), *[rec("items", {"id": f"i{n}", "seq": n}) for n in range(10)])
        key = schema_lock_key(dst_config["schema"])
        with db.cursor() as cur:
            for _ in range(100):  # the writer holds the schema lock once connected
                cur.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
                            "AND objid = %s", (LOCK_CLASS, key))
                row = cur.fetchone()
                if row:
                    break
                time.sleep(0.05)
            cur.execute("SELECT pg_terminate_backend(%s)", row)
        send(proc, state("items", "after-reconnect"))
        said = [read_line(proc, 20)]
        while said[-1] and said[-1]["type"] == "log":
            said.append(read_line(proc, 20))
        *logs, echo = said
        assert echo and echo["state"]["data"] == "after-reconnect", proc.stderr.read1().decode()
        assert len(table(db, dst_config["schema"], "items")) == 10
        # the replay was said while it happened: what, why, which replay
        [replay] = [m["log"] for m in logs]
        assert replay["level"] == "warn" and replay["data"] == {"replay": 1, "max_retries": 3}
        text = replay["message"]
        assert text.startswith("retrying ") and "; replay 1 of 3 of " in text, replay
        assert "server closed the connection" in text or "terminat" in text, replay
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def kill_input(n_records: int, rng: random.Random) -> list[dict]:
    """Three streams with overwrites; each state says every record before it has seq < upto."""
    items = [catalog(a=PROPS, b=PROPS, c=PROPS)]
    for seq in range(n_records):
        stream = "abc"[rng.randrange(3)]
        items.append(rec(stream, {"id": f"{stream}{rng.randrange(400)}", "seq": seq}, updated_at=seq))
        if seq % 40 == 39:
            items.append(state(rng.choice(["a", "b", "c", None]), {"upto": seq + 1}))
    return items


def check_covered(conn, schema: str, items: list[dict]) -> int:
    """Every record before a committed checkpoint is present (same or newer version); returns the
    furthest committed checkpoint."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}"._sync_state',))
        if cur.fetchone()[0] is None:  # killed before it made its tables (a slow start on a busy machine)
            return 0
        cur.execute(f'SELECT scope, stream, data FROM "{schema}"._sync_state')
        committed = {(scope, stream): data["upto"] for scope, stream, data in cur.fetchall()}
    if not committed:
        return 0
    rows = {s: {r["id"]: r["seq"] for r in table(conn, schema, s, "id, seq")} for s in "abc"}
    for item in items:
        if item["type"] != "record":
            continue
        r = item["record"]
        seq = r["data"]["seq"]
        upto = max(committed.get(("stream", r["stream"]), 0), committed.get(("global", ""), 0))
        if seq < upto:
            assert rows[r["stream"]].get(r["data"]["id"], -1) >= seq, (r, upto)
    return max(committed.values(), default=0)


def test_sigkill_at_random_points_never_leaves_a_checkpoint_ahead_of_its_rows(dst_config, db):
    rng = random.Random(int(os.environ.get("KILL_SEED", "5")))
    n_records = 6000
    items = kill_input(n_records, rng)
    payload = b"".join(dumps_line(i) for i in items)
    schema = dst_config["schema"]
    n_states = sum(1 for i in items if i["type"] == "state")
    reached = []
    for run in range(4):
        proc = start({**dst_config, "batch_size": 150, "lock_wait_seconds": 10})
        feeder = threading.Thread(target=_feed, args=(proc, payload), daemon=True)
        feeder.start()
        # on progress, not on a clock: after the k-th confirmed state, at once or a moment later
        echoed, k = 0, rng.randint(1, n_states - 1)
        while echoed < k:
            line = proc.stdout.readline()
            assert line, f"the writer ended after {echoed} states: {proc.stderr.read().decode()}"
            echoed += loads(line)["type"] == "state"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        feeder.join(5)
        reached.append(check_covered(db, schema, items))
        if run == 1:  # also from an empty schema again (IF EXISTS: a kill may land before it is created)
            db.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert any(0 < r < n_records for r in reached), reached  # kills landed mid-stream
    proc = start({**dst_config, "lock_wait_seconds": 10})  # a full run then completes everything
    out, err = proc.communicate(payload, timeout=60)
    assert proc.returncode == 0, err.decode()
    final = {}
    for item in items:
        if item["type"] == "record":
            final[(item["record"]["stream"], item["record"]["data"]["id"])] = item["record"]["data"]["seq"]
    assert {(s, r["id"]): r["seq"] for s in "abc" for r in table(db, schema, s, "id, seq")} == final


def _feed(proc: subprocess.Popen, payload: bytes) -> None:
    try:
        for start_at in range(0, len(payload), 4096):
            proc.stdin.write(payload[start_at:start_at + 4096])
            proc.stdin.flush()
            time.sleep(0.01)  # about 2 s in all, so the kill lands while writing
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass


def test_database_gone_for_good_ends_with_an_error_naming_what_was_not_committed(dst_config, pg_url):
    port = int(pg_url.rsplit(":", 1)[1].split("/")[0])
    proxy = Proxy(port)
    proxied = pg_url.replace(f":{port}/", f":{proxy.port}/")
    proc = start({**dst_config, "url": proxied, "retries": 2})
    try:
        send(proc, catalog(items=PROPS), state("items", "first"))
        assert read_line(proc, 10)["state"]["data"] == "first"
        send(proc, *[rec("items", {"id": f"i{n}", "seq": n}) for n in range(10)])
        proxy.cut()
        send(proc, state("items", "second"))
        proc.stdin.close()
        out = [loads(line) for line in proc.stdout.read().splitlines()]
        assert proc.wait(30) == 1, (out, proc.stderr.read())
        [error] = [m["trace"]["error"] for m in out if m["type"] == "trace"]
        assert error["scope"] == "global" and error["code"] == "network"
        # the replay and each reconnect backoff were one warning each, said before the error
        said = [m["log"]["message"] for m in out if m["type"] == "log"]
        assert len(said) == 3 and out[-1]["type"] == "trace", out
        assert said[0].startswith("retrying committing: writing stream 'items': ") and \
            said[0].endswith("; replay 1 of 2 of 10 rows (10 of 'items') and the checkpoints of 'items'")
        for n, line in enumerate(said[1:], 1):
            assert line.startswith(f"retrying connecting to 127.0.0.1:{proxy.port}/") and \
                f"Connection refused; retry {n} of 2 in " in line, line
        assert "not committed: 10 rows (10 of 'items') and the checkpoints of 'items'" in error["message"]
        assert error["message"].endswith("_sync_state are intact")
        stderr = proc.stderr.read().decode()
        assert "Traceback" not in stderr and proxied.split("@")[0].split(":")[-1] not in stderr
    finally:
        proc.kill()
