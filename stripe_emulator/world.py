"""The emulated Stripe data: account scopes (account id x live/test mode), their resource stores, child
collections and event logs, the connected accounts of the platform, and the mutations (create, update,
delete, children added and removed, accounts added and revoked) that keep objects and events consistent.

Every public method takes the world lock; the HTTP layer and the Python API both go through here. An
event is handed to ``event_sink`` (webhook delivery) as it is recorded.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .catalog import Catalog
from .children import RELATIONS, ChildSet, ParentView, Relation, find_relation, relations_of
from .clock import Clock
from .config import EmulatorConfig, ResourceSpec, check_objects
from .connect import account_created, check_account_spec
from .dataset import FieldGen, generate_keys
from .errors import ControlError
from .events import EventLog, event_prefix
from .ids import IdStyle, seed_int, token
from .store import ResourceStore
from .template import ObjectTemplate

# Invoice totals that move with its lines.
INVOICE_AMOUNTS = (
    "subtotal",
    "subtotal_excluding_tax",
    "total",
    "total_excluding_tax",
    "amount_due",
    "amount_remaining",
)


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
        self.children: dict[str, ChildSet] = {}
        self.refs: dict[str, list[str]] = {}
        self.events: EventLog | None = None
        self.account_obj: dict[str, Any] = {}
        self.created_at = now
        self.new_counter = 0


class EventSink:
    """Where recorded events go besides ``/v1/events`` (webhooks.py): the endpoints that want an event,
    and queueing it for them."""

    def matching(self, type_: str, connected: bool, livemode: bool) -> list[str]:
        return []

    def enqueue(self, endpoint_ids: list[str], event: dict[str, Any], payload: Callable[[], bytes]) -> None:
        pass


class World:
    def __init__(self, config: EmulatorConfig, catalog: Catalog, clock: Clock):
        self.config, self.catalog, self.clock = config, catalog, clock
        self.lock = threading.RLock()
        self.seed = config.seed
        self.platform_id = config.account_id or "acct_1" + token(f"{config.seed}:platform", 15)
        self.start_time = clock.now()
        self.accounts: dict[str, dict[str, Any]] = {}  # connected account id -> spec (connect.py)
        self.datasets: dict[str, dict[str, ResourceSpec]] = {
            self.platform_id: self._parse_dataset(config.resolved_dataset())
        }
        self.objects: dict[str, dict[str, list[dict[str, Any]]]] = {
            self.platform_id: self._parse_objects(config.objects)
        }
        self.account_created: dict[str, int] = {}
        for acct, spec in config.resolved_connected_accounts().items():
            self._register_account(acct, spec, account_created(acct, spec, self.start_time))
        self.revoked: dict[str, int] = {}  # account id -> when its access was revoked
        self.retention = int(config.event_retention_days * 86400)
        self.scopes: dict[tuple[str, bool], Scope] = {}
        self._styles: dict[str, IdStyle] = {}
        self.event_sink: EventSink = EventSink()
        self.scope(self.platform_id, False)  # build the default scope eagerly

    # ---- set-up ----------------------------------------------------------------------------------
    def _register_account(self, acct: str, spec: dict[str, Any], created: int) -> None:
        self.accounts[acct] = spec
        self.datasets[acct] = self._parse_dataset(spec.get("dataset") or {})
        self.objects[acct] = self._parse_objects(spec.get("objects") or {})
        self.account_created[acct] = created

    def _parse_objects(self, raw: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        for name in raw:
            if name not in self.catalog.names and name.rstrip("/") not in self.catalog.names:
                raise ValueError(f"objects names unknown resource {name!r}")
        return dict(raw)

    def _parse_dataset(self, raw: dict[str, Any]) -> dict[str, ResourceSpec]:
        out: dict[str, ResourceSpec] = {}
        for name, entry in raw.items():
            try:
                obj = self.catalog.resolve(name)
            except KeyError:
                raise ValueError(f"dataset names unknown resource {name!r}") from None
            if obj == "event":
                raise ValueError("events are not generated; they come from changes (create/update/delete)")
            if obj == "account":
                raise ValueError(
                    'connected accounts are configured by connected_accounts ({"generate": {"count": n}})'
                )
            if obj == "subscription_item":
                raise ValueError(
                    'subscription items are children: {"subscriptions": {"children": {"items": n}}}'
                )
            spec = ResourceSpec.parse(entry)
            for field in spec.children:
                rel = find_relation(obj, field)
                if rel is None or rel.name == "account_capabilities":
                    fields = [r.field for r in relations_of(obj) if r.name != "account_capabilities"]
                    raise ValueError(f"dataset {name}: no child list {field!r} (children of {obj}: {fields})")
            out[obj] = spec
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
        if not sc.connected:  # the platform lists its connected accounts (GET /v1/accounts)
            keys_by_obj["account"] = [
                (self.account_created[a], a) for a in self.accounts if a not in self.revoked
            ]
        for obj, keys in keys_by_obj.items():
            sc.stores[obj] = self._make_store(sc, obj, keys)
        self._seed_objects(sc, self.objects.get(account_id) or {})
        fx = copy.deepcopy(self.catalog.fixture("account"))
        fx["id"] = account_id
        if "created" in fx:
            fx["created"] = now - 5 * 365 * 86400
        if isinstance(fx.get("external_accounts"), dict) and "url" in fx["external_accounts"]:
            fx["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
        sc.account_obj = fx
        return sc

    def _seed_objects(self, sc: Scope, objects: dict[str, list[dict[str, Any]]]) -> None:
        """Objects the config names (custom ids): present at start, without events."""
        for name, items in objects.items():
            obj = self.resolve(name)
            st = self.store(sc, obj)
            for n, fields in enumerate(items):
                oid = fields.get("id") or self.style(obj).make(f"{sc.material}:{obj}:seeded:{n}")
                ts = (
                    int(fields.get(st.ts_field) or self.start_time - 3600 - n)
                    if st.ts_field
                    else self.start_time
                )
                new = st.new_base(oid, ts)
                new.update(copy.deepcopy(fields))
                new["id"] = oid
                st.put(new, ts)

    def _account_fixture(self) -> dict[str, Any]:
        fx = copy.deepcopy(self.catalog.fixture("account"))
        # An account the platform created or connected is controlled by the platform's application.
        fx["controller"] = {"is_controller": True, "type": "application"}
        return fx

    def _make_store(self, sc: Scope, obj: str, keys: list[tuple[int, str]]) -> ResourceStore:
        fixture = self._account_fixture() if obj == "account" else self.catalog.fixture(obj)
        ts_slot = self._ts_slot(obj, fixture)
        embedded = [r for r in relations_of(obj) if r.embed and r.embed_default and r.field in fixture]
        gen = FieldGen(
            obj,
            fixture,
            ts_slot,
            sc.livemode,
            seed_int(sc.material, obj, "fields"),
            sc.refs,
            self.start_time,
            extra_slots=tuple(r.field for r in embedded),
        )
        st = ResourceStore(obj, ts_slot, ObjectTemplate(fixture, gen.slots), gen, keys, self.style(obj))
        for rel in embedded:
            st.embeds.append(
                (gen.slots.index(rel.field), lambda oid, rel=rel: self.children(sc, rel).embedded(oid))
            )
        return st

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

    def account_bytes(self, sc: Scope) -> bytes:
        """``GET /v1/account``: the account the request acts on."""
        if sc.connected:
            st = self.store(self.scope(self.platform_id, sc.livemode), "account")
            if sc.account_id in st:
                return st.render(sc.account_id)
        return orjson.dumps(sc.account_obj)

    # ---- children --------------------------------------------------------------------------------
    def parent_scope(self, sc: Scope, rel: Relation) -> Scope:
        """Children of accounts (persons, external accounts) live with the platform, which lists them."""
        return self.scope(self.platform_id, sc.livemode) if rel.parent == "account" else sc

    def children(self, sc: Scope, rel: Relation) -> ChildSet:
        psc = self.parent_scope(sc, rel)
        cs = psc.children.get(rel.name)
        if cs is not None:
            return cs
        with self.lock:
            cs = psc.children.get(rel.name)
            if cs is None:
                cs = psc.children[rel.name] = self._make_children(psc, rel)
            return cs

    def _make_children(self, psc: Scope, rel: Relation) -> ChildSet:
        pst = self.store(psc, rel.parent)
        index: Callable[[str], int | None] = pst.gen_index.get  # parents created at run time have none
        if rel.parent == "account":  # an account's children come from its spec, added accounts' too

            def index(pid: str) -> int | None:
                return 0 if pid in pst or pid in pst.deleted else None

            def count(parent: str, i: int) -> int:
                return int(
                    (self.accounts.get(parent, {}).get("children") or {}).get(rel.field, rel.default_count)
                )
        else:
            spec = self.datasets.get(psc.account_id, {}).get(rel.parent)
            counts = (spec.children_counts(rel.field) if spec else None) or [rel.default_count]

            def count(parent: str, i: int) -> int:
                return counts[i % len(counts)]

        view = ParentView(
            exists=lambda pid: pid in pst,
            ts=lambda pid: pst.ts_by_id.get(pid, self.start_time),
            index=index,
            count=count,
            all_ids=lambda: list(pst.iter_ids()),
        )
        fixed = None
        if rel.name == "account_capabilities":
            caps = self.catalog.fixture("account").get("capabilities") or {}
            fixed = sorted(caps.items())
        return ChildSet(
            rel,
            self.catalog.fixture(rel.child),
            view,
            psc.livemode,
            psc.material,
            psc.refs,
            self.start_time,
            fixed,
        )

    def relation(self, resource_or_obj: str, field: str) -> Relation:
        obj = self.resolve(resource_or_obj)
        rel = find_relation(obj, field)
        if rel is None:
            fields = [r.field for r in relations_of(obj)]
            raise ControlError(404, f"{obj} has no child list {field!r} (it has: {fields})")
        return rel

    def child_parent(self, sc: Scope, rel: Relation, child_id: str) -> str:
        with self.lock:
            pid = self.children(sc, rel).parent_of(child_id)
        if pid is None:
            raise ControlError(404, f"no such {rel.child}: {child_id!r}")
        return pid

    def _parent_for_change(self, sc: Scope, rel: Relation, pid: str, verb: str) -> dict[str, Any]:
        if not (rel.addable if verb == "add" else rel.removable):
            raise ControlError(400, f"Stripe cannot {verb} {rel.field} of a {rel.parent} ({rel.name})")
        pst = self.store(self.parent_scope(sc, rel), rel.parent)
        if pid not in pst:
            raise ControlError(404, f"no such {rel.parent}: {pid!r}")
        parent = copy.deepcopy(pst.get(pid))
        if rel.draft_only and parent.get("status") != "draft":
            raise ControlError(
                400, f"{rel.parent} {pid} is {parent.get('status')}: only a draft's {rel.field} change"
            )
        return parent

    def add_child(self, sc: Scope, rel: Relation, pid: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Add a child (an invoice line, a subscription item ...) with the events Stripe sends."""
        with self.lock:
            parent = self._parent_for_change(sc, rel, pid, "add")
            fields = dict(fields)
            events: list[str] = []
            amount = fields.get("amount")
            if rel.name == "invoice_line_items":  # an invoice item created on the draft invoice
                amount = int(amount if amount is not None else 1000)
                item = self.create(
                    sc,
                    "invoiceitem",
                    {
                        "invoice": pid,
                        "amount": amount,
                        "currency": parent.get("currency", "usd"),
                        "customer": parent.get("customer"),
                        "description": fields.get("description"),
                    },
                )
                events.append(self.last_event(sc)["id"])
                fields = {"type": "invoiceitem", "invoice_item": item["id"], "amount": amount, **fields}
            elif rel.name == "customer_balance_transactions":
                amount = int(amount if amount is not None else -500)
                fields["amount"] = amount
                fields.setdefault("ending_balance", int(parent.get("balance") or 0) + amount)
            elif amount is not None:
                amount = int(amount)
            other = fields.get("object")
            if other is not None and other != rel.child and other not in rel.other_children:
                raise ControlError(400, f"{rel.name} holds {rel.child} objects, not {other!r}")
            shape = self.catalog.fixture(other) if other in rel.other_children else None
            child = self.children(sc, rel).add(pid, fields, self.clock.now(), shape)
            events += self._children_changed(sc, rel, pid, parent, child, +1, amount)
            return {"object": copy.deepcopy(child), "parent": pid, "events": events}

    def remove_child(self, sc: Scope, rel: Relation, pid: str, child_id: str) -> dict[str, Any]:
        """Remove a child (an invoice line of a draft, a subscription item ...) with Stripe's events."""
        with self.lock:
            parent = self._parent_for_change(sc, rel, pid, "remove")
            try:
                child = self.children(sc, rel).remove(pid, child_id, self.clock.now())
            except KeyError:
                raise ControlError(404, f"no such {rel.child} on {pid}: {child_id!r}") from None
            events: list[str] = []
            if rel.name == "invoice_line_items":  # deleting the line is deleting its invoice item
                ii = child.get("invoice_item")
                ist = self.store(sc, "invoiceitem")
                if isinstance(ii, str) and ii in ist and ist.field(ii, "invoice") == pid:
                    events.append(self.delete(sc, "invoiceitem", ii)["event"])
            amount = child.get("amount") if isinstance(child.get("amount"), int) else None
            events += self._children_changed(sc, rel, pid, parent, child, -1, amount)
            return {"id": child_id, "object": rel.child, "deleted": True, "parent": pid, "events": events}

    def _children_changed(
        self,
        sc: Scope,
        rel: Relation,
        pid: str,
        parent: dict[str, Any],
        child: dict[str, Any],
        sign: int,
        amount: int | None,
    ) -> list[str]:
        """Update the parent (its embedded list and totals) and emit the parent's and the child's events."""
        psc = self.parent_scope(sc, rel)
        pst = self.store(psc, rel.parent)
        cur = copy.deepcopy(parent)
        prev: dict[str, Any] = {}

        def move(field: str, value: Any) -> None:
            if cur.get(field) != value:
                prev[field] = cur.get(field)
                cur[field] = value

        if rel.embed and (rel.embed_default or rel.field in cur):
            move(rel.field, self.children(sc, rel).embedded_dict(pid))
        if amount is not None:
            if rel.name == "invoice_line_items":
                for f in INVOICE_AMOUNTS:
                    if isinstance(cur.get(f), int):
                        move(f, cur[f] + sign * amount)
            elif rel.name == "customer_balance_transactions":
                move("balance", int(cur.get("balance") or 0) + amount)
            elif rel.name == "transfer_reversals":
                move("amount_reversed", int(cur.get("amount_reversed") or 0) + amount)
                move("reversed", cur["amount_reversed"] >= int(cur.get("amount") or 0))
            elif rel.name == "application_fee_refunds":
                move("amount_refunded", int(cur.get("amount_refunded") or 0) + amount)
                move("refunded", cur["amount_refunded"] >= int(cur.get("amount") or 0))
        events = []
        if prev:
            pst.put(cur, pst.ts_by_id[pid])
        if rel.parent_event and prev:
            events.append(self._emit(psc, rel.parent_event, cur, prev)["id"])
        if rel.child_events:
            esc = self.scope(pid, sc.livemode) if rel.parent == "account" else sc
            events.append(self._emit(esc, rel.child_events[0 if sign > 0 else 1], child, None)["id"])
        return events

    # ---- connected accounts ----------------------------------------------------------------------
    def add_account(self, acct: str | None, spec: dict[str, Any]) -> dict[str, Any]:
        """A newly connected account: listed by /v1/accounts from now on, its own (empty unless
        configured) data, and ``account.application.authorized`` in its events."""
        with self.lock:
            if acct is None:
                acct = IdStyle("acct_", 16, "1").make(f"{self.seed}:added:{len(self.accounts)}")
            if acct in self.datasets:
                raise ControlError(400, f"account {acct} already exists")
            try:
                spec = check_account_spec(acct, spec)
                check_objects(f"account {acct}: objects", spec.get("objects") or {})
                self._register_account(acct, spec, self.clock.now())
            except ValueError as e:
                raise ControlError(400, str(e)) from None
            created = self.account_created[acct]
            for livemode in (False, True):
                if (self.platform_id, livemode) in self.scopes:
                    psc = self.scope(self.platform_id, livemode)
                    pst = self.store(psc, "account")
                    base = pst.new_base(acct, created)
                    pst.put(base, created)
                    for rel in relations_of("account"):  # embedded again now that it is a parent
                        if rel.embed and rel.field in base:
                            base[rel.field] = self.children(psc, rel).embedded_dict(acct)
                    pst.put(base, created)
            ev = self._emit(
                self.scope(acct, False), "account.application.authorized", self._application(), None
            )
            return {"id": acct, "created": self.account_created[acct], "event": ev["id"]}

    def revoke_account(self, acct: str) -> dict[str, Any]:
        """The account deauthorizes the platform: it leaves /v1/accounts, every request made for it
        (Stripe-Account) answers 403 ``account_invalid``, and ``account.application.deauthorized`` is
        recorded on it (Stripe sends that event to the application's Connect webhooks only)."""
        with self.lock:
            if acct not in self.accounts:
                raise ControlError(404, f"no connected account {acct!r}")
            if acct in self.revoked:
                raise ControlError(400, f"account {acct} is already revoked")
            ev = self._emit(
                self.scope(acct, False), "account.application.deauthorized", self._application(), None
            )
            self.revoked[acct] = self.clock.now()
            for livemode in (False, True):
                if (self.platform_id, livemode) in self.scopes:
                    pst = self.store(self.scope(self.platform_id, livemode), "account")
                    if acct in pst:
                        pst.remove(acct, self.revoked[acct])
            return {"id": acct, "revoked_at": self.revoked[acct], "event": ev["id"]}

    def _application(self) -> dict[str, Any]:
        """The platform's Connect application (the object of account.application.* events)."""
        return {
            "id": "ca_" + token(f"{self.seed}:application", 32),
            "object": "application",
            "name": "stripe-emulator",
        }

    def connected_accounts(self) -> list[dict[str, Any]]:
        return [
            {
                "id": a,
                "created": self.account_created[a],
                "size": spec.get("size"),
                "revoked": a in self.revoked,
            }
            for a, spec in self.accounts.items()
        ]

    # ---- events ----------------------------------------------------------------------------------
    def retention_cutoff(self) -> int:
        return self.clock.now() - self.retention

    def _emit(
        self, sc: Scope, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        assert sc.events is not None
        now = self.clock.now()
        endpoints = self.event_sink.matching(type_, sc.connected, sc.livemode)
        event = sc.events.append(
            type_, copy.deepcopy(obj), previous, now, now - self.retention, len(endpoints)
        )
        events, eid, snapshot = sc.events, event["id"], orjson.dumps(event)

        def payload() -> bytes:  # the event as /v1/events lists it at the time of the attempt
            with self.lock:
                return events.store.render(eid) if eid in events.store else snapshot

        self.event_sink.enqueue(endpoints, event, payload)
        return event

    def last_event(self, sc: Scope) -> dict[str, Any]:
        assert sc.events is not None
        st = sc.events.store
        return st.get(st.keys[-1][1])

    def webhook_delivered(self, account: str | None, livemode: bool, eid: str) -> None:
        with self.lock:
            sc = self.scopes.get((account or self.platform_id, livemode))
            if sc is not None and sc.events is not None:
                sc.events.webhook_delivered(eid)

    def set_retention(self, days: float) -> dict[str, Any]:
        if not days > 0:
            raise ControlError(400, "event retention is a number of days > 0")
        with self.lock:
            self.retention = int(days * 86400)
        return {"days": days, "cutoff": self.retention_cutoff()}

    def expire_events(self, sc: Scope, before: int) -> dict[str, Any]:
        """Forget the events created before ``before`` (emulated Unix time), as retention would."""
        assert sc.events is not None
        with self.lock:
            return {"expired": sc.events.prune(int(before))}

    def drop_events(self, sc: Scope, ids: list[str]) -> dict[str, Any]:
        assert sc.events is not None
        with self.lock:
            return {"dropped": sc.events.drop(list(ids))}

    def event_list(self, sc: Scope) -> list[dict[str, Any]]:
        """Every retained event of the scope, oldest first (ground truth)."""
        assert sc.events is not None
        with self.lock:
            sc.events.prune(self.retention_cutoff())
            st = sc.events.store
            return [st.get(oid) for _, oid in st.keys]

    # ---- mutations -------------------------------------------------------------------------------
    def resolve(self, resource: str) -> str:
        try:
            return self.catalog.resolve(resource)
        except KeyError:
            raise ControlError(404, f"unknown resource {resource!r}") from None

    def create(self, sc: Scope, obj: str, fields: dict[str, Any]) -> dict[str, Any]:
        if obj == "event":
            raise ControlError(400, "events are produced by changes to other objects")
        if obj == "account":
            raise ControlError(
                400, "connected accounts are added with add_account (POST /_emulator/accounts)"
            )
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
            esc = self.scope(oid, sc.livemode) if obj == "account" else sc  # account.updated is the account's
            ev = self._emit(esc, f"{event_prefix(obj)}.updated", cur, prev)
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
            if obj == "account":
                raise ControlError(400, "a connected account is revoked with revoke_account")
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

    def dump_children_chunks(self, sc: Scope, rel: Relation, parents_per_chunk: int = 50) -> Iterator[bytes]:
        """Every child of every live parent, ``{"parent", "object"}`` in parent then list order, and the
        removed ones (``deleted``: removed children and the children of deleted parents)."""
        psc = self.parent_scope(sc, rel)
        with self.lock:
            pst = self.store(psc, rel.parent)
            cs = self.children(sc, rel)
            parents = [k[1] for k in reversed(pst.keys)]
            if rel.parent == "account" and sc.connected:
                parents = [p for p in parents if p == sc.account_id]
            count = sum(cs.count(p) for p in parents)
        head = {
            "resource": rel.name,
            "object": rel.child,
            "parent_object": rel.parent,
            "account": sc.account_id,
            "livemode": sc.livemode,
            "count": count,
        }
        yield orjson.dumps(head)[:-1] + b',"objects":['
        first = True
        for n in range(0, len(parents), parents_per_chunk):
            with self.lock:
                parts = [
                    b'{"parent":' + orjson.dumps(p) + b',"object":' + cs.render(p, e) + b"}"
                    for p in parents[n : n + parents_per_chunk]
                    if p in pst
                    for e in cs.listed(p)
                ]
            if parts:
                yield (b"" if first else b",") + b",".join(parts)
                first = False
        with self.lock:
            deleted = [{"parent": p, "id": c, "deleted_at": t} for p, c, t in cs.deleted]
            for p, t in sorted(pst.deleted.items(), key=lambda kv: (kv[1], kv[0])):
                deleted += [
                    {"parent": p, "id": c, "deleted_at": t, "parent_deleted": True} for c, _ in cs.entries(p)
                ]
        yield b'],"deleted":' + orjson.dumps(deleted) + b"}"

    def counts(self, sc: Scope) -> dict[str, int]:
        with self.lock:
            return {
                self.catalog.endpoint_for(o).name if o in self.catalog.primary else o: len(s)
                for o, s in sorted(sc.stores.items())
                if len(s) or s.deleted
            }


__all__ = ["RELATIONS", "EventSink", "Scope", "World"]
