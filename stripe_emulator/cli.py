"""Command line of the emulator (click only): build an ``EmulatorConfig`` from the options, serve until
SIGTERM or Ctrl-C.

    stripe-emulator --port 12111 --seed 1
    python -m stripe_emulator --profile demo

Exit codes: 0 stopped by a signal, 2 bad options or config (one line on stderr).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import click
import orjson

from .config import EmulatorConfig, load_config_source
from .profiles import PROFILES

EPILOG = """\b
Examples:
  stripe-emulator --port 12111 --seed 1
  stripe-emulator --profile demo --churn 5
  stripe-emulator --config '{"dataset": {"customers": {"count": 5000, "years": 3}}}'
  stripe-emulator --config emulator.json --latency-ms 40 --jitter-ms 20
  stripe-emulator --live-key sk_live_emulator --stripe-limits --record requests.jsonl
  curl -u sk_test_emulator: 'http://127.0.0.1:12111/v1/customers?limit=3'

\b
Control endpoints live under /_emulator (dump, objects, requests, clock, faults, rate_limits, churn);
the README of the stripe_emulator package describes them.
"""


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110},
    epilog=EPILOG,
)
@click.version_option(package_name="stripe-sync", prog_name="stripe-emulator",
                      help="Show the version and exit. Example: --version")
@click.option("--port", type=int, default=12111, show_default=True,
              help="TCP port; 0 picks any free port. Example: --port 0")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1). Example: --host 0.0.0.0")
@click.option("--seed", type=int, default=None,
              help="Seed for ids, data and fault patterns (default 1). Example: --seed 7")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default=None,
              help="Dataset profile (default small): small (tests), demo (about 69k objects, churn on), "
              "bench (121k customers). Example: --profile demo")
@click.option("--config", "config_source", default=None,
              help="Config as inline JSON or a JSON file path; the options here win over it. "
              "Example: --config '{\"dataset\": {\"customers\": 500}}'")
@click.option("--api-key", default=None,
              help="The valid test-mode secret key (default sk_test_emulator). "
              "Example: --api-key sk_test_123")
@click.option("--live-key", default=None,
              help="Also accept this live-mode key, which sees its own livemode data. "
              "Example: --live-key sk_live_emulator")
@click.option("--start-time", type=int, default=None,
              help="Emulated Unix time at start, which makes the data byte-identical across runs "
              "(default: the real time). Example: --start-time 1700000000")
@click.option("--churn", type=float, default=None,
              help="Background changes per second, 0 = off (default: the profile's; demo: 2). "
              "Example: --churn 5")
@click.option("--churn-resources", default=None,
              help="Comma-separated resources --churn changes. Example: --churn-resources customers,products")
@click.option("--latency-ms", type=float, default=None,
              help="Fixed latency added to every /v1 response. Example: --latency-ms 40")
@click.option("--jitter-ms", type=float, default=None,
              help="Uniform latency jitter on top of --latency-ms. Example: --jitter-ms 20")
@click.option("--stripe-limits", is_flag=True, default=False,
              help="Enforce Stripe's documented rate limits: per account 100 requests/s in live mode and 25 "
              "in test mode, 25/s per endpoint (search and files: 20); the excess gets Stripe's 429. "
              "Example: --stripe-limits")
@click.option("--live-limit", type=float, default=None,
              help="Global live-mode budget per account in requests/s (implies --stripe-limits). "
              "Example: --live-limit 100")
@click.option("--test-limit", type=float, default=None,
              help="Global test-mode budget per account in requests/s (implies --stripe-limits). "
              "Example: --test-limit 25")
@click.option("--endpoint-limit", type=float, default=None,
              help="Default budget of one endpoint (all GET /v1/customers list calls, say) in requests/s "
              "(implies --stripe-limits). Example: --endpoint-limit 25")
@click.option("--rate-limit", type=float, default=None,
              help="Fault injection, independent of --stripe-limits: a token bucket per API key in "
              "requests/s, the excess answered 429. Example: --rate-limit 25")
@click.option("--event-retention-days", type=float, default=None,
              help="Events older than this many days of emulated time disappear, as Stripe's do after 30 "
              "(default 30). Example: --event-retention-days 1")
@click.option("--connected-accounts", "connected_count", type=int, default=None,
              help="Generate this many connected accounts of very different sizes (most tiny, a few large), "
              "listed by GET /v1/accounts. Example: --connected-accounts 50")
@click.option("--webhook", "webhook_urls", multiple=True,
              help="Deliver every event to this URL, signed like Stripe (repeatable). "
              "Example: --webhook http://127.0.0.1:8000/webhooks/stripe")
@click.option("--webhook-secret", default=None,
              help="Signing secret of the --webhook endpoints (default: generated, printed on stderr). "
              "Example: --webhook-secret whsec_test123")
@click.option("--webhook-retry-scale", type=float, default=None,
              help="Multiply Stripe's retry intervals (5 min, 30 min, 3 h in test mode) by this factor. "
              "Example: --webhook-retry-scale 0.001")
@click.option("--record", default=None,
              help="Write every /v1 request (method, path, query, headers, masked key, account) and its "
              "status, limiter and fault as JSON lines to this file. Example: --record requests.jsonl")
@click.option("--data-dir", default=None,
              help="Directory holding endpoints.json, expandable.json and fixtures.json (default: the "
              "package's data/). Example: --data-dir /tmp/data")
@click.option("--ready-file", default=None,
              help='Once serving, write {"url", "api_key", "pid", "account_id"} as JSON to this path. '
              "Example: --ready-file /tmp/emulator.json")
def main(config_source: str | None, latency_ms: float | None, jitter_ms: float | None,
         rate_limit: float | None, churn: float | None, churn_resources: str | None,
         stripe_limits: bool, live_limit: float | None, test_limit: float | None,
         endpoint_limit: float | None, ready_file: str | None, connected_count: int | None,
         webhook_urls: tuple[str, ...], webhook_secret: str | None, webhook_retry_scale: float | None,
         **fields: Any) -> None:
    """A local HTTP server that behaves like Stripe's REST API: GET lists, retrieve, search and events
    over a stateful, generated dataset, strict about parameters, with fault injection."""
    try:
        cfg = EmulatorConfig.from_dict(load_config_source(config_source), **fields)
        limits = {k: v for k, v in (("live", live_limit), ("test", test_limit), ("endpoint", endpoint_limit))
                  if v is not None}
        if stripe_limits or limits:
            base = cfg.rate_limits if isinstance(cfg.rate_limits, dict) else {}
            cfg.rate_limits = {**base, **limits}
            cfg.validate()
        faults = dict(cfg.faults)
        if latency_ms is not None or jitter_ms is not None:
            faults["latency"] = {
                "ms": latency_ms or 0, "jitter_ms": jitter_ms or 0, "distribution": "uniform"
            }
        if rate_limit:
            faults["rate_limit"] = {"rate": rate_limit, "burst": rate_limit}
        cfg.faults = faults
        if connected_count is not None:
            cfg.connected_accounts = {**cfg.connected_accounts, "generate": {"count": connected_count}}
        if webhook_urls or webhook_retry_scale is not None:
            hooks = cfg.webhooks if isinstance(cfg.webhooks, dict) else {"endpoints": cfg.webhooks}
            hooks = {**hooks, "endpoints": list(hooks.get("endpoints") or [])}
            hooks["endpoints"] += [
                {"url": u, **({"secret": webhook_secret} if webhook_secret else {})} for u in webhook_urls
            ]
            if webhook_retry_scale is not None:
                hooks["retry_scale"] = webhook_retry_scale
            cfg.webhooks = hooks
        cfg.validate()
        if churn is not None:
            cfg.churn = {} if churn <= 0 else {"rate": churn}
            if churn > 0 and churn_resources:
                cfg.churn["resources"] = [r.strip() for r in churn_resources.split(",") if r.strip()]
        from .emulator import Emulator

        t0 = time.monotonic()
        emu = Emulator(cfg)
    except (ValueError, RuntimeError, OSError) as e:
        click.echo(f"stripe-emulator: {e}", err=True)
        sys.exit(2)
    _announce(emu, time.monotonic() - t0, ready_file)
    _serve_until_signal(emu)


def _announce(emu: Any, startup_s: float, ready_file: str | None) -> None:
    cfg = emu.config
    counts = emu.world.counts(emu.world.scope(emu.world.platform_id, False))
    click.echo(
        f"stripe-emulator: listening on {emu.url} (profile {cfg.profile}, seed {cfg.seed}, "
        f"{sum(counts.values())} objects in {len(counts)} resources, started in {startup_s:.2f}s)",
        err=True,
    )
    click.echo(f"STRIPE_EMULATOR_URL={emu.url}", err=True)
    click.echo(f"STRIPE_EMULATOR_API_KEY={emu.api_key}", err=True)
    for hook in emu.webhooks.endpoints():  # like `stripe listen`, tell a generated signing secret once
        if not _configured_secret(cfg, hook["url"]):
            secret = emu.webhooks.secret_of(hook["id"])
            click.echo(f"stripe-emulator: webhook {hook['url']}: signing secret {secret}", err=True)
    if ready_file:
        tmp = ready_file + ".tmp"
        info = {"url": emu.url, "api_key": emu.api_key, "pid": os.getpid(), "account_id": emu.account_id}
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(info))
        os.replace(tmp, ready_file)
    sys.stderr.flush()


def _configured_secret(cfg: Any, url: str) -> bool:
    hooks = cfg.webhooks if isinstance(cfg.webhooks, dict) else {"endpoints": cfg.webhooks or []}
    return any(e.get("url") == url and e.get("secret") for e in hooks.get("endpoints") or [])


def _serve_until_signal(emu: Any) -> None:
    def _stop(*_: object) -> None:
        threading.Thread(target=emu.server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        emu.serve_forever()
    finally:
        emu.stop()
