"""Strict where Stripe is strict: every query parameter is checked against the endpoint's OpenAPI schema
(type, array vs scalar, enum, required), expand[] paths against the objects' expandable fields, and
Stripe-Version against the API versions Stripe has. One test per probe of issue 13, then sweeps over
every parameter of every endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_emulator.catalog import load_catalog

from .conftest import StripeHttp, encode, example, required_pairs

CATALOG = load_catalog()
SUBSCRIPTION_STATUSES = (
    "active, all, canceled, ended, incomplete, incomplete_expired, past_due, paused, trialing, or unpaid"
)


@pytest.fixture(scope="module")
def emu(make_emulator):
    return make_emulator()


@pytest.fixture(scope="module")
def http(emu) -> StripeHttp:
    return StripeHttp(emu.url, emu.api_key)


def error(http: StripeHttp, path: str, params: Any = None, **kw: Any) -> dict[str, Any]:
    r = http.get(path, params, **kw)
    assert r.status_code == 400, (path, params, r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    return err


# ---- the probes ----------------------------------------------------------------------------------------
def test_enum_value_subscriptions_status(http):
    err = error(http, "/v1/subscriptions", {"status": "bogus"})
    assert err["message"] == f"Invalid status: must be one of {SUBSCRIPTION_STATUSES}"
    assert err["param"] == "status" and "code" not in err


def test_enum_value_payment_methods_type(http):
    err = error(http, "/v1/payment_methods", {"type": "bogus"})
    assert err["param"] == "type"
    assert err["message"].startswith("Invalid type: must be one of acss_debit, affirm, ")
    assert err["message"].endswith(", wechat_pay, or zip")


def test_array_where_stripe_wants_a_string(http):
    err = error(http, "/v1/customers", {"email[]": "x"})
    assert (err["message"], err["param"]) == ("Invalid string", "email")


def test_scalar_expand_is_not_an_array(http):
    err = error(http, "/v1/charges", {"expand": "data.customer"})
    assert (err["message"], err["param"]) == ("Invalid array", "expand")


def test_expand_a_field_charges_do_not_have(http):
    err = error(http, "/v1/charges", {"expand[]": "data.bogus"})
    assert err == {**err, "message": "This property cannot be expanded (data.bogus)."}
    assert "param" not in err and "code" not in err


def test_expand_a_field_customers_cannot_expand(http):
    err = error(http, "/v1/customers", {"expand[]": "data.customer"})
    assert err["message"] == "This property cannot be expanded (data.customer)."


def test_unknown_api_version(http):
    r = http.get("/v1/customers", headers={"Stripe-Version": "1999-01-01"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Invalid Stripe API version: 1999-01-01"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.headers["Stripe-Version"] == CATALOG.api_version  # the bad one is not echoed


# ---- what Stripe accepts stays accepted ----------------------------------------------------------------
@pytest.mark.parametrize(
    "version", ["2023-08-16", "2020-08-27", "2011-01-01", "2024-06-20", "2025-03-31.basil"]
)
def test_known_and_later_api_versions(http, version):
    r = http.get("/v1/customers", {"limit": 1}, headers={"Stripe-Version": version})
    assert r.status_code == 200 and r.headers["Stripe-Version"] == version


@pytest.mark.parametrize("version", ["2023-02-30", "2019-2-19", "latest", "2023-08-16.basil", ""])
def test_malformed_or_unreleased_api_versions(http, version):
    r = http.get("/v1/customers", headers={"Stripe-Version": version})
    assert r.status_code == 400 and r.json()["error"]["message"] == f"Invalid Stripe API version: {version}"


def test_expand_paths_stripe_accepts(emu, http):
    page = http.ok("/v1/invoices", {"expand[]": ["data.customer", "data.subscription.customer"], "limit": 3})
    assert page["data"] and all(isinstance(i["customer"], dict) for i in page["data"])
    assert http.ok("/v1/charges", {"expand[]": "data", "limit": 1})["data"]  # a no-op, as on Stripe
    invoice = page["data"][0]
    got = http.ok(f"/v1/invoices/{invoice['id']}", {"expand[]": "customer"})
    assert got["customer"] == emu.get("customers", invoice["customer"]["id"])
    assert error(http, f"/v1/invoices/{invoice['id']}", {"expand[]": "data.customer"})["message"] == (
        "This property cannot be expanded (data.customer)."
    )
    assert http.ok("/v1/customers", {"expand[]": "data.subscriptions", "limit": 1})["data"]  # includable
    assert http.ok("/v1/balance", {"expand[]": "instant_available"})["object"] == "balance"


def test_expand_more_than_four_levels(http):
    err = error(http, "/v1/invoices", {"expand[]": "data.subscription.customer.default_source.customer"})
    assert err["message"] == "You cannot expand more than 4 levels of a property."


def test_expand_of_a_deep_path_checks_every_level(http):
    assert http.ok("/v1/invoices", {"expand[]": "data.subscription.customer", "limit": 2})
    err = error(http, "/v1/invoices", {"expand[]": "data.subscription.bogus"})
    assert err["message"] == "This property cannot be expanded (data.subscription.bogus)."


def test_typed_values(http):
    assert error(http, "/v1/products", {"active": "yes"})["message"] == "Invalid boolean: yes"
    assert http.ok("/v1/products", {"active": "false"})["object"] == "list"
    err = error(http, "/v1/subscriptions", {"automatic_tax": "true"})
    assert (err["message"], err["param"]) == ("Invalid hash", "automatic_tax")
    err = error(http, "/v1/subscriptions", {"automatic_tax[bogus]": "true"})
    assert (err["code"], err["param"]) == ("parameter_unknown", "automatic_tax[bogus]")
    err = error(http, "/v1/subscriptions", {"automatic_tax[enabled]": "maybe"})
    assert err["param"] == "automatic_tax[enabled]"
    err = error(http, "/v1/prices", {"recurring[interval]": "fortnight"})
    assert err["message"] == "Invalid recurring[interval]: must be one of day, month, week, or year"
    assert error(http, "/v1/invoices", {"collection_method": "cash"})["message"] == (
        "Invalid collection_method: must be one of charge_automatically or send_invoice"
    )


def test_required_key_of_an_object_parameter(http):
    err = error(http, "/v1/apps/secrets", {"scope[user]": "usr_1"})
    assert (err["code"], err["param"]) == ("parameter_missing", "scope[type]")
    assert http.ok("/v1/apps/secrets", {"scope[type]": "account"})["data"] == []


def test_empty_value(http):
    err = error(http, "/v1/customers", {"email": ""})
    assert err["code"] == "parameter_invalid_empty" and err["param"] == "email"
    assert err["message"] == (
        "You passed an empty string for 'email'. We assume empty values are an attempt to unset a "
        "parameter; however 'email' cannot be unset. You should remove 'email' from your request or "
        "supply a non-empty value."
    )


def test_array_parameters(emu, http):
    products = emu.dump("products")["objects"]
    wanted = sorted(o["id"] for o in products[:2])
    for keys in (["ids[]", "ids[]"], ["ids[0]", "ids[1]"]):
        got = http.ok("/v1/products", list(zip(keys, wanted, strict=True)))
        assert sorted(o["id"] for o in got["data"]) == wanted
    events = http.ok("/v1/events", {"types[]": ["customer.created", "customer.updated"]})
    assert events["object"] == "list"
    assert error(http, "/v1/events", {"types": "customer.created"})["message"] == "Invalid array"


def test_retrieve_only_where_stripe_has_it(http):
    r = http.get("/v1/setup_attempts/setatt_123")  # Stripe lists setup attempts but has no retrieve
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("Unrecognized request URL")


# ---- sweeps over the whole surface ----------------------------------------------------------------------
SKIP = {"starting_after", "ending_before", "page", "limit", "query"}  # cursors need real ids; limit: above


def _params() -> list[tuple[str, str]]:
    return [
        (path, name)
        for path, ep in sorted(CATALOG.endpoints.items())
        for name in sorted(ep.query_schemas)
        if name not in SKIP and name not in ep.required_params
    ]


@pytest.mark.parametrize("path,name", _params())
def test_every_parameter_accepts_a_valid_value_and_refuses_the_wrong_shape(emu, http, path, name):
    ep = CATALOG.endpoints[path]
    schema = ep.query_schemas[name]
    value = example(schema)
    base = [p for p in required_pairs(ep, emu) if p[0].split("[")[0] != name]
    if name == "expand":
        value = []  # a valid expand path depends on the objects; the tests above cover them
    http.ok(path, base + encode(name, value))
    shapes = {_shape(s) for s in schema.get("anyOf", [schema])}
    wrong = next(v for v in ("x", ["x"], {"k": "x"}) if type(v).__name__ not in shapes)
    err = error(http, path, base + encode(name, wrong))
    assert err["param"].split("[")[0] == name, err


def _shape(schema: dict[str, Any]) -> str:
    return {"object": "dict", "array": "list"}.get(schema.get("type", ""), "str")


ENUMS = [
    (path, name, schema["enum"])
    for path, ep in sorted(CATALOG.endpoints.items())
    for name, schema in sorted(ep.query_schemas.items())
    if "enum" in schema and "" not in schema["enum"]
]


@pytest.mark.parametrize("path,name,values", ENUMS, ids=[f"{p}-{n}" for p, n, _ in ENUMS])
def test_every_enum_parameter(emu, http, path, name, values):
    ep = CATALOG.endpoints[path]
    base = [p for p in required_pairs(ep, emu) if p[0] != name]
    http.ok(path, [*base, (name, values[-1])])
    err = error(http, path, [*base, (name, "bogus")])
    assert err["param"] == name and err["message"].startswith(f"Invalid {name}: must be one of {values[0]}")
