"""The request budget of an API key: one adaptive token bucket for the account and one per endpoint, and
a priority hand-off between the threads that wait for them.

Stripe documents two limits (https://docs.stripe.com/rate-limits): a global one per account (100
requests/s in live mode, 25 in test mode) and one per endpoint, "API endpoints have a default limit of 25
requests per second", where each named operation is an endpoint (every `GET /v1/customers` list call
shares one budget). Every request counts against both. So every request of a key takes a token from the
account bucket and one from its endpoint's bucket (`Limiter.acquire`); the budget is planned, not found
by 429s, and several streams of one account fill the account's budget without overrunning an endpoint.

`TokenBucket`: tokens refill at the current rate on a monotonic clock. The bucket holds a fiftieth of a
second of tokens, and at the `Limiter` only while requests wait (a request after a quiet spell finds at
most one): a thread woken a little late catches up, yet no second holds more requests than the rate after
a pause, whether the server counts with a token bucket (Stripe's, by its blog "Scaling your API with rate
limiters") or with a sliding window (the emulator's). Adaptive (AIMD-like): a 429 multiplies the rate by
`backoff_factor` (at most once per `throttle_gap_s`, so a burst of 429s from requests already in flight
counts once) and pauses the bucket for the `Retry-After` the server asked; the rate then climbs linearly
back over `recovery_s`. Clamped against clock jumps: a clock reading that goes backwards rebases the
bucket (no refill, never a drain) and moves the throttle and the pause along, so neither can last longer
than asked.

`Limiter`: the waiting threads are served in priority order (lower first; FIFO among equals) instead of
racing for each token: a token goes to the best waiter whose endpoint has one too, so a critical chain
(the walk of a dense second) waits for the next token, not for luck, and a waiter for an exhausted
endpoint does not hold up the others. One waiter keeps time (sleeps until the next token is due); the
others sleep until they are served. A 429 slows the endpoint's bucket, and the account's too when the
endpoint has the whole account budget or another endpoint was refused within the same gap (Stripe's 429
does not say which limit refused).

Defaults (`default_rate`): about half of Stripe's global limits, 50/s for live keys and 12/s for test
keys, so other clients of the account keep working; endpoints default to Stripe's 25/s (never more than
the account budget). Both are configurable (`max_requests_per_second`,
`max_requests_per_second_per_endpoint`).
The clock and sleep are injectable so the logic is tested without waiting.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from source_stripe.config import is_live_key

LIVE_DEFAULT_RATE = 50.0
TEST_DEFAULT_RATE = 12.0
ENDPOINT_DEFAULT_RATE = 25.0  # Stripe's documented default per endpoint
MAX_PAUSE_S = 60.0


def default_rate(api_key: str) -> float:
    return LIVE_DEFAULT_RATE if is_live_key(api_key) else TEST_DEFAULT_RATE


class TokenBucket:
    def __init__(self, rate: float, capacity: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, backoff_factor: float = 0.9,
                 min_rate_fraction: float = 0.1, recovery_s: float = 4.0, throttle_gap_s: float = 1.0):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.base_rate = float(rate)
        self.capacity = float(capacity) if capacity else max(1.0, self.base_rate / 50)
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

    # ---- the core: call with the lock held (this bucket's, or the Limiter's that owns it) -------------
    def _rate_at(self, now: float) -> float:
        if self._throttled_at is None:
            return self.base_rate
        elapsed = now - self._throttled_at
        if elapsed >= self._recovery_s:
            return self.base_rate
        return self._floor_rate + (self.base_rate - self._floor_rate) * elapsed / self._recovery_s

    def _refill(self, now: float) -> None:
        if now <= self._last:  # the clock went backwards (or stood still): rebase, never drain
            back = self._last - now
            self._last = now
            if self._throttled_at is not None:
                self._throttled_at = min(self._throttled_at, now)
            self._paused_until = min(self._paused_until - back, now + MAX_PAUSE_S)
            return
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self._rate_at(now))
        self._last = now

    def _wait(self, now: float) -> float:
        """Seconds until a token is available (0.0: one is)."""
        self._refill(now)
        if now < self._paused_until:
            return self._paused_until - now
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self._rate_at(now)

    def _take(self) -> None:
        self._tokens -= 1.0

    def _quiet(self, now: float) -> None:
        """Nobody was waiting: keep at most one token (no burst after a pause)."""
        self._refill(now)
        self._tokens = min(self._tokens, 1.0)

    def _throttle(self, now: float, retry_after_s: float | None) -> None:
        self._refill(now)
        last = self._throttled_at
        if last is None or now - last >= self._gap:
            self._floor_rate = max(self._min_rate, self._rate_at(now) * self._backoff)
            self._throttled_at = now
            self.throttle_count += 1
            self._tokens = min(self._tokens, 0.0)
        if retry_after_s:
            self._paused_until = max(self._paused_until, now + min(retry_after_s, MAX_PAUSE_S))

    def _current_rate(self, now: float) -> float:
        self._refill(now)
        return self._rate_at(now)

    # ---- standalone use ----------------------------------------------------------------------------
    def try_acquire(self) -> float:
        """Take a token if one is available and return 0.0, else the seconds to wait before retrying."""
        with self._lock:
            wait = self._wait(self._clock())
            if wait <= 0:
                self._take()
            return wait

    def acquire(self) -> None:
        """Block until a token is taken (one caller; threads share a `Limiter`)."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            self._sleep(min(wait, 1.0))

    def on_throttled(self, retry_after_s: float | None = None) -> None:
        """A 429 came back: slow down (once per burst) and pause for Retry-After seconds."""
        with self._lock:
            self._throttle(self._clock(), retry_after_s)

    @property
    def current_rate(self) -> float:
        with self._lock:
            return self._current_rate(self._clock())


@dataclass(order=True)
class _Waiter:
    priority: tuple
    seq: int
    endpoint: str = field(compare=False)
    event: threading.Event = field(compare=False, default_factory=threading.Event)
    granted: bool = field(compare=False, default=False)


class Limiter:
    """The account bucket, a bucket per endpoint, and the queue of threads waiting for them."""

    def __init__(self, rate: float, endpoint_rate: float = ENDPOINT_DEFAULT_RATE, *,
                 clock: Callable[[], float] = time.monotonic, recovery_s: float = 4.0,
                 throttle_gap_s: float = 1.0):
        self._clock = clock
        self._recovery_s, self._gap = recovery_s, throttle_gap_s
        self.account = self._bucket(rate)
        self.endpoint_rate = min(float(endpoint_rate), float(rate))
        self.endpoints: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._waiting: list[_Waiter] = []  # sorted: the best first
        self._seq = itertools.count()
        self._timekeeper: _Waiter | None = None
        self._due = 0.0  # when the timekeeper should look again
        self._refused: dict[str, float] = {}  # endpoint -> time of its last 429

    def rates(self, endpoint: str) -> tuple[float, float]:
        """The current rates of the account and of `endpoint` (lowered after 429s, recovering)."""
        with self._lock:
            now = self._clock()
            return self.account._current_rate(now), self.endpoint(endpoint)._current_rate(now)

    def _bucket(self, rate: float) -> TokenBucket:
        return TokenBucket(rate, clock=self._clock, recovery_s=self._recovery_s, throttle_gap_s=self._gap)

    def endpoint(self, name: str) -> TokenBucket:
        bucket = self.endpoints.get(name)
        if bucket is None:
            bucket = self.endpoints[name] = self._bucket(self.endpoint_rate)
        return bucket

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def acquire(self, endpoint: str, priority: tuple = (), stop: threading.Event | None = None) -> bool:
        """Block until a request to `endpoint` may go (a token of the account and of the endpoint taken).
        `priority`: lower is served first, FIFO among equals. False (no token taken) once `stop` is set."""
        with self._lock:
            me = _Waiter(priority, next(self._seq), endpoint)
            bucket = self.endpoint(endpoint)
            if not self._waiting:
                self.account._quiet(self._clock())
            if not any(w.endpoint == endpoint for w in self._waiting):
                bucket._quiet(self._clock())
            bisect.insort(self._waiting, me)
            self._dispatch()
        while True:
            with self._lock:
                if me.granted:
                    return True
                if stop is not None and stop.is_set():
                    self._waiting.remove(me)
                    if self._timekeeper is me:
                        self._pass_timekeeping()
                    return False
                if self._timekeeper is None:
                    self._timekeeper = me
                timeout = max(0.0, self._due - self._clock()) if self._timekeeper is me else 0.5
                me.event.clear()
            me.event.wait(min(timeout, 0.5))
            with self._lock:
                if not me.granted and self._timekeeper is me:
                    self._dispatch()

    def _dispatch(self) -> None:
        """Grant every token that is due, best waiter first (lock held)."""
        now = self._clock()
        while self._waiting:
            account_wait = self.account._wait(now)
            soonest = float("inf")
            chosen = None
            for w in self._waiting:
                wait = max(account_wait, self.endpoints[w.endpoint]._wait(now))
                if wait <= 0:
                    chosen = w
                    break
                soonest = min(soonest, wait)
            if chosen is None:
                due, self._due = self._due, now + soonest
                if self._due < due and self._timekeeper is not None:
                    self._timekeeper.event.set()  # a sooner token: the timekeeper wakes up for it
                return
            self.account._take()
            self.endpoints[chosen.endpoint]._take()
            self._waiting.remove(chosen)
            chosen.granted = True
            chosen.event.set()
            if self._timekeeper is chosen:
                self._pass_timekeeping()

    def _pass_timekeeping(self) -> None:
        self._timekeeper = self._waiting[0] if self._waiting else None
        if self._timekeeper is not None:
            self._timekeeper.event.set()

    def on_throttled(self, endpoint: str, retry_after_s: float | None = None) -> None:
        """A 429 for `endpoint`: slow its bucket down, and the account's when the account is the likely
        limit (the endpoint had the whole account budget, or another endpoint was refused just now)."""
        with self._lock:
            now = self._clock()
            others = [t for e, t in self._refused.items() if e != endpoint and 0 <= now - t < self._gap]
            self._refused[endpoint] = now
            self.endpoint(endpoint)._throttle(now, retry_after_s)
            if others or self.endpoint_rate >= self.account.base_rate:
                self.account._throttle(now, retry_after_s)


_LIMITERS: dict[tuple[str, float, float], Limiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(api_key: str, rate: float | None = None, endpoint_rate: float | None = None) -> Limiter:
    """The process-wide limiter of an API key (created on first use; rates default by the key's mode)."""
    rate = float(rate) if rate else default_rate(api_key)
    endpoint_rate = float(endpoint_rate) if endpoint_rate else ENDPOINT_DEFAULT_RATE
    key = (hashlib.sha256(api_key.encode()).hexdigest(), rate, endpoint_rate)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = Limiter(rate, endpoint_rate)
        return limiter
