"""Webhook delivery (issue 18) over real HTTP: the emulator POSTs its events to endpoints, signed as
Stripe signs (checked with Stripe's own Python library), retries failures with backoff (compressed by
retry_scale), keeps a delivery log, honours enabled_events, connect and livemode, and counts
pending_webhooks on the event."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests
import stripe

from stripe_emulator.webhooks import LIVE_RETRY_DELAYS, TEST_RETRY_DELAYS

from .conftest import StripeHttp

SECRET = "whsec_emulatortestsecret0000000000001"
CONNECTED = "acct_1WebhookConn0001"


class Receiver:
    """A webhook endpoint: records each request, answers the next scripted status (then 200), and can
    sleep before answering (a timeout)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    delay = receiver.delay
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [orjson.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def emu(make_emulator, receiver):
    return make_emulator(
        {
            "connected_accounts": {CONNECTED: {"dataset": {"customers": 2}}},
            "webhooks": {"endpoints": [{"url": receiver.url, "secret": SECRET}], "retry_scale": 0.001},
        }
    )


def test_events_are_delivered_signed_as_stripe_signs(emu, receiver):
    cust = emu.create("customers", name="Hooked")
    emu.update("customers", cust["id"], name="Hooked again")
    assert emu.wait_webhooks(10)
    assert [e["type"] for e in receiver.events()] == ["customer.created", "customer.updated"]
    listed = {e["id"]: e for e in StripeHttp(emu.url, emu.api_key).list_all("/v1/events")}
    for req in receiver.requests:
        body, headers = req["body"], req["headers"]
        # Stripe's own library accepts it (5-minute tolerance on t)
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert event["id"] in listed
        parts = dict(p.split("=", 1) for p in headers["Stripe-Signature"].split(","))
        assert set(parts) == {"t", "v1", "v0"}  # test mode: Stripe adds a fake v0 signature
        expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert parts["v1"] == expected and abs(int(parts["t"]) - req["at"]) < 5
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_someoneelse")
    # the payload is the event as /v1/events lists it (pending_webhooks now 0: delivered)
    delivered = receiver.events()[0]
    assert {**delivered, "pending_webhooks": 0} == listed[delivered["id"]]
    assert delivered["pending_webhooks"] == 1 and listed[delivered["id"]]["pending_webhooks"] == 0
    log = emu.webhook_deliveries()
    assert [e["outcome"] for e in log] == ["delivered", "delivered"] and log[0]["status"] == 200
    assert SECRET not in str(log) and SECRET not in str(emu.webhook_endpoints())


def test_failures_are_retried_with_backoff_then_given_up(emu, receiver):
    emu.set_webhook_settings(retry_scale=0.0002)
    receiver.statuses = [500, 400, 503]  # three failures, then the 4th attempt succeeds
    emu.create("customers", name="flaky")
    assert emu.wait_webhooks(30)
    log = emu.webhook_deliveries()
    assert [(e["attempt"], e["status"], e["outcome"]) for e in log] == [
        (1, 500, "retrying"),
        (2, 400, "retrying"),
        (3, 503, "retrying"),
        (4, 200, "delivered"),
    ]
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    scaled = [d * 0.0002 for d in TEST_RETRY_DELAYS]  # 5 min, 30 min, 3 h -> 0.06 s, 0.36 s, 2.16 s
    assert [e["next_attempt_in_s"] for e in log[:3]] == pytest.approx(scaled)
    assert all(g >= s * 0.9 for g, s in zip(gaps, scaled, strict=True))
    assert len({r["headers"]["Stripe-Signature"] for r in receiver.requests}) >= 2  # each attempt re-signed
    # a 4th failure in test mode: given up after 3 retries, the event stays pending
    receiver.statuses = [500] * 4
    emu.set_webhook_settings(retry_scale=0.0001)
    emu.create("customers", name="never")
    assert emu.wait_webhooks(30)
    last = [e for e in emu.webhook_deliveries() if e["type"] == "customer.created"][-4:]
    assert [e["outcome"] for e in last] == ["retrying"] * 3 + ["failed"]
    ev = StripeHttp(emu.url, emu.api_key).ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["pending_webhooks"] == 1
    http = StripeHttp(emu.url, emu.api_key)
    assert [e["id"] for e in http.list_all("/v1/events", {"delivery_success": "false"})] == [ev["id"]]
    assert ev["id"] not in {e["id"] for e in http.list_all("/v1/events", {"delivery_success": "true"})}
    assert len(LIVE_RETRY_DELAYS) > len(TEST_RETRY_DELAYS) and sum(LIVE_RETRY_DELAYS) == 3 * 86400


def test_timeouts_and_unreachable_endpoints_are_failures(make_emulator, receiver):
    emu = make_emulator({"webhooks": {"retry_scale": 0.0001, "timeout_s": 0.2}})
    receiver.delay = 0.5
    slow = emu.add_webhook_endpoint(receiver.url, secret=SECRET)
    dead = emu.add_webhook_endpoint("http://127.0.0.1:9/nothing-listens-here")
    assert dead["secret"].startswith("whsec_") and "secret" not in emu.webhook_endpoints()[1]
    emu.create("products", name="p")
    assert emu.wait_webhooks(30)
    by_ep = {ep: [e for e in emu.webhook_deliveries(endpoint=ep)] for ep in (slow["id"], dead["id"])}
    assert [e["outcome"] for e in by_ep[slow["id"]]] == ["retrying"] * 3 + ["failed"]
    assert all(e["status"] is None and "timed out" in e["error"] for e in by_ep[slow["id"]])
    assert all(e["status"] is None and "Connection" in e["error"] for e in by_ep[dead["id"]])


def test_enabled_events_connect_and_livemode_filters(make_emulator, receiver):
    emu = make_emulator(
        {
            "live_key": "sk_live_webhooktest0001",
            "connected_accounts": {CONNECTED: {"dataset": {"customers": 1}}},
        }
    )
    platform = emu.add_webhook_endpoint(receiver.url, secret=SECRET, enabled_events=["product.created"])
    connect = emu.add_webhook_endpoint(receiver.url, secret=SECRET, connect=True)
    live = emu.add_webhook_endpoint(receiver.url, secret=SECRET, livemode=True)
    emu.create("customers", name="not wanted")  # platform, test mode: no endpoint takes customer.*
    emu.create("products", name="wanted")
    emu.create("customers", {"name": "connected"}, account=CONNECTED)
    emu.create("customers", {"name": "live"}, livemode=True)
    emu.revoke_account(CONNECTED)
    assert emu.wait_webhooks(10)
    got = {(e["endpoint"], e["type"], e["account"], e["livemode"]) for e in emu.webhook_deliveries()}
    assert got == {
        (platform["id"], "product.created", None, False),
        (connect["id"], "customer.created", CONNECTED, False),
        (connect["id"], "account.application.deauthorized", CONNECTED, False),
        (live["id"], "customer.created", None, True),
    }
    bodies = {e["type"] + str(e.get("account")): e for e in receiver.events()}
    assert bodies["customer.created" + CONNECTED]["account"] == CONNECTED
    live_req = next(r for r in receiver.requests if b'"livemode":true' in r["body"])
    assert "v0=" not in live_req["headers"]["Stripe-Signature"]  # only test-mode events carry v0


def test_control_api_endpoints_log_and_settings(emu, receiver):
    base = emu.url + "/_emulator/webhooks"
    r = requests.post(base, json={"url": receiver.url, "enabled_events": ["coupon.created"]})
    assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
    hook = r.json()
    listed = requests.get(base).json()["data"]
    assert len(listed) == 2 and all("secret" not in e for e in listed)
    assert requests.post(f"{base}/{hook['id']}", json={"status": "disabled"}).json()["status"] == "disabled"
    emu.create("coupons", percent_off=5.0)
    assert requests.post(f"{base}/wait", json={"timeout": 10}).json() == {"idle": True}
    deliveries = requests.get(f"{base}/deliveries").json()
    assert [d["endpoint"] for d in deliveries["data"]] == [listed[0]["id"]] and deliveries["pending"] == 0
    assert requests.get(f"{base}/deliveries", params={"endpoint": hook["id"]}).json()["data"] == []
    assert requests.post(f"{base}/settings", json={"retry_scale": 0.5}).json()["retry_scale"] == 0.5
    assert requests.post(f"{base}/settings", json={"retry_scale": -1}).status_code == 400
    assert requests.delete(f"{base}/{hook['id']}").json()["deleted"] is True
    assert requests.post(base, json={"url": "ftp://nope"}).status_code == 400
    assert requests.post(base, json={"url": receiver.url, "secret": "plain"}).status_code == 400


def test_stale_signatures_on_demand(emu, receiver):
    hook = emu.webhook_endpoints()[0]
    emu.update_webhook_endpoint(hook["id"], sign_offset_s=-600)
    emu.create("customers", name="stale")
    assert emu.wait_webhooks(10)
    req = receiver.requests[-1]
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(req["body"], req["headers"]["Stripe-Signature"], SECRET)
    stripe.Webhook.construct_event(req["body"], req["headers"]["Stripe-Signature"], SECRET, tolerance=900)


def test_bad_webhook_config_is_refused():
    from stripe_emulator import EmulatorConfig

    for bad in (
        {"endpoints": [{"url": "http://x", "secret": "nope"}]},
        {"endpoints": [{"url": "http://x", "colour": "blue"}]},
        {"retry_scale": 0},
        [{"secret": SECRET}],
    ):
        with pytest.raises(ValueError):
            EmulatorConfig.from_dict({"webhooks": bad})
