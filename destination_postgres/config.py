"""The destination's options, made from its config (`specs/connectors/destination-postgres.json`).

Defaults live in the schema only: `options_from_config` fills them in (`protocol.config.apply_defaults`),
so a config given by a library caller and one loaded by the CLI mean the same. A URL whose password
holds an unencoded `@` or `/` is refused here (a usage error saying how to percent-encode), before
libpq would read a piece of the password as the host or the port and echo it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from destination_postgres.identifiers import MAX_IDENTIFIER_BYTES
from protocol.config import apply_defaults, connector_config_schema
from protocol.errors import ConfigError
from protocol.secrets import mask_userinfo, percent_encoding_hint, userinfo_problem

CONFIG_SCHEMA = connector_config_schema("destination-postgres")


@dataclass(frozen=True)
class Options:
    url: str
    schema: str
    batch_size: int
    batch_bytes: int
    hard_delete: bool
    live_views: bool  # views of the live rows with real timestamps in <schema>_live
    retries: int  # reconnect attempts after a lost connection, and replays of a failed transaction
    lock_wait_seconds: float
    connect_timeout: int


def options_from_config(config: dict) -> Options:
    config = apply_defaults(config, CONFIG_SCHEMA)
    schema = config["schema"]
    if "\x00" in schema or len(schema.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ConfigError(f"--config: schema: must be at most {MAX_IDENTIFIER_BYTES} bytes without NUL")
    problem = userinfo_problem(config["url"])
    if problem:
        raise ConfigError(f"--config: url: {problem} ({mask_userinfo(config['url'])})",
                          hint=percent_encoding_hint())
    values: dict[str, Any] = {f.name: config[f.name] for f in fields(Options)}
    return Options(**values)
