"""Pure parts of the events sync: event -> record, order, positions (advance, newer than, retention,
vanished, the grouped wire form)."""
from __future__ import annotations

from source_stripe.events import event_record
from source_stripe.positions import (advance, decode, encode, is_after, is_expired, new_position,
                                     oldest_first, vanished)
from source_stripe.streams import object_to_stream, select_streams

BY_OBJECT = object_to_stream(select_streams(["customers", "subscriptions", "payment_methods"]))


def ev(eid, created, etype, obj):
    return {"id": eid, "created": created, "type": etype, "data": {"object": obj}}


def test_updates_deletes_and_subscription_cancel():
    rec = event_record(ev("evt_1", 50, "customer.updated", {"id": "cus_1", "object": "customer"}), BY_OBJECT)
    assert rec["record"] == {"stream": "customers", "data": {"id": "cus_1", "object": "customer"},
                             "emitted_at": rec["record"]["emitted_at"], "updated_at": 50}
    gone = event_record(ev("evt_2", 51, "customer.deleted", {"id": "cus_1", "object": "customer"}), BY_OBJECT)
    assert gone["record"]["deleted"] is True and gone["record"]["updated_at"] == 51
    canceled = event_record(ev("evt_3", 52, "customer.subscription.deleted",
                               {"id": "sub_1", "object": "subscription", "status": "canceled"}), BY_OBJECT)
    assert canceled["record"]["stream"] == "subscriptions" and "deleted" not in canceled["record"]


def test_events_of_unselected_or_filtered_objects_are_ignored():
    assert event_record(ev("e", 1, "charge.updated", {"id": "ch_1", "object": "charge"}), BY_OBJECT) is None
    sepa = ev("e", 1, "payment_method.attached",
              {"id": "pm_1", "object": "payment_method", "type": "sepa_debit"})
    assert event_record(sepa, BY_OBJECT) is None
    assert event_record(ev("e", 1, "payment_method.attached",
                           {"id": "pm_1", "object": "payment_method", "type": "card"}), BY_OBJECT) is not None
    assert event_record(ev("e", 1, "invoice.upcoming", {"object": "customer"}), BY_OBJECT) is None


def test_events_of_child_objects_are_records_of_their_stream_when_they_name_their_parent():
    streams = select_streams(["accounts", "account_external_accounts", "account_capabilities"])
    by_object = object_to_stream(streams)
    for obj in ({"id": "ba_1", "object": "bank_account", "account": "acct_1"},
                {"id": "card_1", "object": "card", "account": "acct_1"}):
        rec = event_record(ev("e", 1, "account.external_account.created", obj), by_object)
        assert rec["record"]["stream"] == "account_external_accounts" and rec["record"]["data"] == obj
    cap = {"id": "card_payments", "object": "capability", "account": "acct_1"}
    assert event_record(ev("e", 1, "capability.updated", cap), by_object)["record"]["stream"] == (
        "account_capabilities")
    # a customer's card has no `account` ("will not be in the card object if the card belongs to a customer")
    customer_card = {"id": "card_2", "object": "card", "customer": "cus_1"}
    assert event_record(ev("e", 1, "customer.source.created", customer_card), by_object) is None


def test_oldest_first_and_dedup():
    page = [ev("e3", 3, "t", {}), ev("e2", 2, "t", {}), ev("e2", 2, "t", {}), ev("e1", 2, "t", {})]
    assert [e["id"] for e in oldest_first(page)] == ["e1", "e2", "e3"]


def test_cursor_advances_to_the_newest_second_and_remembers_its_ids():
    cur = new_position(10)
    cur = advance(cur, [ev("a", 10, "t", {}), ev("b", 12, "t", {}), ev("c", 12, "t", {})], checked_at=20)
    assert cur == {"created": 12, "seen": ["b", "c"], "checked_at": 20}
    assert advance(cur, [], checked_at=30) == {"created": 12, "seen": ["b", "c"], "checked_at": 30}


def test_expiry_is_about_when_events_were_last_checked():
    day = 86400
    assert not is_expired({"created": 0, "checked_at": 100 * day}, 110 * day)
    assert is_expired({"created": 0, "checked_at": 100 * day}, 131 * day)


def test_an_event_is_after_a_position_when_newer_or_unseen_in_its_second():
    pos = {"created": 12, "seen": ["b"], "checked_at": 20}
    assert is_after(ev("x", 13, "t", {}), pos) and is_after(ev("c", 12, "t", {}), pos)
    assert not is_after(ev("b", 12, "t", {}), pos) and not is_after(ev("a", 11, "t", {}), pos)


def test_vanished_needs_evidence_and_ignores_events_aged_out_normally():
    day = 86400
    pos = {"created": 100 * day, "seen": ["a", "b"], "checked_at": 100 * day}
    assert vanished(pos, {"a", "b", "c"}, 101 * day) == []
    assert vanished(pos, {"a"}, 101 * day) == ["b"]
    assert vanished(pos, set(), 140 * day) == []  # older than the retention: gone normally


def test_positions_are_written_once_per_distinct_value():
    a = {"created": 5, "seen": ["e1"], "checked_at": 9}
    b = {"created": 3, "seen": [], "checked_at": 3}
    wire = encode({"customers": a, "charges": dict(a), "invoices": b})
    assert wire == [{"streams": ["invoices"], "created": 3, "seen": [], "checked_at": 3},
                    {"streams": ["charges", "customers"], "created": 5, "seen": ["e1"], "checked_at": 9}]
    assert decode(wire) == {"customers": a, "charges": a, "invoices": b}
