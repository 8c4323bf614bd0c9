"""Error types shared by every executable, each saying how to recover.

`ConnectorError` carries what the wire `trace` error needs (scope, code, retryable, http_status,
request_id) plus an optional `hint` for the one human line on stderr. `ConfigError` is a usage problem
(bad or missing config/catalog/state): exit code 2. Everything else that a connector raises on purpose
is a `ConnectorError`: exit code 1 after the error is emitted as a message.
"""
from __future__ import annotations

from protocol import messages


class ConnectorError(Exception):
    exit_code = 1

    def __init__(self, code: str, message: str, scope: str = "global", stream: str | None = None,
                 retryable: bool = False, http_status: int | None = None, request_id: str | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.scope, self.stream = code, message, scope, stream
        self.retryable, self.http_status, self.request_id = retryable, http_status, request_id
        self.hint = hint

    def payload(self) -> dict:
        return messages.error_payload(self.scope, self.code, self.message, self.stream, self.retryable,
                                      self.http_status, self.request_id)

    def to_message(self) -> dict:
        return messages.trace("error", self.payload())


class ConfigError(ConnectorError):
    """Bad input given on the command line: config, catalog or state. Exit code 2."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__("invalid_config", message, scope="global", hint=hint)
