"""Pure parts of the events sync: event -> record, order, cursor advance, retention."""
from __future__ import annotations

from source_stripe.events import advance, event_record, is_expired, new_cursor, oldest_first
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


def test_oldest_first_and_dedup():
    page = [ev("e3", 3, "t", {}), ev("e2", 2, "t", {}), ev("e2", 2, "t", {}), ev("e1", 2, "t", {})]
    assert [e["id"] for e in oldest_first(page)] == ["e1", "e2", "e3"]


def test_cursor_advances_to_the_newest_second_and_remembers_its_ids():
    cur = new_cursor(10)
    cur = advance(cur, [ev("a", 10, "t", {}), ev("b", 12, "t", {}), ev("c", 12, "t", {})], checked_at=20)
    assert cur == {"created": 12, "seen": ["b", "c"], "checked_at": 20}
    assert advance(cur, [], checked_at=30) == {"created": 12, "seen": ["b", "c"], "checked_at": 30}


def test_expiry_is_about_when_events_were_last_checked():
    day = 86400
    assert not is_expired({"created": 0, "checked_at": 100 * day}, 110 * day)
    assert is_expired({"created": 0, "checked_at": 100 * day}, 131 * day)
