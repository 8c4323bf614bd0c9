"""Benchmark: source-stripe backfill speed against the emulator with Stripe-like latency and rate limit.

Not a test; run it by hand (about 2 minutes):

    python bench/source_backfill.py [--objects 100000] [--dense 10000] [--latency-ms 250] [--rate 25]

1. Spread stream: `--objects` customers spread over 5 years (skewed to recent months), emulator latency
   `--latency-ms` and a `--rate` req/s limit per key (the source is configured with the same rate). The
   ceiling is rate x 100 objects/s (2,500 with the defaults); prints objects/s and the ratio (target
   >= 0.9), requests vs the minimum number of pages, and 429s received.
2. Dense second: `--dense` customers created in ONE second (plus `--background` older ones). A second
   cannot be split by time, so its pages form a chain: chain length x latency is what a one-ended walk
   needs. Prints the run time with the two-ended walk (default) and with a one-ended walk, each as a
   ratio of that chain time. (The bottom walk starts with `ending_before` an older object: a stream
   holding nothing older than its dense second can only be walked from the top.)

The emulator runs in its own process (no shared GIL); the source runs in this process and serializes
every message as it would on stdout (to /dev/null).
"""
from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter

from connector_kit.connector import ReadRequest
from protocol.jsonio import MessageWriter
from source_stripe import source
from source_stripe.windows import SplitPolicy
from stripe_emulator import spawn_emulator


def run_read(emu, rate: float, policy: SplitPolicy | None = None) -> tuple[float, int, dict]:
    cfg = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": rate,
           "max_concurrent_requests": 16, "streams": ["customers"]}
    sink = open(os.devnull, "wb")
    writer = MessageWriter(sink, flush_each=False)
    ids: set[str] = set()
    count = 0
    started = time.monotonic()
    for msg in source.read(ReadRequest(cfg, None, None, {}), policy):
        writer.write(msg)
        if msg["type"] == "record":
            count += 1
            ids.add(msg["record"]["data"]["id"])
        elif msg["type"] == "trace" and msg["trace"]["trace_type"] == "error":
            raise SystemExit(f"error: {msg['trace']['error']}")
    elapsed = time.monotonic() - started
    writer.flush()
    sink.close()
    if count != len(ids):
        raise SystemExit(f"duplicates: {count} records for {len(ids)} ids")
    return elapsed, len(ids), emu.client.request_counts()


def statuses(emu) -> Counter:
    return Counter(r["status"] for r in emu.client.requests("/v1/customers"))


def spread(args) -> None:
    faults = {"latency": {"ms": args.latency_ms}, "rate_limit": {"rate": args.rate}}
    config = {"profile": "small", "dataset": {"customers": {"count": args.objects, "years": 5, "skew": 2}},
              "faults": faults}
    with spawn_emulator(config, timeout=120) as emu:
        elapsed, n, _ = run_read(emu, args.rate)
        st = statuses(emu)
    ceiling = args.rate * 100
    requests = sum(st.values())
    print(f"spread stream: {n} objects in {elapsed:.1f}s = {n / elapsed:.0f} objects/s; ceiling "
          f"{ceiling:.0f}/s; "
          f"ratio {n / elapsed / ceiling:.3f} (target >= 0.9)")
    print(f"  list requests {requests} (minimum pages {math.ceil(n / 100)}, "
          f"x{requests / math.ceil(n / 100):.3f}); 429s: {st.get(429, 0)}")


def dense(args) -> None:
    faults = {"latency": {"ms": args.latency_ms}, "rate_limit": {"rate": args.rate}}
    config = {"profile": "small", "dataset": {"customers": {"count": args.background, "years": 2, "bursts": [
        {"at": -86400, "count": args.dense}]}}, "faults": faults}
    chain = math.ceil(args.dense / 100) * args.latency_ms / 1000
    results = {}
    for label, policy in (("two-ended", SplitPolicy()), ("one-ended", SplitPolicy(two_ended=False))):
        with spawn_emulator(config, timeout=120) as emu:
            elapsed, n, _ = run_read(emu, args.rate, policy)
            st = statuses(emu)
        results[label] = elapsed
        print(f"dense second ({label}): {n} objects in {elapsed:.1f}s; "
              f"chain {math.ceil(args.dense / 100)} pages x "
              f"{args.latency_ms} ms = {chain:.1f}s; run/chain {elapsed / chain:.3f}; "
              f"requests {sum(st.values())}")
    print(f"  two-ended speed-up vs one-ended: x{results['one-ended'] / results['two-ended']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--dense", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=500,
                        help="older objects in the dense stream (the bottom walk starts from one of them)")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--rate", type=float, default=25)
    parser.add_argument("--only", choices=["spread", "dense"])
    args = parser.parse_args()
    if args.only in (None, "spread"):
        spread(args)
    if args.only in (None, "dense"):
        dense(args)


if __name__ == "__main__":
    main()
