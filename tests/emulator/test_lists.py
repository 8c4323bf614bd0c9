"""Lists behave exactly like Stripe's: shape, order, limit, cursors, created filters, unknown and
required parameters, unrecognized URLs, per-resource quirks, expand, retrieve and search."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_emulator.catalog import load_catalog

from .conftest import START, StripeHttp, required_pairs, sort_key

CATALOG = load_catalog()
BURST_TS = START - 5 * 86400


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator(
        {"dataset": {"charges": {"count": 300, "years": 1, "bursts": [{"at": BURST_TS, "count": 250}]}}}
    )


@pytest.fixture(scope="module")
def http(emu) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key)


def truth(emu, resource: str, ts: str = "created") -> list[dict[str, Any]]:
    objs = emu.dump(resource)["objects"]
    return sorted(objs, key=lambda o: sort_key(o, ts), reverse=True)


def test_list_shape_headers_and_default_limit(emu, http):
    r = http.get("/v1/customers")
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["object", "data", "has_more", "url"]
    assert body["object"] == "list" and body["url"] == "/v1/customers" and body["has_more"] is True
    assert len(body["data"]) == 10
    assert all(o["object"] == "customer" and o["id"].startswith("cus_") for o in body["data"])
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Request-Id"].startswith("req_")
    assert r.headers["Date"].endswith("GMT")
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_newest_first_and_full_pagination_match_ground_truth(emu, http):
    listed = http.list_all("/v1/customers", limit=7)
    expected = truth(emu, "customers")
    assert [o["id"] for o in listed] == [o["id"] for o in expected]
    assert listed == expected
    assert len({o["id"] for o in listed}) == len(listed) == 40


@pytest.mark.parametrize(
    "value,message",
    [
        ("0", "This value must be greater than or equal to 1."),
        ("101", "This value must be less than or equal to 100."),
        ("abc", "Invalid integer: abc"),
    ],
)
def test_limit_out_of_range(http, value, message):
    r = http.get("/v1/customers", {"limit": value})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "parameter_invalid_integer"
    assert err["param"] == "limit" and err["type"] == "invalid_request_error" and err["message"] == message


def test_limit_bounds_accepted(http):
    assert len(http.ok("/v1/customers", {"limit": 1})["data"]) == 1
    page = http.ok("/v1/charges", {"limit": 100})
    assert len(page["data"]) == 100 and page["has_more"] is True


def test_ending_before_walks_backwards(emu, http):
    expected = [o["id"] for o in truth(emu, "customers")]
    oldest = expected[-1]
    collected: list[str] = []
    cursor = oldest
    while True:
        page = http.ok("/v1/customers", {"limit": 6, "ending_before": cursor})
        ids = [o["id"] for o in page["data"]]
        assert (
            ids == expected[expected.index(cursor) - len(ids) : expected.index(cursor)]
        )  # still newest first
        collected = ids + collected
        if not page["has_more"]:
            break
        cursor = ids[0]
    assert collected + [oldest] == expected


def test_cursor_errors(http):
    r = http.get("/v1/customers", {"starting_after": "cus_doesnotexist"})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "resource_missing" and err["param"] == "starting_after"
    assert err["message"] == "No such customer: 'cus_doesnotexist'"
    r = http.get("/v1/customers", {"ending_before": "cus_doesnotexist"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "ending_before"
    first = http.ok("/v1/customers", {"limit": 2})["data"]
    r = http.get("/v1/customers", {"starting_after": first[0]["id"], "ending_before": first[1]["id"]})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_created_filters(emu, http):
    objs = truth(emu, "customers")
    mid = objs[len(objs) // 2]["created"]
    cases = {
        "created[gt]": lambda c: c > mid,
        "created[gte]": lambda c: c >= mid,
        "created[lt]": lambda c: c < mid,
        "created[lte]": lambda c: c <= mid,
        "created": lambda c: c == mid,
    }
    for param, keep in cases.items():
        got = [o["id"] for o in http.list_all("/v1/customers", {param: mid})]
        assert got == [o["id"] for o in objs if keep(o["created"])], param
    lo, hi = objs[-5]["created"], objs[4]["created"]
    got = http.list_all("/v1/customers", {"created[gte]": lo, "created[lt]": hi})
    assert [o["id"] for o in got] == [o["id"] for o in objs if lo <= o["created"] < hi]
    r = http.get("/v1/customers", {"created[gt]": "soon"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "created[gt]"


@pytest.mark.parametrize(
    "path,params,name",
    [
        ("/v1/customers", {"foo": "1"}, "foo"),
        ("/v1/customers", {"status": "all"}, "status"),  # declared for subscriptions, not customers
        ("/v1/payment_methods", {"type": "card", "created[gte]": "1"}, "created"),  # no created filter there
        ("/v1/customers", {"bogus[nested]": "1"}, "bogus"),
    ],
)
def test_unknown_parameter(http, path, params, name):
    r = http.get(path, params)
    assert r.status_code == 400
    assert r.json()["error"] == {
        **r.json()["error"],
        "message": f"Received unknown parameter: {name}",
        "param": name,
        "type": "invalid_request_error",
        "code": "parameter_unknown",
    }


def test_unknown_created_operator(http):
    r = http.get("/v1/customers", {"created[between]": "1"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "parameter_unknown"


def test_unrecognized_url(http):
    for path in ("/v1/foo", "/v1/customers/cus_123/foo", "/v2/core/events"):
        r = http.get(path)
        assert r.status_code == 404
        assert r.json() == {
            "error": {
                "message": f"Unrecognized request URL (GET: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
                "type": "invalid_request_error",
                "request_log_url": r.json()["error"]["request_log_url"],
            }
        }


def test_required_parameter_missing(http):
    r = http.get("/v1/treasury/transactions")
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["param"], err["message"]) == (
        "parameter_missing",
        "financial_account",
        "Missing required param: financial_account.",
    )
    assert http.ok("/v1/treasury/transactions", {"financial_account": "fa_123"})["data"] == []
    assert http.get("/v1/customers/search").json()["error"]["param"] == "query"


@pytest.mark.parametrize("path", sorted(CATALOG.endpoints))
def test_every_list_endpoint_is_served(emu, http, path):
    ep = CATALOG.endpoints[path]
    params = required_pairs(ep, emu)
    if "limit" in ep.declared_params:
        params.append(("limit", "3"))
    page = http.ok(path, params)
    assert page["url"] == path
    assert page["object"] == ("search_result" if ep.kind == "search" else "list")
    assert all(o["object"] == ep.object for o in page["data"])


def test_invoiceitems_carry_date_and_filter_on_it(emu, http):
    items = truth(emu, "invoiceitems", ts="date")
    assert items and all("date" in o and "created" not in o for o in items)
    listed = http.list_all("/v1/invoiceitems", limit=9)
    assert [o["id"] for o in listed] == [o["id"] for o in items]
    pivot = items[len(items) // 2]["date"]
    got = http.list_all("/v1/invoiceitems", {"created[gte]": pivot})
    assert [o["id"] for o in got] == [o["id"] for o in items if o["date"] >= pivot]


def test_subscriptions_hide_canceled_unless_asked(emu, http):
    subs = truth(emu, "subscriptions")
    canceled = [o["id"] for o in subs if o["status"] == "canceled"]
    assert canceled and len(canceled) < len(subs)
    default = [o["id"] for o in http.list_all("/v1/subscriptions", limit=4)]
    assert default == [o["id"] for o in subs if o["status"] != "canceled"]
    assert [o["id"] for o in http.list_all("/v1/subscriptions", {"status": "all"}, limit=4)] == [
        o["id"] for o in subs
    ]
    assert [o["id"] for o in http.list_all("/v1/subscriptions", {"status": "canceled"})] == canceled


def test_payment_methods_need_customer_or_type(emu, http):
    r = http.get("/v1/payment_methods")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "parameter_missing"
    cards = http.list_all("/v1/payment_methods", {"type": "card"})
    assert len(cards) == len(emu.dump("payment_methods")["objects"])
    assert http.ok("/v1/payment_methods", {"customer": "cus_nobody"})["data"] == []


def test_equality_filters(emu, http):
    cust = truth(emu, "customers")[3]
    got = http.ok("/v1/customers", {"email": cust["email"]})["data"]
    assert [o["id"] for o in got] == [cust["id"]]
    invoices = truth(emu, "invoices")
    target = invoices[0]["customer"]
    got = http.list_all("/v1/invoices", {"customer": target})
    assert [o["id"] for o in got] == [o["id"] for o in invoices if o["customer"] == target]


def test_expand(emu, http):
    customers = {o["id"] for o in emu.dump("customers")["objects"]}
    for key in ("expand[]", "expand[0]"):
        page = http.ok("/v1/invoices", {key: "data.customer", "limit": 5})
        for inv in page["data"]:
            assert isinstance(inv["customer"], dict) and inv["customer"]["object"] == "customer"
            assert inv["customer"]["id"] in customers
    r = http.get("/v1/invoices", {"expand[]": "customer"})
    assert r.status_code == 400 and r.json()["error"]["message"] == (
        "This property cannot be expanded (customer). You may want to try expanding 'data.customer' instead."
    )


def test_retrieve(emu, http):
    cust = truth(emu, "customers")[0]
    assert http.ok(f"/v1/customers/{cust['id']}") == cust
    r = http.get("/v1/customers/cus_nope")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "No such customer: 'cus_nope'"
    assert r.json()["error"]["code"] == "resource_missing"
    assert (
        http.get(f"/v1/customers/{cust['id']}", {"limit": 3}).json()["error"]["code"] == "parameter_unknown"
    )


def test_search(emu, http):
    cust = truth(emu, "customers")[5]
    res = http.ok("/v1/customers/search", {"query": f"email:'{cust['email']}'"})
    assert res["object"] == "search_result" and res["url"] == "/v1/customers/search"
    assert [o["id"] for o in res["data"]] == [cust["id"]] and res["next_page"] is None
    everything = truth(emu, "customers")
    got, page = [], None
    while True:
        params = {"query": "created>0", "limit": 15, **({"page": page} if page else {})}
        res = http.ok("/v1/customers/search", params)
        got += [o["id"] for o in res["data"]]
        if not res["has_more"]:
            break
        page = res["next_page"]
    assert got == [o["id"] for o in everything]
    assert http.get("/v1/customers/search", {"query": "email:'a' AND name:'b' OR x:'c'"}).status_code == 400


def test_burst_in_one_second_pages_exactly(emu, http):
    got = http.list_all("/v1/charges", {"created": BURST_TS})
    assert len(got) == 250 and len({o["id"] for o in got}) == 250
    assert [o["id"] for o in got] == sorted((o["id"] for o in got), reverse=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=5),
    limit=st.integers(1, 100),
    reverse=st.booleans(),
)
def test_windows_partition_without_loss_or_duplicates(emu, http, cuts, limit, reverse):
    """Any split of the time range into half-open windows, paged at any limit, yields every charge once."""
    objs = truth(emu, "charges")
    lo, hi = objs[-1]["created"], objs[0]["created"] + 1
    points = sorted({lo, hi, BURST_TS, BURST_TS + 1} | {lo + (hi - lo) * c // 100 for c in cuts})
    windows = list(zip(points, points[1:], strict=False))
    if reverse:
        windows.reverse()
    seen: list[str] = []
    for a, b in windows:
        seen += (
            [
                o["id"]
                for o in http.list_all("/v1/charges", {"created[gte]": a, "created[lt]": b}, limit=limit)
            ]
            if limit >= 20
            else [o["id"] for o in _pages(http, a, b, limit)]
        )
    assert sorted(seen) == sorted(o["id"] for o in objs)


def _pages(http: StripeHttp, a: int, b: int, limit: int) -> list[dict[str, Any]]:
    # small limits: page with ending_before from the oldest instead, to exercise the other cursor too
    older = http.list_all("/v1/charges", {"created[gte]": a, "created[lt]": b}, limit=100)
    if not older:
        return []
    out = [older[-1]]
    cursor = older[-1]["id"]
    while True:
        page = http.ok(
            "/v1/charges", {"created[gte]": a, "created[lt]": b, "limit": limit, "ending_before": cursor}
        )
        out = page["data"] + out
        if not page["has_more"]:
            return out
        cursor = page["data"][0]["id"]


def test_list_body_is_compact_json_of_objects(emu, http):
    r = http.get("/v1/customers", {"limit": 2})
    assert orjson.loads(r.content) == r.json()
