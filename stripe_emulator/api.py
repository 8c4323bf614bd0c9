"""The Stripe REST surface (``/v1/...``): auth, account selection, faults, the API version, routing,
lists, search, retrieve, and the request log. ``StripeApi.handle(request) -> Response``; no socket code.

Order of checks for a request: key (401) -> Stripe's rate limits (ratelimit.py, 429) -> fault
injection -> ``Stripe-Version`` -> ``Stripe-Account`` -> route (404) -> feature and key permissions ->
parameters (params.py) -> expand paths (expand.py) -> cursors. An endpoint quirk (a behaviour Stripe
has that the OpenAPI schemas do not say) lives in ``_pred`` (list filters) or the handler of its route;
see README, "Adding an endpoint quirk".
"""

from __future__ import annotations

import itertools
import os
import re
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from .auth import Authenticator, Caller, account_error, extract_key, not_enabled_error, permission_error
from .catalog import Endpoint, path_shape
from .children import BY_NAME, RELATIONS, Relation, relations_of
from .errors import StripeError, resource_missing, unrecognized_url
from .expand import ExpandRules, expand_object
from .faults import FaultInjector
from .ids import mask_key, token
from .params import ListParams, parse_list_params, parse_retrieve_params
from .ratelimit import RateLimits
from .requestlog import RequestLog
from .search import compile_query, decode_page, encode_page
from .store import ResourceStore
from .versions import invalid_version, known_version
from .wire import Request, Response
from .world import Scope, World

SUB_ITEMS = BY_NAME["subscription_items"]
SUB_DEFAULT_HIDDEN = frozenset({"canceled"})
SUB_ENDED = frozenset({"canceled", "incomplete_expired"})
LOGGED_HEADERS = ("Stripe-Version", "Stripe-Account", "Idempotency-Key", "User-Agent", "Content-Type")


@dataclass(frozen=True)
class NestedRoute:
    """A nested list (``/v1/invoices/{invoice}/lines``) and the GET of one of its children."""

    rel: Relation
    list_re: re.Pattern[str]
    child_re: re.Pattern[str] | None
    endpoint: Endpoint  # its query parameters
    template: str  # the operation's path as Stripe names it (its rate-limit budget)
    child_template: str | None
    parent_param: str


def nested_routes(catalog: Any) -> list[NestedRoute]:
    routes = []
    for rel in RELATIONS:
        for path in (rel.path, *rel.aliases):
            if "{parent}" not in path:
                continue
            shape = path_shape(path.replace("{parent}", "{}"))
            ep = catalog.nested.get(shape)
            if ep is None:
                raise RuntimeError(f"emulator data has no nested endpoint {shape} (regenerate data/)")
            head, _, tail = path.partition("{parent}")
            list_re = re.compile(re.escape(head) + "([^/]+)" + re.escape(tail))
            child = catalog.nested_retrieve.get(shape)
            child_re = re.compile(list_re.pattern + "/([^/]+)") if child else None
            param = re.search(r"\{([^/}]+)\}", ep.path)
            name = param.group(1) if param else "id"
            routes.append(NestedRoute(rel, list_re, child_re, ep, ep.path, child, name))
    return routes


def list_response(items: list[bytes], has_more: bool, url: str) -> Response:
    """Stripe's list object around already serialized items."""
    return Response(
        200,
        b"".join(
            (
                b'{"object":"list","data":[',
                b",".join(items),
                b'],"has_more":',
                b"true" if has_more else b"false",
                b',"url":',
                orjson.dumps(url),
                b"}",
            )
        ),
    )


def _scalar_str(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return v.get("id") if isinstance(v.get("id"), str) else None
    if v is None:
        return None
    return str(v)


class StripeApi:
    def __init__(
        self,
        world: World,
        faults: FaultInjector,
        log: RequestLog,
        auth: Authenticator,
        not_enabled: list[str],
        rate_limits: Any = None,
    ):
        self.world, self.faults, self.log, self.auth = world, faults, log, auth
        self.catalog = world.catalog
        self.limits = RateLimits(rate_limits, self._default_endpoint_limits())
        self.expand_rules = ExpandRules(self.catalog.expandable)
        self.nested = nested_routes(self.catalog)
        self.not_enabled = set(not_enabled)
        self._req_counter = itertools.count(1)
        self._req_salt = os.urandom(4).hex()
        self.prefix_to_obj: dict[str, str] = {}
        for obj in self.catalog.primary:
            st = world.style(obj)
            if st.prefix and st.prefix not in self.prefix_to_obj:
                self.prefix_to_obj[st.prefix] = obj

    # ---- entry point -----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        started, arrived = time.monotonic(), time.time()
        rid = "req_" + token(f"{self._req_salt}:{next(self._req_counter)}", 14)
        cat = self.catalog
        requested_version = req.header("Stripe-Version")
        version = requested_version or cat.api_version
        account_hdr = req.header("Stripe-Account")
        caller: Caller | None = None
        fault: str | None = None
        limiter: str | None = None
        limiter_time: float | None = None
        livemode = False
        resp: Response
        try:
            caller = self.auth.authenticate(req.headers)
            livemode = caller.livemode
            account_id = account_hdr.strip() if account_hdr else self.world.platform_id
            limiter, limiter_time = self.limits.admit(account_id, livemode, self.endpoint_of(req))
            if limiter is not None:
                raise self.limits.error()
            decision = self.faults.decide(caller.key, req.path, req.method)
            fault = decision.kind
            if decision.kind == "drop":
                resp = Response(0, drop=True, delay=decision.delay)
            elif decision.error is not None:
                resp = self._error(decision.error, rid, livemode)
                resp.delay = decision.delay
            else:
                if requested_version is not None and not known_version(requested_version, cat.api_versions):
                    version = cat.api_version  # an invalid version is not echoed
                    raise invalid_version(requested_version)
                scope = self._scope(caller, account_id)
                resp = self._route(req, caller, scope)
                resp.delay = decision.delay
        except StripeError as e:
            resp = self._error(e, rid, livemode)
        resp.headers.update({"Request-Id": rid, "Stripe-Version": version})
        if account_hdr:
            resp.headers["Stripe-Account"] = account_hdr
        self.log.add(
            {
                "method": req.method,
                "path": req.path,
                "query": _query_dict(req.query),
                "headers": {h: v for h in LOGGED_HEADERS if (v := req.header(h)) is not None},
                "key": caller.masked if caller else _masked_from(req),
                "account": account_hdr,
                "livemode": livemode,
                "status": resp.status if not resp.drop else 0,
                "request_id": rid,
                "limiter": limiter,
                "limiter_time": limiter_time,
                "fault": fault,
                "time": arrived,
                "emulated_time": self.world.clock.now(),
                "duration_ms": round((time.monotonic() - started) * 1000 + resp.delay * 1000, 3),
            }
        )
        return resp

    def endpoint_of(self, req: Request) -> str | None:
        """The named operation a request is (its rate-limit budget): ``/v1/customers``,
        ``/v1/customers/{id}``; None for a route Stripe does not have."""
        path, cat = req.path, self.catalog
        if req.method != "GET":
            return None
        if path in cat.endpoints or path in cat.retrieve_endpoints:
            return path
        parent = path.rpartition("/")[0]
        ep = cat.endpoints.get(parent)
        if ep is not None and ep.retrieve is not None:
            return parent + "/{id}"
        route = self._nested_match(path)
        if route is not None:
            return route[0].template if route[2] is None else route[0].child_template
        return None

    def _default_endpoint_limits(self) -> dict[str, float]:
        """Stripe's stricter documented budgets: the Search API and the Files API, 20 reads/s each."""
        out: dict[str, float] = {p: 20 for p, ep in self.catalog.endpoints.items() if ep.kind == "search"}
        if "/v1/files" in self.catalog.endpoints:
            out.update({"/v1/files": 20, "/v1/files/{id}": 20})
        return out

    @staticmethod
    def _error(e: StripeError, rid: str, livemode: bool) -> Response:
        return Response(e.status, orjson.dumps(e.body(rid, livemode)), dict(e.headers))

    def _scope(self, caller: Caller, account_id: str) -> Scope:
        if account_id not in self.world.datasets or account_id in self.world.revoked:
            raise account_error(caller, account_id)
        return self.world.scope(account_id, caller.livemode)

    def _check_access(self, caller: Caller, scope: Scope, path: str, obj: str) -> None:
        feature = path[len("/v1/") :].split("/", 1)[0]
        if feature in self.not_enabled:
            raise not_enabled_error(feature)
        if obj in caller.forbidden:
            raise permission_error(caller, scope.account_id, obj)

    # ---- routing ---------------------------------------------------------------------------------
    def _route(self, req: Request, caller: Caller, scope: Scope) -> Response:
        path = req.path
        if req.method != "GET" or not path.startswith("/v1/"):
            raise unrecognized_url(req.method, path)
        cat = self.catalog
        if path in cat.retrieve_endpoints:
            obj = cat.retrieve_endpoints[path]
            self._check_access(caller, scope, path, obj)
            details = cat.retrieve_details[path]
            expand = parse_retrieve_params(req.query, details.query_schemas)
            self.expand_rules.check(expand, details.schemas, listing=False)
            if obj == "account":
                with self.world.lock:
                    return Response(200, self.world.account_bytes(scope))
            single = dict(cat.fixture(obj))
            if "livemode" in single:
                single["livemode"] = scope.livemode
            return Response(200, orjson.dumps(single))
        ep = cat.endpoints.get(path)
        if ep is not None:
            self._check_access(caller, scope, path, ep.object)
            params = parse_list_params(req.query, ep)
            if ep.object == "event":
                return self._list(scope, ep, params, self._events_store(scope), self._event_pred(params))
            if ep.kind == "search":
                return self._search(scope, ep, params)
            if ep.object == "subscription_item":  # the items of ?subscription=
                sub = params.filters["subscription"]
                return self._child_list(scope, SUB_ITEMS, sub, params, ep.path, "subscription")
            return self._list(scope, ep, params, self.world.store(scope, ep.object), self._pred(ep, params))
        parent, _, oid = path.rpartition("/")
        ep = cat.endpoints.get(parent)
        if ep is not None and oid and ep.retrieve is not None:
            self._check_access(caller, scope, path, ep.object)
            expand = parse_retrieve_params(req.query, ep.retrieve.query_schemas)
            self.expand_rules.check(expand, ep.retrieve.schemas, listing=False)
            if ep.object == "subscription_item":
                return self._child_retrieve(scope, SUB_ITEMS, None, oid, expand)
            return self._retrieve(scope, ep, oid, expand, caller)
        route = self._nested_match(path)
        if route is not None:
            nested, pid, cid = route
            self._check_access(caller, scope, path, nested.rel.child)
            if cid is None:
                params = parse_list_params(req.query, nested.endpoint)
                self._check_list_expand(nested.endpoint, params)
                return self._child_list(scope, nested.rel, pid, params, None, nested.parent_param)
            retrieve = nested.endpoint.retrieve
            assert retrieve is not None
            expand = parse_retrieve_params(req.query, retrieve.query_schemas)
            self.expand_rules.check(expand, retrieve.schemas, listing=False)
            return self._child_retrieve(scope, nested.rel, pid, cid, expand, nested.parent_param)
        raise unrecognized_url(req.method, path)

    def _nested_match(self, path: str) -> tuple[NestedRoute, str, str | None] | None:
        """The nested route of a path, the parent id, and the child id (a GET of one child) or None."""
        if path.count("/") < 4:
            return None
        for route in self.nested:
            m = route.list_re.fullmatch(path)
            if m is not None:
                return route, m.group(1), None
            if route.child_re is not None:
                m = route.child_re.fullmatch(path)
                if m is not None:
                    return route, m.group(1), m.group(2)
        return None

    # ---- nested lists (children) -----------------------------------------------------------------
    def _child_parent_ok(self, scope: Scope, rel: Relation, pid: str, param: str) -> None:
        """The parent must exist, in the scope that lists it (a connected account sees only itself)."""
        psc = self.world.parent_scope(scope, rel)
        pst = self.world.store(psc, rel.parent)
        if pid not in pst or (rel.parent == "account" and scope.connected and pid != scope.account_id):
            raise resource_missing(rel.parent, pid, param)

    def _child_list(
        self,
        scope: Scope,
        rel: Relation,
        pid: str,
        p: ListParams,
        url: str | None,
        param: str,
    ) -> Response:
        """A page of one parent's children; ``url`` overrides the list's own, ``param`` names the parent
        in a resource_missing error."""
        world = self.world
        with world.lock:
            self._child_parent_ok(scope, rel, pid, param)
            cs = world.children(scope, rel)
            page = cs.page(pid, p.starting_after, p.ending_before, p.limit)
            if page is None:
                if p.starting_after:
                    raise resource_missing(rel.child, p.starting_after, "starting_after")
                raise resource_missing(rel.child, p.ending_before or "", "ending_before")
            items, has_more = page
            paths = [e[len("data.") :] for e in p.expand if e.startswith("data.")]
            if paths:
                lookup = partial(self._lookup, scope)
                items = [orjson.dumps(expand_object(orjson.loads(b), paths, lookup)) for b in items]
        return list_response(items, has_more, url or rel.list_url(pid))

    def _child_retrieve(
        self, scope: Scope, rel: Relation, pid: str | None, cid: str, expand: list[str], param: str = "id"
    ) -> Response:
        world = self.world
        with world.lock:
            cs = world.children(scope, rel)
            if pid is None:  # /v1/subscription_items/{item}
                pid = cs.parent_of(cid)
                if pid is None:
                    raise resource_missing(rel.child, cid)
            self._child_parent_ok(scope, rel, pid, param)
            obj = cs.get(pid, cid)
            if obj is None:
                raise resource_missing(rel.child, cid)
            if expand:
                obj = expand_object(obj, expand, lambda i: self._lookup(scope, i))
        return Response(200, orjson.dumps(obj))

    # ---- lists -----------------------------------------------------------------------------------
    def _events_store(self, scope: Scope) -> ResourceStore:
        assert scope.events is not None
        with self.world.lock:
            scope.events.prune(self.world.retention_cutoff())
        return scope.events.store

    def _list(
        self,
        scope: Scope,
        ep: Endpoint,
        p: ListParams,
        st: ResourceStore,
        pred: Callable[[ResourceStore, str], bool] | None,
    ) -> Response:
        self._check_list_expand(ep, p)
        world = self.world
        with world.lock:
            for param, cursor in (("starting_after", p.starting_after), ("ending_before", p.ending_before)):
                if cursor is not None and cursor not in st:
                    raise resource_missing(ep.object, cursor, param)
            ids, has_more = st.query(p.gte, p.lt, p.starting_after, p.ending_before, p.limit, pred)
            items = self._items(scope, st, ids, p.expand)
        return list_response(items, has_more, ep.path)

    def _pred(self, ep: Endpoint, p: ListParams) -> Callable[[ResourceStore, str], bool] | None:
        tests: list[Callable[[ResourceStore, str], bool]] = []
        filters = dict(p.filters)
        obj = ep.object
        if obj == "subscription" and ep.kind == "list":
            status = filters.pop("status", None)
            if status is None:
                tests.append(lambda st, i: st.field(i, "status") not in SUB_DEFAULT_HIDDEN)
            elif status == "ended":
                tests.append(lambda st, i: st.field(i, "status") in SUB_ENDED)
            elif status != "all":
                tests.append(lambda st, i, s=status: st.field(i, "status") == s)
        if obj == "payment_method" and ep.path == "/v1/payment_methods":
            if "customer" not in filters and "type" not in filters:
                raise StripeError(
                    400, "Missing required param: customer.", code="parameter_missing", param="customer"
                )
        if obj == "invoiceitem" and "pending" in filters:
            want = filters.pop("pending") == "true"
            tests.append(lambda st, i: (st.field(i, "invoice") is None) == want)
        ids_filter = p.lists.get("ids")
        if ids_filter:
            wanted = set(ids_filter)
            tests.append(lambda st, i: i in wanted)
        store = self.world.store(self.world.scope(self.world.platform_id, False), obj)
        known = set(store.gen.slots) | set(store.template.constants) | {"id"}
        for key, value in filters.items():
            path = key.replace("]", "").split("[")
            if path[0] not in known:
                continue  # a filter on a field these objects don't carry: accepted, no effect

            def test(st: ResourceStore, i: str, path: list[str] = path, value: str = value) -> bool:
                v = st.field(i, path[0])
                for part in path[1:]:
                    v = v.get(part) if isinstance(v, dict) else None
                return _scalar_str(v) == value

            tests.append(test)
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda st, i: all(t(st, i) for t in tests)

    @staticmethod
    def _event_pred(p: ListParams) -> Callable[[ResourceStore, str], bool] | None:
        tests: list[Callable[[ResourceStore, str], bool]] = []
        types = list(p.lists.get("types", []))
        if "type" in p.filters:
            types.append(p.filters["type"])
        if types:
            exact = {t for t in types if "*" not in t}
            prefixes = tuple(t.split("*", 1)[0] for t in types if "*" in t)

            def by_type(st: ResourceStore, i: str) -> bool:
                t = st.field(i, "type")
                return t in exact or (bool(prefixes) and t.startswith(prefixes))

            tests.append(by_type)
        if "delivery_success" in p.filters:
            # "Filter events by whether all webhooks were successfully delivered. If false, events which
            # are still pending or have failed all delivery attempts to a webhook endpoint will be
            # returned." (the OpenAPI's description of the parameter)
            delivered = p.filters["delivery_success"] == "true"
            tests.append(lambda st, i: (st.field(i, "pending_webhooks") == 0) == delivered)
        if not tests:
            return None
        return tests[0] if len(tests) == 1 else (lambda st, i: all(t(st, i) for t in tests))

    # ---- search ----------------------------------------------------------------------------------
    def _search(self, scope: Scope, ep: Endpoint, p: ListParams) -> Response:
        self._check_list_expand(ep, p)
        test = compile_query(p.query or "")
        world = self.world
        with world.lock:
            st = world.store(scope, ep.object)
            keys = st.keys

            top = len(keys) if p.page is None else bisect_left(keys, decode_page(p.page))
            found: list[str] = []
            for j in range(top - 1, -1, -1):
                oid = keys[j][1]
                if test(lambda name, oid=oid: st.field(oid, name)):
                    found.append(oid)
                    if len(found) > p.limit:
                        break
            has_more = len(found) > p.limit
            found = found[: p.limit]
            items = self._items(scope, st, found, p.expand)
            next_page = encode_page(st.ts_by_id[found[-1]], found[-1]) if has_more and found else None
        body = b"".join(
            (
                b'{"object":"search_result","data":[',
                b",".join(items),
                b'],"has_more":',
                b"true" if has_more else b"false",
                b',"next_page":',
                orjson.dumps(next_page),
                b',"url":"',
                ep.path.encode(),
                b'"}',
            )
        )
        return Response(200, body)

    # ---- retrieve and expand ---------------------------------------------------------------------
    def _retrieve(self, scope: Scope, ep: Endpoint, oid: str, expand: list[str], caller: Caller) -> Response:
        world = self.world
        with world.lock:
            st = self._events_store(scope) if ep.object == "event" else world.store(scope, ep.object)
            if oid not in st:
                if ep.object == "account":
                    if oid == scope.account_id:  # an account may retrieve itself by id
                        obj = orjson.loads(world.account_bytes(scope))
                        return Response(200, orjson.dumps(self._expanded(scope, obj, "account", oid, expand)))
                    if oid in world.revoked and not scope.connected:
                        raise account_error(caller, oid)
                if oid in st.deleted and ep.retrieve is not None and any(
                    s.startswith("deleted_") for s in ep.retrieve.schemas
                ):
                    # Stripe's answer for a deleted customer (the OpenAPI's deleted_customer): "If it's for
                    # a deleted Customer, a subset of the customer's information is returned, including a
                    # deleted property that's set to true" (Retrieve a customer). Other deleted objects
                    # answer resource_missing: their GET has no deleted_* schema.
                    return Response(200, orjson.dumps({"id": oid, "object": ep.object, "deleted": True}))
                raise resource_missing(ep.object, oid)
            if expand:
                obj = self._expanded(scope, st.get(oid), ep.object, oid, expand)
                return Response(200, orjson.dumps(obj))
            return Response(200, st.render(oid))

    def _expanded(
        self, scope: Scope, obj: dict[str, Any], obj_type: str, oid: str, expand: list[str]
    ) -> dict[str, Any]:
        """``obj`` with its ``expand[]`` paths: child lists not included by default (checkout session
        line_items, customer tax_ids) are included, ids along the paths replaced by their objects."""
        obj = dict(obj)
        for rel in relations_of(obj_type):
            if rel.embed and not rel.embed_default and any(e.split(".", 1)[0] == rel.field for e in expand):
                obj[rel.field] = self.world.children(scope, rel).embedded_dict(oid)
        return expand_object(obj, expand, lambda i: self._lookup(scope, i))

    def _check_list_expand(self, ep: Endpoint, p: ListParams) -> None:
        self.expand_rules.check(p.expand, [ep.schema] if ep.schema else [], listing=True)

    def _items(self, scope: Scope, st: ResourceStore, ids: list[str], expand: list[str]) -> list[bytes]:
        """The listed objects' JSON; with ``expand``, built objects (the ``data.`` paths)."""
        paths = [e[len("data.") :] for e in expand if e.startswith("data.")]
        if not paths:
            return [st.render(i) for i in ids]
        return [orjson.dumps(self._expanded(scope, st.get(i), st.obj, i, paths)) for i in ids]

    def _lookup(self, scope: Scope, oid: str) -> dict[str, Any] | None:
        if oid.startswith("acct_"):
            if oid == scope.account_id:
                return orjson.loads(self.world.account_bytes(scope))
            accounts = self.world.store(scope, "account")
            return accounts.get(oid) if oid in accounts else None
        prefix = oid.rsplit("_", 1)[0] + "_" if "_" in oid else ""
        obj = self.prefix_to_obj.get(prefix)
        if obj is None:
            return None
        st = scope.stores.get(obj)
        if st is None or oid not in st:
            return None
        return st.get(oid)


def _query_dict(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            cur = out[k]
            out[k] = cur + [v] if isinstance(cur, list) else [cur, v]
        else:
            out[k] = v
    return out


def _masked_from(req: Request) -> str | None:
    k = extract_key(req.headers)
    return mask_key(k) if k else None
