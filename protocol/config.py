"""Loading `--config/--catalog/--state` arguments and checking configs against their JSON Schema.

An argument is inline JSON when it starts with `{`, else a file path. Configs are validated with
jsonschema `iter_errors` before any network or database work; every problem names its field path.
Secrets are registered for redaction before validation, so no error message can echo them.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from protocol.errors import ConfigError
from protocol.jsonio import JSONDecodeError, loads
from protocol.secrets import MASK, config_secret_values, register_config_secrets


def load_json_arg(value: str, option: str) -> Any:
    """Parse an option value that is inline JSON or a path to a JSON file."""
    text = value.strip()
    if text.startswith("{") or text.startswith("["):
        source, raw = "inline JSON", text.encode()
    else:
        path = Path(value)
        if not path.exists() or path.is_dir():  # a file, or a pipe (`/dev/fd/N`, bash's `<(...)`)
            raise ConfigError(f"{option}: file not found: {value}",
                              hint="pass a path to a JSON file or inline JSON starting with '{'")
        source, raw = str(path), path.read_bytes()
    try:
        return loads(raw)
    except JSONDecodeError as exc:
        raise ConfigError(f"{option}: {source} is not valid JSON ({exc})") from None


def _optional_arg(value: str | None, option: str) -> Any:
    return None if value is None else load_json_arg(value, option)


def load_catalog_arg(value: str | None, option: str = "--catalog") -> dict | None:
    """A `--catalog` argument: a catalog message or its payload `{"streams": [...]}`; None when not given."""
    data = _optional_arg(value, option)
    if data is None:
        return None
    if isinstance(data, dict) and data.get("type") == "catalog":
        data = data.get("catalog")
    if not isinstance(data, dict) or not isinstance(data.get("streams"), list):
        raise ConfigError(f"{option}: expected {{\"streams\": [...]}} or a catalog message")
    return data


def load_state_arg(value: str | None, option: str = "--state") -> dict | None:
    """A `--state` argument: an aggregate state object; None when not given."""
    data = _optional_arg(value, option)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"{option}: expected a JSON object {{\"streams\": {{...}}, \"global\": ...}}")
    return data


def apply_defaults(config: dict, schema: dict) -> dict:
    """A copy of `config` with top-level `default`s of the schema filled in."""
    out = copy.deepcopy(config)
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and "default" in prop and name not in out:
            out[name] = copy.deepcopy(prop["default"])
    return out


def config_errors(config: Any, schema: dict) -> list[str]:
    """Every schema violation as 'field: problem' (secret values never included)."""
    from jsonschema import Draft202012Validator  # here: a quarter second to import, seldom needed

    errors = []
    secrets = sorted(config_secret_values(config, schema), key=len, reverse=True)
    for err in Draft202012Validator(schema).iter_errors(config):
        path = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            errors.append(f"{(path + '.') if path else ''}{missing}: required field is missing")
            continue
        prop = schema
        for part in err.absolute_path:
            prop = (prop.get("properties") or {}).get(part, {}) if isinstance(prop, dict) else {}
        detail = f"does not satisfy '{err.validator}'" if prop.get("secret") else err.message
        for secret in secrets:  # a secret value pasted into another field must not be echoed either
            detail = detail.replace(secret, MASK)
        errors.append(f"{path or '(config)'}: {detail}")
    return sorted(errors)


def load_config(value: str, schema: dict, option: str = "--config") -> dict:
    """Load, register secrets of, validate and default a connector config; raise ConfigError if bad."""
    config = load_json_arg(value, option)
    if not isinstance(config, dict):
        raise ConfigError(f"{option}: expected a JSON object, got {type(config).__name__}")
    register_config_secrets(config, schema)
    errors = config_errors(config, schema)
    if errors:
        raise ConfigError(f"{option}: invalid config: " + "; ".join(errors))
    return apply_defaults(config, schema)


def connector_config_schema(connector_name: str) -> dict:
    """The config schema of a connector from specs/connectors/<name>.json."""
    from specs import CONNECTORS_DIR

    return loads((CONNECTORS_DIR / f"{connector_name}.json").read_bytes())
