"""Benchmark: how soon a change in Stripe reaches its row in Postgres, with webhooks vs polling.

Not a test; run it by hand (about 2-3 minutes with the defaults):

    python bench/serve_webhook_latency.py [--changes 20] [--gap 2.0]

Two following syncs of the same emulated account run at the same time, both with the default
`events_poll_interval_s` (10 s), each into its own schema:

- **webhooks**: started through `engine serve` (POST /v1/syncs, follow), with the emulator delivering
  signed webhooks to `POST /webhooks/stripe`; a verified event wakes the sync's events reader at once.
- **polling** (the baseline): `engine sync --follow` on the command line, nobody wakes it.

Then `--changes` customer updates, one at a time, `--gap` seconds apart plus a random 0-10 s (so changes
fall at random points of the polling cycle): for each, the time from the update call to the moment the
new value is in each schema's row (Postgres polled every 10 ms). Prints median, p95 and max for both and
the ratio of the medians, measured in the same run. Real processes throughout: the emulator in its own
process, `engine serve` and `engine sync` with source-stripe and destination-postgres, a throwaway
PostgreSQL (or DATABASE_URL).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests

from stripe_emulator import spawn_emulator
from throwaway_postgres import start_cluster

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
SECRET = "whsec_benchLatency00000000000000000001"
PY = shlex.quote(sys.executable)
CONNECTORS = ["--source", f"{PY} -m source_stripe", "--destination", f"{PY} -m destination_postgres"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def names(pg_url: str, schema: str, ids: list[str]) -> dict[str, str | None]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}".customers',))
        if cur.fetchone()[0] is None:
            return {}
        cur.execute(f'SELECT id, _raw_data->>\'name\' FROM "{schema}".customers WHERE id = ANY(%s)', (ids,))
        return dict(cur.fetchall())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cluster = None if os.environ.get("DATABASE_URL") else start_cluster()
    pg_url = os.environ.get("DATABASE_URL") or cluster.url  # type: ignore[union-attr]
    emu = spawn_emulator({"dataset": {"customers": 200}, "seed": args.seed})
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STRIPE_API_KEY": emu.api_key, "STRIPE_BASE_URL": emu.url,
           "DATABASE_URL": pg_url, "STRIPE_SYNC_STATE_DIR": str(tmp / "state")}
    procs: list[subprocess.Popen] = []
    try:
        ready = tmp / "ready.json"
        serve = [sys.executable, "-m", "engine", "serve", "--port", "0", "--ready-file", str(ready),
                 *CONNECTORS]
        procs.append(subprocess.Popen(serve, cwd=ROOT, stderr=open(tmp / "serve.err", "wb"),
                                      env={**env, "STRIPE_SYNC_API_TOKEN": TOKEN,
                                           "STRIPE_WEBHOOK_SECRET": SECRET}))
        wait_for(ready.exists, 30, "engine serve")
        url = json.loads(ready.read_text())["url"]
        emu.client.add_webhook_endpoint(f"{url}/webhooks/stripe", secret=SECRET, enabled_events=["*"])
        answer = requests.post(f"{url}/v1/syncs", json={"streams": ["customers"], "follow": True,
                                                        "schema": "bench_webhooks"},
                               headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        answer.raise_for_status()
        procs.append(subprocess.Popen([sys.executable, "-m", "engine", "sync", "--follow", "--schema",
                                       "bench_polling", "--streams", "customers", "--progress", "none",
                                       "--output", "none", *CONNECTORS], cwd=ROOT, env=env,
                                      stderr=open(tmp / "sync.err", "wb")))
        ids = sorted(o["id"] for o in emu.client.dump("customers")["objects"])
        for schema in ("bench_webhooks", "bench_polling"):
            wait_for(lambda s=schema: len(names(pg_url, s, ids)) == len(ids), 120,
                     f"the backfill of {schema}")
        print(f"both syncs backfilled {len(ids)} customers; {args.changes} changes follow", flush=True)
        latency: dict[str, list[float]] = {"webhooks": [], "polling": []}
        for n in range(args.changes):
            time.sleep(args.gap + rng.uniform(0, 10))
            customer, value = rng.choice(ids), f"bench change {n}"
            started = time.monotonic()
            emu.client.update("customers", customer, name=value)
            pending = {"webhooks": "bench_webhooks", "polling": "bench_polling"}
            while pending:
                for label, schema in list(pending.items()):
                    if names(pg_url, schema, [customer]).get(customer) == value:
                        latency[label].append(time.monotonic() - started)
                        del pending[label]
                if time.monotonic() - started > 60:
                    raise SystemExit(f"change {n} did not arrive in {sorted(pending)}")
                time.sleep(0.01)
            print(f"  change {n + 1:>2}: webhooks {latency['webhooks'][-1]:6.2f} s   "
                  f"polling {latency['polling'][-1]:6.2f} s", flush=True)
        print("\nchange -> row in Postgres (seconds), default events_poll_interval_s = 10:")
        for label, values in latency.items():
            print(f"  {label:<9} median {statistics.median(values):6.2f}   "
                  f"p95 {percentile(values, 0.95):6.2f}   max {max(values):6.2f}   (n={len(values)})")
        ratio = statistics.median(latency["polling"]) / statistics.median(latency["webhooks"])
        print(f"  polling median / webhooks median = {ratio:.1f}x")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        emu.stop()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
