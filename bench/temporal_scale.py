"""Benchmark: a Connect platform's accounts synced through Temporal with 1, 2 and 4 worker processes.

Not a test; run it by hand (about 10 minutes with the defaults on 2 cores):

    python bench/temporal_scale.py [--accounts 200] [--workers 1,2,4] [--slots 2] [--streams customers]

One emulator process serves a platform with `--accounts` small connected accounts (5 customers, 3
charges each); for each worker count, that many `engine worker` processes (each running up to
`--slots` syncs at once) poll one task queue of a Temporal dev server, and `engine submit
--connected-accounts --no-platform-account --wait` syncs every account into its own schema. Timed from
the submit to the platform workflow's result; checked: every account done, and each worker's share.
Prints accounts/s per worker count and the scaling ratio against 1 worker, measured in the same run.

Every account sync is 3 short-lived processes (`destination state`, `source read`, `destination
write`; the streams are chosen in the source config, so no `discover`): the work is CPU-bound process
start-up and JSON, so the scaling is bounded by the machine's cores (printed), not by Temporal.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from stripe_emulator import spawn_emulator  # noqa: E402
from tests.temporal.conftest import API_KEY, DevServer, Workers, engine, engine_env  # noqa: E402
from throwaway_postgres import start_cluster  # noqa: E402

PY = shlex.quote(sys.executable)


def drop_schemas(pg_url: str, prefix: str) -> None:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",))
        for (schema,) in cur.fetchall():
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')


def one_round(server: DevServer, emu, pg_url: str, workers: int, slots: int, streams: str,
              tmp: Path) -> dict:
    name = f"bench_w{workers}_{int(time.time())}"
    pool = Workers(server, f"bench-{name}", tmp, engine_env(STRIPE_API_KEY=API_KEY, DATABASE_URL=pg_url))
    try:
        for i in range(workers):
            pool.start(f"{name}-w{i + 1}", "--max-concurrent-syncs", str(slots))
        started = time.monotonic()
        r = engine("submit", "--temporal", server.address, "--task-queue", pool.task_queue, "--name", name,
                   "--connected-accounts", "--no-platform-account", "--stripe-base-url", emu.url,
                   "--schema", name, "--source-config", json.dumps({"streams": streams.split(",")}),
                   "--source", f"{PY} -m source_stripe",
                   "--destination", f"{PY} -m destination_postgres", "--heartbeat-timeout", "30s", "--wait",
                   timeout=3600)
        seconds = time.monotonic() - started
        if r.returncode != 0:
            raise SystemExit(f"{workers} worker(s): the platform sync failed: {r.stdout[-2000:]} "
                             f"{r.stderr[-2000:]}")
        result = json.loads(r.stdout.splitlines()[-1])
        shares: dict[str, int] = {}
        for account in result["accounts"].values():
            shares[account["worker"]] = shares.get(account["worker"], 0) + 1
        return {"workers": workers, "seconds": seconds, "accounts": len(result["accounts"]),
                "failed": len(result["failed"]), "shares": shares}
    finally:
        pool.stop()
        drop_schemas(pg_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--slots", type=int, default=2, help="syncs per worker at once")
    parser.add_argument("--streams", default="customers")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="temporal-bench-"))
    pg_url = os.environ.get("DATABASE_URL")
    cluster = None if pg_url else start_cluster()
    pg_url = pg_url or cluster.url
    server = DevServer(tmp)
    config = {"api_key": API_KEY, "dataset": {"customers": 5},
              "connected_accounts": {"generate": {"count": args.accounts, "sizes": [
                  {"name": "small", "weight": 1, "dataset": {"customers": 5, "charges": 3}}]}}}
    rounds = []
    try:
        with spawn_emulator(config) as emu:
            for n in counts:
                rounds.append(one_round(server, emu, pg_url, n, args.slots, args.streams, tmp))
                r = rounds[-1]
                print(f"{n} worker(s): {r['accounts']} accounts in {r['seconds']:.1f}s "
                      f"({r['accounts'] / r['seconds']:.2f} accounts/s), failed {r['failed']}, "
                      f"per worker {sorted(r['shares'].values(), reverse=True)}", flush=True)
    finally:
        server.stop()
        if cluster is not None:
            cluster.stop()
    base = rounds[0]["accounts"] / rounds[0]["seconds"]
    print(f"\n{os.cpu_count()} CPU core(s); {args.slots} sync slot(s) per worker; streams {args.streams}")
    print("workers  seconds  accounts/s  vs 1 worker")
    for r in rounds:
        rate = r["accounts"] / r["seconds"]
        print(f"{r['workers']:>7}  {r['seconds']:>7.1f}  {rate:>10.2f}  {rate / base:>10.2f}x")


if __name__ == "__main__":
    main()
