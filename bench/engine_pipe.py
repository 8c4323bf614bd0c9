"""Benchmark: pipe-mode throughput of `engine` on record lines of realistic size (not a test).

Generates N record lines (default 1,000,000) built from the emulator's customer fixture padded to
about 1.3 KB (address, shipping, metadata), with a state every 1,000 records, into a temporary file;
then times, in the same run and on the same file (stdout to /dev/null, best of `--repeat`):
  - `cat` (the ceiling: pure I/O),
  - a minimal Python loop that parses and re-writes each line with orjson (the baseline),
  - `python -m engine --progress none` (what we measure),
and prints lines/s, MB/s and the engine's ratio to the baseline (target >= 0.8).

    .venv/bin/python bench/engine_pipe.py            # 1M lines, about 1.3 GB of temporary file
    .venv/bin/python bench/engine_pipe.py --lines 200000 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from stripe_emulator.catalog import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = DEFAULT_DATA_DIR / "fixtures.json"
STATE_EVERY = 1000

MINIMAL_LOOP = (
    "import sys, orjson\n"
    "out = sys.stdout.buffer\n"
    "for line in sys.stdin.buffer:\n"
    "    out.write(orjson.dumps(orjson.loads(line), option=orjson.OPT_APPEND_NEWLINE))\n"
)


def customer_template() -> dict:
    customer = dict(orjson.loads(FIXTURES.read_bytes())["objects"]["customer"])
    address = {"city": "San Francisco", "country": "US", "line1": "510 Townsend Street", "line2": "Suite 400",
               "postal_code": "94103", "state": "CA"}
    customer.update({
        "address": address, "description": "Customer imported from the legacy billing system in 2021",
        "phone": "+14155550123", "name": "Jenny Rosen",
        "shipping": {"address": address, "name": "Jenny Rosen", "phone": "+14155550123"},
        "metadata": {f"key_{i}": f"value number {i} for this customer" for i in range(12)},
        "preferred_locales": ["en-US", "fr-FR"],
    })
    return customer


def write_input(path: Path, lines: int) -> int:
    """Write the benchmark input; returns its size in bytes."""
    customer = customer_template()
    catalog = {"type": "catalog", "catalog": {"streams": [{"name": "customers", "json_schema": {},
               "primary_key": [["id"]], "cursor_field": ["created"], "supports_time_range": True,
               "metadata": {}}]}}
    t0 = 1_600_000_000
    with open(path, "wb", buffering=1 << 20) as out:
        def line(obj: dict) -> None:
            out.write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))
        line(catalog)
        line({"type": "trace",
              "trace": {"trace_type": "stream_status", "emitted_at": t0 * 1000, "stream_status": {
            "stream": "customers", "status": "started", "time_range": {"gte": t0, "lt": t0 + lines}}}})
        for i in range(lines):
            customer["id"] = f"cus_{i:014d}"
            customer["created"] = t0 + i
            line({"type": "record", "record": {"stream": "customers", "data": customer,
                                               "emitted_at": (t0 + i) * 1000, "updated_at": t0 + lines}})
            if (i + 1) % STATE_EVERY == 0:
                line({"type": "state", "state": {"state_type": "stream", "stream": "customers", "data": {
                    "accounted_range": {"gte": t0, "lt": t0 + lines},
                    "remaining": [{"gte": t0 + i + 1, "lt": t0 + lines, "cursor": None}]}}})
        line({"type": "trace",
              "trace": {"trace_type": "stream_status", "emitted_at": t0 * 1000, "stream_status": {
            "stream": "customers", "status": "complete", "range_complete": {"gte": t0, "lt": t0 + lines}}}})
    return path.stat().st_size


def timed(cmd: list[str], path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        with open(path, "rb") as stdin:
            start = time.perf_counter()
            proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, cwd=ROOT)
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        path = Path(tmp) / "input.jsonl"
        t = time.perf_counter()
        size = write_input(path, args.lines)
        total_lines = sum(1 for _ in open(path, "rb"))
        print(f"input: {total_lines:,} lines, {size / 1e6:,.0f} MB, {size / total_lines:,.0f} bytes/line "
              f"(generated in {time.perf_counter() - t:.1f}s)")
        runs = {
            "cat": ["cat"],
            "minimal orjson loop": [sys.executable, "-c", MINIMAL_LOOP],
            "engine (pipe mode)": [sys.executable, "-m", "engine", "--progress", "none"],
        }
        results = {name: timed(cmd, path, args.repeat) for name, cmd in runs.items()}
        baseline = results["minimal orjson loop"]
        for name, seconds in results.items():
            print(f"{name:<22} {seconds:7.2f}s  {total_lines / seconds:>12,.0f} lines/s  "
                  f"{size / seconds / 1e6:8,.0f} MB/s  ratio to minimal loop {baseline / seconds:5.2f}")
        ratio = baseline / results["engine (pipe mode)"]
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(f"engine / minimal loop throughput: {ratio:.2f} (target >= 0.80: {verdict})")
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
