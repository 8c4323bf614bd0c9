"""Benchmark: source-stripe backfill speed against the emulator with Stripe-like latency and rate limit.

Not a test; run it by hand (about 4 minutes for all profiles; `--only NAME` runs one):

    python bench/source_backfill.py [--objects 100000] [--dense 10000] [--latency-ms 250] [--rate 25]
        [--only spread|dense|deep|live|events] [--deep-rates 25,100] [--events 20000]

1. Spread stream: `--objects` customers spread over 5 years (skewed to recent months), emulator latency
   `--latency-ms` and a `--rate` req/s limit per key (the source is configured with the same rate). The
   ceiling is rate x 100 objects/s (2,500 with the defaults); prints objects/s and the ratio (target
   >= 0.9), requests vs the minimum number of pages, and 429s received.
2. Dense second: `--dense` customers created in ONE second (plus `--background` older ones). A second
   cannot be split by time, so its pages form a chain: chain length x latency is what a one-ended walk
   needs. Prints the run time with the two-ended walk (default) and with a one-ended walk, each as a
   ratio of that chain time. (The bottom walk starts with `ending_before` an older object: a stream
   holding nothing older than its dense second can only be walked from the top.)

3. Deep dense second (`deep`): 30,000 customers, a quarter of them created in ONE second ~200 days below
   the newest object (deep inside the range, under sparse data; `--deep-days 120,160,200,240,280` runs
   several depths and prints the means), 5% in three adjacent seconds (~40 days down), the rest skewed
   to recent; Stripe's limits at each of `--deep-rates` (the same budget per key and per endpoint, the
   source configured with it). The bound is max(pages / rate, ceil(dense pages / 2) x round trip): the
   budget, or the dense second walked from both ends. The round trip is measured in the same run.
   Prints wall, bound, bound/wall (target >= 0.9), the bound with the search (`search_bound`: what a
   reader that does not know where the dense second lies can expect at best, on average over its
   positions) and its ratio, and requests / minimum pages.
4. Live mode (`live`): a live key, Stripe's live limits (100/s per account, 25/s per endpoint), seven
   streams of `--live-objects` objects each, budget 100/s: prints achieved req/s (target >= 0.9 of 100)
   and the bound max(pages / 100, largest stream's pages / 25).
5. Events catch-up (`events`): `--events` changes to 2,000 customers spread over the day after a first
   sync, then a second run with that state; Stripe's test limits (25/s per account and per endpoint,
   the source at 25/s). Prints the time from the first `/v1/events` request to the last and the whole
   second run (it also waits out the current second and reads the account) against the bound, event
   pages / 25 per second (one endpoint), the events requests against the minimum, and whether every
   change arrived once, in order. A serial walk of the same pages would take pages x round trip.

The emulator runs in its own process (no shared GIL); the source runs in this process and serializes
every message as it would on stdout (to /dev/null).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections import Counter

import requests

from connector_kit.connector import ReadRequest
from protocol import state as protocol_state
from protocol.jsonio import MessageWriter
from source_stripe import source
from source_stripe.windows import SplitPolicy
from stripe_emulator import spawn_emulator


def run_read(emu, rate: float, policy: SplitPolicy | None = None, streams: tuple[str, ...] = ("customers",),
             api_key: str | None = None, extra: dict | None = None) -> tuple[float, int, dict]:
    cfg = {"api_key": api_key or emu.api_key, "base_url": emu.url, "max_requests_per_second": rate,
           "streams": list(streams), **(extra or {})}
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


def round_trip(emu, path: str = "/v1/customers", api_key: str | None = None, n: int = 5) -> float:
    """Median seconds of one list page of 100 as this process sees it (run after the read: a fresh budget)."""
    time.sleep(1.1)
    session = requests.Session()
    times = []
    for _ in range(n):
        started = time.monotonic()
        resp = session.get(emu.url + path, params={"limit": 100}, auth=(api_key or emu.api_key, ""))
        resp.raise_for_status()
        times.append(time.monotonic() - started)
    session.close()
    return statistics.median(times)


DAY = 86400


DEEP_TOTAL, DEEP_DENSE = 30_000, 7_500


def deep_dataset(depth_days: float = 200) -> dict:
    """30,000 customers: 7,500 in one second `depth_days` down, 1,500 in three adjacent seconds 40 days
    down, the rest over two years, skewed to recent."""
    adjacent = 1_500
    bursts = [{"at": int(-depth_days * DAY), "count": DEEP_DENSE}]
    bursts += [{"at": -40 * DAY + i, "count": adjacent // 3} for i in range(3)]
    rest = DEEP_TOTAL - DEEP_DENSE - adjacent
    return {"customers": {"count": rest, "years": 2, "skew": 2, "bursts": bursts}}


def search_bound(pages: int, dense_pages: int, rate: float, rtt: float) -> float:
    """What a reader that does not know where the dense second lies can expect at best (the mean over
    its positions): a page tells only what it holds, so on average half of the other pages are read
    before one lands in the dense second, at most rate x round trip of them per round trip (fresh
    windows can start anywhere in time, a part's next page only after its last); before that, the
    account and a first page (two round trips); after it, the two-ended walk; never less than the
    budget's bound."""
    per_round = max(1.0, rate * rtt)
    search = 2 * rtt + math.ceil((pages - dense_pages) / 2 / per_round) * rtt
    return max(pages / rate, search + math.ceil(dense_pages / 2) * rtt)


def deep(args) -> None:
    dense_pages = math.ceil(DEEP_DENSE / 100)
    for rate in args.deep_rates:
        ratios, searched = [], []
        limits = {"test": rate, "endpoint": rate}
        for depth in args.deep_days:
            config = {"profile": "small", "dataset": deep_dataset(depth), "rate_limits": limits,
                      "faults": {"latency": {"ms": args.latency_ms}}}
            with spawn_emulator(config, timeout=120) as emu:
                elapsed, n, _ = run_read(emu, rate, extra=endpoint_budget(rate))
                st = statuses(emu)
                rtt = round_trip(emu)
            pages = math.ceil(n / 100)
            bound = max(pages / rate, math.ceil(dense_pages / 2) * rtt)
            expected = search_bound(pages, dense_pages, rate, rtt)
            ratios.append(bound / elapsed)
            searched.append(expected / elapsed)
            requests_ = sum(v for k, v in st.items() if k != 429)
            print(f"deep dense second {depth:g} days down at {rate:g} req/s: {n} objects in {elapsed:.1f}s; "
                  f"bound {bound:.1f}s (max({pages} pages / {rate:g}/s, ceil({dense_pages} / 2) x "
                  f"{rtt * 1000:.0f} ms)); bound/wall {bound / elapsed:.3f} (target >= 0.9); with the search "
                  f"{expected:.1f}s, its ratio {expected / elapsed:.3f}; requests {requests_} "
                  f"(x{requests_ / pages:.3f} of the minimum); 429s: {st.get(429, 0)}")
        if len(ratios) > 1:
            print(f"deep dense at {rate:g} req/s over {len(ratios)} depths: bound/wall mean "
                  f"{statistics.mean(ratios):.3f} (min {min(ratios):.3f}); with the search mean "
                  f"{statistics.mean(searched):.3f} (min {min(searched):.3f})")


def warm_up(emu, api_key: str, streams: tuple[str, ...]) -> None:
    """One request per list before the timed run, then a quiet second and an empty request log: the
    emulator builds a big dataset on first use (the first request took 1.2 s with 7 x 17,000 objects),
    which is the emulator's cost, not the source's."""
    with requests.Session() as session:
        session.get(emu.url + "/v1/account", auth=(api_key, "")).raise_for_status()
        for name in streams:
            session.get(f"{emu.url}/v1/{name}", params={"limit": 1}, auth=(api_key, "")).raise_for_status()
    time.sleep(1.1)
    emu.client.clear_requests()


LIVE_STREAMS = ("customers", "charges", "invoices", "payment_intents", "products", "prices", "refunds")


def live(args) -> None:
    live_key = "sk_live_bench"
    dataset = {name: {"count": args.live_objects, "years": 2, "skew": 2} for name in LIVE_STREAMS}
    config = {"profile": "small", "live_key": live_key, "dataset": dataset, "rate_limits": True,
              "faults": {"latency": {"ms": args.latency_ms}}}
    with spawn_emulator(config, timeout=180) as emu:
        warm_up(emu, live_key, LIVE_STREAMS)
        elapsed, n, _ = run_read(emu, 100, streams=LIVE_STREAMS, api_key=live_key)
        entries = [r for r in emu.client.requests() if r["path"].startswith("/v1/")]
    by_path = Counter(r["path"] for r in entries if r["status"] == 200)
    admitted = sum(by_path.values())
    refused = Counter(r.get("limiter") for r in entries if r["status"] == 429)
    pages = {name: by_path.get(f"/v1/{name}", 0) for name in LIVE_STREAMS}
    bound = max(sum(pages.values()) / 100, max(pages.values()) / 25)
    print(f"live mode, {len(LIVE_STREAMS)} streams, budget 100/s: {n} objects in {elapsed:.1f}s; "
          f"{admitted} requests = {admitted / elapsed:.1f} req/s (target >= 90); bound {bound:.1f}s, "
          f"bound/wall {bound / elapsed:.3f}; 429s: {dict(refused) or 0}")


def read_state(emu, cfg: dict, state: dict | None) -> tuple[float, dict, list[dict]]:
    """Wall of one read from `state`, the state it ends with, and its records."""
    aggregate, records = state or protocol_state.empty(), []
    started = time.monotonic()
    for msg in source.read(ReadRequest(cfg, None, state, {})):
        if msg["type"] == "record":
            records.append(msg["record"])
        elif msg["type"] == "state":
            aggregate, _ = protocol_state.apply(aggregate, msg["state"])
        elif msg["type"] == "trace" and msg["trace"]["trace_type"] == "error":
            raise SystemExit(f"error: {msg['trace']['error']}")
    return time.monotonic() - started, aggregate, records


def events(args) -> None:
    rate, customers = 25.0, 2_000
    config = {"profile": "small", "dataset": {"customers": {"count": customers, "years": 2}},
              "rate_limits": {"test": rate, "endpoint": rate}, "faults": {"latency": {"ms": args.latency_ms}}}
    with spawn_emulator(config, timeout=120) as emu:
        cfg = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": rate,
               "streams": ["customers"], **endpoint_budget(rate)}
        _, state, _ = read_state(emu, cfg, None)
        batches = 200
        for i in range(batches):  # the changes spread over a day (the backlog of a daily sync)
            emu.client.scatter_changes({"customers": {"update": args.events // batches}}, seed=i)
            emu.client.advance_clock(86400 / batches)
        changes = [e for e in emu.client.events() if e["type"] == "customer.updated"]
        emu.client.clear_requests()
        elapsed, _, records = read_state(emu, cfg, state)
        listed = [r for r in emu.client.requests("/v1/events") if r["path"] == "/v1/events"]
        rtt = round_trip(emu, "/v1/events")
    pages, admitted = math.ceil(len(changes) / 100), sum(r["status"] == 200 for r in listed)
    span = max(r["time"] + r["duration_ms"] / 1000 for r in listed) - min(r["time"] for r in listed)
    got = [r["updated_at"] for r in records if r["data"].get("object") == "customer"]
    exact = len(got) == len(changes) and got == sorted(got)
    bound = pages / rate
    print(f"events catch-up: {len(changes)} events; /v1/events from first request to last {span:.1f}s, "
          f"the whole second run {elapsed:.1f}s; bound {bound:.1f}s ({pages} pages / {rate:g}/s); "
          f"bound/events {bound / span:.3f}, bound/run {bound / elapsed:.3f}; a serial walk "
          f"{pages * rtt:.1f}s; events requests {admitted} (x{admitted / pages:.3f} of the minimum); "
          f"every change once, in order: {exact}")


def endpoint_budget(rate: float) -> dict:
    """The source's per-endpoint budget set to `rate` (the run's limit), where the source has that option."""
    from source_stripe.config import CONFIG_SCHEMA

    name = "max_requests_per_second_per_endpoint"
    return {name: rate} if name in CONFIG_SCHEMA["properties"] else {}


def floats(text: str) -> list[float]:
    """A comma-separated list of numbers: `25,100`."""
    return [float(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--dense", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=500,
                        help="older objects in the dense stream (the bottom walk starts from one of them)")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--rate", type=float, default=25)
    parser.add_argument("--deep-rates", type=floats, default=[25.0, 100.0],
                        help="request budgets of the deep-dense profile, e.g. 25,100")
    parser.add_argument("--deep-days", type=floats, default=[200.0],
                        help="days below the newest object of the deep-dense second, e.g. 120,200,280")
    parser.add_argument("--live-objects", type=int, default=17_000, help="objects per stream in live mode")
    parser.add_argument("--events", type=int, default=20_000, help="changes before the events catch-up")
    parser.add_argument("--only", choices=["spread", "dense", "deep", "live", "events"])
    args = parser.parse_args()
    if args.only in (None, "spread"):
        spread(args)
    if args.only in (None, "dense"):
        dense(args)
    if args.only in (None, "deep"):
        deep(args)
    if args.only in (None, "live"):
        live(args)
    if args.only in (None, "events"):
        events(args)


if __name__ == "__main__":
    main()
