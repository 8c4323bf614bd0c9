"""The two connector configs of `engine sync` / `engine check`, from options or the environment.

`--source-config` / `--destination-config` (a path or inline JSON) win; without them the common case
is built from the environment: `STRIPE_API_KEY` (+ `--stripe-base-url`) for source-stripe and
`DATABASE_URL` (+ `--schema`) for destination-postgres. `--stripe-base-url`,
`--max-requests-per-second` and `--schema` also override a given config. Every secret (fields marked
secret in specs/connectors, plus values of keys that look secret) is registered for redaction at once,
so no log, error or progress line can show it.
Configs are never written to files by the engine (they reach connectors through in-memory files).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.sync.state_store import default_state_dir, sync_id
from protocol.config import connector_config_schema, load_json_arg
from protocol.errors import ConfigError
from protocol.secrets import guessed_secret_values, looks_secret, register_config_secrets, register_secret


def register_all_secrets(config: Any, schema_name: str | None = None) -> None:
    """Register secret values of a config: schema-marked fields and keys that look secret (recursive)."""
    if schema_name:
        try:
            register_config_secrets(config, connector_config_schema(schema_name))
        except OSError:
            pass
    for value in guessed_secret_values(config):
        register_secret(value)


def _load(arg: str, option: str) -> dict:
    config = load_json_arg(arg, option)
    if not isinstance(config, dict):
        raise ConfigError(f"{option}: expected a JSON object, got {type(config).__name__}")
    return config


@dataclass(frozen=True)
class ConfigRecipe:
    """How `engine sync` builds one connector's config when none is given (the common case)."""

    role: str  # source | destination
    option: str  # the option that gives the whole config
    env: str  # the environment variable that holds the one required value
    key: str  # the config key it goes to
    override: str  # the config key an option may override (--stripe-base-url, --schema)
    schema: str  # specs/connectors/<schema>.json: its secret fields
    hint: str


SOURCE = ConfigRecipe("source", "--source-config", "STRIPE_API_KEY", "api_key", "base_url", "source-stripe",
                      "e.g. STRIPE_API_KEY=sk_test_... engine sync --schema stripe")
DESTINATION = ConfigRecipe("destination", "--destination-config", "DATABASE_URL", "url", "schema",
                           "destination-postgres",
                           "e.g. DATABASE_URL=postgresql://user:password@localhost/db engine sync")


def build_config(recipe: ConfigRecipe, arg: str | None, env: Mapping[str, str], override: str | None,
                 extra: Mapping[str, Any] | None = None) -> dict:
    """The config given by its option, else built from the environment, with the override and the `extra`
    keys set (those not None); secrets registered at once."""
    if arg is not None:
        config = _load(arg, recipe.option)
    elif env.get(recipe.env):
        config = {recipe.key: env[recipe.env]}
    else:
        raise ConfigError(f"no {recipe.role} config: pass {recipe.option} or set {recipe.env}",
                          hint=recipe.hint)
    if override:
        config[recipe.override] = override
    config.update({k: v for k, v in (extra or {}).items() if v is not None})
    register_all_secrets(config, recipe.schema)
    return config


def source_config(arg: str | None, env: Mapping[str, str], base_url: str | None = None,
                  max_requests_per_second: float | None = None,
                  accounts: str | list[str] | None = None) -> dict:
    """The source config: `--source-config`, else built from STRIPE_API_KEY; `--max-requests-per-second`
    becomes its `max_requests_per_second`, `--accounts` its `accounts`."""
    return build_config(SOURCE, arg, env, base_url, {"max_requests_per_second": max_requests_per_second,
                                                     "accounts": accounts})


def parse_accounts(value: str | None) -> str | list[str] | None:
    """`--accounts all` or `--accounts acct_1,acct_2` as the source config's `accounts` (ConfigError)."""
    if value is None:
        return None
    if value.strip() == "all":
        return "all"
    ids = [a.strip() for a in value.split(",") if a.strip()]
    bad = [a for a in ids if not a.startswith("acct_")]
    if not ids or bad:
        raise ConfigError(f"--accounts: expected all or account ids acct_...,acct_..., got {value!r}",
                          hint="e.g. --accounts all, or --accounts acct_1AbC,acct_1XyZ")
    return ids


def destination_config(arg: str | None, env: Mapping[str, str], schema: str | None = None) -> dict:
    """The destination config: `--destination-config`, else built from DATABASE_URL."""
    return build_config(DESTINATION, arg, env, schema)


def strip_url_password(url: str) -> str:
    """`scheme://user:pw@host/db` -> `scheme://user@host/db` (pure)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port
                                                                        else "")
    return urlunsplit(parts._replace(netloc=netloc))


def identity(config: dict) -> dict:
    """The non-secret top-level settings of a config that tell one sync from another (URLs without their
    password; keys that look secret dropped)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        lowered = str(key).lower()
        if isinstance(value, str) and "url" in lowered:
            out[key] = strip_url_password(value)
        elif isinstance(value, (str, int, float, bool)) and not looks_secret(key):
            out[key] = value
    return out


def default_state_file(source_cmd: list[str], source: dict, destination_cmd: list[str], destination: dict,
                       env: Mapping[str, str] | None = None) -> Path:
    """The state file of a sync when none is given: one per sync id (commands and configs' identities),
    so `engine sync` and `engine serve` share the state of the same sync."""
    ident = {"source": source_cmd[-1:], "source_config": identity(source),
             "destination": destination_cmd[-1:], "destination_config": identity(destination)}
    return default_state_dir(env) / f"{sync_id(ident)}.json"
