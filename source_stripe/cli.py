"""Command line of source-stripe (click only): the shared connector CLI wired to source.py.

    source-stripe spec
    source-stripe check --config src.json
    source-stripe discover --config src.json
    source-stripe read --config src.json [--catalog K] [--state S] [--follow]
    source-stripe streams [--all]     (a table of the streams, no config needed)
"""
from __future__ import annotations

import click

from connector_kit.cli import build_connector_cli
from connector_kit.connector import Connector
from source_stripe import source, state
from source_stripe.config import CONFIG_SCHEMA
from source_stripe.streams import default_streams, registry, streams_table

NAME = "source-stripe"
VERSION = "0.1.0"

STATE_SCHEMA = {
    "description": "State of one stream: time-windowed streams keep accounted_range + remaining windows; "
                   "streams without a created filter keep a cursor.",
    "oneOf": [
        {"type": "object", "required": ["accounted_range", "remaining"], "properties": {
            "accounted_range": {"type": "object", "required": ["gte", "lt"],
                                "properties": {"gte": {"type": "integer"}, "lt": {"type": "integer"}}},
            "remaining": {"type": "array", "items": {
                "type": "object", "required": ["gte", "lt"],
                "properties": {"gte": {"type": "integer"}, "lt": {"type": "integer"},
                               "cursor": {"type": ["string", "null"]}, "floor": {"type": "string"}}}}}},
        {"type": "object", "required": ["done"], "properties": {
            "cursor": {"type": ["string", "null"]}, "done": {"type": "boolean"}}},
    ],
}

CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="source", config_schema=CONFIG_SCHEMA,
    check=source.check, discover=source.discover, read=source.read, state_schema=STATE_SCHEMA,
    describe=lambda _config, aggregate: state.describe(aggregate),
    read_options=[click.Option(["--follow"], is_flag=True, default=False,
                               help="After the backfill keep polling /v1/events (every "
                                    "events_poll_interval_s) until SIGINT/SIGTERM, checkpointing as it "
                                    "goes; exits 0 on the signal. SIGUSR1 polls at once. Example: --follow")],
    wake_signal=source.WAKE_SIGNAL.name,
    help="Read a Stripe account as JSON-lines protocol messages (records, states, traces).\n\n"
         "Example: source-stripe read --config src.json | engine | destination-postgres write "
         "--config dst.json",
)
main = build_connector_cli(CONNECTOR)


@main.command(help="Print a table of the streams: how each is read and whether it is read by default "
                   "(no config needed; `discover` prints the catalog with the schemas).\n\n"
                   "Example: source-stripe streams --all")
@click.option("--all", "show_all", is_flag=True,
              help="Also list the endpoints that are not read, with the reason. Example: --all")
def streams(show_all: bool) -> None:
    chosen = list(registry().values()) if show_all else default_streams()
    for line in streams_table(chosen):
        click.echo(line)
    if not show_all:
        others = len(registry()) - len(chosen)
        click.echo(f"\n{len(chosen)} streams read by default; --all lists the {others} endpoints that are "
                   "not read, with the reason.")
