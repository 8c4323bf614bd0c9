"""Benchmark: `engine sync` (source, engine, destination into PostgreSQL) against the bare source.

Both run as processes against the same emulator, one after the other, `--repeat` times each (alternating):
  - bare: `source-stripe read --config C --catalog customers > /dev/null`;
  - sync: `engine sync --streams customers` into a fresh schema of a throwaway PostgreSQL cluster (or
    DATABASE_URL), with a fresh state file, so every run is a first full sync.
Two profiles:
  1. latency: `--objects` customers over two years (skewed to recent, no burst: the source's own time is
     steady, so the difference is the engine's and the destination's), `--latency-ms` per request and a
     `--rate` budget (Stripe's limits in the emulator, the source configured with it). Prints wall of
     both and sync/bare (target <= 1.05).
  2. cpu: `--cpu-objects` customers, no latency, no limit. Prints wall and CPU (user + system of all
     processes) of both, and the CPU the engine and destination add per record.

    .venv/bin/python bench/engine_sync.py [--repeat 2] [--only latency|cpu]    # not a test
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from protocol.jsonio import dumps
from source_backfill import endpoint_budget
from stripe_emulator import spawn_emulator
from throwaway_postgres import database_url

BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the process and everything it waited for)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{argv[0]} failed: {err.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def bare(source_config: dict) -> tuple[float, float]:
    return timed([str(BIN / "source-stripe"), "read", "--config", dumps(source_config).decode(),
                  "--catalog", '{"streams": [{"name": "customers"}]}'])


def sync(source_config: dict, url: str, schema: str, state_dir: str) -> tuple[float, float]:
    return timed([str(BIN / "engine"), "sync", "--streams", "customers", "--progress", "none",
                  "--output", "none", "--source-config", dumps(source_config).decode(),
                  "--destination-config", dumps({"url": url, "schema": schema}).decode(),
                  "--state-file", os.path.join(state_dir, f"{schema}.json")])


def compare(label: str, emulator_config: dict, rate: float, url: str, repeat: int, objects: int) -> None:
    with spawn_emulator(emulator_config, timeout=180) as emu, tempfile.TemporaryDirectory() as state_dir:
        cfg = {"api_key": emu.api_key, "base_url": emu.url, "max_requests_per_second": rate,
               **endpoint_budget(rate)}
        runs: dict[str, list[tuple[float, float]]] = {"bare": [], "sync": []}
        for i in range(repeat):
            runs["bare"].append(bare(cfg))
            runs["sync"].append(sync(cfg, url, f"bench_{label}_{i}", state_dir))
    for name, results in runs.items():
        walls = ", ".join(f"{w:.2f}" for w, _ in results)
        cpus = ", ".join(f"{c:.2f}" for _, c in results)
        print(f"  {label} {name:4}: wall {walls} s; CPU {cpus} s")
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    extra_us = (cpu["sync"] - cpu["bare"]) / objects * 1e6
    print(f"{label}: sync/bare wall {wall['sync'] / wall['bare']:.3f} (medians {wall['sync']:.2f} / "
          f"{wall['bare']:.2f} s; target <= 1.05 at latency); CPU {cpu['sync']:.2f} vs {cpu['bare']:.2f} s "
          f"(source {cpu['bare'] / objects * 1e6:.0f} us/record; engine + destination add {extra_us:.0f} "
          f"us/record)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--rate", type=float, default=25)
    parser.add_argument("--objects", type=int, default=30_000)
    parser.add_argument("--cpu-objects", type=int, default=100_000)
    parser.add_argument("--only", choices=["latency", "cpu"])
    args = parser.parse_args()
    with database_url() as url:
        if args.only in (None, "latency"):
            dataset = {"customers": {"count": args.objects, "years": 2, "skew": 2}}
            config = {"profile": "small", "dataset": dataset,
                      "rate_limits": {"test": args.rate, "endpoint": args.rate},
                      "faults": {"latency": {"ms": args.latency_ms}}}
            compare("latency", config, args.rate, url, args.repeat, args.objects)
        if args.only in (None, "cpu"):
            config = {"profile": "small", "dataset": {"customers": {"count": args.cpu_objects, "years": 2}}}
            compare("cpu", config, 100_000, url, args.repeat, args.cpu_objects)


if __name__ == "__main__":
    main()
