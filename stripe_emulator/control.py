"""The emulator's own control surface: one ``Controller`` used by the Python API, and
``ControlApi.handle`` exposing the same operations over HTTP under ``/_emulator/...``.

HTTP endpoints (JSON in, JSON out; ``account``/``livemode`` are optional query parameters):
  GET    /_emulator/health                      {"ok": true}
  GET    /_emulator/info                        url, keys, accounts, api_version, now, counts
  GET    /_emulator/dump?resource=R             {"resource","object","objects":[..],"deleted":[..]}
  GET    /_emulator/objects/R/ID                one object (current version)
  POST   /_emulator/objects/R          {fields} create -> the object
  POST   /_emulator/objects/R/ID       {fields} update -> {"object","previous_attributes","event"}
  DELETE /_emulator/objects/R/ID                delete -> {"id","deleted","event"}
  GET    /_emulator/requests?path=&since=&status=&limit=   {"requests":[...], "counts":{...}}
  GET    /_emulator/requests/counts             {"total","last_seq","by_path","by_status"}
  DELETE /_emulator/requests                    clear the log (POST /_emulator/requests/clear too)
  GET    /_emulator/clock                       {"now","offset"}
  POST   /_emulator/clock/advance      {"seconds": N}  -> {"now","offset"}
  GET    /_emulator/faults                      current fault settings
  POST   /_emulator/faults             {settings}  merge -> settings
  DELETE /_emulator/faults                      everything off (POST /_emulator/faults/reset too)
  GET    /_emulator/rate_limits                 {"enabled", "live", "test", "endpoint", "endpoints", ...}
  POST   /_emulator/rate_limits        true|{settings}|null  replace Stripe's rate limits
  DELETE /_emulator/rate_limits                 off
  GET    /_emulator/churn                       {"running","settings","changes","errors"}
  POST   /_emulator/churn              {settings}  start (replaces a running churn)
  DELETE /_emulator/churn                       stop
  GET    /_emulator/children/R/ID/FIELD         the children of one parent, in list order
  POST   /_emulator/children/R/ID/FIELD  {fields}  add a child -> {"object","parent","events"}
  DELETE /_emulator/children/R/ID/FIELD/CHILD   remove a child -> {"id","deleted","parent","events"}
  POST   /_emulator/changes            {"changes": [...]} apply in order -> {"results": [...]}
  POST   /_emulator/changes/scatter    {"plan": {R: {"update": n, "delete": n, "create": n}}, "seed"}
  GET    /_emulator/events                      every retained event, oldest first
  POST   /_emulator/events/expire      {"before": t}    forget events created before t
  POST   /_emulator/events/drop        {"ids": [...]}   forget these events
  GET    /_emulator/events/retention            {"days", "cutoff"}; POST {"days": N} sets it
  GET    /_emulator/accounts                    connected accounts [{"id","created","size","revoked"}]
  POST   /_emulator/accounts           {"id"?, "dataset", "children", "objects"}  connect an account
  POST   /_emulator/accounts/ID/revoke          revoke it (403 account_invalid from now on)
  GET    /_emulator/webhooks                    endpoints (secrets hidden)
  POST   /_emulator/webhooks           {"url", "secret"?, "enabled_events", "connect", "livemode"} add
  POST   /_emulator/webhooks/ID        {fields}  update (status, enabled_events, url, sign_offset_s)
  DELETE /_emulator/webhooks/ID                 remove (pending retries dropped)
  GET    /_emulator/webhooks/deliveries?endpoint=&event=&since=&limit=  the delivery log
  POST   /_emulator/webhooks/wait      {"timeout": s}  -> {"idle": bool} when nothing is queued
  GET    /_emulator/webhooks/settings           {"retry_scale","timeout_s"}; POST sets them
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson

from .children import BY_NAME, Relation
from .churn import Churn
from .errors import ControlError
from .faults import FaultInjector
from .ratelimit import RateLimits
from .requestlog import RequestLog
from .webhooks import Webhooks
from .wire import Request, Response, json_response
from .world import Scope, World

CHANGE_OPS = ("create", "update", "delete", "add_child", "remove_child")


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes", "live")
    return bool(v)


class Controller:
    def __init__(
        self,
        world: World,
        faults: FaultInjector,
        limits: RateLimits,
        log: RequestLog,
        churn: Churn,
        webhooks: Webhooks,
        info: dict[str, Any],
    ):
        self.world, self.faults, self.limits, self.log, self.churn = world, faults, limits, log, churn
        self.webhooks = webhooks
        self._info = info

    def scope(self, account: str | None = None, livemode: bool = False) -> Scope:
        acct = account or self.world.platform_id
        if acct not in self.world.datasets:
            raise ControlError(404, f"unknown account {acct!r} (configured: {sorted(self.world.datasets)})")
        return self.world.scope(acct, _bool(livemode))

    def info(self) -> dict[str, Any]:
        w = self.world
        return {
            **self._info,
            "account_id": w.platform_id,
            "connected_accounts": sorted(set(w.datasets) - {w.platform_id}),
            "revoked_accounts": sorted(w.revoked),
            "api_version": w.catalog.api_version,
            "now": w.clock.now(),
            "start_time": w.start_time,
            "counts": w.counts(self.scope()),
        }

    def get(
        self, resource: str, oid: str, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        sc = self.scope(account, livemode)
        obj = self.world.resolve(resource)
        with self.world.lock:
            if obj == "subscription_item":
                rel = BY_NAME["subscription_items"]
                got = self.world.children(sc, rel).get(self.world.child_parent(sc, rel, oid), oid)
                assert got is not None
                return got
            st = self.world.store(sc, obj)
            if oid not in st:
                raise ControlError(404, f"no such {obj}: {oid!r}")
            return orjson.loads(st.render(oid))

    def create(
        self, resource: str, fields: dict[str, Any], account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        sc, obj = self.scope(account, livemode), self.world.resolve(resource)
        if obj == "subscription_item":  # POST /v1/subscription_items {subscription}: a child of it
            if not isinstance(fields.get("subscription"), str):
                raise ControlError(400, "a subscription item needs its subscription")
            rest = {k: v for k, v in fields.items() if k != "subscription"}
            added = self.world.add_child(sc, BY_NAME["subscription_items"], fields["subscription"], rest)
            return added["object"]
        return self.world.create(sc, obj, fields)

    def update(
        self,
        resource: str,
        oid: str,
        fields: dict[str, Any],
        account: str | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        return self.world.update(self.scope(account, livemode), self.world.resolve(resource), oid, fields)

    def delete(
        self, resource: str, oid: str, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        sc, obj = self.scope(account, livemode), self.world.resolve(resource)
        if obj == "subscription_item":
            rel = BY_NAME["subscription_items"]
            return self.world.remove_child(sc, rel, self.world.child_parent(sc, rel, oid), oid)
        return self.world.delete(sc, obj, oid)

    def dump_chunks(
        self, resource: str, account: str | None = None, livemode: bool = False
    ) -> Iterator[bytes]:
        sc = self.scope(account, livemode)
        rel = BY_NAME.get(resource)
        if rel is not None:  # a child stream: invoice_line_items, subscription_items ...
            return self.world.dump_children_chunks(sc, rel)
        obj = self.world.resolve(resource)
        if obj == "event":
            raise ControlError(400, "dump serves resources; GET /_emulator/events for events")
        return self.world.dump_chunks(sc, obj, resource)

    # ---- children ------------------------------------------------------------------------------
    def _relation(self, resource: str, field: str) -> Relation:
        rel = BY_NAME.get(field)
        return rel if rel is not None else self.world.relation(resource, field)

    def children(
        self, resource: str, parent: str, field: str, account: str | None = None, livemode: bool = False
    ) -> list[dict[str, Any]]:
        sc, rel = self.scope(account, livemode), self._relation(resource, field)
        with self.world.lock:
            pst = self.world.store(self.world.parent_scope(sc, rel), rel.parent)
            if parent not in pst:
                raise ControlError(404, f"no such {rel.parent}: {parent!r}")
            cs = self.world.children(sc, rel)
            return [orjson.loads(cs.render(parent, e)) for e in cs.listed(parent)]

    def add_child(
        self,
        resource: str,
        parent: str,
        field: str,
        fields: dict[str, Any],
        account: str | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        sc, rel = self.scope(account, livemode), self._relation(resource, field)
        return self.world.add_child(sc, rel, parent, fields)

    def remove_child(
        self,
        resource: str,
        parent: str,
        field: str,
        child: str,
        account: str | None = None,
        livemode: bool = False,
    ) -> dict[str, Any]:
        sc, rel = self.scope(account, livemode), self._relation(resource, field)
        return self.world.remove_child(sc, rel, parent, child)

    # ---- batches of changes --------------------------------------------------------------------
    def apply_changes(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply changes in order: ``{"op": "create"|"update"|"delete"|"add_child"|"remove_child",
        "resource", "id", "fields", "field", "child", "account", "livemode"}``. Stops at the first
        change that fails (those before it stay), naming it."""
        results = []
        for n, ch in enumerate(changes):
            if not isinstance(ch, dict) or ch.get("op") not in CHANGE_OPS or not ch.get("resource"):
                raise ControlError(400, f"change {n}: needs op (one of {CHANGE_OPS}) and resource: {ch!r}")
            op, res, acct, live = ch["op"], ch["resource"], ch.get("account"), bool(ch.get("livemode"))
            fields = ch.get("fields") or {}
            try:
                if op == "create":
                    out = self.create(res, fields, acct, live)
                elif op == "update":
                    out = self.update(res, ch["id"], fields, acct, live)
                elif op == "delete":
                    out = self.delete(res, ch["id"], acct, live)
                elif op == "add_child":
                    out = self.add_child(res, ch["id"], ch["field"], fields, acct, live)
                else:
                    out = self.remove_child(res, ch["id"], ch["field"], ch["child"], acct, live)
            except KeyError as e:
                raise ControlError(400, f"change {n} ({op} {res}): missing {e}") from None
            except ControlError as e:
                where = f"change {n} ({op} {res} {ch.get('id', '')})"
                raise ControlError(e.status, f"{where}: {e.message}") from None
            results.append(out)
        return results

    def scatter_changes(
        self,
        plan: dict[str, dict[str, int]],
        seed: int | None = None,
        account: str | None = None,
        livemode: bool = False,
    ) -> list[dict[str, Any]]:
        """Updates, deletes and creates spread over several resources at once, on objects picked at
        random (seeded): ``{"invoices": {"update": 3, "delete": 3}, "subscriptions": {"delete": 2}}``.
        A subscription "delete" cancels it (customer.subscription.deleted; it stays listable with
        status=all, as in Stripe). Returns ``[{"op", "resource", "id", "event"}]`` in the order made."""
        sc = self.scope(account, livemode)
        rng = random.Random(self.world.seed if seed is None else seed)
        done = []
        for resource, counts in plan.items():
            obj = self.world.resolve(resource)
            unknown = set(counts) - {"update", "delete", "create"}
            if unknown:
                raise ControlError(400, f"scatter plan for {resource}: unknown ops {sorted(unknown)}")
            with self.world.lock:
                st = self.world.store(sc, obj)
                canceled = obj == "subscription"
                live = [i for i in st.iter_ids() if not (canceled and st.field(i, "status") == "canceled")]
            need = int(counts.get("update", 0)) + int(counts.get("delete", 0))
            if need > len(live):
                raise ControlError(400, f"scatter plan for {resource}: {need} asked, {len(live)} there")
            picked = rng.sample(sorted(live), need)
            n_upd = int(counts.get("update", 0))
            for oid in picked[:n_upd]:
                fields: dict[str, Any] = {"metadata": {"scatter": str(rng.randrange(10**9))}}
                if obj in ("customer", "product"):
                    fields["name"] = f"Scattered {oid[-6:]}"
                res = self.world.update(sc, obj, oid, fields)
                done.append({"op": "update", "resource": resource, "id": oid, "event": res["event"]})
            for oid in picked[n_upd:]:
                res = self.world.delete(sc, obj, oid)
                done.append({"op": "delete", "resource": resource, "id": oid, "event": res["event"]})
            for _ in range(int(counts.get("create", 0))):
                new = self.world.create(sc, obj, {"metadata": {"scatter": "created"}})
                done.append({"op": "create", "resource": resource, "id": new["id"],
                             "event": self.world.last_event(sc)["id"]})
        return done

    # ---- events --------------------------------------------------------------------------------
    def events(self, account: str | None = None, livemode: bool = False) -> list[dict[str, Any]]:
        return self.world.event_list(self.scope(account, livemode))

    def expire_events(
        self, before: int, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self.world.expire_events(self.scope(account, livemode), before)

    def drop_events(
        self, ids: list[str], account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self.world.drop_events(self.scope(account, livemode), ids)

    # ---- connected accounts --------------------------------------------------------------------
    def add_account(self, spec: dict[str, Any]) -> dict[str, Any]:
        spec = dict(spec)
        return self.world.add_account(spec.pop("id", None), spec)

    def dump(self, resource: str, account: str | None = None, livemode: bool = False) -> dict[str, Any]:
        return orjson.loads(b"".join(self.dump_chunks(resource, account, livemode)))

    def clock(self) -> dict[str, Any]:
        return {"now": self.world.clock.now(), "offset": self.world.clock.offset}

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        self.world.clock.advance(seconds)
        return self.clock()


class ControlApi:
    def __init__(self, ctl: Controller):
        self.ctl = ctl

    def handle(self, req: Request) -> Response:
        try:
            return self._route(req)
        except ControlError as e:
            return json_response(e.status, {"error": e.message})
        except KeyError as e:
            return json_response(400, {"error": f"missing {e}"})
        except (ValueError, TypeError, orjson.JSONDecodeError) as e:
            return json_response(400, {"error": str(e)})

    def _route(self, req: Request) -> Response:
        ctl = self.ctl
        parts = [p for p in req.path[len("/_emulator") :].split("/") if p]
        m = req.method
        acct, live = req.arg("account"), _bool(req.arg("livemode", "false"))
        head = parts[0] if parts else ""
        if head in ("", "health") and m == "GET":
            return json_response(200, {"ok": True})
        if head == "info" and m == "GET":
            return json_response(200, ctl.info())
        if head == "dump" and m == "GET":
            resource = req.arg("resource")
            if not resource:
                raise ControlError(400, "dump needs ?resource=<name>")
            chunks = ctl.dump_chunks(resource, acct, live)
            return Response(200, headers={"Content-Type": "application/json"}, chunks=chunks)
        if head == "objects" and len(parts) in (2, 3):
            resource = parts[1]
            if len(parts) == 2 and m == "POST":
                return json_response(200, ctl.create(resource, _fields(req), acct, live))
            if len(parts) == 3:
                oid = parts[2]
                if m == "GET":
                    return json_response(200, ctl.get(resource, oid, acct, live))
                if m == "POST":
                    return json_response(200, ctl.update(resource, oid, _fields(req), acct, live))
                if m == "DELETE":
                    return json_response(200, ctl.delete(resource, oid, acct, live))
        if head == "requests":
            if len(parts) == 1 and m == "GET":
                since = int(req.arg("since", "0") or 0)
                status = req.arg("status")
                limit = req.arg("limit")
                entries = ctl.log.entries(
                    req.arg("path"), since, int(status) if status else None, int(limit) if limit else None
                )
                return json_response(200, {"requests": entries, "counts": ctl.log.counts()})
            if parts[1:] == ["counts"] and m == "GET":
                return json_response(200, ctl.log.counts())
            if (len(parts) == 1 and m == "DELETE") or (parts[1:] == ["clear"] and m == "POST"):
                ctl.log.clear()
                return json_response(200, {"cleared": True})
        if head == "clock":
            if len(parts) == 1 and m == "GET":
                return json_response(200, ctl.clock())
            if parts[1:] == ["advance"] and m == "POST":
                body = req.json()
                return json_response(200, ctl.advance_clock(float(body.get("seconds", 0))))
        if head == "faults":
            if len(parts) == 1 and m == "GET":
                return json_response(200, ctl.faults.snapshot())
            if len(parts) == 1 and m == "POST":
                return json_response(200, ctl.faults.update(_fields(req)))
            if (len(parts) == 1 and m == "DELETE") or (parts[1:] == ["reset"] and m == "POST"):
                return json_response(200, ctl.faults.reset())
        if head == "rate_limits" and len(parts) == 1:
            if m == "GET":
                return json_response(200, ctl.limits.snapshot())
            if m == "POST":
                return json_response(200, ctl.limits.set(req.json() if req.body.strip() else True))
            if m == "DELETE":
                return json_response(200, ctl.limits.set(None))
        if head == "children" and len(parts) in (4, 5):
            resource, parent, field = parts[1:4]
            if len(parts) == 4 and m == "GET":
                return json_response(200, {"data": ctl.children(resource, parent, field, acct, live)})
            if len(parts) == 4 and m == "POST":
                return json_response(200, ctl.add_child(resource, parent, field, _fields(req), acct, live))
            if len(parts) == 5 and m == "DELETE":
                return json_response(200, ctl.remove_child(resource, parent, field, parts[4], acct, live))
        if head == "changes" and m == "POST":
            body = _fields(req)
            if len(parts) == 1:
                return json_response(200, {"results": ctl.apply_changes(list(body.get("changes") or []))})
            if parts[1:] == ["scatter"]:
                done = ctl.scatter_changes(dict(body.get("plan") or {}), body.get("seed"), acct, live)
                return json_response(200, {"changes": done})
        if head == "events":
            if len(parts) == 1 and m == "GET":
                return json_response(200, {"data": ctl.events(acct, live)})
            if parts[1:] == ["expire"] and m == "POST":
                return json_response(200, ctl.expire_events(int(_fields(req)["before"]), acct, live))
            if parts[1:] == ["drop"] and m == "POST":
                return json_response(200, ctl.drop_events(list(_fields(req).get("ids") or []), acct, live))
            if parts[1:] == ["retention"]:
                if m == "POST":
                    return json_response(200, ctl.world.set_retention(float(_fields(req)["days"])))
                if m == "GET":
                    w = ctl.world
                    return json_response(200, {"days": w.retention / 86400, "cutoff": w.retention_cutoff()})
        if head == "accounts":
            if len(parts) == 1 and m == "GET":
                return json_response(200, {"data": ctl.world.connected_accounts()})
            if len(parts) == 1 and m == "POST":
                return json_response(200, ctl.add_account(_fields(req)))
            if len(parts) == 3 and parts[2] == "revoke" and m == "POST":
                return json_response(200, ctl.world.revoke_account(parts[1]))
        if head == "webhooks":
            hooks = ctl.webhooks
            if len(parts) == 1 and m == "GET":
                return json_response(200, {"data": hooks.endpoints()})
            if len(parts) == 1 and m == "POST":
                return json_response(200, hooks.add(_fields(req)))
            if parts[1:] == ["deliveries"] and m == "GET":
                limit = req.arg("limit")
                since = int(req.arg("since", "0") or 0)
                n = int(limit) if limit else None
                entries = hooks.deliveries(req.arg("endpoint"), req.arg("event"), since, n)
                return json_response(200, {"data": entries, "pending": hooks.pending()})
            if parts[1:] == ["wait"] and m == "POST":
                return json_response(200, {"idle": hooks.wait_idle(float(_fields(req).get("timeout", 10)))})
            if parts[1:] == ["settings"]:
                if m == "GET":
                    return json_response(200, dict(hooks.settings))
                if m == "POST":
                    return json_response(200, hooks.set_settings(_fields(req)))
            if len(parts) == 2 and m == "POST":
                return json_response(200, hooks.update(parts[1], _fields(req)))
            if len(parts) == 2 and m == "DELETE":
                return json_response(200, hooks.remove(parts[1]))
        if head == "churn" and len(parts) == 1:
            if m == "GET":
                return json_response(200, ctl.churn.status())
            if m == "POST":
                return json_response(200, ctl.churn.start(_fields(req)))
            if m == "DELETE":
                return json_response(200, ctl.churn.stop())
        raise ControlError(404, f"no control endpoint {m} {req.path}")


def _fields(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body
