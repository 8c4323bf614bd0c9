"""Command line of source-stripe (click only): wires the Stripe source into the shared connector CLI."""
from __future__ import annotations

from protocol.cli import Connector, build_connector_cli
from protocol.config import connector_config_schema
from protocol.errors import ConnectorError

NAME = "source-stripe"
VERSION = "0.1.0"


def _not_yet(_config: dict) -> str:
    raise ConnectorError("internal_error", "source-stripe is not implemented yet")


CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="source", config_schema=connector_config_schema(NAME),
    check=_not_yet,
    help="Read a Stripe account as JSON-lines protocol messages (records, states, traces).",
)
main = build_connector_cli(CONNECTOR)
