"""Connector CLI scaffolding shared by every executable (docs/protocol.md, "Commands and exit codes").

`build_connector_cli(connector)` makes a click group with `spec`, `check`, and `discover`/`read` (and
`describe` when the connector has it) for a source or `write` for a destination. The connector
supplies plain functions; this module owns the rest:
argument loading (path or inline JSON), config validation before any I/O, secret redaction, stdout
carrying protocol lines only, and the one top-level handler that maps errors to a `trace` error on
stdout, one human line on stderr, and an exit code: 0 success, 1 failed run (a global error was emitted),
2 usage error (bad config/catalog/state). Tracebacks only with `--debug`.
"""
from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from connector_kit.connector import Connector, ReadRequest, WriteRequest
from protocol import messages
from protocol.config import load_catalog_arg, load_config, load_state_arg
from protocol.errors import ConfigError, ConnectorError
from protocol.jsonio import MessageWriter
from protocol.reader import BadLine, ChunkReader, Line, iter_lines
from protocol.secrets import redact_message, redact_text


def stderr_line(text: str) -> None:
    click.echo(redact_text(text), err=True)


def shared_writer() -> MessageWriter:
    """The stdout writer of a command whose `log` may write from any thread (a retry's backoff)."""
    return MessageWriter(redact=redact_message, lock=threading.Lock())


def run_messages(produce: Callable[[], Iterable[dict]], debug: bool, name: str,
                 writer: MessageWriter | None = None, resume: str | None = None) -> None:
    """Write every produced message to stdout, map failures to protocol errors and exit codes; Ctrl-C is
    an interruption (exit 130, one line saying how to `resume`), never an error."""
    writer = writer or MessageWriter(redact=redact_message)
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
        try:
            writer.flush()
        except BrokenPipeError:
            _silence_stdout()
        stderr_line(f"{name}: interrupted" + (f"; {resume}" if resume else ""))
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


CATALOG_HELP = {
    "read": "Streams to read (a catalog or {\"streams\": [...]}, path or inline JSON); default: every "
            "default stream. Example: --catalog catalog.json",
    "write": "Catalog of the streams to write (path or inline JSON); default: the catalog message on stdin. "
             "Example: --catalog catalog.json",
}
STATE_HELP = ("Aggregate state to resume from, path or inline JSON, e.g. "
              "--state '{\"streams\": {}, \"global\": {}}'")
Produce = Callable[[], Iterable[dict]]


def build_connector_cli(connector: Connector) -> click.Group:
    """The click group for a connector: spec, check, and discover/read or write."""
    name, schema = connector.name, connector.config_schema
    resume = (f"what the destination committed is kept: resume with `{name} read --config C --state "
              f"\"$(<destination> state --config D)\"`" if connector.kind == "source" else
              f"what was committed is kept: resume with `<source> read --config C --state \"$({name} state "
              f"--config D)\"`")

    @click.group(help=connector.help,
                 context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
    @click.option("--debug", is_flag=True, help="Show Python tracebacks on errors (never secrets). "
                                                "Example: --debug")
    @click.version_option(connector.version, prog_name=name)
    @click.pass_context
    def group(ctx: click.Context, debug: bool) -> None:
        ctx.obj = {"debug": debug}

    def run(ctx: click.Context, produce: Produce) -> None:
        run_messages(produce, ctx.obj["debug"], name)

    @group.command(help=f"Print the connector's spec message.\n\nExample: {name} spec")
    @click.pass_context
    def spec(ctx: click.Context) -> None:
        run(ctx, lambda: [messages.spec(name, connector.version, schema, connector.state_schema,
                                        connector.wake_signal)])

    @group.command(help=f"Check the config and the connection; prints a connection_status message.\n\n"
                        f"Example: {name} check --config config.json")
    @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
    @click.pass_context
    def check(ctx: click.Context, config_arg: str) -> None:
        failed = []

        def produce() -> Iterator[dict]:
            config = load_config(config_arg, schema)
            try:
                yield messages.connection_status("succeeded", connector.check(config))
            except ConfigError:
                raise  # a usage error, as for read (exit 2): check refuses what read refuses
            except ConnectorError as exc:
                failed.append(exc)
                yield messages.connection_status("failed", exc.message, exc.payload())
                stderr_line(f"{name}: check failed [{exc.code}]: {exc.message}")
        run(ctx, produce)
        if failed:
            sys.exit(1)

    discover_fn, read_fn, write_fn = connector.discover, connector.read, connector.write
    if discover_fn is not None:
        @group.command(help=f"Print the catalog of available streams.\n\n"
                            f"Example: {name} discover --config config.json")
        @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
        @click.pass_context
        def discover(ctx: click.Context, config_arg: str) -> None:
            run(ctx, lambda: [messages.catalog(discover_fn(load_config(config_arg, schema)))])

    describe_fn = connector.describe
    if describe_fn is not None:
        @group.command(help="Describe a state of this source in words, as one JSON line: per stream what it "
                            "covers and whether it is complete, how current the incremental position is "
                            "(docs/protocol.md, `describe`); no network.\n\n"
                            f"Example: {name} describe --state \"$(destination-postgres state --config "
                            "dst.json)\"")
        @click.option("--config", "config_arg", help=f"{CONFIG_HELP} (optional: a state is described "
                                                     "without it)")
        @click.option("--state", "state_arg", required=True, help=STATE_HELP)
        @click.pass_context
        def describe(ctx: click.Context, config_arg: str | None, state_arg: str) -> None:
            def produce() -> list[dict]:
                config = load_config(config_arg, schema) if config_arg else {}
                return [describe_fn(config, load_state_arg(state_arg) or {"streams": {}, "global": None})]
            run(ctx, produce)

    def data_command(kind: str, help_text: str, extra: list[click.Option],
                     body: Callable[[dict, dict | None, dict[str, Any], Callable[[dict], None]],
                                    Iterable[dict]]) -> None:
        """`read` or `write`: --config, --catalog and `extra`, then `body(config, catalog, options, log)`
        (`log` writes a message at once, from any thread)."""
        @click.command(kind, help=help_text)
        @click.option("--config", "config_arg", required=True, help=CONFIG_HELP)
        @click.option("--catalog", "catalog_arg", help=CATALOG_HELP[kind])
        @click.pass_context
        def command(ctx: click.Context, config_arg: str, catalog_arg: str | None, **options: Any) -> None:
            writer = shared_writer()
            run_messages(lambda: body(load_config(config_arg, schema), load_catalog_arg(catalog_arg), options,
                                      writer.write), ctx.obj["debug"], name, writer, resume)
        command.params.extend(extra)
        group.add_command(command)

    if read_fn is not None:
        def read(config: dict, catalog: dict | None, options: dict[str, Any],
                 log: Callable[[dict], None]) -> Iterable[dict]:
            state = load_state_arg(options.pop("state_arg"))
            return read_fn(ReadRequest(config, catalog, state, options, log))
        data_command("read", f"Read records, states and traces as JSON lines on stdout.\n\nExample: {name} "
                             f"read --config config.json --state \"$(destination-postgres state --config "
                             f"dst.json)\"",
                     [click.Option(["--state", "state_arg"], help=STATE_HELP), *connector.read_options], read)

    if write_fn is not None:
        def write(config: dict, catalog: dict | None, options: dict[str, Any],
                  log: Callable[[dict], None]) -> Iterable[dict]:
            lines, input_pending = stdin_lines()
            return write_fn(WriteRequest(config, catalog, lines, options, input_pending, log))
        data_command("write", f"Write the messages read on stdin; echo each state once committed.\n\n"
                              f"Example: source-stripe read --config src.json | {name} write --config "
                              f"config.json",
                     connector.write_options, write)

    return group
