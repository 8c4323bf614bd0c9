"""The shared token bucket: refill, a clock going backwards, adaptive slow-down after 429 and recovery."""
from __future__ import annotations

import pytest

from source_stripe.rate_limit import TokenBucket, default_rate, limiter_for


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
    assert limiter_for("sk_test_c").base_rate == 12
