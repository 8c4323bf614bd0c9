"""One shared, adaptive token bucket per API key.

Every request of a key, from any thread and any stream, takes one token first. Tokens refill at the
current rate on a monotonic clock; a clock reading that goes backwards only rebases the bucket (no
refill, and never a drain). Adaptive (AIMD-like): a 429 multiplies the rate by `backoff_factor` (at most
once per `throttle_gap_s`, so a burst of 429s from requests already in flight counts once) and pauses
the whole key for the `Retry-After` the server asked; then the rate climbs linearly back to the base
rate over `recovery_s`. The clock and sleep are injectable so the logic is tested without waiting.

Defaults (`default_rate`): about half of Stripe's limits, 50/s for live keys and 12/s for test keys.
The bucket holds half a second of tokens: a short burst after a quiet start, yet half a second of slack
against a server-side bucket of the same rate, so timing jitter does not turn into 429s.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from source_stripe.config import is_live_key

LIVE_DEFAULT_RATE = 50.0
TEST_DEFAULT_RATE = 12.0


def default_rate(api_key: str) -> float:
    return LIVE_DEFAULT_RATE if is_live_key(api_key) else TEST_DEFAULT_RATE


class TokenBucket:
    def __init__(self, rate: float, capacity: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, backoff_factor: float = 0.6,
                 min_rate_fraction: float = 0.1, recovery_s: float = 10.0, throttle_gap_s: float = 1.0):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.base_rate = float(rate)
        self.capacity = float(capacity) if capacity else max(1.0, self.base_rate / 2)
        self._clock, self._sleep = clock, sleep
        self._backoff, self._min_rate = backoff_factor, self.base_rate * min_rate_fraction
        self._recovery_s, self._gap = recovery_s, throttle_gap_s
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()
        self._floor_rate = self.base_rate  # rate right after the last throttle
        self._throttled_at: float | None = None
        self._paused_until = float("-inf")
        self.throttle_count = 0

    # ---- pure-ish core (call with the lock held) -------------------------------------------------
    def _rate_at(self, now: float) -> float:
        if self._throttled_at is None:
            return self.base_rate
        elapsed = max(0.0, now - self._throttled_at)
        if elapsed >= self._recovery_s:
            return self.base_rate
        return self._floor_rate + (self.base_rate - self._floor_rate) * elapsed / self._recovery_s

    def _refill(self, now: float) -> None:
        if now <= self._last:
            self._last = now  # clock went backwards (or stood still): rebase, never drain
            return
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self._rate_at(now))
        self._last = now

    def try_acquire(self) -> float:
        """Take a token if one is available and return 0.0, else the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now < self._paused_until:
                return self._paused_until - now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate_at(now)

    def acquire(self) -> None:
        """Block until a token is taken."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            self._sleep(min(wait, 1.0))

    def on_throttled(self, retry_after_s: float | None = None) -> None:
        """A 429 came back: slow down (once per burst) and pause the key for Retry-After seconds."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            last = self._throttled_at
            if last is None or now - last >= self._gap or now < last:
                self._floor_rate = max(self._min_rate, self._rate_at(now) * self._backoff)
                self._throttled_at = now
                self.throttle_count += 1
                self._tokens = min(self._tokens, 0.0)
            if retry_after_s:
                self._paused_until = max(self._paused_until, now + min(retry_after_s, 60.0))

    @property
    def current_rate(self) -> float:
        with self._lock:
            return self._rate_at(self._clock())


_BUCKETS: dict[tuple[str, float], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def limiter_for(api_key: str, rate: float | None = None) -> TokenBucket:
    """The process-wide bucket of an API key (created on first use with `rate`, default by key mode)."""
    rate = float(rate) if rate else default_rate(api_key)
    key = (hashlib.sha256(api_key.encode()).hexdigest(), rate)
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None:
            bucket = _BUCKETS[key] = TokenBucket(rate)
        return bucket
