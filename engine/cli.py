"""Command line of the engine (click only). Without a subcommand it runs pipe mode on stdin/stdout.

    source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    engine sync --source-config src.json --destination-config dst.json
    engine check
    engine serve --port 8000

Exit codes: 0 succeeded, 1 failed or partial (the `eof` line says which, stderr says what was not
synced), 2 usage error, 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.pipe import Interrupted, run_pipe
from engine.processor import OnBadMessage, PipeOptions, Validation
from engine.progress_view import make_view
from engine.sync import configs
from engine.sync.check import run_check
from engine.sync.children import split_command
from engine.sync.options import SyncOptions
from engine.sync.restart import RestartPolicy
from engine.sync.run import run_sync
from protocol.config import load_catalog_arg, load_state_arg
from protocol.errors import ConfigError
from protocol.reader import DEFAULT_MAX_LINE_BYTES
from protocol.secrets import redact_text, register_secret

F = TypeVar("F", bound=Callable[..., Any])
PROGRESS_CHOICE = click.Choice(["auto", "tty", "plain", "none"])


def usage_error(exc: ConfigError) -> None:
    click.echo(redact_text(f"engine: error [{exc.code}]: {exc.message}"), err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)
    sys.exit(2)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", "catalog_arg",
              help="Catalog of the streams to pass (path or inline JSON); default: "
              "the catalog message the source emits first.")
@click.option("--state", "state_arg", help="Aggregate state the source started from (path or inline JSON): "
              "the base of eof.state (its contents stay opaque).")
@click.option("--validate", type=click.Choice(["envelope", "full"]), default="envelope", show_default=True,
              help="Check the envelope of every message, or validate every message fully against specs/.")
@click.option("--on-bad-message", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="Stop at the first bad line with a failed eof, or skip bad lines and count them.")
@click.option("--progress", "progress_mode", type=PROGRESS_CHOICE, default="auto", show_default=True,
              help="Human progress on stderr: live view (tty), lines (plain), none; auto = tty on a "
                   "terminal.")
@click.option("--progress-interval", type=float, default=1.0, show_default=True,
              help="Seconds between periodic progress traces on stdout (status changes emit one at once).")
@click.option("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES, show_default=True,
              help="Longest accepted input line.")
@click.pass_context
def main(ctx: click.Context, catalog_arg: str | None, state_arg: str | None, validate: Validation,
         on_bad_message: OnBadMessage, progress_mode: str, progress_interval: float,
         max_line_bytes: int) -> None:
    """Validate and enrich a stream of protocol messages (pipe mode), or run a whole sync.

    Pipe mode reads a source's messages on stdin and writes them to stdout: the catalog first, records
    and states forwarded byte for byte, enriched stream_status and progress traces, and an eof line last.

    Example: source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        catalog = load_catalog_arg(catalog_arg)
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
        code = run_pipe(sys.stdin.buffer, sys.stdout.buffer, options, view)
    except BrokenPipeError:
        click.echo("engine: output pipe closed by the reader; stopping", err=True)
        code = 1
    sys.exit(code)


def resolve_command(cmd: str, option: str) -> list[str]:
    """Split a command; a bare default name not on PATH is looked up beside this Python (the venv)."""
    argv = split_command(cmd, option)
    if "/" not in argv[0] and shutil.which(argv[0]) is None:
        sibling = Path(sys.executable).parent / argv[0]
        if sibling.exists():
            argv[0] = str(sibling)
    return argv


def connector_options(func: F) -> F:
    """Options shared by `sync` and `check`: the two commands and their configs."""
    options = [
        click.option("--source", "source_cmd", default="source-stripe", show_default=True,
                     help="Source command (may contain arguments), e.g. --source 'python -m source_stripe'."),
        click.option("--source-config", help="Source config, a path or inline JSON. Default: built from "
                     "STRIPE_API_KEY (and --stripe-base-url)."),
        click.option("--destination", "destination_cmd", default="destination-postgres", show_default=True,
                     help="Destination command (may contain arguments)."),
        click.option("--destination-config", help="Destination config, a path or inline JSON. Default: built "
                     "from DATABASE_URL (and --schema)."),
        click.option("--stripe-base-url", envvar="STRIPE_BASE_URL", help="Stripe API base URL (e.g. an "
                     "emulator); also STRIPE_BASE_URL. Overrides the source config's base_url."),
        click.option("--schema",
                     help="Postgres schema of the tables; overrides the destination config's schema."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_configs(source_config: str | None, destination_config: str | None, stripe_base_url: str | None,
                  schema: str | None) -> tuple[dict, dict]:
    return (configs.source_config(source_config, os.environ, stripe_base_url),
            configs.destination_config(destination_config, os.environ, schema))


@main.command()
@connector_options
@click.option("--streams", help="Comma-separated streams to sync, e.g. --streams customers,charges "
              "(default: the source's default streams).")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the confirmed state is kept (and read when the destination cannot "
                   "print its state). "
                   "Default: ~/.local/state/stripe-sync/<sync id>.json ($STRIPE_SYNC_STATE_DIR).")
@click.option("--follow", is_flag=True, help="Keep running: the source's incremental mode (read --follow).")
@click.option("--source-timeout", type=float,
              help="Seconds without source output before it counts as hung and "
              "is restarted. Default: 300 (off with --follow unless given).")
@click.option("--max-restarts", type=int, default=5, show_default=True,
              help="Restarts in a row without confirmed progress before giving up.")
@click.option("--poison-threshold", type=int, default=3, show_default=True,
              help="The same failure this many times in a row ends the run.")
@click.option("--max-total-restarts", type=click.IntRange(min=0), default=50, show_default=True,
              help="Restarts in one run, with progress or not, before giving up (a backstop; 0 = no cap).")
@click.option("--restart-delay", type=float, default=1.0, show_default=True,
              help="First backoff delay in seconds (doubles each restart, with jitter).")
@click.option("--max-restart-delay", type=float, default=60.0, show_default=True)
@click.option("--validate", type=click.Choice(["envelope", "full"]), default="envelope", show_default=True)
@click.option("--on-bad-message", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="A bad source line fails the attempt (then restarts), or is skipped and counted.")
@click.option("--progress", "progress_mode", type=PROGRESS_CHOICE, default="auto", show_default=True,
              help="Human progress on stderr; auto = live view on a terminal, else plain lines.")
@click.option("--progress-interval", type=float, default=1.0, show_default=True)
@click.option("--output", type=click.Choice(["auto", "json", "none"]), default="auto", show_default=True,
              help="Protocol messages (progress, errors, eof) on stdout; auto = json unless "
                   "stdout is a terminal.")
def sync(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
         stripe_base_url: str | None, schema: str | None, streams: str | None, state_file: Path | None,
         follow: bool, source_timeout: float | None, max_restarts: int, poison_threshold: int,
         max_total_restarts: int, restart_delay: float, max_restart_delay: float, validate: Validation,
         on_bad_message: OnBadMessage,
         progress_mode: str, progress_interval: float, output: str) -> None:
    """Run a whole sync: source -> engine -> destination, resuming from the confirmed state.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine sync --schema stripe
    """
    try:
        src, dst = build_configs(source_config, destination_config, stripe_base_url, schema)
        source_argv = resolve_command(source_cmd, "--source")
        destination_argv = resolve_command(destination_cmd, "--destination")
        if state_file is None:
            state_file = configs.default_state_file(source_argv, src, destination_argv, dst)
        options = SyncOptions(
            source_cmd=source_argv, source_config=src, destination_cmd=destination_argv,
            destination_config=dst,
            state_file=state_file,
            streams=[s.strip() for s in streams.split(",") if s.strip()] if streams else None,
            follow=follow,
            source_timeout=source_timeout if source_timeout is not None else (None if follow else 300.0),
            policy=RestartPolicy(max_restarts=max_restarts, poison_threshold=poison_threshold,
                                 max_total_restarts=max_total_restarts,
                                 base_delay=restart_delay, max_delay=max_restart_delay),
            pipe=PipeOptions(validate=validate, on_bad_message=on_bad_message,
                             progress_interval=progress_interval))
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
def check(source_cmd: str, source_config: str | None, destination_cmd: str, destination_config: str | None,
          stripe_base_url: str | None, schema: str | None) -> None:
    """Check both connectors (config, credentials, reachability) and print a verdict.

    Example: STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/db engine check
    """
    try:
        src, dst = build_configs(source_config, destination_config, stripe_base_url, schema)
        code = run_check(resolve_command(source_cmd, "--source"), src,
                         resolve_command(destination_cmd, "--destination"), dst, sys.stdout.buffer)
    except ConfigError as exc:
        usage_error(exc)
        return
    sys.exit(code)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default serves this machine only. There is no TLS: put a TLS "
                   "proxy in front before listening elsewhere, e.g. --host 0.0.0.0.")
@click.option("--port", type=int, default=8000, show_default=True,
              help="Port to listen on; 0 picks a free one (see --ready-file), e.g. --port 8080.")
@click.option("--source", "source_cmd", default="source-stripe", show_default=True,
              help="Source command of every sync, e.g. --source 'python -m source_stripe'.")
@click.option("--destination", "destination_cmd", default="destination-postgres", show_default=True,
              help="Destination command of every sync.")
@click.option("--stripe-base-url", envvar="STRIPE_BASE_URL",
              help="Stripe API base URL for the source config built from STRIPE_API_KEY (e.g. an emulator); "
                   "also STRIPE_BASE_URL.")
@click.option("--schema", default="stripe", show_default=True,
              help="Postgres schema of syncs whose request gives neither a destination config nor a schema.")
@click.option("--max-webhook-bytes", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Webhook bodies longer than this are refused (413).")
@click.option("--wake-debounce", type=click.FloatRange(min=0), default=0.25, show_default=True,
              help="Seconds between two wake-ups of one sync's source after webhooks (the first is sent at "
                   "once, the last never lost).")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help='Write {"url": ...} to this file once listening, e.g. --port 0 --ready-file url.json.')
@click.option("--access-log", is_flag=True, help="Log every request on stderr (uvicorn's access log).")
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
