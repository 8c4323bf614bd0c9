"""The two connector configs of `engine sync` / `engine check`, from options or the environment.

`--source-config` / `--destination-config` (a path or inline JSON) win; without them the common case
is built from the environment: `STRIPE_API_KEY` (+ `--stripe-base-url`) for source-stripe and
`DATABASE_URL` (+ `--schema`) for destination-postgres. `--stripe-base-url` and `--schema` also
override a given config. Every secret (fields marked secret in specs/connectors, plus values of keys
that look secret) is registered for redaction at once, so no log, error or progress line can show it.
Configs are never written to files by the engine (they reach connectors through in-memory files).
"""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

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


def source_config(arg: str | None, env: Mapping[str, str], base_url: str | None = None) -> dict:
    """The source config: `--source-config`, else built from STRIPE_API_KEY."""
    if arg is not None:
        config = _load(arg, "--source-config")
    elif env.get("STRIPE_API_KEY"):
        config = {"api_key": env["STRIPE_API_KEY"]}
    else:
        raise ConfigError("no source config: pass --source-config or set STRIPE_API_KEY",
                          hint="e.g. STRIPE_API_KEY=sk_test_... engine sync --schema stripe")
    if base_url:
        config["base_url"] = base_url
    register_all_secrets(config, "source-stripe")
    return config


def destination_config(arg: str | None, env: Mapping[str, str], schema: str | None = None) -> dict:
    """The destination config: `--destination-config`, else built from DATABASE_URL."""
    if arg is not None:
        config = _load(arg, "--destination-config")
    elif env.get("DATABASE_URL"):
        config = {"url": env["DATABASE_URL"]}
    else:
        raise ConfigError("no destination config: pass --destination-config or set DATABASE_URL",
                          hint="e.g. DATABASE_URL=postgresql://user:password@localhost/db engine sync")
    if schema:
        config["schema"] = schema
    register_all_secrets(config, "destination-postgres")
    return config


def strip_url_password(url: str) -> str:
    """`scheme://user:pw@host/db` -> `scheme://user@host/db` (pure)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def identity(config: dict) -> dict:
    """The non-secret top-level settings of a config that tell one sync from another (URLs without their
    password; keys that look secret dropped)."""
    out = {}
    for key, value in config.items():
        lowered = str(key).lower()
        if isinstance(value, str) and "url" in lowered:
            out[key] = strip_url_password(value)
        elif isinstance(value, (str, int, float, bool)) and not looks_secret(key):
            out[key] = value
    return out
