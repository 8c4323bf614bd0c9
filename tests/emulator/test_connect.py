"""Connect (issue 16) over real HTTP: a platform with many connected accounts of very different sizes,
/v1/accounts paged, one account by id, colliding custom ids across accounts, an account revoked and one
added mid-run, each account's own events and ground truth, and each account's own rate-limit budget."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from .conftest import START, StripeHttp

BIG, SMALL = "acct_1ConnectBig0001", "acct_1ConnectSmall01"
CONFIG = {
    "connected_accounts": {
        BIG: {
            "dataset": {"customers": 400, "products": 2},
            "objects": {
                "products": [{"id": "prod_shared", "name": "Big's plan"}],
                "prices": [{"id": "price_shared", "product": "prod_shared", "unit_amount": 900}],
            },
        },
        SMALL: {
            "dataset": {"customers": 2},
            "objects": {
                "products": [{"id": "prod_shared", "name": "Small's plan"}],
                "prices": [{"id": "price_shared", "product": "prod_shared", "unit_amount": 100}],
            },
        },
        "generate": {"count": 50},
    }
}


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator(CONFIG)


def as_account(emu, acct: str | None) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key, {"Stripe-Account": acct} if acct else None)


def test_generated_accounts_are_deterministic_with_very_different_sizes(emu, make_emulator):
    accounts = emu.connected_accounts()
    generated = [a for a in accounts if a["id"] not in (BIG, SMALL)]
    assert len(generated) == 50 and len({a["id"] for a in generated}) == 50
    assert all(a["id"].startswith("acct_1") and len(a["id"]) == 21 for a in generated)
    assert Counter(a["size"] for a in generated) == {"tiny": 30, "small": 15, "medium": 4, "large": 1}
    fresh = make_emulator(CONFIG)
    assert [a["id"] for a in fresh.connected_accounts()] == [a["id"] for a in accounts]
    assert list(fresh.world.scopes) == [(fresh.account_id, False)]  # accounts' data is built when used
    sizes = {a["size"]: emu.dump("customers", account=a["id"])["count"] for a in generated}
    assert sizes == {"tiny": 3, "small": 25, "medium": 300, "large": 3000}


def test_accounts_list_is_paged_like_any_list(emu):
    platform = as_account(emu, None)
    listed = platform.list_all("/v1/accounts", limit=7)
    assert len(listed) == 52 and {a["id"] for a in listed} == {a["id"] for a in emu.connected_accounts()}
    assert [(a["created"], a["id"]) for a in listed] == sorted(
        ((a["created"], a["id"]) for a in listed), reverse=True
    )
    assert all(a["object"] == "account" and a["controller"]["type"] == "application" for a in listed)
    pivot = listed[20]["created"]
    newer = platform.list_all("/v1/accounts", {"created[gt]": pivot})
    assert [a["id"] for a in newer] == [a["id"] for a in listed if a["created"] > pivot]
    one = platform.ok(f"/v1/accounts/{BIG}")
    assert one == next(a for a in listed if a["id"] == BIG)
    assert as_account(emu, BIG).ok("/v1/account") == one  # the account itself sees the same object
    assert as_account(emu, BIG).ok(f"/v1/accounts/{BIG}") == one
    own = platform.ok(f"/v1/accounts/{emu.account_id}")  # the platform retrieves itself by id
    assert own["id"] == emu.account_id and own == platform.ok("/v1/account")
    assert as_account(emu, BIG).ok("/v1/accounts")["data"] == []  # a connected account has none
    r = platform.get("/v1/accounts/acct_1Unknown000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"


def test_colliding_custom_ids_across_accounts(emu):
    big, small = as_account(emu, BIG), as_account(emu, SMALL)
    assert big.ok("/v1/products/prod_shared")["name"] == "Big's plan"
    assert small.ok("/v1/products/prod_shared")["name"] == "Small's plan"
    assert big.ok("/v1/prices/price_shared")["unit_amount"] == 900
    assert small.ok("/v1/prices/price_shared")["unit_amount"] == 100
    assert as_account(emu, None).get("/v1/products/prod_shared").status_code == 404
    assert "prod_shared" in {o["id"] for o in emu.dump("products", account=BIG)["objects"]}
    assert {o["id"] for o in emu.dump("products", account=SMALL)["objects"]} == {"prod_shared"}
    assert big.ok("/v1/events")["data"] == []  # configured objects exist from the start, without events


def test_each_account_has_its_own_events_and_truth(make_emulator):
    emu = make_emulator(CONFIG)
    accounts = [a["id"] for a in emu.connected_accounts()][:10]
    for acct in accounts:
        emu.create("customers", {"name": f"in {acct}"}, account=acct)
    emu.update("products", "prod_shared", name="renamed", account=BIG)
    assert as_account(emu, SMALL).ok("/v1/products/prod_shared")["name"] == "Small's plan"
    assert emu.get("products", "prod_shared", account=BIG)["name"] == "renamed"
    for acct in accounts:
        evs = as_account(emu, acct).list_all("/v1/events")
        assert evs and all(e["account"] == acct for e in evs)
        assert {e["data"]["object"]["name"] for e in evs if e["type"] == "customer.created"} == {f"in {acct}"}
        assert emu.events(account=acct) == evs[::-1]
    assert as_account(emu, None).ok("/v1/events")["data"] == []
    assert all("account" not in e for e in emu.events())


def test_revoked_account_answers_403_account_invalid(make_emulator):
    emu = make_emulator(CONFIG)
    victim = as_account(emu, SMALL)
    assert victim.ok("/v1/customers")["data"]
    res = emu.revoke_account(SMALL)
    r = victim.get("/v1/customers")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "account_invalid" and err["type"] == "invalid_request_error"
    assert err["message"] == (
        f"The provided key 'sk_test_****ator' does not have access to account '{SMALL}' (or that account "
        "does not exist). Application access may have been revoked."
    )
    assert victim.get("/v1/events").status_code == 403
    platform = as_account(emu, None)
    assert SMALL not in {a["id"] for a in platform.list_all("/v1/accounts")}
    r = platform.get(f"/v1/accounts/{SMALL}")
    assert r.status_code == 403 and r.json()["error"]["message"] == err["message"]
    assert as_account(emu, BIG).ok("/v1/customers")["data"]  # the others go on
    ev = emu.events(account=SMALL)[-1]
    assert ev["id"] == res["event"] and ev["type"] == "account.application.deauthorized"
    assert ev["account"] == SMALL and ev["data"]["object"]["object"] == "application"
    assert emu.dump("customers", account=SMALL)["count"] == 2  # its data stays readable as ground truth
    assert [a["revoked"] for a in emu.connected_accounts() if a["id"] == SMALL] == [True]
    r = requests.post(f"{emu.url}/_emulator/accounts/{SMALL}/revoke")
    assert r.status_code == 400


def test_account_added_mid_run(make_emulator):
    emu = make_emulator(CONFIG)
    platform = as_account(emu, None)
    emu.advance_clock(3600)
    r = requests.post(
        f"{emu.url}/_emulator/accounts",
        json={
            "id": "acct_1NewlyAdded00001",
            "dataset": {"customers": 4},
            "children": {"external_accounts": 2},
        },
    )
    assert r.status_code == 200 and r.json()["id"] == "acct_1NewlyAdded00001"
    first = platform.ok("/v1/accounts", {"limit": 1})["data"][0]
    assert first["id"] == "acct_1NewlyAdded00001" and first["created"] >= START + 3600
    assert first["external_accounts"]["total_count"] == 2
    new = as_account(emu, "acct_1NewlyAdded00001")
    assert len(new.list_all("/v1/customers")) == 4
    assert [e["type"] for e in new.list_all("/v1/events")] == ["account.application.authorized"]
    generated = emu.add_account()["id"]
    assert generated.startswith("acct_1") and generated in {
        a["id"] for a in platform.list_all("/v1/accounts")
    }
    assert (
        requests.post(f"{emu.url}/_emulator/accounts", json={"id": "acct_1NewlyAdded00001"}).status_code
        == 400
    )


def test_rate_limits_are_per_account(make_emulator):
    emu = make_emulator({**CONFIG, "rate_limits": {"test": 3}})
    statuses = {}
    for acct in (None, BIG, SMALL):
        http = as_account(emu, acct)
        statuses[acct] = [http.get("/v1/customers", {"limit": 1}).status_code for _ in range(4)]
    assert statuses == {None: [200, 200, 200, 429], BIG: [200, 200, 200, 429], SMALL: [200, 200, 200, 429]}
    refused = [e for e in emu.requests(status=429)]
    assert {e["account"] for e in refused} == {None, BIG, SMALL} and all(
        e["limiter"] == "global" for e in refused
    )


def test_many_accounts_start_fast_and_lazily(make_emulator):
    emu = make_emulator({"connected_accounts": {"generate": {"count": 1000}}})
    assert len(emu.connected_accounts()) == 1000
    assert len(as_account(emu, None).list_all("/v1/accounts")) == 1000
    built = len(emu.world.scopes)
    some = emu.connected_accounts()[500]["id"]
    assert as_account(emu, some).ok("/v1/customers")["data"]
    assert len(emu.world.scopes) == built + 1


def test_bad_connected_accounts_config_is_refused():
    from stripe_emulator import EmulatorConfig

    for bad in (
        {"x": {}},
        {"acct_1X": {"colour": "blue"}},
        {"generate": {"count": "many"}},
        {"generate": {"count": 2, "sizes": [{"weight": 1, "dataset": {}, "extra": 1}]}},
        {"acct_1X": {"children": {"persons": -1}}},
    ):
        with pytest.raises(ValueError):
            EmulatorConfig.from_dict({"connected_accounts": bad})
    from stripe_emulator.emulator import Emulator

    with pytest.raises(ValueError, match="unknown resource 'gadgets'"):
        config = {"connected_accounts": {"acct_1X": {"objects": {"gadgets": [{}]}}}}
        Emulator(EmulatorConfig.from_dict(config))
