"""The pure parts of `engine serve`: Stripe's signature (checked against Stripe's own library), replays
and duplicates, the wake-up debounce, the bounded message log."""
from __future__ import annotations

import time

import orjson
import pytest
import stripe

from engine.serve.jobs import Debounce
from engine.serve.message_log import MessageLog
from engine.serve.signature import SignatureError, expected_signature, verify
from engine.serve.webhooks import Refused, WebhookGate
from protocol import messages
from protocol.jsonio import dumps_line

SECRET = "whsec_unitTestSecret0000000000000001"
EVENT = orjson.dumps({"id": "evt_1", "object": "event", "type": "customer.updated", "livemode": False,
                      "created": 1700000000, "data": {"object": {"id": "cus_1", "object": "customer"}}})


def stripe_header(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The header as Stripe's own library computes it."""
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def stripe_accepts(header: str, body: bytes, secret: str = SECRET) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body.decode(), header, secret, 300)
    except stripe.SignatureVerificationError:
        return False
    return True


def test_signatures_agree_with_stripes_library():
    now = int(time.time())
    good = stripe_header(EVENT, timestamp=now)
    other_secret = stripe_header(EVENT, "whsec_someoneElse00000000000000000", now)
    cases = {
        "good": (good, EVENT, True),
        "a second v1 (a rolled secret) and a v0": (f"{other_secret},v1={good.split('v1=')[1]},v0=abc", EVENT,
                                                   True),
        "another secret": (other_secret, EVENT, False),
        "a changed body": (good, EVENT + b" ", False),
        "stale": (stripe_header(EVENT, timestamp=now - 301), EVENT, False),
        "only v0": (good.replace("v1=", "v0="), EVENT, False),
        "no timestamp": (good.split(",", 1)[1], EVENT, False),
    }
    for name, (header, body, ok) in cases.items():
        assert stripe_accepts(header, body) == ok, name
        try:
            verify(header, body, SECRET, now)
            ours = True
        except SignatureError:
            ours = False
        assert ours == ok, name
    assert verify(good, EVENT, SECRET, now + 299).timestamp == now
    with pytest.raises(SignatureError, match="tolerance"):
        verify(stripe_header(EVENT, timestamp=now + 600), EVENT, SECRET, now)  # from the future: refused too
    with pytest.raises(SignatureError, match="no Stripe-Signature"):
        verify(None, EVENT, SECRET, now)
    with pytest.raises(SignatureError, match="not an integer"):
        verify("t=abc,v1=00", EVENT, SECRET, now)
    assert expected_signature(SECRET, now, EVENT) == good.split("v1=")[1]


def test_gate_refuses_replays_and_acknowledges_duplicates_without_acting():
    gate = WebhookGate(SECRET)
    now = time.time()
    header = stripe_header(EVENT, timestamp=int(now))
    first = gate.accept(header, EVENT, now)
    assert (first.id, first.account, first.duplicate) == ("evt_1", None, False)
    with pytest.raises(Refused, match="replayed") as replay:
        gate.accept(header, EVENT, now + 1)  # the very same delivery again
    assert replay.value.status == 400
    retry = gate.accept(stripe_header(EVENT, timestamp=int(now) + 60), EVENT, now + 60)  # Stripe's retry
    assert retry.duplicate
    connect = orjson.dumps({"id": "evt_2", "object": "event", "type": "charge.updated", "account": "acct_1"})
    assert gate.accept(stripe_header(connect, timestamp=int(now)), connect, now).account == "acct_1"
    not_event = b'{"id": "x"}'
    with pytest.raises(Refused, match="not a Stripe event"):
        gate.accept(stripe_header(not_event, timestamp=int(now)), not_event, now)
    with pytest.raises(Refused, match="not JSON"):
        gate.accept(stripe_header(b"[", timestamp=int(now)), b"[", now)


def test_gate_memory_is_bounded():
    gate = WebhookGate(SECRET, max_event_ids=50)
    start = time.time()
    for i in range(500):
        body = orjson.dumps({"id": f"evt_{i}", "object": "event", "type": "customer.created"})
        now = start + i  # one delivery a second: signatures older than 300 s are forgotten
        gate.accept(stripe_header(body, timestamp=int(now)), body, now)
    assert len(gate._event_ids) == 50 and len(gate._signatures) <= 302


def test_debounce_sends_the_first_at_once_then_one_per_interval():
    d = Debounce(1.0)
    assert d.poke(10.0) == 0.0  # at once
    assert d.poke(10.2) == pytest.approx(0.8)  # one at the end of the interval
    assert d.poke(10.5) is None and d.poke(10.9) is None  # already scheduled: coalesced
    d.fired(11.0)
    assert d.poke(11.5) == pytest.approx(0.5)
    d.fired(12.0)
    assert d.poke(20.0) == 0.0


def test_message_log_keeps_the_catalog_and_counts_what_it_dropped():
    seen = []
    log = MessageLog(seen.append, max_bytes=2000)
    catalog = dumps_line(messages.catalog([]))
    log.write(catalog)
    for i in range(100):
        log.write(dumps_line(messages.log("info", f"line {i:03d}")))
    log.write(dumps_line(messages.eof("succeeded", False, {"streams": {}, "global": None}, {})))
    assert len(seen) == 102  # every message reached on_message once
    chunk = log.read(0)
    assert chunk.lines[0] == catalog and chunk.dropped > 0 and not chunk.closed
    assert b'"eof"' in chunk.lines[-1]
    assert chunk.dropped + len(chunk.lines) == 102
    log.close()
    assert log.read(chunk.next).closed and log.read(chunk.next).lines == []
    reader = MessageLog()  # a line written in two parts is one line
    a, b = dumps_line(messages.log("info", "a")), dumps_line(messages.log("info", "b"))
    reader.write(a + b[:10])
    first = reader.read(0)
    assert first.lines == [a] and first.next == 1
    reader.write(b[10:])
    assert reader.read(first.next).lines == [b]
