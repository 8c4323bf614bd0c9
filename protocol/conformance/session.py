"""One conformance session: run a command's `spec`, a usage probe, `check`, and `discover`/`read` or
`write`, feeding every stdout line to the checkers of `checks.py`.

`check_source(cmd, opts)` / `check_destination(cmd, opts)` return the `Report`; the click commands are in
`cli.py`. The secrets to look for come from the spec's `config_schema` (fields marked `"secret": true`),
else from key names (`protocol.secrets.guessed_secret_values`).
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


from protocol.conformance.checks import (EchoChecker, ReadChecker, StdoutChecker, check_exit,
                                         secret_byte_forms, secrets_check_name)
from protocol.conformance.input import destination_input, sent_states
from protocol.conformance.report import Report
from protocol.conformance.run import RunResult, run_command
from protocol.config import config_errors, load_json_arg
from protocol.errors import ConfigError
from protocol.jsonio import dumps_line
from protocol.reader import BadLine, Line
from protocol.secrets import config_secret_values, guessed_secret_values, secret_forms

MISSING_CONFIG = "/nonexistent/conformance-kit/missing-config.json"
UNSUPPORTED_RE = re.compile(r"no such (sub)?command|unknown (sub)?command|invalid (choice|command)|"
                            r"unrecognized (command|argument)|not supported|usage", re.IGNORECASE)
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

    @property
    def config_arg(self) -> str:
        """The `--config` given to the kit (the commands that need it run only when there is one)."""
        assert self.opts.config is not None
        return self.opts.config

    def run(self, name: str, args: list[str], on_message: Handler | None = None,
            stdin: list[bytes] | None = None,
            report: Report | None = None) -> tuple[RunResult, StdoutChecker]:
        """Run `CMD args`, feeding each stdout line to the generic checker and sound ones to `on_message`."""
        report = report or self.report
        out = StdoutChecker(report, name, self.secrets)

        def on_line(item: Line | BadLine) -> None:
            msg = out.feed(item)
            if msg is not None and on_message is not None and isinstance(item, Line):
                on_message(item.line_no, msg, item.raw)
        result = run_command(self.cmd + args, on_line, self.opts.timeout, stdin,
                             secret_byte_forms(self.secrets))
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
    return list(dict.fromkeys(form for value in guessed_secret_values(config)
                              for form in secret_forms(value)))


def _usage(session: _Session) -> None:
    """A missing config file is a usage error: exit code 2, stdout still protocol only, no traceback."""
    result, out = session.run("usage", ["check", "--config", MISSING_CONFIG])
    check_exit(session.report, "usage", result.exit_code, result.stderr_head, out.global_error_line,
               expect=(2,))


def _check(session: _Session) -> None:
    statuses: list[tuple[int, dict, bytes]] = []
    def keep_status(n: int, m: dict, raw: bytes) -> None:
        if m["type"] == "connection_status":
            statuses.append((n, m, raw))
    result, out = session.run("check", ["check", "--config", session.config_arg], keep_status)
    report = session.report
    failed_line = next((n for n, m, _ in statuses if m["connection_status"].get("status") != "succeeded"),
                       None)
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
    def keep_catalog(n: int, m: dict, raw: bytes) -> None:
        if m["type"] == "catalog":
            catalogs.append((n, m, raw))
    result, out = session.run("discover", ["discover", "--config", session.config_arg], keep_catalog,
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
        dupes = sorted({n for n in names if names.count(n) > 1}, key=str)
        if dupes:
            sub.fail(name, f"stream names repeated: {', '.join(map(str, dupes))}", line_no, raw)
        else:
            sub.check(name).note(f"{len(names)} streams")
    session.report.checks.update(sub.checks)


def _read(session: _Session) -> None:
    args = ["read", "--config", session.config_arg]
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
    result, out = session.run("write", ["write", "--config", session.config_arg], checker.feed,
                              stdin=[dumps_line(m) for m in messages])
    if not result.timed_out:
        checker.finish()
    check_exit(session.report, "write", result.exit_code, result.stderr_head, out.global_error_line,
               expect=(0,))
