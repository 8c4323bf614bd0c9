"""Stripe's documented rate limits: a global budget per account and a budget per endpoint.

https://docs.stripe.com/rate-limits (seen 2025): "rate limits are measured in API requests per second,
per Stripe account"; the global limit is 100 requests per second in live mode and 25 in a sandbox (test
mode); "individual API endpoints (unless otherwise noted)" allow 25 requests per second; "Stripe
considers each named API operation a separate endpoint" (all ``GET /v1/customers`` list calls share one
budget, all ``GET /v1/customers/{id}`` another); the Search API allows 20 read operations per second and
the Files API 20. Every request counts against both its endpoint and the global budget.

A budget here is a sliding one-second window: a request is admitted while fewer than N were admitted in
the last second, so no second ever holds more than N. A refused request does not count. It gets 429
``rate_limit`` with Stripe's message (the same body the seeded ``rate_limit`` fault sends) and no
``Stripe-Should-Retry`` header: Stripe's SDKs, which honour that header, do not retry real rate limits,
only lock timeouts (Stripe's answer in stripe/stripe-dotnet#1886), so Stripe does not send ``true``
there; whether it sends ``false`` or nothing is not documented (``should_retry`` sets it). The request
log names the limiter that refused (``limiter``: ``global`` or ``endpoint``) and when the limiter judged
the request (``limiter_time``): the very instant its windows hold, read under the lock, so the log shows
exactly what was counted (a request's arrival ``time`` is earlier by however long its thread waited).

Settings (``rate_limits`` in the config, ``set_rate_limits``): null or false = off (the default),
true = Stripe's limits, or an object overriding some of them:
  {"live": 100, "test": 25, "endpoint": 25, "endpoints": {"/v1/customers/search": 20},
   "should_retry": null}
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from .errors import ControlError, StripeError

RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
)
STRIPE_LIMITS: dict[str, Any] = {
    "live": 100, "test": 25, "endpoint": 25, "endpoints": {}, "should_retry": None
}
WINDOW_S = 1.0


def rate_limit_error(should_retry: bool | None, retry_after: float | None = None) -> StripeError:
    headers = {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return StripeError(429, RATE_LIMIT_MESSAGE, code="rate_limit", headers=headers)


def resolve(settings: Any, default_endpoints: dict[str, float]) -> dict[str, Any] | None:
    """The effective limits for a ``rate_limits`` setting, or None when off; raises ValueError."""
    if settings is None or settings is False:
        return None
    if settings is True:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError("rate_limits is null, true or an object like {\"live\": 100, \"test\": 25}")
    unknown = set(settings) - set(STRIPE_LIMITS)
    if unknown:
        raise ValueError(f"unknown rate_limits keys: {sorted(unknown)} (known: {sorted(STRIPE_LIMITS)})")
    endpoints = {**default_endpoints, **(settings.get("endpoints") or {})}
    out = {**STRIPE_LIMITS, **settings, "endpoints": endpoints}
    for key in ("live", "test", "endpoint"):
        if not isinstance(out[key], (int, float)) or out[key] <= 0:
            raise ValueError(f"rate_limits.{key} must be a number of requests per second > 0")
    for path, limit in out["endpoints"].items():
        if not isinstance(limit, (int, float)) or limit <= 0:
            raise ValueError(f"rate_limits.endpoints[{path!r}] must be a number of requests per second > 0")
    if out["should_retry"] not in (None, True, False):
        raise ValueError("rate_limits.should_retry is true, false or null (no header)")
    return out


class RateLimits:
    """Admits or refuses each request; thread-safe. Memory: at most N timestamps per budget.

    Windows hold monotonic times; the times handed out are those same instants shifted once by a fixed
    offset to Unix seconds, so differences between them are the limiter's own."""

    def __init__(self, settings: Any, default_endpoints: dict[str, float]):
        self._lock = threading.Lock()
        self._to_unix = time.time() - time.monotonic()
        self._default_endpoints = dict(default_endpoints)
        self._windows: dict[tuple[Any, ...], deque[float]] = {}
        self.limits = resolve(settings, self._default_endpoints)

    def set(self, settings: Any) -> dict[str, Any]:
        try:
            limits = resolve(settings, self._default_endpoints)
        except ValueError as e:
            raise ControlError(400, str(e)) from None
        with self._lock:
            self.limits = limits
            self._windows.clear()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        limits = self.limits
        return {"enabled": False} if limits is None else {"enabled": True, **limits}

    def admit(self, account: str, livemode: bool, endpoint: str | None) -> tuple[str | None, float | None]:
        """(None when admitted, else the limiter that refused: ``global`` or ``endpoint``; the instant it
        judged, Unix seconds, None when limits are off)."""
        limits = self.limits
        if limits is None:
            return None, None
        mode = "live" if livemode else "test"
        with self._lock:
            now = time.monotonic()  # under the lock: each window's times are in order
            at = now + self._to_unix
            budgets = [("global", (account, mode), limits[mode])]
            if endpoint is not None:
                limit = limits["endpoints"].get(endpoint, limits["endpoint"])
                budgets.append(("endpoint", (account, mode, endpoint), limit))
            windows = []
            for name, key, limit in budgets:
                w = self._windows.get(key)
                if w is None:
                    w = self._windows[key] = deque()
                while w and w[0] <= now - WINDOW_S:
                    w.popleft()
                if len(w) >= limit:
                    return name, at
                windows.append(w)
            for w in windows:
                w.append(now)
        return None, at

    def error(self) -> StripeError:
        limits = self.limits or STRIPE_LIMITS
        return rate_limit_error(limits["should_retry"])
