"""Conformance kit: checks that any executable, in any language, speaks the stripe-sync protocol.

    python -m protocol.conformance source [--config C] [--catalog K] [--state S] [--timeout 60] -- CMD...
    python -m protocol.conformance destination [--config C] [--records 6] [--timeout 60] -- CMD...

It runs `CMD spec`, a usage-error probe (`CMD check --config <missing file>`), and with `--config`:
`CMD check`, then for a source `CMD discover` and `CMD read`, for a destination `CMD write` fed with a
generated input. Every stdout line is validated against specs/protocol (full schema) and checked against
the ordering rules (protocol/conformance_checks.py); secrets of the config (fields marked
`"secret": true` in the spec's config_schema) must never appear on stdout or stderr. It prints one line
per check (PASS/FAIL/SKIP, with the line number and an excerpt of the first offending line) and exits 0
when nothing failed, 1 otherwise. `check_source`/`check_destination` return the `Report` for tests.
A `discover` that fails as an unknown command (exit 2, no stdout) is reported as SKIP "not supported":
`read` emits the same catalog first, so discover is optional. docs/conformance.md has the details.
"""
from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from typing import Any, Callable

import click

from protocol.conformance_checks import (EchoChecker, ReadChecker, StdoutChecker, check_exit,
                                         secret_byte_forms, secrets_check_name)
from protocol.conformance_input import destination_input, sent_states
from protocol.conformance_report import Report
from protocol.conformance_run import RunResult, run_command
from protocol.config import config_errors, load_json_arg
from protocol.errors import ConfigError
from protocol.jsonio import dumps_line
from protocol.reader import BadLine, Line
from protocol.secrets import config_secret_values, secret_forms

MISSING_CONFIG = "/nonexistent/conformance-kit/missing-config.json"
UNSUPPORTED_RE = re.compile(r"no such (sub)?command|unknown (sub)?command|invalid (choice|command)|"
                            r"unrecognized (command|argument)|not supported|usage", re.IGNORECASE)
_SECRET_NAME_RE = re.compile(r"key|secret|password|token", re.IGNORECASE)
MAX_BUFFERED_LINES = 10_000  # spec output is kept until the secrets are known

Handler = Callable[[int, dict, bytes], None]


@dataclass
class Options:
    config: str | None = None  # path or inline JSON, passed to the command as given
    catalog: str | None = None
    state: str | None = None
    timeout: float = 60.0
    records: int = 6  # records per stream in the destination input


@dataclass
class _Session:
    cmd: list[str]
    opts: Options
    report: Report
    config: Any = None
    secrets: tuple[str, ...] = ()

    def run(self, name: str, args: list[str], on_message: Handler | None = None,
            stdin: list[bytes] | None = None, report: Report | None = None) -> tuple[RunResult, StdoutChecker]:
        """Run `CMD args`, feeding each stdout line to the generic checker and sound ones to `on_message`."""
        report = report or self.report
        out = StdoutChecker(report, name, self.secrets)

        def on_line(item: Line | BadLine) -> None:
            msg = out.feed(item)
            if msg is not None and on_message is not None:
                on_message(item.line_no, msg, item.raw)
        result = run_command(self.cmd + args, on_line, self.opts.timeout, stdin, secret_byte_forms(self.secrets))
        finish_run(report, name, result, self.opts.timeout)
        return result, out


def finish_run(report: Report, name: str, result: RunResult, timeout: float) -> None:
    """Checks about how a command ended: in time, no secret and no crash traceback on stderr."""
    if result.timed_out:
        report.fail(f"{name}: finishes in time", f"killed after {timeout:g}s")
    if result.stderr_secret:
        report.fail(secrets_check_name(name), "a secret of the config appears on stderr")
    report.check(f"{name}: no crash traceback on stderr")
    if result.stderr_traceback:
        report.fail(f"{name}: no crash traceback on stderr", f"stderr contains {result.stderr_traceback!r}",
                    raw=result.stderr_head)


def check_source(cmd: list[str], opts: Options) -> Report:
    """Run every source check against `cmd` and return the report."""
    session = _start(cmd, opts, "source")
    if opts.config is None:
        _skip_without_config(session, ("check", "discover", "read"))
        return session.report
    _check(session)
    _discover(session)
    _read(session)
    return session.report


def check_destination(cmd: list[str], opts: Options) -> Report:
    """Run every destination check against `cmd` and return the report."""
    session = _start(cmd, opts, "destination")
    if opts.config is None:
        _skip_without_config(session, ("check", "write"))
        return session.report
    _check(session)
    _write(session)
    return session.report


def _start(cmd: list[str], opts: Options, kind: str) -> _Session:
    session = _Session(list(cmd), opts, Report(title=f"{kind} {shlex.join(cmd)}"))
    if opts.config is not None:
        try:
            session.config = load_json_arg(opts.config, "--config")
        except ConfigError as exc:
            session.report.fail("config: readable", exc.message)
    _spec(session)
    _usage(session)
    return session


def _skip_without_config(session: _Session, commands: tuple[str, ...]) -> None:
    for name in commands:
        session.report.check(f"{name}: runs").skip("no --config given")


def _spec(session: _Session) -> None:
    """`CMD spec`: one spec message, protocol_version "1"; learn the secret fields of the config."""
    report, name = session.report, "spec: one spec message with protocol_version \"1\""
    buffered: list[Line | BadLine] = []
    result = run_command(session.cmd + ["spec"], lambda item: buffered.append(item)
                         if len(buffered) < MAX_BUFFERED_LINES else None, session.opts.timeout)
    specs = [i for i in buffered if isinstance(i, Line) and i.message.get("type") == "spec"]
    schema = specs[0].message["spec"].get("config_schema") if specs and isinstance(
        specs[0].message.get("spec"), dict) else None
    session.secrets = tuple(_secrets(session.config, schema if isinstance(schema, dict) else None))
    report.secrets = list(session.secrets)
    out = StdoutChecker(report, "spec", session.secrets)
    for item in buffered:
        out.feed(item)
    finish_run(report, "spec", result, session.opts.timeout)
    check_exit(report, "spec", result.exit_code, result.stderr_head, out.global_error_line, expect=(0,))
    if len(specs) != 1:
        report.fail(name, f"{len(specs)} spec messages on stdout, expected exactly 1")
    elif specs[0].message["spec"].get("protocol_version") != "1":
        report.fail(name, f"protocol_version is {specs[0].message['spec'].get('protocol_version')!r}",
                    specs[0].line_no, specs[0].raw)
    else:
        connector = specs[0].message["spec"].get("connector") or {}
        report.check(name).note(f"connector {connector.get('name')} {connector.get('version')}")
    if session.config is not None and isinstance(schema, dict):
        problems = config_errors(session.config, schema)
        if problems:
            report.fail("spec: the given config satisfies config_schema", "; ".join(problems[:3]))
        else:
            report.check("spec: the given config satisfies config_schema")


def _secrets(config: Any, schema: dict | None) -> list[str]:
    """Secret values of the config: by the spec's `secret: true` fields, else by key names."""
    if not isinstance(config, dict):
        return []
    if schema is not None:
        return config_secret_values(config, schema)
    return [form for key, value in config.items() if _SECRET_NAME_RE.search(key) for form in secret_forms(value)]


def _usage(session: _Session) -> None:
    """A missing config file is a usage error: exit code 2, stdout still protocol only, no traceback."""
    result, out = session.run("usage", ["check", "--config", MISSING_CONFIG])
    check_exit(session.report, "usage", result.exit_code, result.stderr_head, out.global_error_line, expect=(2,))


def _check(session: _Session) -> None:
    statuses: list[tuple[int, dict, bytes]] = []
    result, out = session.run("check", ["check", "--config", session.opts.config],
                              lambda n, m, raw: statuses.append((n, m, raw)) if m["type"] == "connection_status"
                              else None)
    report = session.report
    failed_line = next((n for n, m, _ in statuses if m["connection_status"].get("status") != "succeeded"), None)
    check_exit(report, "check", result.exit_code, result.stderr_head, failed_line or out.global_error_line)
    if len(statuses) != 1:
        report.fail("check: one connection_status message", f"{len(statuses)} on stdout, expected exactly 1")
        return
    report.check("check: one connection_status message")
    line_no, msg, raw = statuses[0]
    if failed_line is not None:
        report.fail("check: connection succeeded", msg["connection_status"].get("message", ""), line_no, raw)
    else:
        report.check("check: connection succeeded")


def _discover(session: _Session) -> None:
    sub = Report(secrets=session.report.secrets)
    catalogs: list[tuple[int, dict, bytes]] = []
    result, out = session.run("discover", ["discover", "--config", session.opts.config],
                              lambda n, m, raw: catalogs.append((n, m, raw)) if m["type"] == "catalog" else None,
                              report=sub)
    if result.exit_code == 2 and result.stdout_lines == 0 and UNSUPPORTED_RE.search(result.stderr_head):
        last = result.stderr_head.strip().splitlines()[-1]
        session.report.check("discover: supported").skip(f"not supported (exit 2: {sub.mask(last)})")
        return
    check_exit(sub, "discover", result.exit_code, result.stderr_head, out.global_error_line)
    name = "discover: one catalog message with unique stream names"
    if len(catalogs) != 1:
        sub.fail(name, f"{len(catalogs)} catalog messages on stdout, expected exactly 1")
    else:
        line_no, msg, raw = catalogs[0]
        names = [s.get("name") for s in msg["catalog"]["streams"] if isinstance(s, dict)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            sub.fail(name, f"stream names repeated: {', '.join(map(str, dupes))}", line_no, raw)
        else:
            sub.check(name).note(f"{len(names)} streams")
    session.report.checks.update(sub.checks)


def _read(session: _Session) -> None:
    args = ["read", "--config", session.opts.config]
    for option, value in (("--catalog", session.opts.catalog), ("--state", session.opts.state)):
        if value is not None:
            args += [option, value]
    checker = ReadChecker(session.report)
    result, out = session.run("read", args, checker.feed)
    if not result.timed_out:
        checker.finish()
    check_exit(session.report, "read", result.exit_code, result.stderr_head, out.global_error_line)


def _write(session: _Session) -> None:
    messages = destination_input(session.opts.records)
    checker = EchoChecker(session.report, sent_states(messages))
    result, out = session.run("write", ["write", "--config", session.opts.config], checker.feed,
                              stdin=[dumps_line(m) for m in messages])
    if not result.timed_out:
        checker.finish()
    check_exit(session.report, "write", result.exit_code, result.stderr_head, out.global_error_line,
               expect=(0,))


_COMMON = [
    click.option("--config", help="Connector config (path or inline JSON), passed to the command as given. "
                                   "Without it only spec and the usage probe run."),
    click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds allowed per command."),
    click.argument("cmd", nargs=-1, required=True),
]


def _with_common(func):
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
                   "Example: python -m protocol.conformance destination --config dst.json -- destination-postgres")
@_with_common
@click.option("--records", type=click.IntRange(1, 1_000_000), default=6, show_default=True,
              help="Records per stream in the generated input.")
def destination(cmd: tuple[str, ...], config: str | None, timeout: float, records: int) -> None:
    _finish(check_destination(list(cmd), Options(config, timeout=timeout, records=records)))


if __name__ == "__main__":
    main()
