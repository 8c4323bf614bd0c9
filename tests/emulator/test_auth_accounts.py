"""Authentication (Bearer, Basic, wrong/missing key, live key, restricted key), features not enabled,
connected accounts via Stripe-Account, Stripe-Version echo, and /v1/account."""

from __future__ import annotations

import orjson
import pytest
import requests

from .conftest import StripeHttp

CONNECTED = "acct_1ConnectedAcct01"
LIVE_KEY = "sk_live_emulatorlive9876"
RESTRICTED = "rk_test_restricted4242"


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator(
        {
            "live_key": LIVE_KEY,
            "restricted_keys": {RESTRICTED: ["charges", "refunds"]},
            "not_enabled": ["issuing"],
            "connected_accounts": {CONNECTED: {"dataset": {"customers": 7, "charges": {"count": 3}}}},
        }
    )


def test_bearer_and_basic_auth(emu):
    r1 = requests.get(emu.url + "/v1/customers", headers={"Authorization": f"Bearer {emu.api_key}"})
    r2 = requests.get(emu.url + "/v1/customers", auth=(emu.api_key, ""))
    assert r1.status_code == r2.status_code == 200
    assert [o["id"] for o in r1.json()["data"]] == [o["id"] for o in r2.json()["data"]]


def test_missing_key(emu):
    r = requests.get(emu.url + "/v1/customers")
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"].startswith(
        "You did not provide an API key."
    )


def test_wrong_key_is_masked_everywhere(emu):
    secret = "sk_test_51HsecretTotallyWrongabcd"
    r = requests.get(emu.url + "/v1/customers", auth=(secret, ""))
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": "Invalid API Key provided: sk_test_" + "*" * (len(secret) - 12) + "abcd",
            "type": "invalid_request_error",
        }
    }
    assert secret not in r.text and secret not in str(r.headers)
    log = requests.get(emu.url + "/_emulator/requests").content
    assert secret.encode() not in log
    entry = [e for e in orjson.loads(log)["requests"] if e["status"] == 401][-1]
    assert entry["key"] == "sk_test_" + "*" * (len(secret) - 12) + "abcd"
    assert emu.api_key.encode() not in log


def test_live_key_sees_livemode_data(emu):
    test = StripeHttp(emu.url, emu.api_key)
    live = StripeHttp(emu.url, LIVE_KEY)
    t, lv = test.ok("/v1/customers")["data"], live.ok("/v1/customers")["data"]
    assert all(o["livemode"] is False for o in t) and all(o["livemode"] is True for o in lv)
    assert {o["id"] for o in t}.isdisjoint({o["id"] for o in lv})
    assert test.ok("/v1/account")["id"] == live.ok("/v1/account")["id"] == emu.account_id


def test_account_endpoint(emu):
    acct = StripeHttp(emu.url, emu.api_key).ok("/v1/account")
    assert acct["object"] == "account" and acct["id"].startswith("acct_") and acct["id"] == emu.account_id
    assert "livemode" not in acct  # like Stripe's account object: the mode is told by the key and the objects


def test_restricted_key(emu):
    rk = StripeHttp(emu.url, RESTRICTED)
    assert rk.get("/v1/customers").status_code == 200
    r = rk.get("/v1/charges")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert "does not have the required permissions" in err["message"] and "rak_charge_read" in err["message"]
    assert RESTRICTED not in r.text and "rk_test_" in err["message"]


def test_feature_not_enabled(emu):
    r = StripeHttp(emu.url, emu.api_key).get("/v1/issuing/cards")
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("Your account is not set up to use Issuing.")


def test_connected_account_has_its_own_data(emu):
    platform = StripeHttp(emu.url, emu.api_key)
    conn = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": CONNECTED})
    assert conn.ok("/v1/account")["id"] == CONNECTED
    customers = conn.list_all("/v1/customers")
    assert len(customers) == 7
    assert {o["id"] for o in customers}.isdisjoint({o["id"] for o in platform.list_all("/v1/customers")})
    assert len(conn.list_all("/v1/charges")) == 3
    assert conn.ok("/v1/invoices")["data"] == []
    assert [o["id"] for o in emu.dump("customers", account=CONNECTED)["objects"]] == [
        o["id"] for o in customers
    ]
    r = conn.get("/v1/customers")
    assert r.headers["Stripe-Account"] == CONNECTED


def test_unknown_connected_account(emu):
    r = StripeHttp(emu.url, emu.api_key, {"Stripe-Account": "acct_unknown"}).get("/v1/customers")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "account_invalid" and "acct_unknown" in err["message"]


def test_stripe_version_echoed(emu):
    http = StripeHttp(emu.url, emu.api_key)
    assert http.get("/v1/customers").headers["Stripe-Version"] == "2023-08-16"
    r = http.get("/v1/customers", headers={"Stripe-Version": "2024-04-10"})
    assert r.status_code == 200 and r.headers["Stripe-Version"] == "2024-04-10"
