"""Command line of destination-postgres (click only): wires the loader into the shared connector CLI.

Commands: `spec`, `check`, `write` (from connector_kit.cli) and `state`, which prints the last committed
aggregate state as one JSON line so a shell pipeline can resume:
`source-stripe read --config s.json --state "$(destination-postgres state --config d.json)" | ...`
"""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import click

from destination_postgres.config import CONFIG_SCHEMA, options_from_config
from destination_postgres.loader import Loader
from destination_postgres.writer import Writer
from connector_kit.cli import CONFIG_HELP, build_connector_cli, run_messages
from connector_kit.connector import Connector, WriteRequest
from protocol.config import load_config

NAME = "destination-postgres"
VERSION = "0.1.0"


@contextmanager
def _read_only_writer(config: dict) -> Iterator[Writer]:
    writer = Writer(options_from_config(config))
    writer.open(write=False)
    try:
        yield writer
    finally:
        writer.close()


def check(config: dict) -> str:
    with _read_only_writer(config) as writer:
        return writer.check_access()


def write(request: WriteRequest) -> Iterator[dict]:
    opts = options_from_config(request.config)
    writer = Writer(opts)
    writer.open()
    loader = Loader(opts, writer, input_pending=request.input_pending)
    try:
        yield from loader.run(request.catalog, request.lines)
    finally:
        loader.close()
        writer.close()


def read_state(config: dict) -> dict:
    with _read_only_writer(config) as writer:
        return writer.load_state()


CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="destination", config_schema=CONFIG_SCHEMA, check=check, write=write,
    help="Write protocol messages from stdin into PostgreSQL, one table per stream.",
)
main = build_connector_cli(CONNECTOR)


@main.command(help="Print the last committed aggregate state {\"streams\": {...}, \"global\": ...} as one "
                   "JSON line.\n\nExample: source-stripe read --config src.json --state "
                   "\"$(destination-postgres state --config dst.json)\"")
@click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
@click.pass_context
def state(ctx: click.Context, config_arg: str) -> None:
    run_messages(lambda: [read_state(load_config(config_arg, CONFIG_SCHEMA))], ctx.obj["debug"], NAME)
