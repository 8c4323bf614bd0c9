"""Connector CLI scaffolding shared by every executable (docs/protocol.md, "Commands and exit codes").

`build_connector_cli(connector)` makes a click group with `spec`, `check`, and `discover`/`read` for a
source or `write` for a destination. The connector supplies plain functions; this module owns the rest:
argument loading (path or inline JSON), config validation before any I/O, secret redaction, stdout
carrying protocol lines only, and the one top-level handler that maps errors to a `trace` error on
stdout, one human line on stderr, and an exit code: 0 success, 1 failed run (a global error was emitted),
2 usage error (bad config/catalog/state). Tracebacks only with `--debug`.
"""
from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from connector_kit.connector import Connector, ReadRequest, WriteRequest
from protocol import messages
from protocol.config import load_catalog_arg, load_config, load_state_arg
from protocol.errors import ConnectorError
from protocol.jsonio import MessageWriter
from protocol.reader import BadLine, ChunkReader, Line, iter_lines
from protocol.secrets import redact_message, redact_text


def stderr_line(text: str) -> None:
    click.echo(redact_text(text), err=True)


def run_messages(produce: Callable[[], Iterable[dict]], debug: bool, name: str) -> None:
    """Write every produced message to stdout, map failures to protocol errors and exit codes."""
    writer = MessageWriter(redact=redact_message)
    failed = False
    try:
        for msg in produce():
            if msg.get("type") == "trace" and msg["trace"].get("trace_type") == "error" \
                    and msg["trace"]["error"].get("scope") == "global":
                failed = True
            writer.write(msg)
        writer.flush()
    except BrokenPipeError:
        _silence_stdout()
        stderr_line(f"{name}: output pipe closed by the reader; stopping")
        sys.exit(1)
    except KeyboardInterrupt:
        writer.flush()
        stderr_line(f"{name}: interrupted")
        sys.exit(130)
    except ConnectorError as exc:
        _emit_error(writer, exc, debug, name)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler
        wrapped = ConnectorError("internal_error", f"{type(exc).__name__}: {exc}",
                                 hint="this is a bug; run again with --debug for the traceback")
        _emit_error(writer, wrapped, debug, name)
        sys.exit(1)
    if failed:
        sys.exit(1)


def _silence_stdout() -> None:
    try:
        sys.stdout = open("/dev/null", "w")  # avoid a second BrokenPipeError at interpreter exit
    except OSError:
        pass


def _emit_error(writer: MessageWriter, exc: ConnectorError, debug: bool, name: str) -> None:
    try:
        writer.write(exc.to_message())
        writer.flush()
    except (BrokenPipeError, ValueError):
        _silence_stdout()
    if debug:
        stderr_line(traceback.format_exc())
    stderr_line(f"{name}: error [{exc.code}]: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""))


IDLE_SECONDS = 0.02  # input silent this long counts as idle: a destination commits what it has


def stdin_lines() -> tuple[Iterator[Line | BadLine], Callable[[], bool]]:
    """The lines of stdin and whether more input is already waiting (read through a ChunkReader, so the
    answer is exact); plain lines and "never waiting" when stdin is not a real file (in-process tests)."""
    try:
        reader = ChunkReader(sys.stdin.buffer.fileno())
    except (AttributeError, OSError, ValueError):
        return iter_lines(sys.stdin.buffer), lambda: False
    return iter_lines(reader), lambda: reader.has_line(IDLE_SECONDS)


CONFIG_HELP = "Connector config: a JSON file path or inline JSON, e.g. --config config.json"


def build_connector_cli(connector: Connector) -> click.Group:
    """The click group for a connector: spec, check, and discover/read or write."""

    @click.group(help=connector.help, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show Python tracebacks on errors (never secrets).")
    @click.version_option(connector.version, prog_name=connector.name)
    @click.pass_context
    def group(ctx: click.Context, debug: bool) -> None:
        ctx.obj = {"debug": debug}

    def run(ctx: click.Context, produce: Callable[[], Iterable[dict]]) -> None:
        run_messages(produce, ctx.obj["debug"], connector.name)

    @group.command(help=f"Print the connector's spec message.\n\nExample: {connector.name} spec")
    @click.pass_context
    def spec(ctx: click.Context) -> None:
        run(ctx, lambda: [messages.spec(connector.name, connector.version, connector.config_schema,
                                        connector.state_schema)])

    @group.command(help=f"Check the config and the connection; prints a connection_status message.\n\n"
                        f"Example: {connector.name} check --config config.json")
    @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
    @click.pass_context
    def check(ctx: click.Context, config_arg: str) -> None:
        failed = []

        def produce():
            config = load_config(config_arg, connector.config_schema)
            try:
                yield messages.connection_status("succeeded", connector.check(config))
            except ConnectorError as exc:
                failed.append(exc)
                yield messages.connection_status("failed", exc.message, exc.payload())
                stderr_line(f"{connector.name}: check failed [{exc.code}]: {exc.message}")
        run(ctx, produce)
        if failed:
            sys.exit(1)

    if connector.discover is not None:
        @group.command(help=f"Print the catalog of available streams.\n\n"
                            f"Example: {connector.name} discover --config config.json")
        @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
        @click.pass_context
        def discover(ctx: click.Context, config_arg: str) -> None:
            def produce():
                config = load_config(config_arg, connector.config_schema)
                yield messages.catalog(connector.discover(config))
            run(ctx, produce)

    if connector.read is not None:
        @click.command(help=f"Read records, states and traces as JSON lines on stdout.\n\n"
                            f"Example: {connector.name} read --config config.json "
                            f"--state \"$(destination-postgres state --config dst.json)\"")
        @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
        @click.option("--catalog", "catalog_arg", help="Streams to read (a catalog or {\"streams\": [...]}, "
                      "path or inline JSON); default: every default stream. Example: --catalog catalog.json")
        @click.option("--state", "state_arg", help="Aggregate state to resume from, path or inline JSON, "
                      "e.g. --state '{\"streams\": {}, \"global\": {}}'")
        @click.pass_context
        def read(ctx: click.Context, config_arg: str, catalog_arg: str | None, state_arg: str | None,
                 **options: Any) -> None:
            def produce():
                config = load_config(config_arg, connector.config_schema)
                request = ReadRequest(config, load_catalog_arg(catalog_arg), load_state_arg(state_arg),
                                      options)
                yield from connector.read(request)
            run(ctx, produce)
        read.params.extend(connector.read_options)
        group.add_command(read)

    if connector.write is not None:
        @click.command(help=f"Write the messages read on stdin; echo each state once committed.\n\n"
                             f"Example: source-stripe read --config src.json | {connector.name} write "
                             f"--config config.json")
        @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
        @click.option("--catalog", "catalog_arg", help="Catalog of the streams to write (path or inline "
                      "JSON); default: the catalog message on stdin. Example: --catalog catalog.json")
        @click.pass_context
        def write(ctx: click.Context, config_arg: str, catalog_arg: str | None, **options: Any) -> None:
            def produce():
                config = load_config(config_arg, connector.config_schema)
                lines, input_pending = stdin_lines()
                request = WriteRequest(config, load_catalog_arg(catalog_arg), lines, options, input_pending)
                yield from connector.write(request)
            run(ctx, produce)
        write.params.extend(connector.write_options)
        group.add_command(write)

    return group
