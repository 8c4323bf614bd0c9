"""The source's options, made from its config (`specs/connectors/source-stripe.json`).

Defaults live in the schema only: `options_from_config` fills them in (`protocol.config.apply_defaults`),
so a config given by a library caller or a test and one loaded by the CLI mean the same, and `check`,
`discover` and `read` all refuse the same bad configs. `start_date` is read here (Unix seconds or an
ISO date), and whether a key is a live one (`is_live_key`: the key's
mode decides the account identity's `livemode` and the default request budget).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from protocol.config import apply_defaults, connector_config_schema
from protocol.errors import ConfigError

CONFIG_SCHEMA = connector_config_schema("source-stripe")


@dataclass(frozen=True)
class Options:
    api_key: str
    base_url: str
    api_version: str | None
    account_id: str | None
    accounts: str | list[str] | None  # Connect: "all" or account ids (accounts.py); None: one account
    max_accounts_in_flight: int
    max_platform_requests_per_second: float | None
    start_date: int  # Unix seconds (0: from the beginning)
    max_requests_per_second: float | None
    max_requests_per_second_per_endpoint: float
    max_concurrent_streams: int
    max_concurrent_requests: int
    request_timeout_s: float
    max_retries: int
    streams: list[str] | None
    events_poll_interval_s: float


def options_from_config(config: dict) -> Options:
    config = apply_defaults(config, CONFIG_SCHEMA)
    values: dict[str, Any] = {f.name: config.get(f.name) for f in fields(Options)}
    if values["accounts"] is not None and values["account_id"] is not None:
        raise ConfigError("--config: accounts and account_id exclude each other",
                          hint="account_id reads one connected account; accounts: [\"acct_...\"] reads "
                               "several")
    values["start_date"] = parse_start_date(values["start_date"])
    return Options(**values)


def is_live_key(api_key: str) -> bool:
    """Live (`sk_live_...`, `rk_live_...`) or test mode: Stripe's keys say it in their prefix."""
    return "_live_" in api_key


def parse_start_date(value: object) -> int:
    """`start_date` as Unix seconds: an integer, or an ISO date/datetime (UTC unless it says otherwise)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return max(0, value)
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"--config: start_date: {value!r} is not Unix seconds or an ISO date "
                          "like 2020-01-01") \
            from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return max(0, int(parsed.timestamp()))
