"""Unit tests of engine/sync/state_store.py: the atomic, private state file and the totals beside it."""
from __future__ import annotations

import os
import stat

import pytest

from engine.sync.state_store import StateStore, Totals, sync_id
from protocol.errors import ConfigError
from protocol.state import Stats

def test_state_store_atomic_private_files(tmp_path):
    store = StateStore(tmp_path / "sub" / "state.json")
    assert store.load() is None
    store.save({"streams": {"a": {"n": 1}}, "global": {"events_cursor": 1}})
    assert store.load() == {"streams": {"a": {"n": 1}}, "global": {"events_cursor": 1}}
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["state.json"]  # no temporary file left
    store.path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        store.load()

def test_totals_accumulate_and_survive_bad_files(tmp_path):
    store = StateStore(tmp_path / "state.json")
    assert store.load_totals() == Totals()
    totals = Totals(runs=1).plus(records=10, requests=3, elapsed_ms=500, stats=Stats(inserted=8, updated=2))
    store.save_totals(totals)
    assert store.load_totals() == Totals(runs=1, records=10, requests=3, elapsed_ms=500, inserted=8,
                                         updated=2)
    store.totals_path.write_text("[]")
    assert store.load_totals() == Totals()

def test_sync_id_is_stable_and_secret_free():
    a = sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "s"}})
    assert a == sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "s"}})
    assert a != sync_id({"destination_config": {"url": "postgresql://u@h/db", "schema": "t"}})
