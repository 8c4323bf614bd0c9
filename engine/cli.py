"""Command line of the engine (click only). Without a subcommand it runs pipe mode on stdin/stdout."""
from __future__ import annotations

import sys

import click


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Validate and enrich a stream of protocol messages (pipe mode), or run a whole sync.

    Example: source-stripe read --config src.json | engine | destination-postgres write --config dst.json
    """
    if ctx.invoked_subcommand is None:
        click.echo("engine: pipe mode is not implemented yet", err=True)
        sys.exit(1)
