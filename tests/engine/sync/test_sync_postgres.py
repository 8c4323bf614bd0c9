"""`engine sync` with the real destination-postgres (fake source): a source crash midway, a restart
from the state the destination confirmed, and tables that end complete, without duplicates."""
from __future__ import annotations

import json
import subprocess
import sys

import psycopg2

from tests.engine.conftest import ROOT, child_env


def test_sync_into_postgres_survives_a_source_crash(runner, pg_url, pg_schema):
    dest = {"url": pg_url, "schema": pg_schema, "batch_size": 7}
    argv = runner.argv("sync", runner.source_config(streams={"customers": 23, "charges": 9},
                                                    behaviour=[{"fail_after": 14, "how": "exit1"}, {}]),
                       dest, "--destination", f"{sys.executable} -m destination_postgres",
                       "--state-file", str(runner.dir / "state.json"), "--progress", "plain",
                       "--output", "json",
                       "--restart-delay", "0.05")
    proc = subprocess.run(argv, capture_output=True, timeout=120, cwd=ROOT, env=child_env())
    r = runner.result(proc.returncode, proc.stdout, proc.stderr)
    assert r.code == 0, r.stderr
    assert "without their _generation key" not in r.stderr  # the destination echoes engine keys back
    assert r.attempts()[1]["starts"] == {"customers": 10, "charges": 0}
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        for table, count in (("customers", 23), ("charges", 9)):
            cur.execute(f'SELECT id FROM "{pg_schema}"."{table}" ORDER BY id')
            assert [row[0] for row in cur.fetchall()] == [f"{table}_{i:05d}" for i in range(count)]
    state = subprocess.run([sys.executable, "-m", "destination_postgres", "state", "--config",
                            json.dumps(dest)],
                           capture_output=True, cwd=ROOT, env=child_env(), check=True)
    assert json.loads(state.stdout) == r.eof["state"]
    totals = r.eof["progress"]["totals"]
    assert totals["inserted"] == 32 and totals["records"] >= 32


def test_a_postgres_outage_longer_than_the_destinations_reconnects_restarts_it(runner, pg_url, pg_schema):
    import time

    from tests.tcp_proxy import Proxy

    port = int(pg_url.rsplit(":", 1)[1].split("/")[0])
    proxy = Proxy(port)
    dest = {"url": pg_url.replace(f":{port}/", f":{proxy.port}/"), "schema": pg_schema, "retries": 2}
    argv = runner.argv("sync", runner.source_config(streams={"customers": 60}, behaviour=[{"sleep": 0.05}]),
                       dest, "--destination", f"{sys.executable} -m destination_postgres",
                       "--state-file", str(runner.dir / "state.json"), "--progress", "plain",
                       "--output", "json", "--restart-delay", "0.5")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=child_env())
    deadline = time.time() + 30
    while time.time() < deadline and not (runner.dir / "state.json").exists():
        time.sleep(0.05)
    proxy.down()  # the database is gone for 8 s: longer than the destination's own reconnects (~1.5 s)
    time.sleep(8)
    proxy.up()
    out, err = proc.communicate(timeout=120)
    r = runner.result(proc.returncode, out, err)
    assert r.code == 0, r.stderr
    assert "the destination failed: the destination exited with code 1: [network]" in r.stderr
    assert "restarting both from the last confirmed state" in r.stderr
    assert r.eof["progress"]["restarts"] >= 1 and r.eof["status"] == "succeeded"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT id FROM "{pg_schema}".customers ORDER BY id')
        assert [row[0] for row in cur.fetchall()] == [f"customers_{i:05d}" for i in range(60)]
    assert r.eof["state"]["streams"]["customers"]["remaining"] == []


def test_a_source_without_confirm_leaves_the_candidates_pending_with_a_warning(runner, pg_url, pg_schema):
    dest = {"url": pg_url, "schema": pg_schema}
    common = ["--destination", f"{sys.executable} -m destination_postgres", "--state-file",
              str(runner.dir / "state.json"), "--progress", "plain", "--output", "json"]
    first = subprocess.run(runner.argv("sync", runner.source_config(streams={"customers": 12}), dest,
                                       *common), capture_output=True, timeout=120, cwd=ROOT, env=child_env())
    assert first.returncode == 0, first.stderr
    (runner.dir / "attempts").unlink()
    (runner.dir / "state.json").unlink()
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:  # start over, as a snapshot would
        cur.execute(f'DELETE FROM "{pg_schema}"._sync_state')
    second = subprocess.run(runner.argv("sync", runner.source_config(streams={"customers": 10},
                                                                     behaviour=[{"snapshot": True}]),
                                        dest, *common), capture_output=True, timeout=120, cwd=ROOT,
                            env=child_env())
    r = runner.result(second.returncode, second.stdout, second.stderr)
    assert r.code == 0, r.stderr
    assert "2 delete candidate(s) of customers (2) cannot be confirmed: the source has no `confirm` " \
           "command" in r.stderr
    listed = subprocess.run([sys.executable, "-m", "destination_postgres", "candidates", "--config",
                             json.dumps(dest)], capture_output=True, cwd=ROOT, env=child_env(), check=True)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["customers_00010",
                                                                               "customers_00011"]
