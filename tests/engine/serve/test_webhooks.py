"""Stripe webhooks into `engine serve` over real HTTP (issue 18): the emulator delivers signed events; a
verified new one wakes the following sync's events reader at once, so a change reaches its row in
seconds although the sync polls only every 10 minutes. Missing, bad, stale and replayed signatures get
400, oversized bodies 413, duplicates 200, and none of them triggers anything (no wake-up, no request
to /v1/events)."""
from __future__ import annotations

import time

import orjson
import psycopg2
import requests
import stripe

from tests.engine.serve.conftest import WEBHOOK_SECRET

SLOW_POLL = 600  # seconds: with it only a webhook can make a change arrive quickly


def follow(server, emu, schema: str, streams: list[str]) -> dict:
    """Start a following sync and wait until its backfill is complete."""
    answer = server.post_sync(streams=streams, follow=True, schema=schema, source_config={
        "api_key": emu.api_key, "base_url": emu.url, "events_poll_interval_s": SLOW_POLL})
    assert answer.status_code == 202, answer.text
    sync_id = answer.json()["id"]

    def backfilled(info: dict) -> bool:
        streams_progress = (info["progress"] or {}).get("streams", {})
        return len(streams_progress) == len(streams) and all(s["status"] == "complete"
                                                             for s in streams_progress.values())
    return server.wait(sync_id, backfilled, what="the backfill")


def signed(body: bytes, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> dict:
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), secret,
                                                                                   timestamp),
            "Content-Type": "application/json"}


def events_requests(emu) -> list[dict]:
    return emu.requests(path="/v1/events*")


def test_a_change_reaches_postgres_through_a_webhook(emulator, serve, pg_url, pg_schema):
    emu = emulator({"dataset": {"customers": 50}})
    server = serve(emu, True)
    endpoint = emu.add_webhook_endpoint(f"{server.url}/webhooks/stripe", secret=WEBHOOK_SECRET,
                                        enabled_events=["*"])
    sync = follow(server, emu, pg_schema, ["customers"])
    customer = sorted(o["id"] for o in emu.dump("customers")["objects"])[7]
    changed_at = time.monotonic()
    emu.update("customers", customer, name="Changed through a webhook")
    deadline = changed_at + 30
    while True:
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute(f'SELECT _raw_data->>\'name\' FROM "{pg_schema}".customers WHERE id = %s',
                        (customer,))
            if cur.fetchone()[0] == "Changed through a webhook":
                break
        assert time.monotonic() < deadline, "the change did not arrive"
        time.sleep(0.05)
    latency = time.monotonic() - changed_at
    print(f"change -> row: {latency:.2f} s (polling every {SLOW_POLL} s)")
    assert latency < 15
    deliveries = emu.webhook_deliveries(endpoint=endpoint["id"])
    assert deliveries and all(d["status"] == 200 and d["outcome"] == "delivered" for d in deliveries)
    assert server.sync(sync["id"])["wakes"] >= 1
    answer = server.api.post(f"{server.url}/v1/syncs/{sync['id']}/cancel", timeout=10)
    assert answer.status_code == 202
    assert server.wait(sync["id"], lambda s: s["status"] != "cancelling")["status"] == "cancelled"


def test_bad_stale_and_replayed_signatures_get_400_and_trigger_nothing(emulator, serve, pg_schema):
    emu = emulator({"dataset": {"customers": 10}})
    server = serve(emu, True, "--max-webhook-bytes", "4096")
    sync = follow(server, emu, pg_schema, ["customers"])
    hook = f"{server.url}/webhooks/stripe"
    emu.clear_requests()
    now = int(time.time())
    body = orjson.dumps({"id": "evt_1HookTest", "object": "event", "type": "customer.updated",
                         "livemode": False, "created": now, "data": {"object": {"id": "cus_x"}}})
    refused = {
        "missing": {"Content-Type": "application/json"},
        "bad": signed(body, secret="whsec_notTheEndpointSecret000000000"),
        "stale": signed(body, now - 600),
        "garbled": {"Stripe-Signature": "t=abc,v1=zz"},
    }
    for name, headers in refused.items():
        answer = requests.post(hook, data=body, headers=headers, timeout=10)
        assert answer.status_code == 400, (name, answer.text)
    big = orjson.dumps({"id": "evt_big", "object": "event", "type": "x", "pad": "x" * 5000})
    assert requests.post(hook, data=big, headers=signed(big), timeout=10).status_code == 413
    not_event = b'{"hello": "world"}'
    assert requests.post(hook, data=not_event, headers=signed(not_event), timeout=10).status_code == 400
    time.sleep(1.0)  # a wake-up would have reached the source by now
    assert server.sync(sync["id"])["wakes"] == 0
    assert events_requests(emu) == []

    good = signed(body, now)
    first = requests.post(hook, data=body, headers=good, timeout=10)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False, "woken": 1}
    server.wait(sync["id"], lambda s: s["wakes"] == 1, what="the wake-up")
    deadline = time.monotonic() + 10
    while not events_requests(emu):
        assert time.monotonic() < deadline, "the woken source did not read /v1/events"
        time.sleep(0.05)
    time.sleep(0.5)
    emu.clear_requests()
    replay = requests.post(hook, data=body, headers=good, timeout=10)  # the same delivery again
    assert replay.status_code == 400 and "replayed" in replay.text
    retry = requests.post(hook, data=body, headers=signed(body, now + 1), timeout=10)  # the same event again
    assert retry.status_code == 200 and retry.json()["duplicate"] is True and retry.json()["woken"] == 0
    time.sleep(1.0)
    assert server.sync(sync["id"])["wakes"] == 1 and events_requests(emu) == []


def test_webhooks_are_off_without_the_secret(emulator, serve):
    server = serve(emulator({"dataset": {"customers": 5}}))
    body = b'{"id": "evt_1", "object": "event", "type": "customer.created"}'
    answer = requests.post(f"{server.url}/webhooks/stripe", data=body, headers=signed(body), timeout=10)
    assert answer.status_code == 404 and "STRIPE_WEBHOOK_SECRET" in answer.text
