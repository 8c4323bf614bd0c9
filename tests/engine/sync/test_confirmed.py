"""Unit tests of engine/sync/confirmed.py: generation tags, and whether an attempt moved data (from
protocol information only: states are opaque values)."""
from __future__ import annotations

from engine.sync.confirmed import AttemptProgress, generation_of, tag_state
from protocol.jsonio import loads
from protocol.state import Stats

def test_generation_tag_round_trip_keeps_every_key():
    msg = {"type": "state", "state": {"state_type": "stream", "stream": "c", "data": {"x": 1}, "extra": True}}
    tagged = loads(tag_state(msg, 7))
    assert tagged["state"] == {**msg["state"], "_generation": 7}
    assert generation_of(tagged["state"]) == 7 and generation_of({"_generation": True}) is None
    assert msg["state"].get("_generation") is None  # the input is not modified

CUSTOMERS, GLOBAL_KEY = ("stream", "customers", ""), ("global", "", "")
NO_ROWS = Stats()

def test_only_real_progress_counts():
    # a changed confirmation alone is not progress: a finished stream whose state follows the new upper
    # bound, an events cursor whose only change is a timestamp, a first state with all still to do
    attempt = AttemptProgress(2)
    attempt.forwarded(GLOBAL_KEY, {"cursor": {"checked_at": 90}}, had_records=False)
    attempt.confirmed(GLOBAL_KEY, {"cursor": {"checked_at": 90}}, NO_ROWS, changed=True)
    attempt.forwarded(CUSTOMERS, {"lt": 260}, had_records=False)
    attempt.confirmed(CUSTOMERS, {"lt": 260}, NO_ROWS, changed=True)
    assert not attempt.progressed(set()) and attempt.changed == {GLOBAL_KEY, CUSTOMERS}
    # an unchanged state is never progress, even with rows (a replay of what was committed)
    attempt.confirmed(CUSTOMERS, {"lt": 260}, Stats(inserted=5), changed=False)
    assert not attempt.progressed(set())
    # the stream advanced by stream_status alone (a range inside the known one completed) and its changed
    # state was confirmed; a stream that advanced without a changed confirmation does not count
    assert attempt.progressed({"customers"}) and not attempt.progressed({"charges"})

def test_rows_written_or_records_before_a_confirmed_state_are_progress():
    rows = AttemptProgress(1)
    rows.confirmed(CUSTOMERS, {"n": 1}, Stats(inserted=2), changed=True)  # e.g. new objects in a new range
    assert rows.progressed(set())
    events = AttemptProgress(1)  # events handled: records came before the global state (no stats)
    events.forwarded(GLOBAL_KEY, {"cursor": 1}, had_records=False)
    events.forwarded(GLOBAL_KEY, {"cursor": 2}, had_records=True)
    events.confirmed(GLOBAL_KEY, {"cursor": 1}, NO_ROWS, changed=True)
    assert not events.progressed(set())  # the state sent before any record moved nothing
    events.confirmed(GLOBAL_KEY, {"cursor": 2}, NO_ROWS, changed=True)
    assert events.progressed(set())
    cursor = AttemptProgress(1)  # a cursor stream's pages: records, then a changed state
    cursor.forwarded(CUSTOMERS, {"cursor": "b"}, had_records=True)
    cursor.confirmed(CUSTOMERS, {"cursor": "b"}, NO_ROWS, changed=True)
    assert cursor.progressed(set())
