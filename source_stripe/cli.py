"""Command line of source-stripe (click only): the shared connector CLI wired to source.py.

    source-stripe spec
    source-stripe check --config src.json
    source-stripe discover --config src.json
    source-stripe read --config src.json [--catalog K] [--state S] [--follow | --sweep-deletes | --verify]
    source-stripe confirm --config src.json < candidates.jsonl
    source-stripe streams [--all]     (a table of the streams, no config needed)
"""
from __future__ import annotations

from collections.abc import Iterator

import click

from connector_kit.cli import CONFIG_HELP, build_connector_cli, run_messages, shared_writer, stdin_lines
from connector_kit.connector import Connector
from protocol.config import load_config
from source_stripe import confirm as confirm_module
from source_stripe import source, state
from source_stripe.config import CONFIG_SCHEMA
from source_stripe.streams import default_streams, registry, streams_table

NAME = "source-stripe"
VERSION = "0.1.0"

STATE_SCHEMA = {
    "description": "State of one stream: time-windowed streams keep accounted_range + remaining windows; "
                   "streams without a created filter keep a cursor; child streams a copy of their parent's.",
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
        {"type": "object", "required": ["parent", "parent_state"], "properties": {
            "parent": {"type": "string"}, "parent_state": {}}},
    ],
}

CONNECTOR = Connector(
    name=NAME, version=VERSION, kind="source", config_schema=CONFIG_SCHEMA,
    check=source.check, discover=source.discover, read=source.read, state_schema=STATE_SCHEMA,
    describe=lambda _config, aggregate: state.describe(aggregate),
    read_options=[click.Option(["--follow"], is_flag=True, default=False,
                               help="After the backfill keep polling /v1/events (every "
                                    "events_poll_interval_s) until SIGINT/SIGTERM, checkpointing as it "
                                    "goes; exits 0 on the signal. SIGUSR1 polls at once. Example: --follow"),
                  click.Option(["--sweep-deletes"], is_flag=True, default=False,
                               help="Also re-read every time stream read before in full, as a snapshot, so "
                                    "the destination can sweep deletes older than the events Stripe keeps "
                                    "(about 1 request per 100 objects). Example: source-stripe read "
                                    "--config src.json --state state.json --sweep-deletes"),
                  click.Option(["--verify"], is_flag=True, default=False,
                               help="Only re-list, as snapshots, what --state says was read: no events, no "
                                    "states, nothing advances (for `destination-postgres write --verify`). "
                                    "Example: source-stripe read --config src.json --state state.json "
                                    "--verify")],
    wake_signal=source.WAKE_SIGNAL.name,
    help="Read a Stripe account as JSON-lines protocol messages (records, states, traces).\n\n"
         "Example: source-stripe read --config src.json | engine | destination-postgres write "
         "--config dst.json",
)
main = build_connector_cli(CONNECTOR)


@main.command(help="Confirm delete candidates: read {\"stream\", \"id\"} JSON lines on stdin, retrieve each "
                   "object and print a tombstone (deleted, or 404 resource_missing) or the current object "
                   "(still there: never tombstoned). Exit 1 when some got no answer (they stay pending)."
                   "\n\nExample: destination-postgres candidates --config dst.json | source-stripe confirm "
                   "--config src.json | destination-postgres write --config dst.json")
@click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
@click.pass_context
def confirm(ctx: click.Context, config_arg: str) -> None:
    writer = shared_writer()  # retries are said while they happen, between the answers

    def produce() -> Iterator[dict]:
        lines, _ = stdin_lines()
        return confirm_module.confirm(load_config(config_arg, CONFIG_SCHEMA), lines, writer.write)
    run_messages(produce, ctx.obj["debug"], NAME, writer)


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
        optional = sum(1 for s in registry().values() if s.optional)
        others = len(registry()) - len(chosen) - optional
        click.echo(f"\n{len(chosen)} streams read by default; --all lists the {optional} child streams read "
                   f"when named and the {others} endpoints that are not read, with the reason.")
