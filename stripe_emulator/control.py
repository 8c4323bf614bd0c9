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
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .churn import Churn
from .errors import ControlError
from .faults import FaultInjector
from .ratelimit import RateLimits
from .requestlog import RequestLog
from .wire import Request, Response, json_response
from .world import Scope, World


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
        info: dict[str, Any],
    ):
        self.world, self.faults, self.limits, self.log, self.churn = world, faults, limits, log, churn
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
            st = self.world.store(sc, obj)
            if oid not in st:
                raise ControlError(404, f"no such {obj}: {oid!r}")
            return orjson.loads(st.render(oid))

    def create(
        self, resource: str, fields: dict[str, Any], account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        return self.world.create(self.scope(account, livemode), self.world.resolve(resource), fields)

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
        return self.world.delete(self.scope(account, livemode), self.world.resolve(resource), oid)

    def dump_chunks(
        self, resource: str, account: str | None = None, livemode: bool = False
    ) -> Iterator[bytes]:
        sc = self.scope(account, livemode)
        obj = self.world.resolve(resource)
        if obj == "event":
            raise ControlError(400, "dump serves resources; list /v1/events for events")
        return self.world.dump_chunks(sc, obj, resource)

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
