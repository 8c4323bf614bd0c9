"""connector_kit/backoff.py: the one delay formula, with the ranges its three users pass."""
from __future__ import annotations

import pytest

from connector_kit.backoff import backoff_delay


def test_exponential_capped_and_jittered_within_its_range():
    assert [backoff_delay(n, 1.0, 10.0, 1.0, (1.0, 1.0)) for n in range(6)] == [1.0, 2.0, 4.0, 8.0,
                                                                                10.0, 10.0]
    assert backoff_delay(2, 0.5, 10.0, 0.0) == 1.0 and backoff_delay(2, 0.5, 10.0,
                                                                     0.999) == pytest.approx(2.0, 1e-3)
    assert backoff_delay(0, 1.0, 60.0, 0.5, (0.8, 1.2)) == pytest.approx(1.0)  # the engine's +-20 %
    assert backoff_delay(-3, 1.0, 60.0, 0.0, (1.0, 1.0)) == 1.0
