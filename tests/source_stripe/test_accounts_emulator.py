"""Connect reads (source_stripe/accounts.py) against the emulator: records keyed by account (`keys`, the
object untouched), states per account (`partition`), today's single-account state resumed as its
account's, each account's requests under its own budget and the platform-wide cap."""
from __future__ import annotations

import time

from connector_kit.connector import ReadRequest
from protocol import state as protocol_state
from source_stripe import source
from source_stripe.client import ClientSettings, StripeClient
from source_stripe.rate_limit import Limiter, TokenBucket
from tests.source_stripe.conftest import src_config

CONNECTED = {"acct_1Aaaaaaaaaaaaaaa": {"dataset": {"customers": 4}},
             "acct_1Bbbbbbbbbbbbbbb": {"dataset": {"customers": 2}}}


def read_all(config: dict, state: dict | None = None) -> tuple[list[dict], dict]:
    out = list(source.read(ReadRequest(config, None, state, {})))
    agg = state or protocol_state.empty()
    for msg in out:
        if msg["type"] == "state":
            agg, _ = protocol_state.apply(agg, msg["state"])
    return out, agg


def test_todays_single_account_state_resumes_as_its_account_s_partition(emulator):
    emu = emulator({"dataset": {"customers": 6}, "connected_accounts": CONNECTED})
    single = src_config(emu, streams=["customers"])
    out, legacy = read_all(single)
    [catalog] = [m["catalog"] for m in out if m["type"] == "catalog"]
    assert catalog["streams"][0]["primary_key"] == [["_account_id"], ["id"]]
    records = [m["record"] for m in out if m["type"] == "record"]
    assert len(records) == 6 and all(r["keys"] == {"_account_id": emu.account_id} for r in records)
    assert all("_account_id" not in r["data"] for r in records)  # the object stays Stripe's
    assert "partitions" not in legacy  # one account: today's state shape
    time.sleep(1.1)

    out, agg = read_all({**single, "accounts": "all"}, legacy)
    [catalog] = [m["catalog"] for m in out if m["type"] == "catalog"]
    assert catalog["streams"][0]["primary_key_defaults"] == {"_account_id": emu.account_id}
    by_account: dict[str, int] = {}
    for m in out:
        if m["type"] == "record":
            acct = m["record"]["keys"]["_account_id"]
            by_account[acct] = by_account.get(acct, 0) + 1
    assert by_account == {"acct_1Aaaaaaaaaaaaaaa": 4, "acct_1Bbbbbbbbbbbbbbb": 2}  # the platform resumed
    assert set(agg["partitions"]) == {emu.account_id, *CONNECTED}
    assert all(m["state"]["partition"] for m in out if m["type"] == "state")
    statuses = [m["trace"]["partition_status"] for m in out
                if m["type"] == "trace" and m["trace"]["trace_type"] == "partition_status"]
    assert sorted(s["partition"] for s in statuses if s["status"] == "complete") == \
        sorted([emu.account_id, *CONNECTED])
    desc = source.st.describe(agg)
    assert desc["streams"]["customers"] == {"complete": True, "text": "complete in 3 of 3 account(s)"}
    assert desc["global"]["text"].startswith("Connect: 3 account(s)")


def test_a_listed_account_list_reads_only_those(emulator):
    emu = emulator({"dataset": {"customers": 3}, "connected_accounts": CONNECTED})
    out, agg = read_all(src_config(emu, streams=["customers"], accounts=["acct_1Bbbbbbbbbbbbbbb"]))
    read = {m["record"]["keys"]["_account_id"] for m in out if m["type"] == "record"}
    assert read == {"acct_1Bbbbbbbbbbbbbbb"}
    assert set(agg["partitions"]) == {"acct_1Bbbbbbbbbbbbbbb"}


def test_every_request_takes_a_token_of_its_account_and_of_the_platform_cap(emulator):
    emu = emulator({"dataset": {"customers": 1}})
    own, cap = Limiter(100.0), TokenBucket(1.0, capacity=5)  # a slow cap: its tokens show the takes
    client = StripeClient(ClientSettings(api_key=emu.api_key, base_url=emu.url), own, cap=cap)
    for _ in range(3):
        client.get("/v1/customers", {"limit": 1})
    assert cap._tokens < 3  # three tokens (plus a little refill)
    assert own.endpoints["/v1/customers"]._tokens < 1  # and the account's limiter gave three
    client.close()


def test_following_a_platform_picks_up_an_account_connected_meanwhile(emulator):
    emu = emulator({"dataset": {"customers": 2}, "connected_accounts": CONNECTED})
    config = src_config(emu, streams=["customers"], accounts="all", events_poll_interval_s=0.2)
    reader = source.read(ReadRequest(config, None, None, {"follow": True}))
    seen: dict[str, set[str]] = {}  # account -> ids (a follow pass may list an object its events gave too)
    records = 0
    added = None
    deadline = time.monotonic() + 30
    try:
        for msg in reader:
            if msg["type"] == "record":
                records += 1
                seen.setdefault(msg["record"]["keys"]["_account_id"], set()).add(msg["record"]["data"]["id"])
            if added is None and records == 8:  # the first pass is in
                added = emu.add_account("acct_1JoinedLater0001", dataset={"customers": 3})["id"]
                emu.create("customers", email="late@example.com", account="acct_1Aaaaaaaaaaaaaaa")
            if added is not None and len(seen.get(added, ())) == 3 \
                    and len(seen["acct_1Aaaaaaaaaaaaaaa"]) == 5:
                break
            assert time.monotonic() < deadline, f"not picked up: {seen}"
    finally:
        reader.close()
    assert {a: len(ids) for a, ids in seen.items()} == \
        {emu.account_id: 2, "acct_1Aaaaaaaaaaaaaaa": 5, "acct_1Bbbbbbbbbbbbbbb": 2, added: 3}
    # later passes go on from each account's state: nothing is read twice from the start
    assert records <= 8 + 3 + 2
