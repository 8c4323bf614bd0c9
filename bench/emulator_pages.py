"""Benchmark: how many list pages of 100 objects per second the Stripe emulator serves.

Starts the emulator (a separate process by default, so clients and server do not share a GIL) with
~20k customers and latency 0, then pages through /v1/customers with limit=100 and starting_after over
keep-alive connections: one client, then 2 and 4 concurrent client processes (each walking its own
created window), and prints pages/s, objects/s and MB/s. Not a test; run it by hand:

    python bench/emulator_pages.py [--objects 20000] [--resource customers] [--seconds 4] [--in-process]

With --live N it measures a live-mode run under Stripe's documented limits instead: N client processes,
one per endpoint, page as fast as they can with a live key (a 429 waits 50 ms), and it prints the
admitted requests/s of the account against its global budget (100/s) and of each endpoint against its
budget (25/s), and the 429s/s.

    python bench/emulator_pages.py --live 6 [--seconds 6]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import orjson
import requests


def walk(url: str, key: str, path: str, window: tuple[int, int], seconds: float) -> tuple[int, int, int]:
    """Page through ``window`` repeatedly for ``seconds``; returns (pages, objects, bytes)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    pages = objects = size = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        cursor = None
        while time.monotonic() < deadline:
            params = {"limit": 100, "created[gte]": window[0], "created[lt]": window[1]}
            if cursor:
                params["starting_after"] = cursor
            r = s.get(url + path, params=params, timeout=30)
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
            page = orjson.loads(r.content)
            pages += 1
            objects += len(page["data"])
            size += len(r.content)
            if not page["has_more"]:
                break
            cursor = page["data"][-1]["id"]
    return pages, objects, size


def _walk_star(args: tuple) -> tuple[int, int, int]:
    return walk(*args)


LIVE_KEY = "sk_live_bench"
LIVE_RESOURCES = ["customers", "charges", "invoices", "products", "prices", "payment_intents", "refunds",
                  "subscriptions"]


def walk_limited(url: str, path: str, seconds: float) -> tuple[int, int]:
    """Page through ``path`` with the live key as fast as admitted; returns (admitted, refused)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {LIVE_KEY}"
    ok = refused = 0
    cursor = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        params = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
        r = s.get(url + path, params=params, timeout=30)
        if r.status_code == 429:
            refused += 1
            time.sleep(0.05)
            continue
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        ok += 1
        page = orjson.loads(r.content)
        cursor = page["data"][-1]["id"] if page["has_more"] else None
    return ok, refused


def _walk_limited_star(args: tuple) -> tuple[int, int]:
    return walk_limited(*args)


def live_run(n: int, seconds: float) -> None:
    from stripe_emulator import spawn_emulator

    resources = LIVE_RESOURCES[:n]
    config = {"seed": 1, "profile": "small", "live_key": LIVE_KEY, "rate_limits": True,
              "dataset": {r: {"count": 5000, "years": 3} for r in resources}}
    with spawn_emulator(config) as proc:
        with mp.get_context("spawn").Pool(n) as pool:
            results = pool.map(_walk_limited_star, [(proc.url, f"/v1/{r}", seconds) for r in resources])
    admitted = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    print(f"live mode, Stripe's limits, {n} endpoints paged at once for {seconds:.0f}s:")
    print(f"  account: {admitted / seconds:6.1f} requests/s admitted = {admitted / seconds / 100:.2f} x the "
          f"global budget (100/s); {refused / seconds:.1f} 429s/s")
    for r, (ok, no) in zip(resources, results, strict=True):
        print(f"  /v1/{r:<16} {ok / seconds:5.1f} requests/s = {ok / seconds / 25:.2f} x its budget (25/s), "
              f"{no / seconds:5.1f} 429s/s")


def windows(url: str, key: str, resource: str, n: int) -> list[tuple[int, int]]:
    dump = requests.get(url + "/_emulator/dump", params={"resource": resource}).json()["objects"]
    created = sorted(o["created"] for o in dump)
    cuts = [created[0]] + [created[len(created) * i // n] for i in range(1, n)] + [created[-1] + 1]
    return list(zip(cuts, cuts[1:], strict=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=20_000, help="objects in the resource (default 20000)")
    ap.add_argument("--resource", default="customers", help="resource to page through (default customers)")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per measurement (default 4)")
    ap.add_argument("--clients", default="1,2,4", help="concurrent client counts (default 1,2,4)")
    ap.add_argument(
        "--in-process", action="store_true", help="run the emulator in this process (shares the GIL)"
    )
    ap.add_argument("--live", type=int, default=0, metavar="N",
                    help=f"measure N endpoints (at most {len(LIVE_RESOURCES)}) under live-mode limits")
    args = ap.parse_args()
    if args.live:
        live_run(min(args.live, len(LIVE_RESOURCES)), args.seconds)
        return

    config = {"seed": 1, "profile": "small", "dataset": {args.resource: {"count": args.objects, "years": 3}}}
    t0 = time.monotonic()
    if args.in_process:
        from stripe_emulator import start_emulator

        emu = start_emulator(config)
        url, key, stop = emu.url, emu.api_key, emu.stop
    else:
        from stripe_emulator import spawn_emulator

        proc = spawn_emulator(config)
        url, key, stop = proc.url, proc.api_key, proc.stop
    print(
        f"emulator ({'in-process' if args.in_process else 'separate process'}) with {args.objects} "
        f"{args.resource} ready in {time.monotonic() - t0:.2f}s at {url}"
    )
    path = f"/v1/{args.resource}"
    try:
        walk(url, key, path, (0, 2**40), 0.5)  # warm up
        for n in [int(x) for x in args.clients.split(",")]:
            wins = windows(url, key, args.resource, n)
            t = time.monotonic()
            if n == 1:
                results = [walk(url, key, path, wins[0], args.seconds)]
            else:
                with mp.get_context("spawn").Pool(n) as pool:
                    results = pool.map(_walk_star, [(url, key, path, w, args.seconds) for w in wins])
            elapsed = max(time.monotonic() - t, args.seconds) if n == 1 else args.seconds
            pages = sum(r[0] for r in results)
            objs = sum(r[1] for r in results)
            size = sum(r[2] for r in results)
            print(
                f"{n} keep-alive client(s): {pages / elapsed:7.0f} pages/s  {objs / elapsed:8.0f} objects/s  "
                f"{size / elapsed / 1e6:6.1f} MB/s  ({pages} pages of <=100, "
                f"{size / max(pages, 1) / 1e3:.0f} kB/page)"
            )
    finally:
        stop()


if __name__ == "__main__":
    main()
