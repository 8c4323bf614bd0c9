"""The request budget: token buckets (refill, clock jumps, adaptive slow-down after 429 and recovery) and
the limiter (priority hand-off between waiting threads, an account bucket and one per endpoint)."""
from __future__ import annotations

import threading
import time

import pytest

from source_stripe.rate_limit import Limiter, TokenBucket, default_rate, limiter_for


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_takes_tokens_then_waits_for_the_refill():
    clock = Clock()
    b = TokenBucket(10, capacity=2, clock=clock)
    assert b.try_acquire() == 0 and b.try_acquire() == 0
    assert b.try_acquire() == pytest.approx(0.1)
    clock.t += 0.1
    assert b.try_acquire() == 0


def test_a_clock_going_backwards_never_drains_and_does_not_stall():
    clock = Clock()
    b = TokenBucket(10, capacity=2, clock=clock)
    clock.t -= 500  # e.g. a VM migration with a non-monotonic source
    assert b.try_acquire() == 0 and b.try_acquire() == 0  # the full bucket is still there
    clock.t += 0.1  # refills from the new reading, not from the old (future) one
    assert b.try_acquire() == 0


def test_acquire_sleeps_the_wait():
    clock = Clock()
    slept = []

    def sleep(s):
        slept.append(s)
        clock.t += s
    b = TokenBucket(4, capacity=1, clock=clock, sleep=sleep)
    b.acquire()
    b.acquire()
    assert sum(slept) == pytest.approx(0.25)


def test_throttle_slows_down_once_per_burst_then_recovers():
    clock = Clock()
    b = TokenBucket(20, clock=clock, backoff_factor=0.5, recovery_s=10, throttle_gap_s=1)
    b.on_throttled()
    b.on_throttled()  # the same burst of 429s: counted once
    assert b.current_rate == pytest.approx(10)
    assert b.throttle_count == 1
    clock.t += 5
    assert b.current_rate == pytest.approx(15)
    clock.t += 5
    assert b.current_rate == pytest.approx(20)


def test_retry_after_pauses_every_caller_of_the_key():
    clock = Clock()
    b = TokenBucket(100, clock=clock)
    b.on_throttled(retry_after_s=2)
    assert b.try_acquire() == pytest.approx(2)
    clock.t += 2
    clock.t += 1  # and tokens refill at the lowered rate
    assert b.try_acquire() == 0


def test_defaults_by_key_mode_and_one_bucket_per_key():
    assert default_rate("sk_live_x") == 50 and default_rate("sk_test_x") == 12
    assert default_rate("rk_test_x") == 12
    assert limiter_for("sk_test_a", 7) is limiter_for("sk_test_a", 7)
    assert limiter_for("sk_test_a", 7) is not limiter_for("sk_test_b", 7)
    assert limiter_for("sk_test_c").account.base_rate == 12


def test_a_clock_jumping_back_keeps_throttle_and_pause_as_long_as_asked():
    clock = Clock()
    b = TokenBucket(10, clock=clock, backoff_factor=0.5, recovery_s=4)
    b.on_throttled(retry_after_s=2)
    clock.t -= 500
    assert b.try_acquire() == pytest.approx(2)  # the pause moved with the clock: not 502 s
    clock.t += 4
    assert b.current_rate == pytest.approx(10)  # recovered after recovery_s of the new clock


def test_a_clock_jumping_forward_refills_only_the_bucket():
    clock = Clock()
    b = TokenBucket(100, clock=clock)
    while b.try_acquire() == 0:
        pass
    clock.t += 10**6
    taken = 0
    while b.try_acquire() == 0:
        taken += 1
    assert taken == b.capacity == 2  # a fiftieth of a second, never a flood


class Waiters:
    """Threads waiting at a limiter with a hand-driven clock; `order` is the order they were served in."""

    def __init__(self, limiter: Limiter, clock: Clock):
        self.limiter, self.clock, self.order, self.threads = limiter, clock, [], []
        self.stop = threading.Event()

    def add(self, name: str, endpoint: str, priority: tuple) -> None:
        def run() -> None:
            if self.limiter.acquire(endpoint, priority, self.stop):
                self.order.append(name)
        before = self.limiter.waiting() + len(self.order)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)
        wait_until(lambda: self.limiter.waiting() + len(self.order) == before + 1)  # queued or served

    def step(self, seconds: float, served: int) -> None:
        """Move the clock on; wait until `served` waiters were served in all."""
        self.clock.t += seconds
        wait_until(lambda: len(self.order) >= served)


def wait_until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_waiters_are_served_by_priority_then_in_arrival_order():
    clock = Clock()
    limiter = Limiter(10, 10, clock=clock)
    assert limiter.acquire("/v1/customers")  # the only token
    w = Waiters(limiter, clock)
    for name, prio in (("walk-1", (2, 0.0)), ("fresh", (1, 0.0)), ("walk-2", (2, 0.0)), ("dense", (0, 0.0))):
        w.add(name, "/v1/customers", prio)
    for n in range(1, 5):
        w.step(0.1, n)  # one token per tenth of a second: one waiter each
    assert w.order == ["dense", "fresh", "walk-1", "walk-2"]


def test_a_waiter_for_an_exhausted_endpoint_does_not_hold_up_the_others():
    clock = Clock()
    limiter = Limiter(10, 1, clock=clock)  # the account 10/s, every endpoint 1/s
    assert limiter.acquire("/v1/customers")
    clock.t += 0.1
    w = Waiters(limiter, clock)
    w.add("customers", "/v1/customers", (0,))  # its endpoint has no token for almost a second
    w.add("charges", "/v1/charges", (5,))  # served at once: the account's token is not held for the other
    assert w.order == ["charges"]
    w.step(0.9, 2)
    assert w.order == ["charges", "customers"]


def test_a_stopped_waiter_gives_up_without_a_token():
    clock = Clock()
    limiter = Limiter(10, 10, clock=clock)
    assert limiter.acquire("/v1/customers")
    w = Waiters(limiter, clock)
    w.add("a", "/v1/customers", (0,))
    w.stop.set()
    wait_until(lambda: limiter.waiting() == 0)
    assert w.order == []
    clock.t += 0.1
    assert limiter.acquire("/v1/customers")  # the token it did not take is still there


def test_a_429_slows_its_endpoint_and_the_account_only_when_the_account_is_the_limit():
    clock = Clock()
    limiter = Limiter(100, 25, clock=clock, throttle_gap_s=1)
    limiter.on_throttled("/v1/customers")
    assert limiter.rates("/v1/customers") == (100, pytest.approx(22.5))
    assert limiter.rates("/v1/charges") == (100, 25)
    clock.t += 0.5
    limiter.on_throttled("/v1/charges")  # a second endpoint refused within the gap: the account's limit
    account, charges = limiter.rates("/v1/charges")
    assert account == pytest.approx(90) and charges == pytest.approx(22.5)
    one = Limiter(25, 25, clock=clock)  # one endpoint may use the whole budget: both are the limit
    one.on_throttled("/v1/customers")
    assert one.rates("/v1/customers") == (pytest.approx(22.5), pytest.approx(22.5))
