"""Change over time: create/update/delete through the Python API and over HTTP, the matching events in
/v1/events (Stripe's event shape and type names), deletions, retention, the emulated clock, and churn."""

from __future__ import annotations

import time

import pytest
import requests

from .conftest import START, StripeHttp

EVENT_KEYS = [
    "id",
    "object",
    "api_version",
    "created",
    "data",
    "livemode",
    "pending_webhooks",
    "request",
    "type",
]


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator()


@pytest.fixture(scope="module")
def http(emu) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key)


def ctl(emu, method: str, path: str, json=None, **params):
    r = requests.request(method, emu.url + "/_emulator" + path, json=json, params=params)
    return r.status_code, r.json()


def events(http: StripeHttp, **params) -> list[dict]:
    return http.list_all("/v1/events", params)


def test_create_appears_first_with_emulated_now_and_event(emu, http):
    before = emu.now()
    cust = emu.create("customers", email="new@example.com", name="New Person")
    assert cust["id"].startswith("cus_") and cust["email"] == "new@example.com"
    assert before <= cust["created"] <= emu.now()
    assert http.ok("/v1/customers", {"limit": 1})["data"][0] == cust
    assert http.ok(f"/v1/customers/{cust['id']}") == cust
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert list(ev) == EVENT_KEYS
    assert ev["type"] == "customer.created" and ev["data"] == {"object": cust}
    assert ev["object"] == "event" and ev["id"].startswith("evt_") and ev["api_version"] == "2023-08-16"
    assert ev["livemode"] is False and ev["pending_webhooks"] == 0
    assert ev["request"] == {"id": None, "idempotency_key": None}


def test_update_over_http_emits_previous_attributes(emu, http):
    target = http.ok("/v1/customers", {"limit": 3})["data"][2]
    status, res = ctl(
        emu, "POST", f"/objects/customers/{target['id']}", {"name": "Renamed", "metadata": {"tier": "gold"}}
    )
    assert status == 200
    assert res["previous_attributes"] == {"name": target["name"], "metadata": {"tier": None}}
    assert res["object"]["name"] == "Renamed" and res["object"]["metadata"] == {"tier": "gold"}
    assert http.ok(f"/v1/customers/{target['id']}") == res["object"]
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["id"] == res["event"] and ev["type"] == "customer.updated"
    assert ev["data"] == {"object": res["object"], "previous_attributes": res["previous_attributes"]}
    again = emu.update("customers", target["id"], metadata={"tier": "silver", "seats": 3})
    assert again["previous_attributes"] == {"metadata": {"tier": "gold", "seats": None}}
    assert again["object"]["metadata"] == {"tier": "silver", "seats": "3"}
    assert emu.update("customers", target["id"], metadata={"tier": None})["object"]["metadata"] == {
        "seats": "3"
    }
    assert emu.update("customers", target["id"], name="Renamed")["event"] is None  # no change, no event
    # the list still has it in its place (created unchanged)
    assert [o["id"] for o in http.ok("/v1/customers", {"limit": 3})["data"]][2] == target["id"]


def test_delete_removes_from_lists_and_cursors(emu, http):
    page = http.ok("/v1/customers", {"limit": 5})["data"]
    victim = page[1]
    status, res = ctl(emu, "DELETE", f"/objects/customers/{victim['id']}")
    assert status == 200 and res["deleted"] is True
    ids = [o["id"] for o in http.list_all("/v1/customers")]
    assert victim["id"] not in ids
    # Stripe answers a deleted customer with its deleted stub (the OpenAPI's deleted_customer)
    r = http.get(f"/v1/customers/{victim['id']}")
    assert r.status_code == 200 and r.json() == {"id": victim["id"], "object": "customer", "deleted": True}
    r = http.get("/v1/customers", {"starting_after": victim["id"]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "starting_after"
    dump = emu.dump("customers")
    assert victim["id"] in {d["id"] for d in dump["deleted"]}
    assert victim["id"] not in {o["id"] for o in dump["objects"]}
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["type"] == "customer.deleted" and ev["data"]["object"]["id"] == victim["id"]


def test_subscription_delete_is_cancel(emu, http):
    sub = http.ok("/v1/subscriptions", {"limit": 1})["data"][0]
    assert sub["status"] != "canceled"
    res = emu.delete("subscriptions", sub["id"])
    assert res["canceled"] is True
    assert sub["id"] not in [o["id"] for o in http.list_all("/v1/subscriptions")]
    got = http.ok(f"/v1/subscriptions/{sub['id']}")
    assert got["status"] == "canceled" and got["canceled_at"] == got["ended_at"]
    assert sub["id"] in [o["id"] for o in http.list_all("/v1/subscriptions", {"status": "all"})]
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["type"] == "customer.subscription.deleted" and ev["data"]["object"]["status"] == "canceled"
    emu.update("subscriptions", sub["id"], metadata={"note": "x"})
    assert http.ok("/v1/events", {"limit": 1})["data"][0]["type"] == "customer.subscription.updated"


def test_event_type_names(emu, http):
    item = emu.create("invoiceitems", amount=1234)
    assert "date" in item and "created" not in item
    emu.update("invoiceitems", item["id"], description="changed")
    prod = emu.create("products", name="Temp")
    emu.delete("products", prod["id"])
    types = [e["type"] for e in http.ok("/v1/events", {"limit": 4})["data"]]
    assert types == ["product.deleted", "product.created", "invoiceitem.updated", "invoiceitem.created"]


def test_non_deletable_resources_refuse_delete(emu):
    charge = emu.dump("charges")["objects"][0]
    status, body = ctl(emu, "DELETE", f"/objects/charges/{charge['id']}")
    assert status == 400 and "cannot be deleted" in body["error"]
    status, body = ctl(emu, "POST", "/objects/customers/cus_missing", {"name": "x"})
    assert status == 404


def test_event_filters(emu, http):
    emu.create("coupons", percent_off=10.0)
    all_events = events(http)
    assert [e["id"] for e in all_events] == [
        e["id"] for e in sorted(all_events, key=lambda e: (e["created"], e["id"]), reverse=True)
    ]
    assert [e["type"] for e in events(http, type="customer.created")] == ["customer.created"]
    prefixed = events(http, type="customer.*")
    assert prefixed and all(e["type"].startswith("customer.") for e in prefixed)
    both = events(http, **{"types[]": ["coupon.created", "product.deleted"]})
    assert sorted(e["type"] for e in both) == ["coupon.created", "product.deleted"]
    now = emu.now()
    assert events(http, **{"created[gt]": now + 10}) == []
    assert len(events(http, **{"created[lte]": now})) == len(all_events)


def test_events_expire_after_retention_and_clock_moves(emu, http):
    assert events(http)
    old = events(http)[-1]
    start = emu.now()
    assert start - START < 60  # emulated time starts at the configured start time
    now = emu.advance_clock(31 * 86400)
    assert now >= start + 31 * 86400
    assert events(http) == []
    assert http.get(f"/v1/events/{old['id']}").status_code == 404
    fresh = emu.create("customers", name="After the jump")
    assert fresh["created"] >= now
    assert [e["data"]["object"]["id"] for e in events(http)] == [fresh["id"]]
    status, clock = ctl(emu, "POST", "/clock/advance", {"seconds": 60})
    assert status == 200 and clock["now"] >= now + 60
    assert ctl(emu, "GET", "/clock")[1]["now"] >= now + 60


def test_create_over_http_and_connected_account_events(make_emulator):
    emu = make_emulator({"connected_accounts": {"acct_1Conn": {"dataset": {"customers": 2}}}})
    status, obj = ctl(emu, "POST", "/objects/products", {"name": "Via HTTP"}, account="acct_1Conn")
    assert status == 200 and obj["name"] == "Via HTTP"
    conn = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": "acct_1Conn"})
    ev = conn.ok("/v1/events")["data"]
    assert [e["type"] for e in ev] == ["product.created"] and ev[0]["account"] == "acct_1Conn"
    assert StripeHttp(emu.url, emu.api_key).ok("/v1/events")["data"] == []


def test_churn_produces_changes_and_events(make_emulator):
    emu = make_emulator()
    http = StripeHttp(emu.url, emu.api_key)
    status, st = ctl(emu, "POST", "/churn", {"rate": 100, "resources": ["customers", "products"]})
    assert status == 200 and st["running"]
    time.sleep(0.4)
    status, st = ctl(emu, "DELETE", "/churn")
    assert not st["running"] and st["changes"] >= 10
    evs = events(http)
    assert len(evs) == st["changes"]
    assert {e["type"].split(".")[0] for e in evs} <= {"customer", "product"}
    assert {e["type"].split(".")[1] for e in evs} <= {"created", "updated", "deleted"}


def test_date_header_follows_the_emulated_clock(make_emulator):
    from email.utils import parsedate_to_datetime

    emu = make_emulator()
    http = StripeHttp(emu.url, emu.api_key)
    before = parsedate_to_datetime(http.get("/v1/customers").headers["Date"]).timestamp()
    assert abs(before - emu.now()) <= 1
    emu.advance_clock(3600)
    after = parsedate_to_datetime(http.get("/v1/customers").headers["Date"]).timestamp()
    assert 3599 <= after - before <= 3602
