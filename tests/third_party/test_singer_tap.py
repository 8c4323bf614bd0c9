"""A Singer tap from PyPI, `tap-stripe` 3.3.0 (singer-io), against the Stripe emulator through
`engine sync --source-protocol singer` into destination-postgres: every object of the emulator, primary
keys from `key_properties`, the tap's own state confirmed and given back (the second run reads nothing
new), progress for each stream.

tap-stripe talks to https://api.stripe.com only (its request timer parses that host out of every URL),
so the test sends its HTTP to the emulator at the transport (tests/third_party/url_rewrite)."""
from __future__ import annotations

import json
import sys

import pytest

from tests.third_party.conftest import (
    bin_dir, destination_state, emulator_rewrite, engine_sync, primary_key, table_ids, wrapper)
from tests.third_party.connectors import TAP_STRIPE

STREAMS = ["customers", "products", "charges"]


@pytest.fixture
def tap(emulator, tmp_path):
    return wrapper(tmp_path / "bin" / "tap-stripe", [str(bin_dir(TAP_STRIPE) / "tap-stripe")],
                   emulator_rewrite(emulator))


def tap_sync(tap, emulator, tmp_path, pg_url, schema):
    config = {"client_secret": emulator.api_key, "account_id": emulator.account_id,
              "start_date": "2015-01-01T00:00:00Z"}
    return engine_sync(tmp_path, "--source", str(tap), "--source-protocol", "singer",
                       "--source-config", json.dumps(config), "--streams", ",".join(STREAMS),
                       "--destination", f"{sys.executable} -m destination_postgres",
                       "--destination-config", json.dumps({"url": pg_url, "schema": schema}))


def test_tap_stripe_into_postgres_resumes_from_its_own_state(tap, emulator, tmp_path, pg_url, pg_schema):
    first = tap_sync(tap, emulator, tmp_path, pg_url, pg_schema)
    assert first.code == 0, first.stderr
    # its client_secret reached it through an in-memory file only: nothing printed shows it
    assert emulator.api_key not in first.stderr and emulator.api_key not in json.dumps(first.messages)
    assert first.eof["status"] == "succeeded"
    for stream in STREAMS:
        live = sorted(o["id"] for o in emulator.dump(stream)["objects"])
        assert live and table_ids(pg_url, pg_schema, stream) == live, stream
        assert primary_key(pg_url, pg_schema, stream) == ["id"]
        assert first.streams[stream]["status"] == "complete"
        assert first.streams[stream]["record_count"] == len(live)
        assert (stream, "started") in first.statuses() and (stream, "complete") in first.statuses()
    state = destination_state(pg_url, pg_schema)
    assert state == first.eof["state"] and state["streams"] == {}
    bookmarks = state["global"]["singer"]["bookmarks"]  # the tap's own state value
    assert {"customers", "products", "charges", "charges_events"} <= set(bookmarks)

    second = tap_sync(tap, emulator, tmp_path, pg_url, pg_schema)
    assert second.code == 0, second.stderr
    assert {s: second.streams[s]["record_count"] for s in STREAMS} == {s: 0 for s in STREAMS}
    assert second.streams["customers"]["status"] == "complete"
