"""Command line: ``python -m stripe_emulator --port 12111 --seed 1 [--profile small|demo|bench]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

import orjson

from .config import EmulatorConfig, load_config_source
from .profiles import PROFILES

EPILOG = """examples:
  python -m stripe_emulator --port 12111 --seed 1
  python -m stripe_emulator --profile demo --churn 5
  python -m stripe_emulator --config '{"dataset": {"customers": {"count": 5000,
                                     "bursts": [{"at": "recent", "count": 300}]}}}'
  python -m stripe_emulator --config emulator.json --latency-ms 40 --jitter-ms 20
  curl -u sk_test_emulator: http://127.0.0.1:12111/v1/customers?limit=3

Control endpoints live under /_emulator (dump, objects, requests, clock, faults, churn); see
stripe_emulator/README.md.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stripe_emulator",
        description="A local HTTP server that "
        "behaves like Stripe's REST API (GET lists, retrieve, search, events).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--port", type=int, default=12111, help="TCP port, e.g. --port 0 (any free port). Default: 12111"
    )
    p.add_argument("--host", default=None, help="bind address, e.g. --host 0.0.0.0. Default: 127.0.0.1")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for ids, data and fault patterns, e.g. --seed 7. Default: 1",
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help="dataset profile, e.g. --profile demo: small (tests), demo (>=50k objects + churn), "
        "bench (121k customers). Default: small",
    )
    p.add_argument(
        "--config",
        default=None,
        help="config as inline JSON or a JSON file path, e.g. "
        '--config \'{"dataset": {"customers": 500}}\' (command-line flags win over it)',
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="the valid test-mode secret key, e.g. --api-key sk_test_123. Default: sk_test_emulator",
    )
    p.add_argument(
        "--live-key",
        default=None,
        help="also accept this sk_live_ key (livemode data), e.g. --live-key sk_live_emulator",
    )
    p.add_argument(
        "--start-time",
        type=int,
        default=None,
        help="emulated Unix time at start (makes data "
        "byte-identical across runs), e.g. --start-time 1700000000. Default: real time",
    )
    p.add_argument(
        "--churn",
        type=float,
        default=None,
        help="background changes per second (0 = off), e.g. --churn 5. Default: the profile's (demo: 2)",
    )
    p.add_argument(
        "--churn-resources",
        default=None,
        help="comma-separated resources for --churn, e.g. customers,products",
    )
    p.add_argument(
        "--latency-ms", type=float, default=None, help="fixed latency added to /v1 responses, e.g. 40"
    )
    p.add_argument("--jitter-ms", type=float, default=None, help="uniform latency jitter on top, e.g. 20")
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="per-key token-bucket rate limit in requests/s (excess -> 429), e.g. 25",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="directory holding endpoints.json and fixtures.json, e.g. --data-dir /tmp/data. "
        "Default: stripe_emulator/data",
    )
    p.add_argument(
        "--ready-file",
        default=None,
        help='write {"url", "api_key", "pid", "account_id"} as JSON to this path once serving, '
        "e.g. --ready-file /tmp/emulator.json",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        raw = load_config_source(args.config)
        over = {
            "seed": args.seed,
            "profile": args.profile,
            "host": args.host,
            "port": args.port,
            "api_key": args.api_key,
            "live_key": args.live_key,
            "start_time": args.start_time,
            "data_dir": args.data_dir,
        }
        cfg = EmulatorConfig.from_dict(raw, **over)
        faults = dict(cfg.faults)
        if args.latency_ms is not None or args.jitter_ms is not None:
            faults["latency"] = {
                "ms": args.latency_ms or 0,
                "jitter_ms": args.jitter_ms or 0,
                "distribution": "uniform",
            }
        if args.rate_limit:
            faults["rate_limit"] = {"rate": args.rate_limit, "burst": args.rate_limit}
        cfg.faults = faults
        if args.churn is not None:
            if args.churn <= 0:
                cfg.churn = {}
            else:
                cfg.churn = {"rate": args.churn}
                if args.churn_resources:
                    cfg.churn["resources"] = [r.strip() for r in args.churn_resources.split(",") if r.strip()]
        from .emulator import Emulator

        t0 = time.monotonic()
        emu = Emulator(cfg)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"stripe-emulator: {e}", file=sys.stderr)
        return 2
    startup = time.monotonic() - t0
    counts = emu.world.counts(emu.world.scope(emu.world.platform_id, False))
    print(
        f"stripe-emulator: listening on {emu.url} (profile {cfg.profile}, seed {cfg.seed}, "
        f"{sum(counts.values())} objects in {len(counts)} resources, started in {startup:.2f}s)",
        file=sys.stderr,
    )
    print(f"STRIPE_EMULATOR_URL={emu.url}", file=sys.stderr)
    print(f"STRIPE_EMULATOR_API_KEY={emu.api_key}", file=sys.stderr)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "wb") as f:
            f.write(
                orjson.dumps(
                    {"url": emu.url, "api_key": emu.api_key, "pid": os.getpid(), "account_id": emu.account_id}
                )
            )
        os.replace(tmp, args.ready_file)
    sys.stderr.flush()

    def _stop(*_: object) -> None:
        threading.Thread(target=emu.server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        emu.serve_forever()
    finally:
        emu.churn.stop()
        emu.server.close_all()
        emu.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
