"""Airbyte's own `airbyte-source-stripe` 5.14.1 reading the Stripe emulator into destination-postgres (the
worked example of docs/third-party.md). Slow: its install takes about a minute and 360 MB.

It is a declarative (manifest) connector with `url_base: https://api.stripe.com/v1` in its
`source_stripe/manifest.yaml`, and the Airbyte CDK reads `manifest.yaml` from the current directory
before the packaged one: a TEST TRICK points it at the emulator without changing its code (it runs in a
directory holding a copy of the manifest with the emulator's URL)."""
from __future__ import annotations

import json
import sys

import pytest

from tests.third_party.conftest import (
    bin_dir, destination_state, engine_sync, primary_key, table_ids, wrapper)
from tests.third_party.connectors import AIRBYTE_STRIPE

STREAMS = ["customers", "products", "charges"]


@pytest.mark.slow
def test_airbyte_source_stripe_reads_the_emulator_into_postgres(emulator, tmp_path, pg_url, pg_schema):
    venv_bin = bin_dir(AIRBYTE_STRIPE)
    [packaged] = venv_bin.parent.glob("lib/python*/site-packages/source_stripe/manifest.yaml")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.yaml").write_text(packaged.read_text().replace(
        "url_base: https://api.stripe.com/v1", f"url_base: {emulator.url}/v1"))
    command = f'cd "{run_dir}" && exec "{venv_bin / "source-stripe"}" "$@"'
    source = wrapper(tmp_path / "bin" / "source-stripe", ["sh", "-c", command, "source-stripe"])
    config = {"client_secret": emulator.api_key, "account_id": emulator.account_id,
              "start_date": "2017-01-25T00:00:00Z", "num_workers": 2}

    def sync():
        return engine_sync(tmp_path, "--source", str(source), "--source-protocol", "airbyte",
                           "--source-config", json.dumps(config), "--streams", ",".join(STREAMS),
                           "--destination", f"{sys.executable} -m destination_postgres",
                           "--destination-config", json.dumps({"url": pg_url, "schema": pg_schema}))

    first = sync()
    assert first.code == 0, first.stderr
    for stream in STREAMS:
        live = sorted(o["id"] for o in emulator.dump(stream)["objects"])
        assert table_ids(pg_url, pg_schema, stream) == live, stream
        assert primary_key(pg_url, pg_schema, stream) == ["id"]
        assert first.streams[stream]["record_count"] == len(live)
    state = destination_state(pg_url, pg_schema)
    assert state == first.eof["state"]
    assert all(state["streams"][s]["airbyte"]["type"] == "STREAM" for s in STREAMS)

    second = sync()
    assert second.code == 0, second.stderr
    assert {s: second.streams[s]["record_count"] for s in STREAMS} == {s: 0 for s in STREAMS}
