"""Command line of destination-postgres (click only): wires the loader into the shared connector CLI.

Commands: `spec`, `check`, `write` (from protocol.cli) and `state`, which prints the last committed
aggregate state as one JSON line so a shell pipeline can resume:
`source-stripe read --config s.json --state "$(destination-postgres state --config d.json)" | ...`
"""
from __future__ import annotations

import select
import sys
from typing import Iterator

import click

from destination_postgres.config import options_from_config
from destination_postgres.loader import Loader
from destination_postgres.writer import Writer
from protocol.cli import CONFIG_HELP, Connector, WriteRequest, build_connector_cli, run_messages
from protocol.config import connector_config_schema, load_config

NAME = "destination-postgres"
VERSION = "0.1.0"
CONFIG_SCHEMA = connector_config_schema(NAME)


def check(config: dict) -> str:
    writer = Writer(options_from_config(config))
    writer.open(write=False)
    try:
        return writer.check_access()
    finally:
        writer.close()


def stdin_has_input() -> bool:
    """Whether more input is already waiting on stdin (a regular file always has)."""
    try:
        return bool(select.select([sys.stdin.buffer], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def write(request: WriteRequest) -> Iterator[dict]:
    opts = options_from_config(request.config)
    writer = Writer(opts)
    writer.open()
    try:
        yield from Loader(opts, writer, input_pending=stdin_has_input).run(request.catalog, request.lines)
    finally:
        writer.close()


def read_state(config: dict) -> dict:
    writer = Writer(options_from_config(config))
    writer.open(write=False)
    try:
        return writer.load_state()
    finally:
        writer.close()


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
