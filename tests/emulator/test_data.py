"""Generated data: deterministic from the seed, realistic shapes from the fixtures, configurable counts,
created skewed to recent months, bursts sharing one second, empty resources, and 100k+ objects that
start fast and stream out of the dump endpoint."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import requests

from stripe_emulator import EmulatorConfig
from stripe_emulator.catalog import load_catalog
from stripe_emulator.emulator import Emulator

from .conftest import START, StripeHttp

CATALOG = load_catalog()
YEAR = 365.25 * 86400


def _dump_bytes(emu, resource: str) -> bytes:
    return requests.get(emu.url + "/_emulator/dump", params={"resource": resource}).content


def test_same_seed_same_bytes_other_seed_other_ids(make_emulator):
    a, b = make_emulator({"seed": 5}), make_emulator({"seed": 5})
    c = make_emulator({"seed": 6})
    for res in ("customers", "charges", "invoiceitems", "subscriptions"):
        assert _dump_bytes(a, res) == _dump_bytes(b, res)
    ids_a = {o["id"] for o in a.dump("customers")["objects"]}
    ids_c = {o["id"] for o in c.dump("customers")["objects"]}
    assert ids_a.isdisjoint(ids_c)
    assert a.account_id == b.account_id != c.account_id


def test_id_formats_follow_stripe(make_emulator):
    emu = make_emulator()
    prefixes = {
        "customers": ("cus_", 14),
        "charges": ("ch_", 24),
        "invoiceitems": ("ii_", 24),
        "subscriptions": ("sub_", 24),
        "prices": ("price_", 24),
        "products": ("prod_", 14),
        "balance_transactions": ("txn_", 24),
        "payment_intents": ("pi_", 24),
        "refunds": ("re_", 24),
    }
    for res, (prefix, body_len) in prefixes.items():
        ids = [o["id"] for o in emu.dump(res)["objects"]]
        assert ids and len(set(ids)) == len(ids)
        assert all(
            i.startswith(prefix) and len(i) == len(prefix) + body_len and i[len(prefix) :].isalnum()
            for i in ids
        ), (res, ids[:3])


def test_objects_have_the_fixture_shape(make_emulator):
    emu = make_emulator()
    http = StripeHttp(emu.url, emu.api_key)
    for res in (
        "customers",
        "charges",
        "invoices",
        "invoiceitems",
        "subscriptions",
        "payouts",
        "disputes",
        "coupons",
        "setup_intents",
        "balance_transactions",
    ):
        obj_type = CATALOG.resolve(res)
        fixture = CATALOG.fixture(obj_type)
        for o in emu.dump(res)["objects"]:
            assert set(o) == set(fixture), res
            assert o["object"] == obj_type
            size, fsize = len(orjson.dumps(o)), len(orjson.dumps(fixture))
            assert 0.7 * fsize < size < 1.5 * fsize
        assert http.ok(f"/v1/{res}", {"limit": 1})["data"]


def test_references_point_at_existing_objects(make_emulator):
    emu = make_emulator()
    customers = {o["id"] for o in emu.dump("customers")["objects"]}
    for res in ("invoices", "subscriptions", "invoiceitems"):
        refs = [o["customer"] for o in emu.dump(res)["objects"]]
        assert refs and set(refs) <= customers, res


def test_counts_and_empty_resources(make_emulator):
    emu = make_emulator({"profile": "small", "dataset": {"customers": 123, "products": 0, "transfers": 4}})
    http = StripeHttp(emu.url, emu.api_key)
    assert len(http.list_all("/v1/customers")) == 123
    assert http.ok("/v1/products") == {"object": "list", "data": [], "has_more": False, "url": "/v1/products"}
    assert len(http.list_all("/v1/transfers")) == 4
    assert http.ok("/v1/webhook_endpoints")["data"] == []


def test_created_spread_over_years_and_skewed_recent(make_emulator):
    emu = make_emulator({"dataset": {"customers": {"count": 3000, "years": 3, "skew": 3}}})
    created = [o["created"] for o in emu.dump("customers")["objects"]]
    assert max(created) < START and min(created) >= START - 3 * YEAR - 1
    recent = sum(1 for c in created if c >= START - YEAR / 4)
    assert recent / len(created) > 0.35  # u**3 < 1/12: ~44%; uniform would give 1/12 in the last 3 months
    assert min(created) < START - 2 * YEAR  # but the tail really goes back years
    assert len(set(created)) > 2500


def test_bursts_share_one_second(make_emulator):
    emu = make_emulator(
        {
            "dataset": {
                "refunds": {
                    "count": 10,
                    "bursts": [{"at": "recent", "count": 400}, {"at": -3600, "count": 150}],
                }
            }
        }
    )
    created = [o["created"] for o in emu.dump("refunds")["objects"]]
    assert len(created) == 560
    counts = {c: created.count(c) for c in set(created)}
    assert sorted(counts.values())[-2:] == [150, 400]
    assert created.count(START - 3600) == 150
    http = StripeHttp(emu.url, emu.api_key)
    burst = max(counts, key=counts.get)
    got = http.list_all("/v1/refunds", {"created": burst})
    assert len(got) == 400 == len({o["id"] for o in got})


def test_large_resource_starts_and_dumps(tmp_path):
    """120k objects serve and dump correctly (start-up time is measured by bench/emulator_pages.py)."""
    cfg = EmulatorConfig.from_dict({"profile": "bench", "start_time": START})
    emu = Emulator(cfg).start()
    try:
        http = StripeHttp(emu.url, emu.api_key)
        page = http.ok("/v1/customers", {"limit": 100})
        assert len(page["data"]) == 100 and page["has_more"]
        deep = http.ok("/v1/customers", {"limit": 100, "created[lt]": START - 4 * 365 * 86400})
        assert deep["data"] and all(o["created"] < START - 4 * 365 * 86400 for o in deep["data"])
        with requests.get(emu.url + "/_emulator/dump", params={"resource": "customers"}, stream=True) as r:
            assert r.headers.get("Transfer-Encoding") == "chunked"
            body = r.content
        dump = orjson.loads(body)
        assert dump["count"] == len(dump["objects"]) == 121_000
        assert len({o["id"] for o in dump["objects"]}) == 121_000
    finally:
        emu.stop()


def test_profiles_sizes():
    from stripe_emulator.config import ResourceSpec
    from stripe_emulator.profiles import PROFILES

    demo = sum(ResourceSpec.parse(v).total for v in PROFILES["demo"]["dataset"].values())
    assert demo >= 50_000
    assert max(ResourceSpec.parse(v).total for v in PROFILES["bench"]["dataset"].values()) >= 100_000
    for name in PROFILES:
        for res in PROFILES[name]["dataset"]:
            CATALOG.resolve(res)


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        EmulatorConfig.from_dict({"dataset": {"no_such_resource": 3}})
        Emulator(EmulatorConfig.from_dict({"dataset": {"no_such_resource": 3}}))
    with pytest.raises(ValueError):
        EmulatorConfig.from_dict({"colour": "blue"})
    with pytest.raises(ValueError):
        EmulatorConfig.from_dict({"dataset": {"customers": {"count": 3, "shape": "odd"}}})


def test_objects_validate_against_the_stream_schemas(make_emulator):
    """Generated, created and event objects all fit the schemas the source publishes (specs/stripe)."""
    jsonschema = pytest.importorskip("jsonschema")
    specs = Path(__file__).resolve().parents[2] / "specs" / "stripe"
    lists = [ep for ep in CATALOG.endpoints.values() if ep.kind == "list"]
    not_generated = {"event", "account", "subscription_item"}  # changes; connected accounts; children
    emu = make_emulator(
        {
            "dataset": {ep.name: 3 for ep in lists if ep.object not in not_generated},
            "connected_accounts": {"generate": {"count": 3}},
        }
    )
    http = StripeHttp(emu.url, emu.api_key)
    checked = 0
    for ep in lists:
        schema_path = specs / f"{ep.name}.json"
        if not schema_path.exists():
            continue
        validator = jsonschema.Draft202012Validator(orjson.loads(schema_path.read_bytes()))
        if ep.object == "event":
            emu.create("customers", name="for the event")
            objs = http.ok("/v1/events")["data"]
        elif ep.object == "account":
            emu.add_account()
            objs = http.ok("/v1/accounts")["data"]
        elif ep.object == "subscription_item":
            sub = emu.dump("subscriptions")["objects"][0]["id"]
            emu.add_child("subscriptions", sub, "items")
            objs = [e["object"] for e in emu.dump("subscription_items")["objects"]]
        else:
            objs = emu.dump(ep.name)["objects"] + [emu.create(ep.name)]
        for o in objs:
            errors = [e.message for e in validator.iter_errors(o)]
            assert not errors, (ep.name, errors[:3])
            checked += 1
    assert checked > 200
