"""Command line of destination-postgres (click only): wires the writer into the shared connector CLI."""
from __future__ import annotations

from protocol.cli import Connector, build_connector_cli
from protocol.config import connector_config_schema
from protocol.errors import ConnectorError

NAME = "destination-postgres"
VERSION = "0.1.0"


def _not_yet(_config: dict) -> str:
    raise ConnectorError("internal_error", "destination-postgres is not implemented yet")


CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="destination", config_schema=connector_config_schema(NAME),
    check=_not_yet,
    help="Write protocol messages from stdin into PostgreSQL, one table per stream.",
)
main = build_connector_cli(CONNECTOR)
