"""What issue 10's tests need from the emulator, over real HTTP: events expiring (retention, on demand),
event retrieval behind a "proxy" answering Unrecognized request URL, a pause longer than retention with
deletes in the gap (deleted stubs where Stripe has them), and changes spread over many streams at once."""

from __future__ import annotations

import pytest
import requests

from .conftest import START, StripeHttp

DAY = 86400


@pytest.fixture
def emu(make_emulator):
    return make_emulator()


@pytest.fixture
def http(emu) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key)


def ctl(emu, method: str, path: str, json=None, **params):
    r = requests.request(method, emu.url + "/_emulator" + path, json=json, params=params)
    return r.status_code, r.json()


def event_ids(http: StripeHttp) -> list[str]:
    return [e["id"] for e in http.list_all("/v1/events")]


def test_retention_drops_old_events_from_list_and_retrieve(make_emulator):
    emu = make_emulator({"event_retention_days": 2})
    http = StripeHttp(emu.url, emu.api_key)
    old = emu.create("customers", name="old")
    old_event = http.ok("/v1/events", {"limit": 1})["data"][0]
    emu.advance_clock(DAY)
    emu.create("customers", name="newer")
    assert len(event_ids(http)) == 2
    emu.advance_clock(DAY + 60)  # the first event is now older than 2 days, the second is not
    ids = event_ids(http)
    assert old_event["id"] not in ids and len(ids) == 1
    r = http.get(f"/v1/events/{old_event['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"
    assert http.ok(f"/v1/customers/{old['id']}")["name"] == "old"  # the object stays
    # shortened at run time
    assert emu.set_event_retention(0.5)["days"] == 0.5
    assert event_ids(http) == []
    status, body = ctl(emu, "GET", "/events/retention")
    assert status == 200 and body["days"] == 0.5 and body["cutoff"] == emu.now() - DAY // 2


def test_expire_and_drop_events_on_demand(emu, http):
    made = [emu.create("customers", name=f"c{n}") for n in range(3)]
    emu.advance_clock(10)
    emu.update("customers", made[0]["id"], name="changed")
    evs = emu.events()
    assert [e["type"] for e in evs] == ["customer.created"] * 3 + ["customer.updated"]
    assert emu.expire_events(evs[-1]["created"])["expired"] == 3
    assert event_ids(http) == [evs[-1]["id"]]
    assert http.get(f"/v1/events/{evs[0]['id']}").status_code == 404
    emu.create("products", name="p")
    status, body = ctl(emu, "POST", "/events/drop", {"ids": [evs[-1]["id"], "evt_unknown"]})
    assert status == 200 and body == {"dropped": [evs[-1]["id"]]}
    assert [e["type"] for e in http.list_all("/v1/events")] == ["product.created"]
    status, body = ctl(emu, "POST", "/events/expire", {"before": emu.now() + 1})
    assert status == 200 and body == {"expired": 1} and event_ids(http) == []


def test_proxy_answers_unrecognized_url_for_event_retrieve_only(emu, http):
    emu.create("customers", name="x")
    ev = http.ok("/v1/events")["data"][0]
    emu.set_faults(unrecognized_paths=["/v1/events/*"])
    r = http.get(f"/v1/events/{ev['id']}")
    assert r.status_code == 404
    body = r.json()
    # Stripe's body for a URL it does not have: no code, no param
    assert set(body["error"]) == {"message", "request_log_url", "type"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == (
        f"Unrecognized request URL (GET: /v1/events/{ev['id']}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/."
    )
    assert http.ok("/v1/events")["data"][0]["id"] == ev["id"]  # the list still works
    assert http.get(f"/v1/customers/{ev['data']['object']['id']}").status_code == 200
    log = emu.requests(path=f"/v1/events/{ev['id']}")
    assert log[-1]["fault"] == "unrecognized_url" and log[-1]["status"] == 404
    emu.reset_faults()
    assert http.ok(f"/v1/events/{ev['id']}")["id"] == ev["id"]
    # as a one-off script over HTTP: the next 2 retrieves only
    status, _ = ctl(
        emu, "POST", "/faults", {"script": [{"kind": "unrecognized_url", "path": "/v1/events/", "count": 2}]}
    )
    assert status == 200
    assert [http.get(f"/v1/events/{ev['id']}").status_code for _ in range(3)] == [404, 404, 200]
    status, body = ctl(emu, "POST", "/faults", {"unrecognized_paths": "/v1/events/*"})
    assert status == 400


def test_pause_past_retention_with_deletes_in_the_gap(emu, http):
    """A sync at T0; 10 days later customers, products and invoices are deleted; 31 days after that
    the deletes' events are gone, the objects are not listed, and retrieving them answers as Stripe:
    a deleted stub for customers (deleted_customer in the OpenAPI), resource_missing for the others."""
    customers = [o["id"] for o in http.list_all("/v1/customers")][:5]
    products = [o["id"] for o in http.list_all("/v1/products")][:3]
    invoices = [o["id"] for o in http.list_all("/v1/invoices")][:2]
    t0_events = set(event_ids(http))
    emu.advance_clock(10 * DAY)
    for res, ids in (("customers", customers), ("products", products), ("invoices", invoices)):
        for oid in ids:
            assert emu.delete(res, oid)["deleted"] is True
    assert len(event_ids(http)) == len(t0_events) + 10
    emu.advance_clock(31 * DAY)
    assert event_ids(http) == []  # the gap's events expired
    listed = {o["id"] for o in http.list_all("/v1/customers")}
    assert listed.isdisjoint(customers)
    for cid in customers:
        assert http.ok(f"/v1/customers/{cid}") == {"id": cid, "object": "customer", "deleted": True}
    for path, oid in [("/v1/products", p) for p in products] + [("/v1/invoices", i) for i in invoices]:
        r = http.get(f"{path}/{oid}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing", (path, r.text)
    dump = emu.dump("customers")
    assert {d["id"] for d in dump["deleted"]} == set(customers)
    assert all(START + 10 * DAY <= d["deleted_at"] < START + 10 * DAY + 60 for d in dump["deleted"])


def test_scatter_changes_over_many_streams(emu, http):
    subs_before = {o["id"]: o for o in http.list_all("/v1/subscriptions", {"status": "all"})}
    plan = {
        "invoices": {"update": 3, "delete": 3},
        "customers": {"update": 2, "delete": 2},
        "subscriptions": {"update": 2, "delete": 2},
    }
    done = emu.scatter_changes(plan, seed=7)
    assert len(done) == 14
    assert len({(c["resource"], c["id"]) for c in done}) == 14  # every object changed once
    types = [e["type"] for e in http.list_all("/v1/events")][::-1]
    assert types.count("invoice.updated") == 3 and types.count("invoice.deleted") == 3
    assert types.count("customer.updated") == 2 and types.count("customer.deleted") == 2
    assert types.count("customer.subscription.updated") == 2
    assert types.count("customer.subscription.deleted") == 2  # a cancel: the soft delete
    for c in done:
        if c["resource"] == "subscriptions" and c["op"] == "delete":
            got = http.ok(f"/v1/subscriptions/{c['id']}")
            assert got["status"] == "canceled" and subs_before[c["id"]]["status"] != "canceled"
        if c["resource"] == "invoices" and c["op"] == "delete":
            assert http.get(f"/v1/invoices/{c['id']}").status_code == 404
    status, body = ctl(emu, "POST", "/changes/scatter", {"plan": {"products": {"update": 1}}, "seed": 1})
    assert status == 200 and body["changes"][0]["op"] == "update"
    status, body = ctl(emu, "POST", "/changes/scatter", {"plan": {"products": {"update": 1000}}})
    assert status == 400 and "1000 asked" in body["error"]


def test_scatter_is_deterministic(make_emulator):
    a, b = make_emulator(), make_emulator()
    plan = {"invoices": {"update": 2, "delete": 1}, "customers": {"delete": 2}}
    assert [(c["op"], c["id"]) for c in a.scatter_changes(plan, seed=3)] == [
        (c["op"], c["id"]) for c in b.scatter_changes(plan, seed=3)
    ]


def test_apply_changes_in_one_call(emu, http):
    cus = http.ok("/v1/customers", {"limit": 2})["data"]
    inv = http.ok("/v1/invoices", {"limit": 1})["data"][0]
    status, body = ctl(
        emu,
        "POST",
        "/changes",
        {
            "changes": [
                {"op": "update", "resource": "customers", "id": cus[0]["id"], "fields": {"name": "A"}},
                {"op": "delete", "resource": "customers", "id": cus[1]["id"]},
                {"op": "update", "resource": "invoices", "id": inv["id"], "fields": {"description": "d"}},
                {"op": "create", "resource": "products", "fields": {"name": "new"}},
            ]
        },
    )
    assert status == 200 and len(body["results"]) == 4
    assert [e["type"] for e in http.list_all("/v1/events")][::-1] == [
        "customer.updated",
        "customer.deleted",
        "invoice.updated",
        "product.created",
    ]
    status, body = ctl(
        emu, "POST", "/changes", {"changes": [{"op": "delete", "resource": "customers", "id": "cus_x"}]}
    )
    assert status == 404 and body["error"].startswith("change 0 (delete customers cus_x)")
