"""Database errors of the Postgres destination, classified where they first appear (the rule: one errors
module per package, errors classified at their source; docs/architecture.md, "Where each rule lives").

`classify(exc)` says how to recover from a psycopg2 error:
- CONFIG: libpq refused a setting of the connection string before connecting (`invalid integer value
  "abc" for connection option "port"`, `invalid sslmode value`): a usage error, never retried.
- CONNECTION: the connection is gone (network, server restart, admin shutdown): reconnect with backoff
  and replay the uncommitted batch.
- RETRY: the transaction lost a race (deadlock, serialization failure): roll back and replay it.
- ROW: the data of some row cannot be stored (SQLSTATE classes 22 data exception, 23 integrity,
  54 program limit such as an index row too large): find the row, report it, go on without it.
- FATAL: anything else (permissions, disk full, a changed table): a global `write_failed` error.
`describe(exc)` is a one-line, secret-free description for messages.
"""
from __future__ import annotations

import psycopg2

from protocol.errors import ConnectorError
from protocol.secrets import redact_text

CONFIG, CONNECTION, RETRY, ROW, FATAL = "config", "connection", "retry", "row", "fatal"

_CONNECTION_CODES = ("57P01", "57P02", "57P03")  # admin/crash shutdown, cannot connect now
_RETRY_CODES = ("40001", "40P01")  # serialization failure, deadlock
_ROW_CLASSES = ("22", "23", "54")


def classify(exc: BaseException) -> str:
    code = getattr(exc, "pgcode", None) or ""
    if isinstance(exc, psycopg2.InterfaceError):
        return CONNECTION
    if code.startswith("08") or code in _CONNECTION_CODES:
        return CONNECTION
    if isinstance(exc, psycopg2.OperationalError) and not code:
        if describe(exc).startswith("invalid "):  # libpq's words for a bad connection option
            return CONFIG
        return CONNECTION  # libpq-level failure: no SQLSTATE, the server never answered
    if code in _RETRY_CODES:
        return RETRY
    if code[:2] in _ROW_CLASSES:
        return ROW
    return FATAL


def describe(exc: BaseException) -> str:
    """First meaningful line of a driver error, redacted."""
    text = (getattr(exc, "pgerror", None) or str(exc) or type(exc).__name__).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    code = getattr(exc, "pgcode", None)
    return redact_text(f"{first} (SQLSTATE {code})" if code else first)


class ConnectionLost(Exception):
    """The connection broke; the caller reconnects and replays its uncommitted work."""


def fatal(exc: BaseException, doing: str) -> ConnectorError:
    """A global error for a database failure that retrying will not fix."""
    code = getattr(exc, "pgcode", None) or ""
    if code == "42501":
        return ConnectorError("permission_denied", f"{doing}: {describe(exc)}",
                              hint="grant the database user CREATE on the database or the schema")
    return ConnectorError("write_failed", f"{doing}: {describe(exc)}")
