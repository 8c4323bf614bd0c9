"""Command line of destination-postgres (click only): wires the loader into the shared connector CLI.

Commands: `spec`, `check`, `write [--verify | --repair]` (from connector_kit.cli), `state`, which prints
the last committed aggregate state as one JSON line so a shell pipeline can resume:
`source-stripe read --config s.json --state "$(destination-postgres state --config d.json)" | ...`;
`stats` prints per stream the rows, deleted rows, last write and last checkpoint (`engine status`);
`candidates` prints the pending delete candidates as `{"stream", "id"}` lines for a source's `confirm`
(docs/protocol.md, "Snapshots and delete sweeps").
"""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Callable, Iterator

import click

from destination_postgres.config import CONFIG_SCHEMA, options_from_config
from destination_postgres.keys import parse_key_text
from destination_postgres.loader import Loader
from destination_postgres.writer import REPAIR, VERIFY, WRITE, Writer
from connector_kit.cli import CONFIG_HELP, build_connector_cli, run_messages
from connector_kit.connector import Connector, WriteRequest, retry_warnings
from protocol.config import load_config
from protocol.errors import ConfigError

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
    if request.options.get("verify") and request.options.get("repair"):
        raise ConfigError("--verify and --repair exclude each other")
    mode = VERIFY if request.options.get("verify") else REPAIR if request.options.get("repair") else WRITE
    writer = Writer(opts, mode, on_retry=retry_warnings(request.log))
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


def pending_candidates(config: dict) -> Iterator[dict]:
    with _read_only_writer(config) as writer:
        rows = writer.pending_candidates()
    for stream, key_text in rows:
        yield {"stream": stream, **parse_key_text(key_text)}


def read_stats(config: dict) -> dict:
    with _read_only_writer(config) as writer:
        return writer.table_stats()


CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="destination", config_schema=CONFIG_SCHEMA, check=check, write=write,
    write_options=[
        click.Option(["--verify"], is_flag=True, default=False,
                     help="Compare every record with the stored row (missing, stale; a tombstone over a live "
                          "row: extra) and write nothing; states are ignored; one verify trace per stream at "
                          "the end. Example: source-stripe read --config src.json --state state.json "
                          "--verify | destination-postgres write --config dst.json --verify"),
        click.Option(["--repair"], is_flag=True, default=False,
                     help="Like --verify, and write the records (listed versions replace differing rows, "
                          "confirmed tombstones apply); states are never stored. Example: ... | "
                          "destination-postgres write --config dst.json --repair")],
    help="Write protocol messages from stdin into PostgreSQL, one table per stream.\n\n"
         "Example: source-stripe read --config src.json | destination-postgres write --config dst.json",
)
main = build_connector_cli(CONNECTOR)


def json_command(name: str, help_text: str, read: Callable[[dict], dict]) -> None:
    """A command that prints one JSON object read from the database (`state`, `stats`)."""
    @main.command(name, help=help_text)
    @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
    @click.pass_context
    def command(ctx: click.Context, config_arg: str) -> None:
        run_messages(lambda: [read(load_config(config_arg, CONFIG_SCHEMA))], ctx.obj["debug"], NAME)


json_command("state", "Print the last committed aggregate state {\"streams\": {...}, \"global\": ...} as one "
             "JSON line.\n\nExample: source-stripe read --config src.json --state "
             "\"$(destination-postgres state --config dst.json)\"", read_state)
json_command("stats", "Print per stream the live rows, deleted rows, the last write and the last committed "
             "checkpoint (Unix seconds) as one JSON line {\"schema\": ..., \"streams\": {...}}; "
             "`engine status` shows them.\n\nExample: destination-postgres stats --config dst.json",
             read_stats)


@main.command(help="Print the pending delete candidates (live rows a snapshot did not see) as {\"stream\", "
                   "\"id\"} JSON lines, for a source's confirm command.\n\nExample: destination-postgres "
                   "candidates --config dst.json | source-stripe confirm --config src.json | "
                   "destination-postgres write --config dst.json")
@click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
@click.pass_context
def candidates(ctx: click.Context, config_arg: str) -> None:
    run_messages(lambda: pending_candidates(load_config(config_arg, CONFIG_SCHEMA)), ctx.obj["debug"], NAME)
