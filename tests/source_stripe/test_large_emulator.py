"""100k objects in one stream (with a 1,000-object second): exact, within the request budget (~7 s)."""
from __future__ import annotations

import math

from tests.source_stripe.conftest import assert_exact, list_requests, read


def test_hundred_thousand_objects_exact_and_within_request_budget(emulator):
    emu = emulator({"profile": "small", "dataset": {
        "customers": {"count": 99_000, "years": 4, "skew": 2, "bursts": [{"at": -3000, "count": 1000}]}}})
    msgs = read(emu, ["customers"])
    assert_exact(msgs, emu, "customers")
    made = len(list_requests(emu, "/v1/customers"))
    minimum = math.ceil(100_000 / 100)
    print(f"100k: {made} requests for a minimum of {minimum} pages (x{made / minimum:.3f})")
    assert made <= 1.3 * minimum + 5
