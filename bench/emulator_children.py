"""Benchmark: what child collections and connected accounts cost the Stripe emulator.

Starts the emulator in a separate process three times in the same run and prints the time to build it
(in this process: the data set-up alone), the time until the process serves (Python's start included)
and its resident memory (VmRSS), against a baseline without children:

  baseline   N invoices and N subscriptions with the default 1 line / 1 item each
  children   the same parents with 0, 3, 10 and 250 lines / items in turn (about 66 children a parent)
  accounts   1,000 generated connected accounts (listed by /v1/accounts)

then, on the children emulator, pages of /v1/invoices (each invoice embeds its first 10 lines) and of the
250-line invoices' /v1/invoices/{id}/lines. Not a test; run it by hand:

    python bench/emulator_children.py [--parents 4000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
import requests

from stripe_emulator import spawn_emulator


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_s(config: dict) -> float:
    """Seconds to build the emulator's data in this process (no server started)."""
    from stripe_emulator import EmulatorConfig
    from stripe_emulator.emulator import Emulator

    t = time.perf_counter()
    emu = Emulator(EmulatorConfig.from_dict(config))
    elapsed = time.perf_counter() - t
    emu.stop()
    return elapsed


def start(config: dict) -> tuple[object, float, float]:
    """A separate process: (it, seconds until it served, its RSS in MB), after a build in this process."""
    built = build_s(config)
    t = time.monotonic()
    proc = spawn_emulator(config)
    elapsed = time.monotonic() - t
    print(f"  (built in {built:.3f}s in-process)")
    return proc, elapsed, rss_mb(proc.proc.pid)


def pages_per_s(url: str, key: str, path: str, seconds: float) -> tuple[float, float]:
    """Page ``path`` with limit=100 for ``seconds``: (pages/s, kB/page)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    pages = size = 0
    cursor = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = s.get(url + path, params={"limit": 100, **({"starting_after": cursor} if cursor else {})})
        r.raise_for_status()
        page = orjson.loads(r.content)
        pages += 1
        size += len(r.content)
        cursor = page["data"][-1]["id"] if page["has_more"] else None
    return pages / seconds, size / pages / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--parents", type=int, default=4000, help="invoices and subscriptions each (default 4000)"
    )
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per paging measurement (default 3)")
    args = ap.parse_args()
    n = args.parents
    base = {"seed": 1, "profile": "small", "start_time": 1_700_000_000}
    parents = {"invoices": {"count": n, "years": 3}, "subscriptions": {"count": n, "years": 3}}
    spread = [0, 3, 10, 250]
    with_children = {
        "invoices": {**parents["invoices"], "children": {"lines": spread}},
        "subscriptions": {**parents["subscriptions"], "children": {"items": spread}},
    }
    children_total = 2 * n * sum(spread) // len(spread)

    proc, t_base, m_base = start({**base, "dataset": parents})
    url, key = proc.url, proc.api_key
    base_pages, base_kb = pages_per_s(url, key, "/v1/invoices", args.seconds)
    proc.stop()
    print(f"baseline: {2 * n} parents (1 child each)     started in {t_base:5.2f}s, RSS {m_base:6.1f} MB")

    proc, t_kids, m_kids = start({**base, "dataset": with_children})
    print(
        f"children: {2 * n} parents, {children_total} children started in {t_kids:5.2f}s, "
        f"RSS {m_kids:6.1f} MB = {t_kids / t_base:.2f} x / {m_kids / m_base:.2f} x the baseline"
    )
    try:
        url, key = proc.url, proc.api_key
        kids_pages, kids_kb = pages_per_s(url, key, "/v1/invoices", args.seconds)
        print(
            f"  /v1/invoices pages of 100: {kids_pages:6.0f}/s ({kids_kb:.0f} kB/page) against "
            f"{base_pages:.0f}/s ({base_kb:.0f} kB/page) with one line each = {kids_pages / base_pages:.2f} x"
        )
        truth = proc.client.dump("invoices")["objects"]
        big = [o["id"] for o in truth if o["lines"]["total_count"] == 250]
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {key}"
        t, lines = time.monotonic(), 0
        for inv in big[:200]:
            cursor = None
            while True:
                params = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
                page = s.get(f"{url}/v1/invoices/{inv}/lines", params=params).json()
                lines += len(page["data"])
                if not page["has_more"]:
                    break
                cursor = page["data"][-1]["id"]
        elapsed = time.monotonic() - t
        print(
            f"  nested /v1/invoices/{{id}}/lines: {lines} lines of {min(len(big), 200)} invoices in "
            f"{elapsed:.2f}s = {lines / elapsed:.0f} lines/s; RSS afterwards {rss_mb(proc.proc.pid):.1f} MB"
        )
    finally:
        proc.stop()

    proc, t_acc, m_acc = start({**base, "connected_accounts": {"generate": {"count": 1000}}})
    try:
        t = time.monotonic()
        listed = len(proc.client.connected_accounts())
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {proc.api_key}"
        cursor, pages = None, 0
        while True:
            page = s.get(
                proc.url + "/v1/accounts",
                params={"limit": 100, **({"starting_after": cursor} if cursor else {})},
            ).json()
            pages += 1
            if not page["has_more"]:
                break
            cursor = page["data"][-1]["id"]
        print(
            f"accounts: {listed} connected accounts started in {t_acc:5.2f}s, RSS {m_acc:6.1f} MB "
            f"= {t_acc / t_base:.2f} x / {m_acc / m_base:.2f} x the baseline; /v1/accounts in {pages} pages "
            f"took {time.monotonic() - t:.2f}s"
        )
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
