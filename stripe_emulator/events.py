"""The ``/v1/events`` log of one account scope: Stripe-shaped events with a retention window.

Events live in a ``ResourceStore`` (so listing, cursors and filters work exactly like other lists);
event ids encode a sequence number so that events created in the same second list newest first.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from .dataset import FieldGen
from .ids import base62, token
from .store import ResourceStore
from .template import ObjectTemplate

# Stripe names some events after the parent resource.
EVENT_PREFIX = {
    "subscription": "customer.subscription",
    "discount": "customer.discount",
    "tax_id": "customer.tax_id",
}


def event_prefix(obj: str) -> str:
    return EVENT_PREFIX.get(obj, obj)


class EventLog:
    def __init__(self, api_version: str, livemode: bool, account: str | None, material: str):
        self.api_version, self.livemode, self.account, self.material = (
            api_version,
            livemode,
            account,
            material,
        )
        tpl = ObjectTemplate({"id": None, "object": "event"}, [])
        gen = FieldGen("event", {}, None, livemode, 0, {}, 0)
        self.store = ResourceStore("event", "created", tpl, gen, [], None)
        self.seq = 0

    def append(
        self,
        type_: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None,
        created: int,
        retention_cutoff: int,
    ) -> dict[str, Any]:
        self.seq += 1
        eid = "evt_1" + base62(self.seq, 7) + token(f"{self.material}:evt:{self.seq}", 16)
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event: dict[str, Any] = {"id": eid, "object": "event"}
        if self.account:
            event["account"] = self.account
        event.update(
            {
                "api_version": self.api_version,
                "created": created,
                "data": data,
                "livemode": self.livemode,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": type_,
            }
        )
        self.store.put(event, created)
        self.prune(retention_cutoff)
        return event

    def prune(self, cutoff: int) -> None:
        keys = self.store.keys
        k = bisect_left(keys, (cutoff,))
        if k:
            for _, eid in keys[:k]:
                self.store.ts_by_id.pop(eid, None)
                self.store.overrides.pop(eid, None)
                self.store.override_bytes.pop(eid, None)
            del keys[:k]
