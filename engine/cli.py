"""Command line of the engine (click only). Without a subcommand it runs pipe mode on stdin/stdout.

    source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    engine sync --source-config src.json --destination-config dst.json
    engine check

Exit codes: 0 succeeded, 1 failed or partial (the `eof` line says which, stderr says what was not
synced), 2 usage error, 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import sys

import click

from engine.pipe import PipeOptions, run_pipe
from engine.progress_view import make_view
from protocol.cli import _catalog_payload, _state_payload
from protocol.errors import ConfigError
from protocol.reader import DEFAULT_MAX_LINE_BYTES
from protocol.secrets import redact_text

PROGRESS_CHOICE = click.Choice(["auto", "tty", "plain", "none"])


def usage_error(exc: ConfigError) -> None:
    click.echo(redact_text(f"engine: error [{exc.code}]: {exc.message}"), err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)
    sys.exit(2)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", "catalog_arg", help="Catalog of the streams to pass (path or inline JSON); default: "
              "the catalog message the source emits first.")
@click.option("--state", "state_arg", help="Aggregate state the source started from (path or inline JSON): "
              "ranges already done show as completed and it is the base of eof.state.")
@click.option("--validate", type=click.Choice(["envelope", "full"]), default="envelope", show_default=True,
              help="Check the envelope of every message, or validate every message fully against specs/.")
@click.option("--on-bad-message", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="Stop at the first bad line with a failed eof, or skip bad lines and count them.")
@click.option("--progress", "progress_mode", type=PROGRESS_CHOICE, default="auto", show_default=True,
              help="Human progress on stderr: live view (tty), lines (plain), none; auto = tty on a terminal.")
@click.option("--progress-interval", type=float, default=1.0, show_default=True,
              help="Seconds between periodic progress traces on stdout (status changes emit one at once).")
@click.option("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES, show_default=True,
              help="Longest accepted input line.")
@click.pass_context
def main(ctx: click.Context, catalog_arg: str | None, state_arg: str | None, validate: str,
         on_bad_message: str, progress_mode: str, progress_interval: float, max_line_bytes: int) -> None:
    """Validate and enrich a stream of protocol messages (pipe mode), or run a whole sync.

    Pipe mode reads a source's messages on stdin and writes them to stdout: the catalog first, records
    and states forwarded byte for byte, enriched stream_status and progress traces, and an eof line last.

    Example: source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        options = PipeOptions(validate=validate, on_bad_message=on_bad_message,
                              progress_interval=progress_interval, catalog=_catalog_payload(catalog_arg),
                              state=_state_payload(state_arg), max_line_bytes=max_line_bytes)
    except ConfigError as exc:
        usage_error(exc)
        return
    view = make_view(progress_mode, sys.stderr)
    try:
        code = run_pipe(sys.stdin.buffer, sys.stdout.buffer, options, view)
    except BrokenPipeError:
        click.echo("engine: output pipe closed by the reader; stopping", err=True)
        code = 1
    sys.exit(code)
