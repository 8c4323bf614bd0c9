"""Keeps secrets out of every log, error, progress line and state.

Values of config fields marked `"secret": true` are registered when a config is loaded (where no schema
is known, `guessed_secret_values` picks values by key name: the one heuristic); `redact_text`
replaces them (and, as a second line of defence, anything shaped like a Stripe secret key, the whole
user-info part of a URL, or `password=...`) with a masked form. `redact_message` applies that to every
string of a message.

A URL's user-info is everything between `://` and the LAST `@` of the URL, however it is written: a
password with an unencoded `@` or `/` (`postgresql://u:p@ss_X@host/db`) is masked whole, and its
pieces (`ss_X`, which libpq may echo as a host name) are registered too. `userinfo_problem` says when
a URL's user-info needs percent-encoding (`percent_encoding_hint` says how).
"""
from __future__ import annotations

import re
from typing import Any

_SECRETS: set[str] = set()
_KEY_RE = re.compile(r"\b((?:sk|rk)_(?:test|live)_)[A-Za-z0-9]+")
_URL_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s'\"<>]*@", re.IGNORECASE)  # to the last @
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PIECES_RE = re.compile(r"[@/:?#]")
_KV_PASSWORD_RE = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
MASK = "****"


def url_userinfo(url: str) -> str | None:
    """The user-info of a URL (`user:password` between `://` and the last `@` before any `?`), or None."""
    scheme = _SCHEME_RE.match(url)
    if scheme is None:
        return None
    authority = url[scheme.end():].split("?", 1)[0]
    return authority.rpartition("@")[0] if "@" in authority else None


def userinfo_problem(url: str) -> str | None:
    """Why a URL's user-info cannot be read as written (an unencoded `@` or `/`), or None."""
    userinfo = url_userinfo(url)
    if userinfo is None:
        return None
    bad = " and ".join(repr(c) for c in "@/" if c in userinfo)
    return f"the user name or password holds an unencoded {bad}" if bad else None


def percent_encoding_hint() -> str:
    return ("percent-encode special characters of the user name and password: @ as %40, / as %2F, : as %3A, "
            "% as %25 (python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], "
            "safe=\"\"))' 'the password')")


def secret_forms(value: Any) -> list[str]:
    """The strings to hide for one secret value: itself and, for a URL, its bare password and the pieces
    of it a driver may echo on their own (split at `@ / : ? #`).

    Values shorter than 4 characters are not treated as secrets (they would mask ordinary text).
    """
    if not isinstance(value, str) or len(value) < 4:
        return []
    forms = [value]
    userinfo = url_userinfo(value)
    if userinfo and ":" in userinfo:  # a database URL: also hide its password, and the pieces of it
        password = userinfo.split(":", 1)[1]
        for form in [password, *_PIECES_RE.split(password)]:
            if len(form) >= 4 and form not in forms:
                forms.append(form)
    return forms


def register_secret(value: Any) -> None:
    _SECRETS.update(secret_forms(value))


def registered_secrets() -> frozenset[str]:
    return frozenset(_SECRETS)


def mask_userinfo(text: str) -> str:
    """`text` with the user-info of every URL in it masked (`postgresql://****@host/db`)."""
    return _URL_USERINFO_RE.sub(lambda m: m.group(1) + MASK + "@", text)


def redact_text(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _KEY_RE.sub(lambda m: m.group(1) + MASK, text)
    text = mask_userinfo(text)
    return _KV_PASSWORD_RE.sub(lambda m: m.group(1) + MASK, text)


def redact_message(obj: Any) -> Any:
    """A copy of `obj` with every string redacted (dict keys included)."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {redact_text(k) if isinstance(k, str) else k: redact_message(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_message(v) for v in obj]
    return obj


def secret_paths(schema: dict, prefix: tuple = ()) -> list[tuple]:
    """Paths of properties marked `"secret": true` in a config schema (nested objects included)."""
    paths = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if prop.get("secret"):
            paths.append(prefix + (name,))
        if prop.get("type") == "object" or "properties" in prop:
            paths.extend(secret_paths(prop, prefix + (name,)))
    return paths


def config_secret_values(config: Any, schema: dict) -> list[str]:
    """Every string to hide for a config: the values of its `secret: true` fields (see `secret_forms`)."""
    values: list[str] = []
    for path in secret_paths(schema):
        node = config
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        values.extend(form for form in secret_forms(node) if form not in values)
    return values


SECRET_NAME_WORDS = ("key", "secret", "password", "token", "url", "dsn", "credential")


def looks_secret(name: object) -> bool:
    """Whether a config key's name suggests a secret (only where no schema marks the secrets)."""
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_NAME_WORDS)


def guessed_secret_values(config: Any) -> list[str]:
    """Secret values of a config whose schema is unknown: the string values of keys that look secret, at
    any depth. A URL is secret only through its credentials (`scheme://user:password@host`): a value of a
    URL-named key without `@` is kept, so a plain base URL is not masked everywhere."""
    values: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, str) and looks_secret(key):
                if "url" not in str(key).lower() or "@" in value:
                    values.append(value)
            elif isinstance(value, (dict, list)):
                values.extend(guessed_secret_values(value))
    elif isinstance(config, list):
        for value in config:
            values.extend(guessed_secret_values(value))
    return values


def register_config_secrets(config: Any, schema: dict) -> None:
    _SECRETS.update(config_secret_values(config, schema))


def mask_config(config: dict, schema: dict) -> dict:
    """A copy of a config with secret fields replaced by the mask (for printing or storing)."""
    masked = redact_message(config)
    for path in secret_paths(schema):
        node = masked
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            node[path[-1]] = MASK
    return masked
