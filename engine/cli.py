"""Command line of the engine (click only). Without a subcommand it runs pipe mode on stdin/stdout.

    source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    engine sync --source-config src.json --destination-config dst.json [--sweep-deletes]
    engine verify [--repair] [--format json]
    engine check
    engine status
    engine serve --port 8000
    engine worker --temporal HOST:PORT | engine submit --temporal HOST:PORT ... | engine resume ...

Exit codes: 0 succeeded, 1 failed or partial (the `eof` line says which, stderr says what was not
synced), 2 usage error, 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.adapters import protocols
from engine.adapters.protocols import DESTINATION_PROTOCOLS, SOURCE_PROTOCOLS
from engine.pipe import Interrupted, run_pipe
from engine.processor import OnBadMessage, PipeOptions, Validation
from engine.progress_view import PROGRESS_MODES, make_view
from engine.sync import configs
from engine.sync.check import run_check
from engine.sync.children import resolve_command
from engine.sync.options import SyncOptions
from engine.sync.restart import RestartPolicy
from engine.sync.run import run_sync, stderr_report
from engine.sync.status import gather, report_lines
from engine.sync.verify import as_json, as_table, exit_code, run_verify
from engine.temporal.commands import COMMANDS as TEMPORAL_COMMANDS
from engine.temporal.commands import temporal_status
from engine.temporal.spec import DEFAULT_NAME
from protocol.config import load_catalog_arg, load_state_arg
from protocol.jsonio import dumps
from protocol.errors import ConfigError, ConnectorError
from protocol.reader import DEFAULT_MAX_LINE_BYTES
from protocol.secrets import redact_text, register_secret

F = TypeVar("F", bound=Callable[..., Any])


def _progress_choice(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """`--progress`: one of PROGRESS_MODES (`tty`, the old name of `live`, is still accepted)."""
    if value == "tty":
        return "live"
    if value not in PROGRESS_MODES:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(PROGRESS_MODES)}")
    return value


def progress_option(auto_fallback: str) -> Callable[[F], F]:
    """`--progress` of pipe mode and `engine sync` (they differ in what `auto` means off a terminal)."""
    return click.option("--progress", "progress_mode", default="auto", show_default=True,
                        callback=_progress_choice, metavar="[" + "|".join(PROGRESS_MODES) + "]",
                        help="Human progress on stderr: a live view (live), quiet lines (plain) or nothing "
                             f"(none); auto = live on a terminal, else {auto_fallback}. "
                             "Example: --progress plain")


PROGRESS_INTERVAL_HELP = ("Seconds between periodic progress traces on stdout (a status change emits one at "
                          "once). Example: --progress-interval 5")


def usage_error(exc: ConfigError) -> None:
    click.echo(redact_text(f"engine: error [{exc.code}]: {exc.message}"), err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)
    sys.exit(2)


@click.group(invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stripe-sync", prog_name="engine",
                      help="Show the version and exit. Example: --version")
@click.option("--catalog", "catalog_arg",
              help="Catalog of the streams to pass (path or inline JSON); default: "
              "the catalog message the source emits first. Example: --catalog catalog.json")
@click.option("--state", "state_arg", help="Aggregate state the source started from (path or inline JSON): "
              "the base of eof.state (its contents stay opaque). Example: --state state.json")
@click.option("--validate", type=click.Choice(["envelope", "full"]), default="envelope", show_default=True,
              help="Check the envelope of every message, or validate every message fully against specs/. "
                   "Example: --validate full")
@click.option("--on-bad-message", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="Stop at the first bad line with a failed eof, or skip bad lines and count them. "
                   "Example: --on-bad-message skip")
@progress_option("none")
@click.option("--progress-interval", type=float, default=1.0, show_default=True,
              help=PROGRESS_INTERVAL_HELP)
@click.option("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES, show_default=True,
              help="Longest accepted input line in bytes; a longer one is a bad line. "
                   "Example: --max-line-bytes 67108864")
@click.option("--source-protocol", "source_protocol", type=click.Choice(("auto",) + SOURCE_PROTOCOLS),
              default="auto", show_default=True,
              help="Protocol of the input: ours, Airbyte's or Singer's (translated to ours); auto = "
                   "detected from the first line. A foreign source needs --catalog (its own catalog file), "
                   "e.g. source-faker read ... | engine --catalog configured_catalog.json.")
@click.option("--destination-protocol", "destination_protocol", type=click.Choice(DESTINATION_PROTOCOLS),
              default="native", show_default=True,
              help="Protocol of the output: a foreign destination gets only its own messages on stdout "
                   "(progress stays on stderr), e.g. source-stripe read ... | engine --destination-protocol "
                   "singer | target-jsonl.")
@click.pass_context
def main(ctx: click.Context, catalog_arg: str | None, state_arg: str | None, validate: Validation,
         on_bad_message: OnBadMessage, progress_mode: str, progress_interval: float,
         max_line_bytes: int, source_protocol: str, destination_protocol: str) -> None:
    """Validate and enrich a stream of protocol messages (pipe mode), or run a whole sync.

    Pipe mode reads a source's messages on stdin and writes them to stdout: the catalog first, records
    and states forwarded byte for byte, enriched stream_status and progress traces, and an eof line last.

    Example: source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        catalog, catalog_protocol = protocols.native_catalog(load_catalog_arg(catalog_arg))
        if source_protocol in ("airbyte", "singer") and catalog is None:
            raise ConfigError(f"--source-protocol {source_protocol} needs --catalog",
                              hint="pass the catalog file the source reads (an Airbyte configured catalog, "
                                   "or the Singer catalog from `tap --discover`)")
        if source_protocol == "auto" and catalog_protocol is not None:
            source_protocol = catalog_protocol
        if catalog is not None and not all(isinstance(s, dict) and isinstance(s.get("name"), str)
                                           and s["name"]
                                           for s in catalog["streams"]):
            raise ConfigError("--catalog: every stream needs a non-empty string 'name'")
        options = PipeOptions(validate=validate, on_bad_message=on_bad_message,
                              progress_interval=progress_interval, catalog=catalog,
                              state=load_state_arg(state_arg), max_line_bytes=max_line_bytes)
    except ConfigError as exc:
        usage_error(exc)
        return
    view = make_view(progress_mode, sys.stderr)

    def on_sigterm(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = run_pipe(sys.stdin.buffer, sys.stdout.buffer, options, view, source_protocol,
                        destination_protocol)
    except BrokenPipeError:
        click.echo("engine: output pipe closed by the reader; stopping", err=True)
        code = 1
    sys.exit(code)


def connector_options(func: F) -> F:
    """Options shared by `sync` and `check`: the two commands and their configs."""
    options = [
        click.option("--source", "source_cmd", default="source-stripe", show_default=True,
                     help="Source command (may contain arguments), e.g. --source 'python -m source_stripe'."),
        click.option("--source-config", help="Source config, a path or inline JSON. Default: built from "
                     "STRIPE_API_KEY (and --stripe-base-url). "
                     "Example: --source-config examples/source-emulator.json"),
        click.option("--destination", "destination_cmd", default="destination-postgres", show_default=True,
                     help="Destination command (may contain arguments), e.g. --destination "
                          "'python -m destination_postgres'."),
        click.option("--destination-config", help="Destination config, a path or inline JSON. Default: built "
                     "from DATABASE_URL (and --schema). Example: --destination-config "
                     "examples/destination.json"),
        click.option("--stripe-base-url", envvar="STRIPE_BASE_URL", help="Stripe API base URL (e.g. an "
                     "emulator); also STRIPE_BASE_URL. Overrides the source config's base_url. "
                     "Example: --stripe-base-url http://127.0.0.1:12111"),
        click.option("--schema",
                     help="Postgres schema of the tables; overrides the destination config's schema. "
                          "Example: --schema stripe"),
        click.option("--source-protocol", type=click.Choice(SOURCE_PROTOCOLS), default="native",
                     show_default=True, help="The source's protocol: ours, or an Airbyte source or a Singer "
                     "tap through an adapter (docs/third-party.md), e.g. --source /venv/bin/source-faker "
                     "--source-protocol airbyte."),
        click.option("--destination-protocol", type=click.Choice(DESTINATION_PROTOCOLS), default="native",
                     show_default=True, help="The destination's protocol, e.g. --destination "
                     "/venv/bin/target-jsonl --destination-protocol singer."),
    ]
    return stacked(options, func)


def stacked(options: list[Callable[[Any], Any]], func: F) -> F:
    """`func` decorated with `options`, the first one shown first in --help."""
    for option in reversed(options):
        func = option(func)
    return func


def state_file_options(func: F) -> F:
    """Options shared by `sync` and `status`: where the state file is."""
    options = [
        click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Where the confirmed state is kept (and read when the destination cannot "
                          "print its state), with the totals beside it. "
                          "Default: ~/.local/state/stripe-sync/<sync id>.json ($STRIPE_SYNC_STATE_DIR). "
                          "Example: --state-file ./stripe.state.json"),
        click.option("--no-state-file", is_flag=True,
                     help="Keep the confirmed state only in the destination (it needs a `state` command, as "
                          "destination-postgres has); no totals across runs. Example: --no-state-file"),
    ]
    return stacked(options, func)


def choose_state_file(state_file: Path | None, no_state_file: bool, source_argv: list[str],
                      destination_argv: list[str], src: dict, dst: dict) -> Path | None:
    """The state file of this sync: the one given, none, or the default named by the sync's identity."""
    if no_state_file:
        if state_file is not None:
            raise ConfigError("--state-file and --no-state-file exclude each other")
        return None
    if state_file is not None:
        return state_file
    return configs.default_state_file(source_argv, src, destination_argv, dst)


def build_configs(source_config: str | None, destination_config: str | None, stripe_base_url: str | None,
                  schema: str | None, max_requests_per_second: float | None = None,
                  source_protocol: str = "native", destination_protocol: str = "native",
                  accounts: str | None = None) -> tuple[dict, dict]:
    for role, protocol, given in (("source", source_protocol, source_config),
                                  ("destination", destination_protocol, destination_config)):
        if protocol != "native" and given is None:
            raise ConfigError(f"--{role}-config is required with --{role}-protocol {protocol}",
                              hint=f"pass the {protocol} connector's own config (a path or inline JSON)")
    return (configs.source_config(source_config, os.environ, stripe_base_url, max_requests_per_second,
                                  configs.parse_accounts(accounts)),
            configs.destination_config(destination_config, os.environ, schema))


def run_options(func: F) -> F:
    """Options shared by `sync` and `verify`: streams, budget, state file, restarts, progress."""
    options = [
        click.option("--streams", help="Comma-separated streams, e.g. --streams customers,charges "
                     "(default: the source's default streams)."),
        click.option("--max-requests-per-second", type=click.FloatRange(min=0, min_open=True), metavar="N",
                     help="Requests per second the source may make (its config's max_requests_per_second). "
                          "Default: the source's own. source-stripe's is about half of Stripe's limits: 50/s "
                          "for live keys, 12/s for test keys (Stripe allows 100/s and 25/s per account), so "
                          "the account's other clients keep working; raise it when nothing else uses the "
                          "key. Example: --max-requests-per-second 20"),
        click.option("--accounts", metavar="all|ID,ID",
                     help="Connect: read the platform and every connected account (all), or these accounts, "
                          "into the same tables (the source config's accounts; each account has its own "
                          "state "
                          "and budget). Example: --accounts all, or --accounts acct_1AbC,acct_1XyZ"),
        state_file_options,
        click.option("--source-timeout", type=float,
                     help="Seconds without source output before it counts as hung and is restarted. "
                          "Default: 300 (off with --follow unless given). Example: --source-timeout 600"),
        click.option("--max-restarts", type=int, default=5, show_default=True,
                     help="Restarts in a row without confirmed progress before giving up. "
                          "Example: --max-restarts 10"),
        click.option("--poison-threshold", type=int, default=3, show_default=True,
                     help="The same failure this many times in a row ends the run. "
                          "Example: --poison-threshold 5"),
        click.option("--max-total-restarts", type=click.IntRange(min=0), default=50, show_default=True,
                     help="Restarts in one run, with progress or not, before giving up (a backstop; 0 = no "
                          "cap). Example: --max-total-restarts 0"),
        click.option("--restart-delay", type=float, default=1.0, show_default=True,
                     help="First backoff delay in seconds (doubles each restart, with jitter). "
                          "Example: --restart-delay 5"),
        click.option("--max-restart-delay", type=float, default=60.0, show_default=True,
                     help="Longest backoff delay between two source attempts, in seconds. "
                          "Example: --max-restart-delay 300"),
        click.option("--validate", type=click.Choice(["envelope", "full"]), default="envelope",
                     show_default=True,
                     help="Check the envelope of every source message, or validate every message fully "
                          "against specs/ (slower). Example: --validate full"),
        click.option("--on-bad-message", type=click.Choice(["fail", "skip"]), default="fail",
                     show_default=True,
                     help="A bad source line fails the attempt (then restarts), or is skipped and counted. "
                          "Example: --on-bad-message skip"),
        progress_option("plain"),
        click.option("--progress-interval", type=float, default=1.0, show_default=True,
                     help=PROGRESS_INTERVAL_HELP),
    ]
    return stacked(options, func)


def build_options(source_config: str | None, destination_config: str | None, stripe_base_url: str | None,
                  schema: str | None, source_cmd: str, destination_cmd: str, source_protocol: str,
                  destination_protocol: str, streams: str | None, max_requests_per_second: float | None,
                  state_file: Path | None, no_state_file: bool, follow: bool, source_timeout: float | None,
                  max_restarts: int, poison_threshold: int, max_total_restarts: int, restart_delay: float,
                  max_restart_delay: float, validate: Validation, on_bad_message: OnBadMessage,
                  progress_interval: float, sweep_deletes: bool = False,
                  verify: bool = False, accounts: str | None = None) -> SyncOptions:
    """The options of a run from the command line (ConfigError on a bad config or combination)."""
    src, dst = build_configs(source_config, destination_config, stripe_base_url, schema,
                             max_requests_per_second, source_protocol, destination_protocol, accounts)
    for wanted, what in ((follow, "--follow"), (sweep_deletes, "--sweep-deletes"), (verify, "engine verify")):
        if wanted and source_protocol != "native":
            raise ConfigError(f"{what} needs a source of ours (not --source-protocol {source_protocol})")
    if verify and destination_protocol != "native":
        raise ConfigError(f"engine verify needs a destination of ours (not --destination-protocol "
                          f"{destination_protocol})")
    source_argv = resolve_command(source_cmd, "--source")
    destination_argv = resolve_command(destination_cmd, "--destination")
    state_file = choose_state_file(state_file, no_state_file, source_argv, destination_argv, src, dst)
    return SyncOptions(
        source_cmd=source_argv, source_config=src, destination_cmd=destination_argv, destination_config=dst,
        state_file=state_file,
        streams=[s.strip() for s in streams.split(",") if s.strip()] if streams else None,
        follow=follow, sweep_deletes=sweep_deletes,
        source_timeout=source_timeout if source_timeout is not None else (None if follow else 300.0),
        policy=RestartPolicy(max_restarts=max_restarts, poison_threshold=poison_threshold,
                             max_total_restarts=max_total_restarts,
                             base_delay=restart_delay, max_delay=max_restart_delay),
        pipe=PipeOptions(validate=validate, on_bad_message=on_bad_message,
                         progress_interval=progress_interval),
        source_protocol=protocols.source_protocol(source_protocol),
        destination_protocol=protocols.destination_protocol(destination_protocol))


@main.command()
@connector_options
@run_options
@click.option("--follow", is_flag=True, help="Keep running: the source's incremental mode (read --follow); "
                                            "stop it with Ctrl-C. Example: --follow")
@click.option("--sweep-deletes", is_flag=True,
              help="Also re-read every time stream in full as a snapshot and confirm the rows the source no "
                   "longer lists, so deletes older than Stripe's 30 days of events are tombstoned too (about "
                   "one request per 100 objects plus one per candidate; run it e.g. weekly). Example: engine "
                   "sync --schema stripe --sweep-deletes")
@click.option("--output", type=click.Choice(["auto", "json", "none"]), default="auto", show_default=True,
              help="Protocol messages (progress, errors, eof) on stdout; auto = json unless "
                   "stdout is a terminal. Example: --output json > run.jsonl")
def sync(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
         stripe_base_url: str | None, schema: str | None, source_protocol: str, destination_protocol: str,
         streams: str | None, max_requests_per_second: float | None, accounts: str | None,
         state_file: Path | None, no_state_file: bool, source_timeout: float | None, max_restarts: int,
         poison_threshold: int, max_total_restarts: int, restart_delay: float, max_restart_delay: float,
         validate: Validation, on_bad_message: OnBadMessage, progress_mode: str, progress_interval: float,
         follow: bool, sweep_deletes: bool, output: str) -> None:
    """Run a whole sync: source -> engine -> destination, resuming from the confirmed state.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine sync --schema stripe
    """
    try:
        options = build_options(source_config, destination_config, stripe_base_url, schema, source_cmd,
                                destination_cmd, source_protocol, destination_protocol, streams,
                                max_requests_per_second, state_file, no_state_file, follow, source_timeout,
                                max_restarts, poison_threshold, max_total_restarts, restart_delay,
                                max_restart_delay, validate, on_bad_message, progress_interval, sweep_deletes,
                                accounts=accounts)
        out = sys.stdout.buffer
        if output == "none" or (output == "auto" and sys.stdout.isatty()):
            out = None
        code = run_sync(options, out, make_view(progress_mode, sys.stderr, auto_fallback="plain"))
    except ConfigError as exc:
        usage_error(exc)
        return
    sys.exit(code)


@main.command()
@connector_options
@run_options
@click.option("--repair", is_flag=True,
              help="Write the fixes through the destination (listed versions replace rows that differ, "
                   "confirmed tombstones apply; checkpoints untouched), then verify again. Example: engine "
                   "verify --schema stripe --repair")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="The report on stdout: a table for people or one JSON object for machines, e.g. "
                   "engine verify --format json | jq .streams")
def verify(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
           stripe_base_url: str | None, schema: str | None, source_protocol: str, destination_protocol: str,
           streams: str | None,
           max_requests_per_second: float | None, accounts: str | None, state_file: Path | None,
           no_state_file: bool, source_timeout: float | None, max_restarts: int, poison_threshold: int,
           max_total_restarts: int,
           restart_delay: float, max_restart_delay: float, validate: Validation, on_bad_message: OnBadMessage,
           progress_mode: str, progress_interval: float, repair: bool, fmt: str) -> None:
    """Compare the tables with the source, stream by stream: missing (in the source, not live in the
    table), stale (content differs), extra (live in the table, gone from the source: confirmed by
    retrieve). The source re-lists what the confirmed state says was synced; nothing is written
    (unless --repair) and no state changes, so it is safe to interrupt. Exit 0 clean, 1 drift.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine verify --schema stripe
    """
    try:
        options = build_options(source_config, destination_config, stripe_base_url, schema, source_cmd,
                                destination_cmd, source_protocol, destination_protocol, streams,
                                max_requests_per_second, state_file, no_state_file, False, source_timeout,
                                max_restarts, poison_threshold, max_total_restarts, restart_delay,
                                max_restart_delay, validate, on_bad_message, progress_interval, verify=True,
                                accounts=accounts)
        view = make_view(progress_mode, sys.stderr, auto_fallback="plain")
        passes = run_verify(options, None, view, repair, stderr_report)
    except ConfigError as exc:
        usage_error(exc)
        return
    click.echo(as_json(passes) if fmt == "json" else as_table(passes))
    sys.exit(exit_code(passes))


@main.command()
@connector_options
def check(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
          stripe_base_url: str | None, schema: str | None, source_protocol: str,
          destination_protocol: str) -> None:
    """Check both connectors (config, credentials, reachability) and print a verdict.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine check
    """
    try:
        src, dst = build_configs(source_config, destination_config, stripe_base_url, schema,
                                 source_protocol=source_protocol, destination_protocol=destination_protocol)
        code = run_check(resolve_command(source_cmd, "--source"), src,
                         resolve_command(destination_cmd, "--destination"), dst, sys.stdout.buffer,
                         source_protocol=source_protocol, destination_protocol=destination_protocol)
    except ConfigError as exc:
        usage_error(exc)
        return
    sys.exit(code)


@main.command()
@connector_options
@state_file_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Words and a table per stream, or the same facts as one JSON object. "
                   "Example: --format json")
@click.option("--temporal", "temporal_address", metavar="HOST:PORT",
              help="Instead: the Temporal workflows of --name (docs/temporal.md): per pipeline or account "
                   "what runs where, the last success, the last error. Example: --temporal 127.0.0.1:7233")
@click.option("--namespace", default="default", show_default=True,
              help="With --temporal: the Temporal namespace. Example: --namespace prod")
@click.option("--name", "workflow_name", default=DEFAULT_NAME, show_default=True,
              help="With --temporal: the workflows NAME and NAME/... (as `engine submit --name`). "
                   "Example: --name shop-eu")
def status(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
           stripe_base_url: str | None, schema: str | None, source_protocol: str, destination_protocol: str,
           state_file: Path | None, no_state_file: bool, fmt: str, temporal_address: str | None,
           namespace: str, workflow_name: str) -> None:
    """The confirmed state of a sync in words: per stream the time range covered, whether it is complete,
    when it last completed, rows and deleted rows; the last run; how current the events cursor is.

    Each part comes from who knows it (docs/engine.md, "engine status"): the destination's `state` and
    `stats`, the source's `describe`, the state file's totals. Same options as `engine sync`.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine status --schema stripe
    """
    if temporal_address:
        temporal_status(temporal_address, namespace, workflow_name, "json" if fmt == "json" else "text")
        return
    try:
        src, dst = build_configs(source_config, destination_config, stripe_base_url, schema,
                                 source_protocol=source_protocol, destination_protocol=destination_protocol)
        source_argv = resolve_command(source_cmd, "--source")
        destination_argv = resolve_command(destination_cmd, "--destination")
        options = SyncOptions(source_cmd=source_argv, source_config=src, destination_cmd=destination_argv,
                              destination_config=dst,
                              state_file=choose_state_file(state_file, no_state_file, source_argv,
                                                           destination_argv, src, dst),
                              source_protocol=protocols.source_protocol(source_protocol),
                              destination_protocol=protocols.destination_protocol(destination_protocol))
        report = gather(options, configs.identity(dst))
    except ConfigError as exc:
        usage_error(exc)
        return
    except ConnectorError as exc:
        click.echo(redact_text(f"engine: error [{exc.code}]: {exc.message}"), err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(dumps(report.to_dict()).decode())
    else:
        for line in report_lines(report):
            click.echo(redact_text(line))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default serves this machine only. There is no TLS: put a TLS "
                   "proxy in front before listening elsewhere, e.g. --host 0.0.0.0.")
@click.option("--port", type=int, default=8000, show_default=True,
              help="Port to listen on; 0 picks a free one (see --ready-file), e.g. --port 8080.")
@click.option("--source", "source_cmd", default="source-stripe", show_default=True,
              help="Source command of every sync, e.g. --source 'python -m source_stripe'.")
@click.option("--destination", "destination_cmd", default="destination-postgres", show_default=True,
              help="Destination command of every sync, e.g. --destination 'python -m destination_postgres'.")
@click.option("--stripe-base-url", envvar="STRIPE_BASE_URL",
              help="Stripe API base URL for the source config built from STRIPE_API_KEY (e.g. an emulator); "
                   "also STRIPE_BASE_URL. Example: --stripe-base-url http://127.0.0.1:12111")
@click.option("--schema", default="stripe", show_default=True,
              help="Postgres schema of syncs whose request gives neither a destination config nor a schema. "
                   "Example: --schema stripe")
@click.option("--max-webhook-bytes", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Webhook bodies longer than this are refused (413). Example: --max-webhook-bytes 262144")
@click.option("--wake-debounce", type=click.FloatRange(min=0), default=0.25, show_default=True,
              help="Seconds between two wake-ups of one sync's source after webhooks (the first is sent at "
                   "once, the last never lost). Example: --wake-debounce 1")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help='Write {"url": ...} to this file once listening, e.g. --port 0 --ready-file url.json.')
@click.option("--access-log", is_flag=True,
              help="Log every request on stderr (uvicorn's access log). Example: --access-log")
def serve(host: str, port: int, source_cmd: str, destination_cmd: str, stripe_base_url: str | None,
          schema: str, max_webhook_bytes: int, wake_debounce: float, ready_file: Path | None,
          access_log: bool) -> None:
    """Serve the HTTP API: start syncs, stream their messages, a live status page, Stripe webhooks.

    Every route but /health and /webhooks/stripe needs `Authorization: Bearer $STRIPE_SYNC_API_TOKEN`
    (the server refuses to start without it). STRIPE_WEBHOOK_SECRET (whsec_...) turns on
    POST /webhooks/stripe: a verified event wakes the following syncs of its account at once.
    STRIPE_API_KEY and DATABASE_URL are the configs of syncs whose request carries none.

    Example: STRIPE_SYNC_API_TOKEN=$(openssl rand -hex 32) STRIPE_API_KEY=sk_test_...
    DATABASE_URL=postgresql://localhost/db engine serve --port 8000
    """
    try:
        from engine.serve.server import serve as run_server
        from engine.serve.service import ServeSettings
    except ImportError as exc:
        click.echo(f"engine serve: needs FastAPI and uvicorn (the serve extra): pip install "
                   f"'stripe-sync[serve]' ({exc})", err=True)
        sys.exit(2)
    # Read and removed from the environment: the connectors this server starts never see them.
    token = os.environ.pop("STRIPE_SYNC_API_TOKEN", "")
    webhook_secret = os.environ.pop("STRIPE_WEBHOOK_SECRET", "") or None
    for secret in (token, webhook_secret):
        if secret:
            register_secret(secret)
    try:
        if not token:
            raise ConfigError("STRIPE_SYNC_API_TOKEN is not set: engine serve refuses to start without a "
                              "token",
                              hint="e.g. STRIPE_SYNC_API_TOKEN=$(openssl rand -hex 32) engine serve")
        settings = ServeSettings(token=token, webhook_secret=webhook_secret,
                                 source_cmd=resolve_command(source_cmd, "--source"),
                                 destination_cmd=resolve_command(destination_cmd, "--destination"),
                                 env=dict(os.environ), stripe_base_url=stripe_base_url, schema=schema,
                                 max_webhook_bytes=max_webhook_bytes, wake_debounce=wake_debounce)
        run_server(settings, host, port, ready_file, access_log)
    except ConfigError as exc:
        usage_error(exc)
    except OSError as exc:
        click.echo(f"engine serve: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        sys.exit(1)


for _command in TEMPORAL_COMMANDS:
    main.add_command(_command)
