"""Helpers of the adapter tests: fixture files, the published Airbyte schema, our own validator."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from protocol.validate import MessageValidator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AIRBYTE_SCHEMA = json.loads((FIXTURES / "airbyte_protocol.json").read_text())


def fixture_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def airbyte_errors(value: dict, definition: str = "AirbyteMessage") -> list[str]:
    """Why `value` is not a valid `definition` of the published Airbyte protocol ([] when it is)."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": AIRBYTE_SCHEMA["definitions"]}
    return [e.message for e in Draft7Validator(schema).iter_errors(value)]


@pytest.fixture(scope="session")
def ours():
    """Fails the test when a message is not valid in our protocol (specs/protocol, full validation)."""
    validator = MessageValidator(full=True)

    def check(msgs: list[dict]) -> list[dict]:
        for msg in msgs:
            assert validator.errors(msg) == [], msg
        return msgs

    return check
