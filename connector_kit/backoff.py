"""The one retry delay formula of the project: exponential, capped, with jitter (pure).

Used by source-stripe's HTTP retries, destination-postgres's reconnects and the engine's source
restarts; each passes its own base, cap and jitter range (docs/architecture.md, "Where each rule lives").
"""
from __future__ import annotations


def backoff_delay(attempt: int, base: float, cap: float, rand: float,
                  jitter: tuple[float, float] = (0.5, 1.0)) -> float:
    """Seconds before retry `attempt` (0-based): `base * 2**attempt`, at most `cap`, times a factor in
    `[low, high)` of `jitter` chosen by `rand` (a number in [0, 1), e.g. `random.random()`)."""
    low, high = jitter
    return min(cap, base * (2 ** max(0, attempt))) * (low + (high - low) * rand)
