"""Command line of the conformance kit (click only): `python -m protocol.conformance source|destination`.

Each command runs `protocol.conformance.session.check_source` / `check_destination`, prints the report
(one line per check) and exits 0 when nothing failed, 1 otherwise. docs/conformance.md has the details.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from protocol.conformance.report import Report
from protocol.conformance.session import Options, check_destination, check_source

F = TypeVar("F", bound=Callable[..., Any])
_COMMON = [
    click.option("--config", help="Connector config (path or inline JSON), passed to the command as given. "
                                   "Without it only spec and the usage probe run."),
    click.option("--timeout", type=float, default=60.0, show_default=True,
                 help="Seconds allowed per command."),
    click.argument("cmd", nargs=-1, required=True),
]


def _with_common(func: F) -> F:
    for decorator in reversed(_COMMON):
        func = decorator(func)
    return func


def _finish(report: Report) -> None:
    click.echo(report.format())
    sys.exit(0 if report.passed else 1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Check that an executable speaks the stripe-sync protocol (docs/conformance.md).

    Example: python -m protocol.conformance source --config src.json -- ./my-source
    """


@main.command(help="Check a source: spec, usage errors, check, discover, read.\n\n"
                   "Example: python -m protocol.conformance source --config '{}' -- sh my_source.sh")
@_with_common
@click.option("--catalog", help="Passed to read as --catalog (path or inline JSON).")
@click.option("--state", help="Passed to read as --state (path or inline JSON).")
def source(cmd: tuple[str, ...], config: str | None, timeout: float, catalog: str | None,
           state: str | None) -> None:
    _finish(check_source(list(cmd), Options(config, catalog, state, timeout)))


@main.command(help="Check a destination: spec, usage errors, check, write with a generated input.\n\n"
                   "Example: python -m protocol.conformance destination --config dst.json -- "
                   "destination-postgres")
@_with_common
@click.option("--records", type=click.IntRange(1, 1_000_000), default=6, show_default=True,
              help="Records per stream in the generated input.")
def destination(cmd: tuple[str, ...], config: str | None, timeout: float, records: int) -> None:
    _finish(check_destination(list(cmd), Options(config, timeout=timeout, records=records)))

