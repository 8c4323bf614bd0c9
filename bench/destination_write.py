"""Benchmark: `destination-postgres write` throughput and memory on realistic Stripe objects (not a test).

Builds N records (default 1,000,000: half customers, half charges, from the emulator's fixtures with
varied ids, amounts, emails and times), in pages of 100 per stream with a stream `state` after each
page, as the source emits them. Then, in the same run, against the same PostgreSQL server:
  - baseline: `psql -c "\\copy ..."` of the same rows, typed columns already extracted, into tables
    equivalent to the destination's (same columns, same primary key), empty at the start;
  - measured: `cat input | destination-postgres write` into an empty schema.
Prints rows/s of both, the ratio (target >= 0.5) and the destination's peak RSS (target < 200 MB).

    .venv/bin/python bench/destination_write.py                  # 1M records, ~2.7 GB of temp files
    .venv/bin/python bench/destination_write.py --records 100000
    DATABASE_URL=postgresql://... .venv/bin/python bench/destination_write.py   # an existing server
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from destination_postgres import ddl
from destination_postgres.types import copy_text
from protocol import messages
from protocol.jsonio import dumps, dumps_line, loads
from specs import STRIPE_DIR
from stripe_emulator.catalog import DEFAULT_DATA_DIR
from throwaway_postgres import database_url

FIXTURES = DEFAULT_DATA_DIR / "fixtures.json"
PAGE = 100
T0 = 1_600_000_000
STREAMS = {"customers": "customer", "charges": "charge"}


def templates() -> dict[str, dict]:
    objects = loads(FIXTURES.read_bytes())["objects"]
    customer = copy.deepcopy(objects["customer"])
    customer.update({"address": {"city": "San Francisco", "country": "US", "line1": "510 Townsend Street",
                                 "line2": None, "postal_code": "94103", "state": "CA"},
                     "name": "Jenny Rosen", "phone": "+14155550123", "metadata": {"crm_id": "0"}})
    return {"customers": customer, "charges": copy.deepcopy(objects["charge"])}


def vary(stream: str, template: dict, i: int) -> dict:
    obj = dict(template)
    created = T0 + i * 7
    if stream == "customers":
        obj.update(id=f"cus_{i:014d}", email=f"customer{i}@example.com", created=created,
                   balance=i % 1000 - 500, metadata={"crm_id": str(i)}, name=f"Customer {i}")
    else:
        obj.update(id=f"ch_{i:016d}", amount=100 + i % 99_000, amount_captured=100 + i % 99_000,
                   created=created, customer=f"cus_{i // 3:014d}", balance_transaction=f"txn_{i:016d}",
                   receipt_url=f"https://pay.stripe.com/receipts/{i:020d}", paid=i % 17 != 0)
    return obj


def catalog() -> dict:
    return messages.catalog(messages.catalog_stream(name, loads((STRIPE_DIR / f"{name}.json").read_bytes()),
                                                    cursor_field=["created"], supports_time_range=True)
                            for name in STREAMS)


def write_inputs(directory: Path, records: int) -> tuple[Path, dict[str, Path]]:
    """The destination's input (JSON lines) and, per stream, the baseline's COPY file. Returns paths."""
    columns = {s: ddl.plan_columns(loads((STRIPE_DIR / f"{s}.json").read_bytes())) for s in STREAMS}
    tmpl = templates()
    lines_path = directory / "input.jsonl"
    copy_paths = {s: directory / f"{s}.copy" for s in STREAMS}
    copies = {s: open(p, "wb", buffering=1 << 20) for s, p in copy_paths.items()}
    with open(lines_path, "wb", buffering=1 << 20) as out:
        out.write(dumps_line(catalog()))
        counters = {s: 0 for s in STREAMS}
        emitted = 0
        page = 0
        while emitted < records:
            stream = list(STREAMS)[page % len(STREAMS)]
            page += 1
            for _ in range(min(PAGE, records - emitted)):
                obj = vary(stream, tmpl[stream], counters[stream])
                counters[stream] += 1
                emitted += 1
                updated_at = T0 + emitted
                out.write(dumps_line(messages.record(stream, obj, emitted_at=updated_at * 1000,
                                                     updated_at=updated_at)))
                copies[stream].write(baseline_line(obj, columns[stream], updated_at))
            page_state = {"accounted_range": {"gte": T0, "lt": T0 + emitted}, "remaining": [], "page": page}
            out.write(dumps_line(messages.stream_state(stream, page_state)))
    for f in copies.values():
        f.close()
    return lines_path, copy_paths


def baseline_line(obj: dict, columns: list[ddl.Column], updated_at: int) -> bytes:
    """One COPY line of the baseline table: id, typed columns, _raw_data, _updated_at, _synced_at,
    _deleted_at (the same columns the destination fills)."""
    fields = [copy_text(obj["id"])]
    for c in columns:
        v = obj.get(c.key)
        if isinstance(v, dict):
            v = v.get("id")
        if v is None or isinstance(v, (list, dict)):
            fields.append(b"\\N")
        elif isinstance(v, bool):
            fields.append(b"t" if v else b"f")
        else:
            fields.append(copy_text(str(v)))
    raw = dumps(obj).replace(b"\\", b"\\\\")
    fields += [raw, str(updated_at).encode(), b"2024-01-01 00:00:00+00", b"\\N"]
    return b"\t".join(fields) + b"\n"


def run_destination(url: str, schema: str, lines_path: Path) -> tuple[float, int, float]:
    """Seconds, peak RSS (KiB) and CPU seconds of `cat input | destination-postgres write`."""
    config = dumps({"url": url, "schema": schema}).decode()
    cat = subprocess.Popen(["cat", str(lines_path)], stdout=subprocess.PIPE)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "destination_postgres", "write", "--config", config],
                                stdin=cat.stdout, stdout=subprocess.DEVNULL, stderr=err)
        cat.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        cat.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"destination-postgres failed ({proc.returncode}): {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def run_baseline(url: str, schema: str, copy_paths: dict[str, Path]) -> float:
    start = time.perf_counter()
    for stream, path in copy_paths.items():
        subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc",
                        f'\\copy "{schema}"."{stream}" FROM \'{path}\''], check=True)
    return time.perf_counter() - start


def prepare_baseline(url: str, schema: str, template_schema: str) -> None:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        for stream in STREAMS:
            cur.execute(f'CREATE TABLE "{schema}"."{stream}" '
                        f'(LIKE "{template_schema}"."{stream}" INCLUDING ALL)')
    conn.close()


def count_rows(url: str, schema: str) -> int:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT " + " + ".join(f'(SELECT count(*) FROM "{schema}"."{s}")' for s in STREAMS))
        n = cur.fetchone()[0]
    conn.close()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with database_url() as url, tempfile.TemporaryDirectory(prefix="bench-dst-") as tmp:
        os.chmod(tmp, 0o755)
        t = time.perf_counter()
        lines_path, copy_paths = write_inputs(Path(tmp), args.records)
        size = lines_path.stat().st_size
        print(f"input: {args.records:,} records, {size / 1e6:,.0f} MB of JSON lines "
              f"(built in {time.perf_counter() - t:.1f} s)")
        # the destination creates the tables; the baseline copies their definition
        run_destination(url, "bench_schema", _head(lines_path, Path(tmp) / "head.jsonl"))
        prepare_baseline(url, "bench_base", "bench_schema")
        base_s = run_baseline(url, "bench_base", copy_paths)
        assert count_rows(url, "bench_base") == args.records
        dst_s, rss_kib, cpu_s = run_destination(url, "bench_dst", lines_path)
        assert count_rows(url, "bench_dst") == args.records
    base_rate, dst_rate = args.records / base_s, args.records / dst_s
    print(f"baseline psql \\copy : {base_s:7.1f} s  {base_rate:10,.0f} rows/s")
    print(f"destination-postgres: {dst_s:7.1f} s  {dst_rate:10,.0f} rows/s  ({size / dst_s / 1e6:.0f} MB/s)")
    print(f"destination process CPU: {cpu_s:.1f} s of {dst_s:.1f} s (parsing overlaps the server's work)")
    print(f"ratio destination/baseline: {dst_rate / base_rate:.2f}  (target >= 0.5)")
    print(f"destination peak RSS: {rss_kib / 1024:.0f} MB  (target < 200 MB)")


def _head(src: Path, dst: Path, lines: int = 3) -> Path:
    with open(src, "rb") as f, open(dst, "wb") as out:
        for _ in range(lines):
            out.write(f.readline())
    return dst


if __name__ == "__main__":
    main()
