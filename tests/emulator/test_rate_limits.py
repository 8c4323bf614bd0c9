"""Stripe's documented rate limits: a global budget per account (live 100/s, test 25/s) and 25/s per
endpoint, measured with a load generator driving several endpoints at once, plus the 429's shape, the
request log's limiter field, the settings and the --record file."""

from __future__ import annotations

import bisect
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
import requests

from stripe_emulator import start_emulator

from .conftest import START, StripeHttp

LIVE_KEY = "sk_live_emulator_limits"
DATASET = {"customers": 30, "products": 30, "prices": 30, "charges": 30, "invoices": 30, "coupons": 30}
ENDPOINTS = ["/v1/customers", "/v1/products", "/v1/prices", "/v1/charges", "/v1/invoices", "/v1/coupons"]
LIVE_BUDGETS = {"global": 100, "endpoint": 25}
# the limiter's own clock (limiter_time) counts (t - 1 s, t]; 100 us less absorbs the float rounding of
# Unix seconds, never a request the limiter counted
WINDOW = 0.9999
OFFERED = 30  # requests a second on each path that keep its budget (25) busy: the global floor applies
FLOOR = 85  # of the global 100, in each such whole second (a sliding window admits in bursts)


def load(url: str, key: str, paths: list[str], rate: float, seconds: float) -> None:
    """Offer ``rate`` requests/s to each path, one thread and keep-alive connection per path."""

    def drive(path: str) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {key}"
        start = time.monotonic()
        n = 0
        while time.monotonic() < start + seconds:
            s.get(url + path, params={"limit": 1}, timeout=10)
            n += 1
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
        s.close()

    threads = [threading.Thread(target=drive, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def busiest_window(times: list[float]) -> int:
    """Most requests inside any window of WINDOW seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - WINDOW:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def admitted_in_the_second_before(times: list[float], t: float) -> int:
    """Admitted requests (sorted limiter times) in the second before ``t``, the window the limiter judged
    ``t`` by; 1 s + 100 us, so rounding never drops one it counted."""
    return bisect.bisect_left(times, t) - bisect.bisect_left(times, t - 1.0001)


def unjustified_refusals(entries: list[dict[str, Any]], budgets: dict[str, int]) -> list[dict[str, Any]]:
    """Each 429 whose limiter was not full when it refused: fewer admitted requests in the second before
    it than the budget (``global``: all of the entries; ``endpoint``: those on its path, each test path
    being its own endpoint). Independent of how fast the client offered them."""
    ok = sorted((e["limiter_time"], e["path"]) for e in entries if e["status"] == 200)
    admitted: dict[str, list[float]] = {"global": [t for t, _ in ok]}
    for t, path in ok:
        admitted.setdefault(path, []).append(t)
    return [
        e for e in entries if e["status"] == 429
        and admitted_in_the_second_before(admitted["global" if e["limiter"] == "global" else e["path"]],
                                          e["limiter_time"]) < budgets[e["limiter"]]
    ]


def admitted_in_busy_seconds(entries: list[dict[str, Any]], paths: list[str]) -> list[int]:
    """Admitted requests in each whole second (since the first one, the last partial second left out) in
    which every path was offered at least OFFERED requests: seconds that kept the global budget busy,
    whatever the client's speed. A sliding window admits a budget's worth at the start of each second,
    so whole seconds are the unit."""
    first = min(e["limiter_time"] for e in entries)
    seconds = int(max(e["limiter_time"] for e in entries) - first)
    admitted, offered = [0] * seconds, [Counter() for _ in range(seconds)]
    for e in entries:
        k = int(e["limiter_time"] - first)
        if k < seconds:
            offered[k][e["path"]] += 1
            admitted[k] += e["status"] == 200
    return [n for n, o in zip(admitted, offered, strict=True) if all(o[p] >= OFFERED for p in paths)]


def assert_held_to_stripes_budgets(entries: list[dict[str, Any]], paths: list[str]) -> None:
    """No window admits more than a budget, no refusal without a full budget, and each second the load
    kept busy reaches the global budget."""
    for path in paths:
        ok = [e["limiter_time"] for e in entries if e["path"] == path and e["status"] == 200]
        assert busiest_window(ok) <= LIVE_BUDGETS["endpoint"], path
    admitted = [e["limiter_time"] for e in entries if e["status"] == 200]
    assert busiest_window(admitted) <= LIVE_BUDGETS["global"]
    assert {e["limiter"] for e in entries if e["status"] == 429} <= set(LIVE_BUDGETS)
    assert unjustified_refusals(entries, LIVE_BUDGETS) == []
    busy = admitted_in_busy_seconds(entries, paths)
    assert all(n >= FLOOR for n in busy), busy


@pytest.fixture
def live_emu():
    emu = start_emulator(
        {"start_time": START, "live_key": LIVE_KEY, "dataset": DATASET, "rate_limits": True},
        profile="small",
    )
    yield emu
    emu.stop()


def _live_entries(emu) -> list[dict[str, Any]]:
    return [e for e in emu.requests() if e["livemode"]]


def test_four_streams_each_held_to_its_endpoint_budget_while_the_account_reaches_the_global_one(live_emu):
    # the live connected user of issue 13: 4 endpoints offered 40/s each = 160/s against 4 x 25 and 100
    load(live_emu.url, LIVE_KEY, ENDPOINTS[:4], rate=40, seconds=4)
    entries = _live_entries(live_emu)
    assert_held_to_stripes_budgets(entries, ENDPOINTS[:4])
    for path in ENDPOINTS[:4]:
        assert any(e["path"] == path and e["status"] == 429 for e in entries), path
    assert "endpoint" in {e["limiter"] for e in entries}


def test_six_streams_share_the_global_budget(live_emu):
    load(live_emu.url, LIVE_KEY, ENDPOINTS, rate=40, seconds=3)
    entries = _live_entries(live_emu)
    assert_held_to_stripes_budgets(entries, ENDPOINTS)
    assert "global" in {e["limiter"] for e in entries}


def until_refused(http: StripeHttp, cap: int = 300) -> list[requests.Response]:
    """GET the list until the first 429 (at most ``cap`` requests): a budget of 25/s is used up however
    slowly the requests go, since the 26th within any second is refused."""
    answers = []
    while not answers or answers[-1].status_code != 429:
        assert len(answers) < cap, f"no 429 in {cap} requests"
        answers.append(http.get("/v1/customers", {"limit": 1}))
    return answers


def test_the_429_is_stripes(live_emu):
    http = StripeHttp(live_emu.url, live_emu.api_key)  # test mode: 25/s global
    answers = until_refused(http)
    assert [r.status_code for r in answers[:25]] == [200] * 25
    log = live_emu.requests()
    assert busiest_window([e["limiter_time"] for e in log if e["status"] == 200]) <= 25
    assert unjustified_refusals(log, {"global": 25}) == [] and log[-1]["limiter"] == "global"
    r = answers[-1]
    err = r.json()["error"]
    assert err["code"] == "rate_limit" and err["type"] == "invalid_request_error"
    assert err["message"] == (
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
    )
    assert err["doc_url"] == "https://stripe.com/docs/error-codes/rate-limit"
    assert "Stripe-Should-Retry" not in r.headers and r.headers["Request-Id"].startswith("req_")
    live_emu.set_rate_limits({"should_retry": False})
    answers = until_refused(http)
    assert [r.status_code for r in answers[:25]] == [200] * 25
    assert answers[-1].headers["Stripe-Should-Retry"] == "false"


def test_budgets_are_per_account_mode_and_endpoint(live_emu):
    live_emu.set_rate_limits({"test": 1000, "endpoint": 3})
    http = StripeHttp(live_emu.url, live_emu.api_key)
    ids = [o["id"] for o in live_emu.dump("customers")["objects"][:4]]
    # GET /v1/customers/{id} for different ids is one endpoint; the list is another
    assert [http.get(f"/v1/customers/{i}").status_code for i in ids] == [200, 200, 200, 429]
    assert [http.get("/v1/customers").status_code for _ in range(4)] == [200, 200, 200, 429]
    live = StripeHttp(live_emu.url, LIVE_KEY)  # live mode has budgets of its own
    assert live.get("/v1/customers").status_code == 200
    log = live_emu.requests(status=429)
    assert [e["limiter"] for e in log] == ["endpoint", "endpoint"]
    assert live_emu.set_rate_limits({"endpoint": 100, "endpoints": {"/v1/customers": 1}})["endpoints"][
        "/v1/customers"
    ] == 1
    assert [http.get("/v1/customers").status_code for _ in range(2)] == [200, 429]


def test_stripe_limits_are_off_unless_asked(make_emulator):
    emu = make_emulator()
    http = StripeHttp(emu.url, emu.api_key)
    assert all(http.get("/v1/customers", {"limit": 1}).status_code == 200 for _ in range(60))
    assert emu.rate_limits() == {"enabled": False}
    limits = emu.set_rate_limits()
    assert limits["enabled"] and (limits["live"], limits["test"], limits["endpoint"]) == (100, 25, 25)
    assert limits["endpoints"]["/v1/customers/search"] == 20  # Stripe's Search API budget
    assert emu.set_rate_limits(None) == {"enabled": False}


def test_control_api_and_config_checks(make_emulator):
    emu = make_emulator()
    r = requests.post(emu.url + "/_emulator/rate_limits", json={"test": 2})
    assert r.status_code == 200 and r.json()["test"] == 2
    assert requests.get(emu.url + "/_emulator/rate_limits").json()["enabled"] is True
    assert requests.post(emu.url + "/_emulator/rate_limits", json={"tset": 2}).status_code == 400
    assert requests.delete(emu.url + "/_emulator/rate_limits").json() == {"enabled": False}
    for bad in ({"live": 0}, {"nope": 1}, "fast", {"should_retry": "yes"}):
        with pytest.raises(ValueError):
            start_emulator({"rate_limits": bad})


def test_record_file_and_cli_limits(tmp_path):
    record, ready = tmp_path / "requests.jsonl", tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--port", "0", "--test-limit", "2", "--record", str(record),
         "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        info = orjson.loads(ready.read_bytes())
        http = StripeHttp(info["url"], info["api_key"], {"Stripe-Version": "2023-08-16"})
        statuses = [http.get("/v1/customers", {"limit": 2, "expand[]": "data.test_clock"}).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 429]
        lines = [orjson.loads(line) for line in record.read_bytes().splitlines()]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [e["status"] for e in lines] == statuses
    first = lines[0]
    assert first["method"] == "GET" and first["path"] == "/v1/customers"
    assert first["query"] == {"limit": "2", "expand[]": "data.test_clock"}
    assert first["headers"]["Stripe-Version"] == "2023-08-16" and "Authorization" not in first["headers"]
    assert first["key"] == "sk_test_****ator" and info["api_key"] not in record.read_text()
    assert [e["limiter"] for e in lines] == [None, None, "global"]
