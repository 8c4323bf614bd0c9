"""Nested lists (issue 14's child streams) over real HTTP: parents with 0, 3, 10 and 250 children, the
first 10 embedded as Stripe embeds them (or not at all without expand[]), Stripe's paging on the nested
endpoints, retrieving one child, scripted changes that add and remove children with Stripe's events, and
the ground truth of child collections."""

from __future__ import annotations

import pytest
import requests

from .conftest import START, StripeHttp

CONNECTED = "acct_1ChildrenAcct01"
CONFIG = {
    "dataset": {
        "invoices": {"count": 8, "children": {"lines": [0, 3, 10, 250]}},
        "subscriptions": {"count": 4, "children": {"items": [0, 3, 10, 250]}},
        "credit_notes": {"count": 2, "children": {"lines": [3, 12]}},
        "checkout_sessions": {"count": 2, "children": {"line_items": [2, 11]}},
        "payment_links": {"count": 2},
        "quotes": {"count": 2, "children": {"line_items": 4}},
        "customers": {"count": 4, "children": {"tax_ids": [0, 2, 12, 1], "balance_transactions": 3}},
        "transfers": {"count": 2, "children": {"reversals": [0, 11]}},
        "application_fees": {"count": 2, "children": {"refunds": [1, 10]}},
    },
    "connected_accounts": {CONNECTED: {"children": {"persons": 3, "external_accounts": 12}}},
}


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator(CONFIG)


@pytest.fixture(scope="module")
def http(emu) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key)


def pages(http: StripeHttp, path: str, params: dict | None = None, limit: int = 7) -> list[list[dict]]:
    """Every page of a nested list, following starting_after like a client."""
    out, cursor = [], None
    while True:
        p = {**(params or {}), "limit": limit, **({"starting_after": cursor} if cursor else {})}
        page = http.ok(path, p)
        out.append(page["data"])
        if not page["has_more"]:
            return out
        cursor = page["data"][-1]["id"]


def by_count(objs: list[dict], field: str) -> dict[int, dict]:
    return {o[field]["total_count"]: o for o in objs}


def test_invoice_lines_embedded_and_paged(emu, http):
    invoices = http.list_all("/v1/invoices")
    assert sorted(o["lines"]["total_count"] for o in invoices) == [0, 0, 3, 3, 10, 10, 250, 250]
    for count, inv in by_count(invoices, "lines").items():
        lines = inv["lines"]
        assert list(lines) == ["object", "data", "has_more", "total_count", "url"]
        assert lines["object"] == "list" and lines["url"] == f"/v1/invoices/{inv['id']}/lines"
        assert len(lines["data"]) == min(count, 10) and lines["has_more"] is (count > 10)
        got = [o for page in pages(http, f"/v1/invoices/{inv['id']}/lines") for o in page]
        assert len(got) == count and len({o["id"] for o in got}) == count
        assert all(o["object"] == "line_item" and o["id"].startswith("il_") for o in got)
        assert got[: len(lines["data"])] == lines["data"]  # the embedded ones are the first page
        truth = emu.children("invoices", inv["id"], "lines")
        assert got == truth
        page = http.ok(f"/v1/invoices/{inv['id']}/lines")
        assert page["url"] == f"/v1/invoices/{inv['id']}/lines" and "total_count" not in page
        assert len(page["data"]) == min(count, 10)  # default limit 10


def test_paging_cursors_like_stripe(emu, http):
    inv = by_count(http.list_all("/v1/invoices"), "lines")[250]
    path = f"/v1/invoices/{inv['id']}/lines"
    everything = [o["id"] for page in pages(http, path, limit=100) for o in page]
    assert len(everything) == 250
    page = http.ok(path, {"limit": 5, "ending_before": everything[20]})
    assert [o["id"] for o in page["data"]] == everything[15:20] and page["has_more"] is True
    page = http.ok(path, {"limit": 5, "ending_before": everything[3]})
    assert [o["id"] for o in page["data"]] == everything[:3] and page["has_more"] is False
    page = http.ok(path, {"limit": 100, "starting_after": everything[200]})
    assert [o["id"] for o in page["data"]] == everything[201:] and page["has_more"] is False
    r = http.get(path, {"starting_after": "il_notaline"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "starting_after"
    r = http.get(path, {"limit": 101})
    assert r.status_code == 400 and r.json()["error"]["code"] == "parameter_invalid_integer"
    r = http.get(path, {"bogus": 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "parameter_unknown"
    r = http.get("/v1/invoices/in_nope/lines")
    assert r.status_code == 404 and r.json()["error"]["message"] == "No such invoice: 'in_nope'"


def test_subscription_items_by_subscription(emu, http):
    subs = http.list_all("/v1/subscriptions", {"status": "all"})
    assert sorted(s["items"]["total_count"] for s in subs) == [0, 3, 10, 250]
    for count, sub in by_count(subs, "items").items():
        assert sub["items"]["url"] == f"/v1/subscription_items?subscription={sub['id']}"
        got = [o for page in pages(http, "/v1/subscription_items", {"subscription": sub["id"]}) for o in page]
        assert len(got) == count and all(o["subscription"] == sub["id"] for o in got)
        assert got[: min(count, 10)] == sub["items"]["data"]
        if got:
            assert http.ok(f"/v1/subscription_items/{got[-1]['id']}") == got[-1]
    page = http.ok("/v1/subscription_items", {"subscription": subs[0]["id"], "limit": 1})
    assert page["url"] == "/v1/subscription_items"
    r = http.get("/v1/subscription_items")
    assert r.status_code == 400 and r.json()["error"]["code"] == "parameter_missing"
    r = http.get("/v1/subscription_items", {"subscription": "sub_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"
    assert http.get("/v1/subscription_items/si_nope").status_code == 404


def test_embedded_lists_of_other_parents(emu, http):
    for path, field, counts in (
        ("/v1/credit_notes", "lines", [3, 12]),
        ("/v1/transfers", "reversals", [0, 11]),
        ("/v1/application_fees", "refunds", [1, 10]),
    ):
        parents = http.list_all(path)
        assert sorted(p[field]["total_count"] for p in parents) == counts, path
        for p in parents:
            nested = [o for page in pages(http, p[field]["url"]) for o in page]
            assert len(nested) == p[field]["total_count"]
            assert nested[:10] == p[field]["data"]
    acct = http.ok(f"/v1/accounts/{CONNECTED}")
    ext = acct["external_accounts"]
    assert ext["total_count"] == 12 and len(ext["data"]) == 10 and ext["has_more"] is True
    assert ext["url"] == f"/v1/accounts/{CONNECTED}/external_accounts"
    got = [o for page in pages(http, ext["url"]) for o in page]
    assert len(got) == 12 and got[:10] == ext["data"] and all(o["account"] == CONNECTED for o in got)


def test_lists_not_embedded_unless_expanded(emu, http):
    sessions = http.list_all("/v1/checkout/sessions")
    assert all("line_items" not in s for s in sessions)
    counts = []
    for s in sessions:
        got = [o for page in pages(http, f"/v1/checkout/sessions/{s['id']}/line_items") for o in page]
        assert all(o["object"] == "item" for o in got)
        expanded = http.ok(f"/v1/checkout/sessions/{s['id']}", {"expand[]": "line_items"})["line_items"]
        assert expanded["total_count"] == len(got) and expanded["data"] == got[:10]
        counts.append(len(got))
    assert sorted(counts) == [2, 11]
    listed = http.ok("/v1/checkout/sessions", {"expand[]": "data.line_items"})["data"]
    assert all(s["line_items"]["object"] == "list" for s in listed)
    customers = http.list_all("/v1/customers")
    assert all("tax_ids" not in c for c in customers)
    tax_counts = sorted(
        http.ok(f"/v1/customers/{c['id']}", {"expand[]": "tax_ids"})["tax_ids"]["total_count"]
        for c in customers
    )
    assert tax_counts == [0, 1, 2, 12]
    for link in http.list_all("/v1/payment_links"):
        assert "line_items" not in link
        assert len(http.ok(f"/v1/payment_links/{link['id']}/line_items")["data"]) == 1
    for q in http.list_all("/v1/quotes"):
        assert len(http.ok(f"/v1/quotes/{q['id']}/line_items")["data"]) == 4


def test_listed_only_children_and_one_child_retrieve(emu, http):
    cus = http.list_all("/v1/customers")[0]
    txns = http.ok(f"/v1/customers/{cus['id']}/balance_transactions")["data"]
    assert len(txns) == 3 and all(t["customer"] == cus["id"] for t in txns)
    assert http.ok(f"/v1/customers/{cus['id']}/balance_transactions/{txns[1]['id']}") == txns[1]
    with_tax = next(
        c for c in http.list_all("/v1/customers") if http.ok(f"/v1/customers/{c['id']}/tax_ids")["data"]
    )
    tax = http.ok(f"/v1/customers/{with_tax['id']}/tax_ids")["data"][0]
    assert tax["customer"] == with_tax["id"] and tax["id"].startswith("txi_")
    assert http.ok(f"/v1/customers/{with_tax['id']}/tax_ids/{tax['id']}") == tax
    assert http.get(f"/v1/customers/{cus['id']}/tax_ids/txi_nope").status_code == 404
    transfer = by_count(http.list_all("/v1/transfers"), "reversals")[11]
    rev = transfer["reversals"]["data"][3]
    assert http.ok(f"/v1/transfers/{transfer['id']}/reversals/{rev['id']}") == rev
    persons = http.ok(f"/v1/accounts/{CONNECTED}/persons")["data"]
    assert len(persons) == 3 and all(p["account"] == CONNECTED for p in persons)
    assert http.ok(f"/v1/accounts/{CONNECTED}/people")["data"] == persons  # the older alias
    assert http.ok(f"/v1/accounts/{CONNECTED}/persons/{persons[0]['id']}") == persons[0]
    caps = http.ok(f"/v1/accounts/{CONNECTED}/capabilities")
    assert [c["id"] for c in caps["data"]] == ["card_payments", "transfers"] and caps["has_more"] is False
    assert http.ok(f"/v1/accounts/{CONNECTED}/capabilities/transfers")["status"] == "active"
    r = http.get(f"/v1/accounts/{CONNECTED}/capabilities", {"limit": 1})  # Stripe's list takes no limit
    assert r.status_code == 400 and r.json()["error"]["code"] == "parameter_unknown"
    # the connected account reads its own, not another's
    own = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": CONNECTED})
    assert own.ok(f"/v1/accounts/{CONNECTED}/persons")["data"] == persons


def test_add_and_remove_invoice_lines_with_stripe_events(make_emulator):
    emu = make_emulator(CONFIG)
    http = StripeHttp(emu.url, emu.api_key)
    inv = by_count(http.list_all("/v1/invoices"), "lines")[3]
    assert inv["status"] == "draft"
    before = emu.children("invoices", inv["id"], "lines")
    added = emu.add_child("invoices", inv["id"], "lines", amount=1500, description="Extra seat")
    line = added["object"]
    assert line["id"].startswith("il_") and line["amount"] == 1500 and line["type"] == "invoiceitem"
    evs = http.ok("/v1/events", {"limit": 2})["data"][::-1]
    assert [e["type"] for e in evs] == ["invoiceitem.created", "invoice.updated"]
    assert [e["id"] for e in evs] == added["events"]
    item = evs[0]["data"]["object"]
    assert item["id"] == line["invoice_item"] and item["invoice"] == inv["id"] and item["amount"] == 1500
    updated = evs[1]["data"]["object"]
    assert updated["lines"]["total_count"] == 4 and updated["lines"]["data"][-1] == line
    assert evs[1]["data"]["previous_attributes"]["lines"] == inv["lines"]
    assert (
        updated["total"] == inv["total"] + 1500
        and evs[1]["data"]["previous_attributes"]["total"] == inv["total"]
    )
    assert http.ok(f"/v1/invoices/{inv['id']}") == updated
    assert emu.children("invoices", inv["id"], "lines") == before + [line]
    assert http.ok(f"/v1/invoiceitems/{item['id']}")["invoice"] == inv["id"]
    # remove the added line and one generated line
    removed = emu.remove_child("invoices", inv["id"], "lines", line["id"])
    assert removed["deleted"] is True
    evs = http.ok("/v1/events", {"limit": 2})["data"][::-1]
    assert [e["type"] for e in evs] == ["invoiceitem.deleted", "invoice.updated"]
    status = requests.delete(
        f"{emu.url}/_emulator/children/invoices/{inv['id']}/lines/{before[0]['id']}"
    ).status_code
    assert status == 200
    now = emu.children("invoices", inv["id"], "lines")
    assert now == before[1:]
    assert [o["id"] for o in http.ok(f"/v1/invoices/{inv['id']}/lines")["data"]] == [o["id"] for o in now]
    truth = emu.dump("invoice_line_items")
    assert {(d["parent"], d["id"]) for d in truth["deleted"]} == {
        (inv["id"], line["id"]),
        (inv["id"], before[0]["id"]),
    }
    assert truth["count"] == sum(o["lines"]["total_count"] for o in http.list_all("/v1/invoices"))
    assert {o["object"]["id"] for o in truth["objects"] if o["parent"] == inv["id"]} == {o["id"] for o in now}
    # only drafts change
    emu.update("invoices", inv["id"], status="open")
    r = requests.post(f"{emu.url}/_emulator/children/invoices/{inv['id']}/lines", json={"amount": 1})
    assert r.status_code == 400 and "draft" in r.json()["error"]


def test_add_and_remove_subscription_items(make_emulator):
    emu = make_emulator(CONFIG)
    http = StripeHttp(emu.url, emu.api_key)
    sub = by_count(http.list_all("/v1/subscriptions", {"status": "all"}), "items")[10]
    added = emu.add_child("subscriptions", sub["id"], "items", quantity=2)["object"]
    assert added["subscription"] == sub["id"] and added["quantity"] == 2
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["type"] == "customer.subscription.updated"
    assert ev["data"]["object"]["items"]["total_count"] == 11 and ev["data"]["object"]["items"]["has_more"]
    assert ev["data"]["previous_attributes"] == {"items": sub["items"]}
    got = [o for p in pages(http, "/v1/subscription_items", {"subscription": sub["id"]}) for o in p]
    assert got[-1] == added and len(got) == 11
    # through the top-level resource, as Stripe's POST/DELETE /v1/subscription_items
    other = emu.create("subscription_items", subscription=sub["id"], quantity=5)
    res = emu.delete("subscription_items", sub["items"]["data"][0]["id"])
    assert res["deleted"] is True and res["parent"] == sub["id"]
    assert http.get(f"/v1/subscription_items/{sub['items']['data'][0]['id']}").status_code == 404
    assert http.ok(f"/v1/subscription_items/{other['id']}")["quantity"] == 5
    types = [e["type"] for e in http.ok("/v1/events", {"limit": 3})["data"]]
    assert types == ["customer.subscription.updated"] * 3
    assert emu.dump("subscription_items")["deleted"][0]["id"] == sub["items"]["data"][0]["id"]


def test_other_children_changes_send_their_events(make_emulator):
    emu = make_emulator(CONFIG)
    http = StripeHttp(emu.url, emu.api_key)
    cus = http.list_all("/v1/customers")[0]
    tax = emu.add_child("customers", cus["id"], "tax_ids", type="eu_vat", value="DE000000001")["object"]
    assert http.ok("/v1/events", {"limit": 1})["data"][0]["type"] == "customer.tax_id.created"
    assert http.ok(f"/v1/customers/{cus['id']}/tax_ids")["data"][0] == tax  # newest first
    emu.remove_child("customers", cus["id"], "tax_ids", tax["id"])
    assert http.ok("/v1/events", {"limit": 1})["data"][0]["type"] == "customer.tax_id.deleted"
    txn = emu.add_child("customers", cus["id"], "balance_transactions", amount=-700)["object"]
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["type"] == "customer.updated" and ev["data"]["object"]["balance"] == cus["balance"] - 700
    assert txn["ending_balance"] == cus["balance"] - 700
    r = requests.delete(
        f"{emu.url}/_emulator/children/customers/{cus['id']}/balance_transactions/{txn['id']}"
    )
    assert r.status_code == 400  # Stripe has no DELETE for a customer balance transaction
    transfer = http.list_all("/v1/transfers")[0]
    emu.add_child("transfers", transfer["id"], "reversals", amount=10)
    ev = http.ok("/v1/events", {"limit": 1})["data"][0]
    assert (
        ev["type"] == "transfer.reversed"
        and ev["data"]["object"]["amount_reversed"] == transfer["amount_reversed"] + 10
    )
    person = emu.add_child("accounts", CONNECTED, "persons", first_name="Ada")["object"]
    conn = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": CONNECTED})
    ev = conn.ok("/v1/events", {"limit": 1})["data"][0]
    assert ev["type"] == "person.created" and ev["account"] == CONNECTED and ev["data"]["object"] == person
    r = requests.post(
        f"{emu.url}/_emulator/children/credit_notes/{http.list_all('/v1/credit_notes')[0]['id']}/lines",
        json={},
    )
    assert r.status_code == 400  # credit note lines never change


def test_children_are_deterministic_and_lazy(make_emulator):
    a, b = make_emulator(CONFIG), make_emulator(CONFIG)
    assert (
        requests.get(a.url + "/_emulator/dump?resource=invoice_line_items").content
        == requests.get(b.url + "/_emulator/dump?resource=invoice_line_items").content
    )
    big = make_emulator({"dataset": {"invoices": {"count": 2000, "children": {"lines": 250}}}})
    http = StripeHttp(big.url, big.api_key)
    inv = http.ok("/v1/invoices", {"limit": 1})["data"][0]
    assert inv["lines"]["total_count"] == 250
    sc = big.world.scope(big.account_id, False)
    cs = sc.children["invoice_line_items"]
    assert cs.lists == {} and cs.objects == {}  # 500,000 lines served, none stored


def test_bad_children_config_is_refused():
    from stripe_emulator import EmulatorConfig
    from stripe_emulator.emulator import Emulator

    for bad in ({"invoices": {"children": {"nope": 3}}}, {"invoices": {"children": {"lines": [-1]}}}):
        with pytest.raises(ValueError):
            Emulator(EmulatorConfig.from_dict({"dataset": bad, "start_time": START}))
