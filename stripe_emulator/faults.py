"""Fault injection for ``/v1`` requests: per-key rate limit, random 500s, lock timeouts, dropped
connections, latency, and a deterministic script of one-off faults. All randomness comes from one
seeded RNG so a fault pattern is reproducible for a given request order.

Settings (all optional; defaults are everything off):
  rate_limit: {"rate": req/s, "burst": tokens, "should_retry": 0..1, "retry_after": seconds|null} | null
  error_rate, lock_timeout_rate, drop_rate: probabilities 0..1
  latency: {"ms": fixed, "jitter_ms": spread, "distribution": "uniform"|"exponential"|"normal"}
  paths: [path prefixes] the random faults apply to (null = every /v1 path)
  unrecognized_paths: [patterns] answered 404 "Unrecognized request URL (GET: /v1/events/evt_...)",
      Stripe's body for a URL it does not have, as a proxy or a wrong base path would make it happen;
      ``*`` matches within one path segment: ["/v1/events/*"] breaks event retrieval, not the list
  script: [{"kind": "error"|"rate_limit"|"lock_timeout"|"drop"|"unrecognized_url", "path": prefix
      (optional), "count": n}]
  seed: RNG seed (null = the emulator seed)
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import ControlError, StripeError, unrecognized_url
from .ratelimit import rate_limit_error

KINDS = ("error", "rate_limit", "lock_timeout", "drop", "unrecognized_url")
DEFAULTS: dict[str, Any] = {
    "rate_limit": None,
    "error_rate": 0.0,
    "lock_timeout_rate": 0.0,
    "drop_rate": 0.0,
    "latency": {"ms": 0, "jitter_ms": 0, "distribution": "uniform"},
    "paths": None,
    "unrecognized_paths": [],
    "script": [],
    "seed": None,
}

LOCK_TIMEOUT_MESSAGE = (
    "This object cannot be accessed right now because another API request or Stripe process "
    "is currently accessing it. If you see this error intermittently, retry the request. If "
    "you see this error frequently and are making multiple concurrent requests to a single "
    "object, make your requests serially or at a lower rate. See "
    "https://stripe.com/docs/rate-limits for more details."
)


@dataclass
class Decision:
    kind: str | None  # None, "drop", or an error kind
    delay: float
    error: StripeError | None = None


def _check(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ControlError(400, f"unknown fault settings: {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    for k in ("error_rate", "lock_timeout_rate", "drop_rate"):
        if k in settings:
            v = float(settings[k] or 0)
            if not 0 <= v <= 1:
                raise ControlError(400, f"{k} must be between 0 and 1")
    rl = settings.get("rate_limit")
    if rl is not None:
        if not isinstance(rl, dict) or float(rl.get("rate", 0)) <= 0:
            raise ControlError(400, 'rate_limit needs {"rate": requests per second > 0}')
    lat = settings.get("latency")
    if lat is not None:
        if isinstance(lat, (int, float)):
            settings["latency"] = {"ms": lat, "jitter_ms": 0, "distribution": "uniform"}
        elif not isinstance(lat, dict) or lat.get("distribution", "uniform") not in (
            "uniform",
            "exponential",
            "normal",
        ):
            raise ControlError(400, "latency is {ms, jitter_ms, distribution: uniform|exponential|normal}")
    for entry in settings.get("script") or []:
        if entry.get("kind") not in KINDS:
            raise ControlError(400, f"script kind must be one of {KINDS}: {entry!r}")
    patterns = settings.get("unrecognized_paths")
    if patterns is not None and (
        not isinstance(patterns, list) or not all(isinstance(p, str) and p.startswith("/") for p in patterns)
    ):
        raise ControlError(400, 'unrecognized_paths is a list of path patterns like ["/v1/events/*"]')
    return settings


def path_pattern(pattern: str) -> re.Pattern[str]:
    """``/v1/events/*`` -> a regex where ``*`` matches within one path segment."""
    parts = re.split(r"(\*)", pattern)
    return re.compile("".join("[^/]+" if part == "*" else re.escape(part) for part in parts))


class FaultInjector:
    def __init__(self, seed: int, settings: dict[str, Any] | None = None):
        self._lock = threading.Lock()
        self._default_seed = seed
        self.settings: dict[str, Any] = {}
        self._buckets: dict[bytes, list[float]] = {}
        self.reset()
        if settings:
            self.update(settings)

    def reset(self) -> dict[str, Any]:
        with self._lock:
            self.settings = {
                k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                for k, v in DEFAULTS.items()
            }
            self._rng = random.Random(self._default_seed)
            self._buckets.clear()
            self._script: list[dict[str, Any]] = []
            self._unrecognized: list[re.Pattern[str]] = []
            return self.snapshot()

    def update(self, settings: dict[str, Any]) -> dict[str, Any]:
        settings = _check(dict(settings))
        with self._lock:
            for k, v in settings.items():
                if k == "latency" and v is not None:
                    self.settings["latency"] = {**DEFAULTS["latency"], **v}
                elif k == "script":
                    self._script.extend({"path": None, "count": 1, **e} for e in (v or []))
                elif k == "rate_limit":
                    self.settings[k] = v
                    self._buckets.clear()
                elif k == "unrecognized_paths":
                    self.settings[k] = list(v or [])
                    self._unrecognized = [path_pattern(p) for p in self.settings[k]]
                elif k == "seed":
                    self.settings[k] = v
                    self._rng = random.Random(self._default_seed if v is None else v)
                else:
                    self.settings[k] = DEFAULTS[k] if v is None else v
            return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {**self.settings, "script": [dict(e) for e in self._script]}

    def _bucket_ok(self, key: str, rl: dict[str, Any]) -> bool:
        rate = float(rl["rate"])
        burst = float(rl.get("burst") or rate)
        h = hashlib.blake2b(key.encode(), digest_size=16).digest()
        now = time.monotonic()
        b = self._buckets.get(h)
        if b is None:
            b = self._buckets[h] = [burst, now]
        tokens, last = b
        if now > last:
            tokens = min(burst, tokens + (now - last) * rate)
            b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return True
        b[0] = tokens
        return False

    def decide(self, key: str, path: str, method: str = "GET") -> Decision:
        with self._lock:
            s = self.settings
            kind: str | None = None
            if any(p.fullmatch(path) for p in self._unrecognized):
                kind = "unrecognized_url"
            scripted: dict[str, Any] = {}
            for entry in [] if kind else self._script:
                if entry["count"] > 0 and (not entry.get("path") or path.startswith(entry["path"])):
                    entry["count"] -= 1
                    kind = entry["kind"]
                    scripted = entry
                    break
            self._script = [e for e in self._script if e["count"] > 0]
            applies = s["paths"] is None or any(path.startswith(p) for p in s["paths"])
            rng = self._rng
            if kind is None and applies:
                if s["drop_rate"] and rng.random() < s["drop_rate"]:
                    kind = "drop"
                elif s["rate_limit"] and not self._bucket_ok(key, s["rate_limit"]):
                    kind = "rate_limit"
                elif s["lock_timeout_rate"] and rng.random() < s["lock_timeout_rate"]:
                    kind = "lock_timeout"
                elif s["error_rate"] and rng.random() < s["error_rate"]:
                    kind = "error"
            lat = s["latency"]
            delay = float(lat.get("ms") or 0) / 1000.0
            jitter = float(lat.get("jitter_ms") or 0) / 1000.0
            if jitter > 0:
                dist = lat.get("distribution", "uniform")
                if dist == "exponential":
                    delay += rng.expovariate(1.0 / jitter)
                elif dist == "normal":
                    delay += abs(rng.gauss(0.0, jitter))
                else:
                    delay += rng.uniform(0.0, jitter)
            should_retry = True
            rl = s["rate_limit"] or {}
            if kind == "rate_limit":
                if "should_retry" in scripted:
                    should_retry = bool(scripted["should_retry"])
                else:
                    should_retry = rng.random() < float(rl.get("should_retry", 0.5))
        if kind is None or kind == "drop":
            return Decision(kind, delay)
        if kind == "unrecognized_url":
            return Decision(kind, delay, unrecognized_url(method, path))
        return Decision(kind, delay, self._error(kind, should_retry, rl))

    @staticmethod
    def _error(kind: str, should_retry: bool, rl: dict[str, Any]) -> StripeError:
        if kind == "rate_limit":
            return rate_limit_error(True if should_retry else None, rl.get("retry_after"))
        if kind == "lock_timeout":
            return StripeError(
                429, LOCK_TIMEOUT_MESSAGE, code="lock_timeout", headers={"Stripe-Should-Retry": "true"}
            )
        return StripeError(500, "An unknown error occurred", type_="api_error")
