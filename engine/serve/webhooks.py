"""Stripe webhook deliveries: which ones to act on (pure apart from the clock it is given).

A delivery is acted on when its signature verifies (`signature.py`), it was not seen before and its body
is a Stripe event (`{"id": "evt_...", "object": "event", "type": ...}`). What acting means is the
caller's (`engine serve` wakes the events reader of the following syncs of the event's account); the
event's payload is never written anywhere: `/v1/events` stays the one ordering authority.

- A replayed delivery (the same signature again, within the tolerance, the only window in which it can
  verify at all) is refused like a bad signature.
- A duplicate event (the same event id in a new, valid delivery: Stripe retries when it did not get our
  2xx, and may deliver an event twice) is accepted and changes nothing, as Stripe's docs ask of receivers
  (https://docs.stripe.com/webhooks#handle-duplicate-events); refusing it would make Stripe retry it.
- Memory is bounded: signatures are forgotten once outside the tolerance, event ids after the newest
  `max_event_ids`.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from engine.serve.signature import TOLERANCE_S, SignatureError, verify
from protocol.jsonio import JSONDecodeError, loads


class Refused(ValueError):
    """A delivery that is not acted on, with the HTTP status to answer and why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    account: str | None  # a connected account's id (Connect webhooks), None for the platform's own
    livemode: bool
    duplicate: bool  # seen before: acknowledge, change nothing


class WebhookGate:
    def __init__(self, secret: str, tolerance: float = TOLERANCE_S, max_event_ids: int = 10_000):
        self.secret, self.tolerance, self.max_event_ids = secret, tolerance, max_event_ids
        self._signatures: OrderedDict[tuple[int, str], None] = OrderedDict()  # in arrival order
        self._event_ids: OrderedDict[str, None] = OrderedDict()

    def accept(self, header: str | None, body: bytes, now: float) -> Event:
        """The event a delivery carries; `Refused` when it must not be acted on."""
        try:
            signed = verify(header, body, self.secret, now, self.tolerance)
        except SignatureError as exc:
            raise Refused(400, str(exc)) from None
        self._forget_signatures(now)
        key = (signed.timestamp, signed.signature)
        if key in self._signatures:
            raise Refused(400, "a replayed delivery: this signature was already received")
        event = parse_event(body)
        self._signatures[key] = None
        duplicate = event.id in self._event_ids
        self._event_ids[event.id] = None
        self._event_ids.move_to_end(event.id)
        while len(self._event_ids) > self.max_event_ids:
            self._event_ids.popitem(last=False)
        return Event(event.id, event.type, event.account, event.livemode, duplicate)

    def _forget_signatures(self, now: float) -> None:
        while self._signatures:
            (timestamp, _), _ = next(iter(self._signatures.items()))
            if timestamp >= now - self.tolerance:
                return
            self._signatures.popitem(last=False)


def parse_event(body: bytes) -> Event:
    try:
        event = loads(body)
    except JSONDecodeError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("id"), str) \
            or not isinstance(event.get("type"), str):
        raise Refused(400, "the body is not a Stripe event (object, id and type)")
    account = event.get("account")
    return Event(event["id"], event["type"], account if isinstance(account, str) else None,
                 event.get("livemode") is True, False)
