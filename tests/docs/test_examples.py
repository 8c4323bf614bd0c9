"""The configs in examples/ are valid for their connector and each is described in examples/README.md."""
from __future__ import annotations

from pathlib import Path

import pytest

from protocol.config import config_errors, connector_config_schema
from protocol.jsonio import loads

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_example_config_is_valid_and_described(path):
    connector = "source-stripe" if path.name.startswith("source-") else "destination-postgres"
    assert config_errors(loads(path.read_bytes()), connector_config_schema(connector)) == []
    assert f"`{path.name}`" in (EXAMPLES / "README.md").read_text()


def test_there_are_examples_for_the_common_cases():
    assert {p.name for p in FILES} >= {"source-emulator.json", "source-test-key.json",
                                       "source-live-connect.json", "destination.json"}
