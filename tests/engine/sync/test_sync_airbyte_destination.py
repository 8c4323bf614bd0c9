"""`engine sync --destination-protocol airbyte`: our messages into an Airbyte destination (a stdlib
fake that keeps to the Airbyte protocol), its echoed STATEs back as our confirmations, across a
restart of the source."""
from __future__ import annotations

import json
import shlex
import sys

from tests.engine.conftest import FAKES

FAKE_AIRBYTE_DESTINATION = shlex.join([sys.executable, str(FAKES / "fake_airbyte_destination.py")])


def test_sync_into_an_airbyte_destination_survives_a_source_crash(runner):
    source = runner.source_config(streams={"customers": 12, "charges": 7},
                                  behaviour=[{"fail_after": 8, "how": "exit1"}, {}])
    result = runner.sync(source, runner.destination_config(), "--destination", FAKE_AIRBYTE_DESTINATION,
                         "--destination-protocol", "airbyte")
    assert result.code == 0, result.stderr
    db = result.db()
    assert db["catalog"] == ["charges", "customers"]  # it was given the configured catalog
    assert sorted(db["customers"]) == [f"customers_{i:05d}" for i in range(12)]
    assert sorted(db["charges"]) == [f"charges_{i:05d}" for i in range(7)]
    assert result.attempts()[1]["starts"]["customers"] > 0  # the restart resumed from a confirmed state
    confirmed = json.loads((runner.dir / "state.json").read_text())
    assert confirmed == result.eof["state"] and set(confirmed["streams"]) == {"customers", "charges"}
    assert result.eof["progress"]["confirmed_state_count"] > 0
