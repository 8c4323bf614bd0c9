"""Errors of the Stripe source, classified where they first appear (the HTTP response).

`StripeAPIError` is a failed HTTP exchange after retries (or one never retried): its status, Stripe's
error `code`/`message`, the request id. `classify` turns it into the `ConnectorError` the protocol
carries, with the code and scope that say how to recover:

What an HTTP status means is one table, `status_meaning` (read by the client to decide what to retry,
and by `classify` to name the error once retries ran out):

- 401 -> `auth_failed`, global: the key is wrong or revoked; the run stops.
- 403 with Stripe's code `account_invalid` (https://docs.stripe.com/error-codes#account-invalid: the
  `Stripe-Account` is not connected to the platform, e.g. it revoked the platform's access) ->
  `account_invalid`, global for that account's read (`is_auth`): a multi-account read turns it into an
  error of that account alone (accounts.py).
- 403, "not set up to use <feature>", 404 "Unrecognized request URL" -> `permission_denied` / `not_found`
  scoped to the stream, which is skipped (`should_skip`) while the others go on.
- other 4xx -> `invalid_request` for the stream (a bug or an API change: never retried).
- 429 / 5xx / network -> retried by the client with backoff; after every retry `rate_limited` /
  `server_error` / `network`, retryable, for the stream; its checkpoint stays where it was.

Messages pass through secret redaction, even though Stripe already masks keys in its own messages.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ConnectorError
from protocol.secrets import redact_text

NOT_ENABLED_MARKERS = ("not set up to use", "not enabled", "has not been activated",
                       "feature is not available")


class StripeAPIError(Exception):
    """A Stripe request that failed for good. `status` 0 means no HTTP response (network/timeout)."""

    def __init__(self, status: int, message: str, code: str | None = None, request_id: str | None = None,
                 param: str | None = None, path: str = ""):
        super().__init__(redact_text(message))
        self.status, self.code, self.request_id, self.param, self.path = status, code, request_id, param, path
        self.message = redact_text(message)

    @property
    def is_auth(self) -> bool:
        """The key may not read this account at all: nothing of it can be read (stop its read)."""
        return self.status == 401 or self.is_account_invalid

    @property
    def is_account_invalid(self) -> bool:
        return self.status == 403 and self.code == "account_invalid"

    @property
    def is_missing_cursor(self) -> bool:
        """A `starting_after`/`ending_before` object that no longer exists (deleted since the checkpoint)."""
        return self.status in (400, 404) and self.code == "resource_missing" \
            and self.param in ("starting_after", "ending_before")

    @property
    def not_enabled(self) -> bool:
        low = self.message.lower()
        return self.status in (400, 403, 404) and any(m in low for m in NOT_ENABLED_MARKERS)

    @property
    def unknown_endpoint(self) -> bool:
        return self.status == 404 and "unrecognized request url" in self.message.lower()


def should_skip(err: StripeAPIError) -> bool:
    """Errors that mean "this account or key cannot read this stream": skip it, go on with the others."""
    return not err.is_auth and (err.status == 403 or err.not_enabled or err.unknown_endpoint)


@dataclass(frozen=True)
class StatusMeaning:
    code: str  # the protocol error code once retries ran out
    retryable: bool  # the client retries it (with backoff), and the error says retryable


# https://docs.stripe.com/error-low-level ("Errors in HTTP"): a 4xx is a content error that fails the same
# way again (401 a bad key, 403/404 a resource this key or account cannot read), a 429 a rate limit, a
# 5xx a problem on Stripe's servers; network errors and 429/5xx are worth retrying with backoff.
_STATUS_TABLE: dict[int, StatusMeaning] = {
    0: StatusMeaning("network", True), 401: StatusMeaning("auth_failed", False),
    403: StatusMeaning("permission_denied", False), 404: StatusMeaning("not_found", False),
    429: StatusMeaning("rate_limited", True)}
_SERVER_ERROR = StatusMeaning("server_error", True)
_INVALID_REQUEST = StatusMeaning("invalid_request", False)


def status_meaning(status: int) -> StatusMeaning:
    """What an HTTP status means (0: no response at all)."""
    if status in _STATUS_TABLE:
        return _STATUS_TABLE[status]
    return _SERVER_ERROR if status >= 500 else _INVALID_REQUEST


def worth_retrying(status: int, should_retry: str | None) -> bool:
    """Whether a failed response is retried, given its `Stripe-Should-Retry` header (lower case or None).

    The header wins (https://docs.stripe.com/error-low-level: "Stripe-Should-Retry: true|false" tells a
    client whether a retry may succeed; Stripe's SDKs honour it, stripe/stripe-node#692), except that
    a 429 is always retried with backoff: a rate limit passes with time, Stripe's SDKs do not retry real
    rate limits at all (stripe/stripe-dotnet#1886) and what the header says on them is not documented,
    so `false` there is no reason to give up early."""
    if status == 429:
        return True
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return status_meaning(status).retryable


def _code(err: StripeAPIError) -> tuple[str, bool]:
    if err.status == 0 and err.code == "timeout":
        return "timeout", True
    if err.is_account_invalid:
        return "account_invalid", False
    if err.not_enabled:
        return "permission_denied", False
    meaning = status_meaning(err.status)
    return meaning.code, meaning.retryable


def classify(err: StripeAPIError, stream: str | None = None) -> ConnectorError:
    """The protocol error for a failed request: global for auth, else scoped to `stream` when given."""
    code, retryable = _code(err)
    scope = "global" if (err.is_auth or stream is None) else "stream"
    where = f"{stream}: " if stream else ""
    what = f"HTTP {err.status}" if err.status else "no response"
    hint = None
    if code == "auth_failed":
        hint = "check api_key (a secret key sk_... or a restricted key rk_... of the right mode)"
    elif code == "account_invalid":
        hint = "the account is not (or no longer) connected to the platform: it may have revoked its access"
    elif code == "permission_denied":
        hint = "give the key read access to this resource or enable the feature, or leave the stream out"
    return ConnectorError(code, f"{where}{err.message} ({what} on GET {err.path})", scope=scope,
                          stream=stream if scope == "stream" else None, retryable=retryable,
                          http_status=err.status or None, request_id=err.request_id, hint=hint)
