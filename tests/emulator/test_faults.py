"""Faults: per-key token-bucket rate limit, random 500s, lock_timeout 429s, dropped connections,
latency, one-off scripted faults; configurable at start and at runtime; reproducible from the seed."""

from __future__ import annotations

import time

import pytest
import requests

from .conftest import StripeHttp

LIVE_KEY = "sk_live_faultslive0001"


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator({"live_key": LIVE_KEY})


@pytest.fixture()
def http(emu):
    emu.reset_faults()
    yield StripeHttp(emu.url, emu.api_key)
    emu.reset_faults()


def set_faults(emu, **settings):
    r = requests.post(emu.url + "/_emulator/faults", json=settings)
    assert r.status_code == 200, r.text
    return r.json()


def test_defaults_are_off(emu, http):
    f = requests.get(emu.url + "/_emulator/faults").json()
    assert f["rate_limit"] is None and f["error_rate"] == f["drop_rate"] == f["lock_timeout_rate"] == 0
    assert f["latency"]["ms"] == 0
    assert all(http.get("/v1/customers").status_code == 200 for _ in range(30))


def test_rate_limit_token_bucket_per_key(emu, http):
    set_faults(emu, rate_limit={"rate": 4, "burst": 5, "should_retry": 1.0})
    started = time.monotonic()
    statuses: list[int] = []
    while not statuses or statuses[-1] != 429:  # a burst of 5, then refused once the refill falls behind
        assert len(statuses) < 100, "the bucket never refused"
        refused_sent = time.monotonic()  # the bucket judged the request at or after this instant
        r = http.get("/v1/customers")
        statuses.append(r.status_code)
    refilled = int((time.monotonic() - started) * 4)  # tokens added at most while the requests ran
    assert statuses[:5] == [200] * 5
    assert statuses.count(200) <= 5 + refilled, (statuses, refilled)
    err = r.json()["error"]
    assert err["code"] == "rate_limit" and err["type"] == "invalid_request_error"
    assert err["message"].startswith("Request rate limit exceeded.")
    assert r.headers["Stripe-Should-Retry"] == "true"
    live = StripeHttp(emu.url, LIVE_KEY)  # another key has its own bucket
    assert live.get("/v1/customers").status_code == 200
    # Refill at 4 tokens/s: the refused request left less than one token; after a pause of 0.3 s (1.2
    # tokens) at least one request passes, and no more than the tokens the measured time (that request
    # sent .. the next refusal answered) can have added. Bounds, not an exact count: on a loaded machine
    # each request itself may take a good part of 250 ms.
    time.sleep(0.3)
    passed = 0
    while (status := http.get("/v1/customers").status_code) == 200:
        passed += 1
        assert passed <= 5, "the bucket never refused again"
    assert status == 429
    refill = (time.monotonic() - refused_sent) * 4
    assert 1 <= passed <= int(refill) + 1, (passed, refill)


def test_rate_limit_should_retry_mix(emu, http):
    set_faults(emu, rate_limit={"rate": 1, "burst": 1, "should_retry": 0.5})
    http.get("/v1/customers")
    headers = [http.get("/v1/customers").headers.get("Stripe-Should-Retry") for _ in range(40)]
    assert headers.count("true") > 5 and headers.count(None) > 5


def test_random_500s(emu, http):
    set_faults(emu, error_rate=1.0)
    r = http.get("/v1/customers")
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "api_error"
    assert r.headers["Request-Id"].startswith("req_")
    set_faults(emu, error_rate=0.3)
    statuses = [http.get("/v1/customers").status_code for _ in range(100)]
    assert 10 < statuses.count(500) < 55 and statuses.count(200) + statuses.count(500) == 100


def test_lock_timeout(emu, http):
    set_faults(emu, lock_timeout_rate=1.0)
    r = http.get("/v1/charges")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "lock_timeout"
    assert r.headers["Stripe-Should-Retry"] == "true"


def test_dropped_connections(emu, http):
    set_faults(emu, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        http.get("/v1/customers")
    set_faults(emu, drop_rate=0.0)
    assert http.get("/v1/customers").status_code == 200  # a fresh connection works
    log = emu.requests(path="/v1/customers")
    assert any(e["fault"] == "drop" and e["status"] == 0 for e in log)


def test_latency(emu, http):
    set_faults(emu, latency={"ms": 120, "jitter_ms": 30, "distribution": "exponential"})
    t0 = time.monotonic()
    assert http.get("/v1/customers").status_code == 200
    assert time.monotonic() - t0 >= 0.12  # the injected delay is a lower bound, not a speed claim
    set_faults(emu, latency={"ms": 0, "jitter_ms": 0})
    assert emu.requests(path="/v1/customers")[-1]["status"] == 200


def test_scripted_faults_and_paths(emu, http):
    set_faults(
        emu,
        script=[
            {"kind": "error", "path": "/v1/customers", "count": 2},
            {"kind": "rate_limit", "path": "/v1/charges", "count": 1, "should_retry": False},
        ],
    )
    assert http.get("/v1/products").status_code == 200
    assert [http.get("/v1/customers").status_code for _ in range(3)] == [500, 500, 200]
    r = http.get("/v1/charges")
    assert r.status_code == 429 and "Stripe-Should-Retry" not in r.headers
    assert http.get("/v1/charges").status_code == 200
    set_faults(emu, error_rate=1.0, paths=["/v1/invoices"])
    assert http.get("/v1/customers").status_code == 200
    assert http.get("/v1/invoices").status_code == 500


def test_fault_pattern_is_reproducible(make_emulator):
    def pattern(seed: int) -> list[int]:
        emu = make_emulator({"seed": seed, "faults": {"error_rate": 0.3, "lock_timeout_rate": 0.1}})
        http = StripeHttp(emu.url, emu.api_key)
        return [http.get("/v1/customers").status_code for _ in range(40)]

    a, b, c = pattern(11), pattern(11), pattern(12)
    assert a == b and a != c and 500 in a and 429 in a


def test_reset_over_http(emu, http):
    set_faults(emu, error_rate=1.0)
    assert http.get("/v1/customers").status_code == 500
    r = requests.delete(emu.url + "/_emulator/faults")
    assert r.status_code == 200 and r.json()["error_rate"] == 0
    assert http.get("/v1/customers").status_code == 200


def test_bad_fault_settings_are_refused(emu):
    for bad in (
        {"error_rate": 2},
        {"nonsense": 1},
        {"rate_limit": {"rate": 0}},
        {"script": [{"kind": "explode"}]},
    ):
        assert requests.post(emu.url + "/_emulator/faults", json=bad).status_code == 400
