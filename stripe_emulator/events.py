"""The ``/v1/events`` log of one account scope: Stripe-shaped events with a retention window.

Events live in a ``ResourceStore`` (so listing, cursors and filters work exactly like other lists);
event ids encode a sequence number so that events created in the same second list newest first.
"Stripe only returns events created in the last 30 days" (List all events): events older than the
retention window are pruned before every read, and can be expired or dropped on demand.
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
        pending_webhooks: int = 0,
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
                "pending_webhooks": pending_webhooks,
                "request": {"id": None, "idempotency_key": None},
                "type": type_,
            }
        )
        self.store.put(event, created)
        self.prune(retention_cutoff)
        return event

    def prune(self, cutoff: int) -> int:
        """Forget the events created before ``cutoff``; returns how many."""
        keys = self.store.keys
        k = bisect_left(keys, (cutoff,))
        if k:
            for _, eid in keys[:k]:
                self._forget(eid)
            del keys[:k]
        return k

    def _forget(self, eid: str) -> None:
        self.store.ts_by_id.pop(eid, None)
        self.store.overrides.pop(eid, None)
        self.store.override_bytes.pop(eid, None)

    def drop(self, ids: list[str]) -> list[str]:
        """Forget these events (as if they had expired); returns the ids that were there."""
        dropped = []
        for eid in ids:
            ts = self.store.ts_by_id.get(eid)
            if ts is not None:
                del self.store.keys[bisect_left(self.store.keys, (ts, eid))]
                self._forget(eid)
                dropped.append(eid)
        return dropped

    def webhook_delivered(self, eid: str) -> None:
        """One endpoint received the event: ``pending_webhooks`` goes down by one."""
        ev = self.store.overrides.get(eid)
        if ev is not None and ev.get("pending_webhooks", 0) > 0:
            ev = {**ev, "pending_webhooks": ev["pending_webhooks"] - 1}
            self.store.put(ev, ev["created"])
