"""Benchmark: a Connect platform with many small accounts, `engine sync --accounts all` into Postgres.

Not a test; run it by hand (a few minutes):

    python bench/connect_accounts.py [--accounts 1000] [--rate 12] [--platform-rate 48] [--in-flight 8]
                                     [--latency-ms 50] [--streams customers,charges]

The emulator (its own process, Stripe's rate limits on, `--latency-ms` per request) serves a platform
with `--accounts` small connected accounts (3 customers and 2 charges each); one `engine sync` (source
and destination as its children, a throwaway PostgreSQL unless DATABASE_URL) reads them all into one
schema. Printed:

- wall time of the sync, and the **bound set by the budgets**: the requests the run made (counted by the
  emulator) can go no faster than the platform-wide cap allows, nor than each account's own budget
  allows for its requests with `--in-flight` accounts at a time, nor than `--in-flight` chains of
  one-request latency: bound = max(requests / platform rate, max over accounts of requests / rate
  (after the bucket's burst), accounts / in-flight x latency x request rounds). Target: wall <= 1.5 x bound;
- requests per account (min / mean / max) and in total, and how many the emulator refused (429);
- peak RSS of the engine, the source and the destination (sampled from /proc every 50 ms). Target:
  each < 300 MB.
- that every account's rows arrived (counts per account against the emulator's ground truth).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]


def rss_sampler(root_pid: int, stop: threading.Event, peaks: dict[str, int]) -> None:
    """Peak RSS (bytes) per process of the tree under `root_pid`, by role (engine, source, destination)."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not stop.is_set():
        for pid in [root_pid, *descendants(root_pid)]:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            except (OSError, ValueError, IndexError):
                continue
            role = "engine" if pid == root_pid else "source" if "source_stripe" in cmd \
                else "destination" if "destination_postgres" in cmd else None
            if role:
                peaks[role] = max(peaks.get(role, 0), rss)
        stop.wait(0.05)


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=12.0, help="per-account budget (requests/s)")
    ap.add_argument("--platform-rate", type=float, default=48.0, help="platform-wide cap (requests/s)")
    ap.add_argument("--in-flight", type=int, default=8)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--streams", default="customers,charges")
    args = ap.parse_args()

    from stripe_emulator import spawn_emulator
    from throwaway_postgres.cluster import start_cluster

    config = {"seed": 1, "dataset": {"customers": 3, "charges": 2},
              "connected_accounts": {"generate": {"count": args.accounts, "sizes": [
                  {"name": "small", "weight": 1, "dataset": {"customers": 3, "charges": 2}}]}},
              "rate_limits": True, "faults": {"latency": {"ms": args.latency_ms}},
              "request_log_limit": 2_000_000}
    streams = args.streams.split(",")
    with ExitStack() as stack:
        url = os.environ.get("DATABASE_URL")
        if not url:
            url = stack.enter_context(start_cluster()).url
        emu = spawn_emulator(config)
        stack.callback(emu.stop)
        py = shlex.quote(sys.executable)
        src = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": args.rate,
               "max_platform_requests_per_second": args.platform_rate,
               "max_accounts_in_flight": args.in_flight}
        schema = f"bench_connect_{os.getpid()}"
        argv = [sys.executable, "-m", "engine", "sync", "--source", f"{py} -m source_stripe",
                "--destination", f"{py} -m destination_postgres", "--source-config", json.dumps(src),
                "--destination-config", json.dumps({"url": url, "schema": schema}), "--accounts", "all",
                "--streams", args.streams, "--no-state-file", "--progress", "plain", "--progress-interval",
                "5", "--output", "none"]
        peaks: dict[str, int] = {}
        stop = threading.Event()
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE)
        sampler = threading.Thread(target=rss_sampler, args=(proc.pid, stop, peaks), daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
        tail = err.decode().strip().splitlines()
        print("\n".join(tail[-6:]))
        if proc.returncode != 0:
            raise SystemExit(f"engine sync exited with {proc.returncode}")

        log = emu.client.requests()
        per_account = Counter(e.get("account") or "platform" for e in log)
        refused = sum(1 for e in log if e["status"] == 429)
        total = len(log)
        counts = sorted(per_account.values())
        rounds = max(1, len(streams))  # requests of one account that wait on each other: ~1 per stream
        burst = max(1.0, args.rate / 2)  # the per-account bucket holds half a second of tokens
        bound = max(total / args.platform_rate,
                    max(0.0, (counts[-1] - burst) / args.rate),
                    len(per_account) / args.in_flight * (args.latency_ms / 1000) * rounds / min(rounds, 4))

        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(f'SELECT count(DISTINCT _account_id), count(*) FROM "{schema}".customers')
            accounts_synced, rows = cur.fetchone()
        expected_rows = 3 * (args.accounts + 1)
        mb = {k: v / 1e6 for k, v in peaks.items()}
        print(f"accounts: {args.accounts} connected + the platform; {accounts_synced} in the customers "
              f"table, {rows:,} rows (expected {expected_rows:,})")
        print(f"budgets: {args.rate:g}/s per account, {args.platform_rate:g}/s platform cap, "
              f"{args.in_flight} accounts in flight, {args.latency_ms:g} ms latency")
        mean = total / len(per_account)
        print(f"requests: {total:,} in total, per account min {counts[0]} / mean {mean:.2f} / max "
              f"{counts[-1]}; 429s: {refused}")
        print(f"wall {wall:.1f} s   bound {bound:.1f} s   ratio wall/bound {wall / bound:.2f}"
              "  (target <= 1.5)")
        print("peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(mb.items()))
              + "  (target < 300 MB each)")


if __name__ == "__main__":
    main()
