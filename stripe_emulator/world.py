"""The emulated Stripe data: account scopes (account id x live/test mode), their resource stores and
event logs, and the mutations (create/update/delete) that keep objects and events consistent.

Every public method takes the world lock; the HTTP layer and the Python API both go through here.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import orjson

from .catalog import Catalog
from .clock import Clock
from .config import EmulatorConfig, ResourceSpec
from .dataset import FieldGen, generate_keys
from .errors import ControlError
from .events import EventLog, event_prefix
from .ids import IdStyle, seed_int, token
from .store import ResourceStore
from .template import ObjectTemplate


class Scope:
    """The data one API key sees on one account in one mode."""

    def __init__(self, account_id: str, livemode: bool, connected: bool, material: str, now: int):
        self.account_id, self.livemode, self.connected, self.material = (
            account_id,
            livemode,
            connected,
            material,
        )
        self.stores: dict[str, ResourceStore] = {}
        self.refs: dict[str, list[str]] = {}
        self.events: EventLog | None = None
        self.account_obj: dict[str, Any] = {}
        self.created_at = now
        self.new_counter = 0


class World:
    def __init__(self, config: EmulatorConfig, catalog: Catalog, clock: Clock):
        self.config, self.catalog, self.clock = config, catalog, clock
        self.lock = threading.RLock()
        self.seed = config.seed
        self.platform_id = config.account_id or "acct_1" + token(f"{config.seed}:platform", 15)
        self.datasets: dict[str, dict[str, ResourceSpec]] = {
            self.platform_id: self._parse_dataset(config.resolved_dataset())
        }
        for acct, spec in config.connected_accounts.items():
            self.datasets[acct] = self._parse_dataset((spec or {}).get("dataset", {}))
        self.start_time = clock.now()
        self.retention = int(config.event_retention_days * 86400)
        self.scopes: dict[tuple[str, bool], Scope] = {}
        self._styles: dict[str, IdStyle] = {}
        self.scope(self.platform_id, False)  # build the default scope eagerly

    # ---- set-up ----------------------------------------------------------------------------------
    def _parse_dataset(self, raw: dict[str, Any]) -> dict[str, ResourceSpec]:
        out: dict[str, ResourceSpec] = {}
        for name, entry in raw.items():
            try:
                obj = self.catalog.resolve(name)
            except KeyError:
                raise ValueError(f"dataset names unknown resource {name!r}") from None
            if obj == "event":
                raise ValueError("events are not generated; they come from changes (create/update/delete)")
            out[obj] = ResourceSpec.parse(entry)
        return out

    def style(self, obj: str) -> IdStyle:
        st = self._styles.get(obj)
        if st is None:
            st = self._styles[obj] = IdStyle.from_example(self.catalog.fixture(obj).get("id"), obj)
        return st

    def _ts_slot(self, obj: str, fixture: dict[str, Any]) -> str | None:
        ts = self.catalog.timestamp_field(obj)
        return ts if ts and ts in fixture else None

    def scope(self, account_id: str, livemode: bool) -> Scope:
        key = (account_id, livemode)
        sc = self.scopes.get(key)
        if sc is not None:
            return sc
        with self.lock:
            sc = self.scopes.get(key)
            if sc is None:
                sc = self._build_scope(account_id, livemode)
                self.scopes[key] = sc
            return sc

    def _build_scope(self, account_id: str, livemode: bool) -> Scope:
        material = f"{self.seed}:{account_id}:{'live' if livemode else 'test'}"
        now = self.start_time
        sc = Scope(account_id, livemode, account_id != self.platform_id, material, now)
        sc.events = EventLog(
            self.catalog.api_version, livemode, account_id if sc.connected else None, material
        )
        keys_by_obj: dict[str, list[tuple[int, str]]] = {}
        for obj, spec in self.datasets.get(account_id, {}).items():
            if spec.total:
                keys_by_obj[obj] = generate_keys(self.style(obj), spec, now, f"{material}:{obj}")
                prefix = self.style(obj).prefix
                if prefix:
                    sc.refs[prefix] = [k[1] for k in keys_by_obj[obj]]
        for obj, keys in keys_by_obj.items():
            sc.stores[obj] = self._make_store(sc, obj, keys)
        fx = copy.deepcopy(self.catalog.fixture("account"))
        fx["id"] = account_id
        if "created" in fx:
            fx["created"] = now - 5 * 365 * 86400
        if isinstance(fx.get("external_accounts"), dict) and "url" in fx["external_accounts"]:
            fx["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
        if sc.connected and isinstance(fx.get("controller"), dict):
            fx["controller"] = {"type": "application", "is_controller": True}
        sc.account_obj = fx
        return sc

    def _make_store(self, sc: Scope, obj: str, keys: list[tuple[int, str]]) -> ResourceStore:
        fixture = self.catalog.fixture(obj)
        ts_slot = self._ts_slot(obj, fixture)
        gen = FieldGen(
            obj, fixture, ts_slot, sc.livemode, seed_int(sc.material, obj, "fields"), sc.refs, self.start_time
        )
        return ResourceStore(obj, ts_slot, ObjectTemplate(fixture, gen.slots), gen, keys, self.style(obj))

    def store(self, sc: Scope, obj: str) -> ResourceStore:
        st = sc.stores.get(obj)
        if st is None:
            with self.lock:
                st = sc.stores.get(obj)
                if st is None:
                    st = sc.stores[obj] = self._make_store(sc, obj, [])
        return st

    def account_scopes(self) -> list[str]:
        return list(self.datasets)

    # ---- events ----------------------------------------------------------------------------------
    def retention_cutoff(self) -> int:
        return self.clock.now() - self.retention

    def _emit(
        self, sc: Scope, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        assert sc.events is not None
        now = self.clock.now()
        return sc.events.append(type_, copy.deepcopy(obj), previous, now, now - self.retention)

    # ---- mutations -------------------------------------------------------------------------------
    def resolve(self, resource: str) -> str:
        try:
            return self.catalog.resolve(resource)
        except KeyError:
            raise ControlError(404, f"unknown resource {resource!r}") from None

    def create(self, sc: Scope, obj: str, fields: dict[str, Any]) -> dict[str, Any]:
        if obj == "event":
            raise ControlError(400, "events are produced by changes to other objects")
        with self.lock:
            st = self.store(sc, obj)
            now = self.clock.now()
            oid = fields.get("id")
            if oid is None:
                sc.new_counter += 1
                oid = self.style(obj).make(f"{sc.material}:{obj}:new:{sc.new_counter}")
            elif oid in st or oid in st.deleted:
                raise ControlError(400, f"{obj} {oid} already exists")
            ts = int(fields.get(st.ts_field, now)) if st.ts_field else now
            new = st.new_base(oid, ts)
            new.update(copy.deepcopy(fields))
            new["id"] = oid
            st.put(new, ts)
            self._emit(sc, f"{event_prefix(obj)}.created", new, None)
            return copy.deepcopy(new)

    def update(self, sc: Scope, obj: str, oid: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            st = self.store(sc, obj)
            if oid not in st:
                raise ControlError(404, f"no such {obj}: {oid!r}")
            cur = copy.deepcopy(st.get(oid))
            prev: dict[str, Any] = {}
            for k, v in fields.items():
                if k in ("id", "object"):
                    raise ControlError(400, f"cannot change {k}")
                old = cur.get(k)
                if k == "metadata" and isinstance(v, dict) and isinstance(old, dict):
                    # Stripe merges metadata and reports only the changed keys' old values (null if new)
                    meta = dict(old)
                    for mk, mv in v.items():
                        if mv is None or mv == "":
                            meta.pop(mk, None)
                        else:
                            meta[mk] = str(mv)
                    changed = {mk: old.get(mk) for mk in set(old) | set(meta) if old.get(mk) != meta.get(mk)}
                    if changed:
                        prev[k] = changed
                        cur[k] = meta
                    continue
                if old != v or k not in cur:
                    prev[k] = copy.deepcopy(old)
                    cur[k] = copy.deepcopy(v)
            if not prev:
                return {"object": cur, "previous_attributes": {}, "event": None}
            ts = int(cur[st.ts_field]) if st.ts_field and st.ts_field in cur else st.ts_by_id[oid]
            st.put(cur, ts)
            ev = self._emit(sc, f"{event_prefix(obj)}.updated", cur, prev)
            return {"object": copy.deepcopy(cur), "previous_attributes": prev, "event": ev["id"]}

    def delete(self, sc: Scope, obj: str, oid: str) -> dict[str, Any]:
        with self.lock:
            st = self.store(sc, obj)
            if oid not in st:
                raise ControlError(404, f"no such {obj}: {oid!r}")
            now = self.clock.now()
            cur = copy.deepcopy(st.get(oid))
            if obj == "subscription":  # Stripe "deletes" a subscription by canceling it; it stays listable
                if cur.get("status") == "canceled":
                    raise ControlError(400, f"subscription {oid} is already canceled")
                cur.update({"status": "canceled", "canceled_at": now, "ended_at": now})
                st.put(cur, st.ts_by_id[oid])
                ev = self._emit(sc, "customer.subscription.deleted", cur, None)
                return {"id": oid, "object": obj, "deleted": False, "canceled": True, "event": ev["id"]}
            if not self.catalog.deletable(obj):
                raise ControlError(400, f"{obj} objects cannot be deleted in Stripe (no DELETE endpoint)")
            st.remove(oid, now)
            ev = self._emit(sc, f"{event_prefix(obj)}.deleted", cur, None)
            return {"id": oid, "object": obj, "deleted": True, "event": ev["id"]}

    # ---- ground truth ----------------------------------------------------------------------------
    def dump_chunks(self, sc: Scope, obj: str, resource: str, chunk: int = 1000) -> Iterator[bytes]:
        """The whole resource as one JSON document, in chunks: live objects then deleted ids."""
        with self.lock:
            st = self.store(sc, obj)
            ids = [k[1] for k in reversed(st.keys)]
            deleted = sorted(st.deleted.items(), key=lambda kv: (kv[1], kv[0]))
        head = {
            "resource": resource,
            "object": obj,
            "account": sc.account_id,
            "livemode": sc.livemode,
            "count": len(ids),
        }
        yield orjson.dumps(head)[:-1] + b',"objects":['
        first = True
        for n in range(0, len(ids), chunk):
            with self.lock:
                parts = [st.render(oid) for oid in ids[n : n + chunk] if oid in st]
            if parts:
                yield (b"" if first else b",") + b",".join(parts)
                first = False
        yield b'],"deleted":' + orjson.dumps([{"id": i, "deleted_at": t} for i, t in deleted]) + b"}"

    def counts(self, sc: Scope) -> dict[str, int]:
        with self.lock:
            return {
                self.catalog.endpoint_for(o).name if o in self.catalog.primary else o: len(s)
                for o, s in sorted(sc.stores.items())
                if len(s) or s.deleted
            }
