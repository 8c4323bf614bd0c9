"""The rules of the conformance kit as pure, streaming checkers (no processes, no I/O).

Each checker is fed one stdout line at a time and keeps only per-stream bookkeeping, so a read of any
size is checked in constant memory per stream:
- `StdoutChecker`: every line is a JSON object that validates against `specs/protocol/` (full schema),
  no configured secret appears, nothing follows an `eof`. Returns the message for the rule checkers.
- `ReadChecker`: the ordering rules of a source `read` (docs/protocol.md; the lifecycle table of
  `protocol.lifecycle`, which the engine's tracker uses too).
- `EchoChecker`: a destination echoes every state it was sent, once, in order, with all keys kept.
- `check_exit`: exit code 0 on success, 1 only after an error message.
Check names are stable: docs/conformance.md lists them.
"""
from __future__ import annotations

from collections.abc import Iterable

from protocol.conformance.report import Report
from protocol.jsonio import dumps
from protocol.lifecycle import PENDING, STARTED, Event, Status, Violation, status_event, step
from protocol.reader import BadLine, Line
from protocol.validate import MessageValidator, check_envelope

def secret_byte_forms(secrets: Iterable[str]) -> list[bytes]:
    """How each secret can appear in a JSON line: raw, and JSON-escaped when that differs."""
    forms: list[bytes] = []
    for secret in secrets:
        for form in (secret.encode(), dumps(secret)[1:-1]):
            if form not in forms:
                forms.append(form)
    return forms


def secrets_check_name(cmd: str) -> str:
    return f"{cmd}: no secret in stdout or stderr"


class StdoutChecker:
    """Generic checks of one command's stdout (validity, secrets, nothing after eof)."""

    def __init__(self, report: Report, cmd: str, secrets: Iterable[str] = ()):
        self.report = report
        self.valid_name = f"{cmd}: stdout carries only valid protocol messages"
        self.secret_name = secrets_check_name(cmd)
        self.eof_name = f"{cmd}: nothing after eof"
        for name in (self.valid_name, self.secret_name):
            report.check(name)  # the eof rule is listed only when an eof appears
        self.forms = secret_byte_forms(secrets)
        self.validator = MessageValidator(full=True)
        self.eof_line: int | None = None
        self.global_error_line: int | None = None

    def feed(self, item: Line | BadLine) -> dict | None:
        """Check one line; return its message when the envelope is sound enough for the rule checkers."""
        if isinstance(item, BadLine):
            self.report.fail(self.valid_name, f"not a protocol message: {item.reason}", item.line_no,
                             item.excerpt)
            self._check_secret(item.line_no, item.excerpt.encode())
            return None
        msg, raw = item.message, item.raw
        if self.eof_line is not None:
            self.report.fail(self.eof_name,
                             f"{msg.get('type')} message after the eof of line {self.eof_line}",
                             item.line_no, raw)
        errors = self.validator.errors(msg)
        if errors:
            self.report.fail(self.valid_name, f"{msg.get('type')} message does not match its schema: "
                             f"{errors[0]}", item.line_no, raw)
        if msg.get("type") == "control" and isinstance(msg.get("control"), dict):
            # a config_update carries the full replacement config by design (docs/protocol.md, `control`)
            raw = dumps({**msg, "control": {k: v for k, v in msg["control"].items() if k != "config"}})
        self._check_secret(item.line_no, raw)
        if msg.get("type") == "eof" and self.eof_line is None:
            self.eof_line = item.line_no
        err = _error_payload(msg)
        if err is not None and err.get("scope") == "global" and self.global_error_line is None:
            self.global_error_line = item.line_no
        return None if check_envelope(msg) else msg

    def _check_secret(self, line_no: int, raw: bytes) -> None:
        if any(form in raw for form in self.forms):
            self.report.fail(self.secret_name, "a secret of the config appears on stdout", line_no, raw)


def _error_payload(msg: dict) -> dict | None:
    trace = msg.get("trace") if msg.get("type") == "trace" else None
    if isinstance(trace, dict) and trace.get("trace_type") == "error" \
            and isinstance(trace.get("error"), dict):
        return trace["error"]
    return None


def check_exit(report: Report, cmd: str, exit_code: int | None, stderr_head: str,
               failure_line: int | None = None, expect: tuple[int, ...] = (0, 1)) -> None:
    """Exit code 0 on success, 1 only after the output said the run failed, else what `expect` allows.

    `failure_line` is the stdout line that reported the failure (a global error trace, or a failed
    connection_status for `check`), None when the output reports success.
    """
    name = f"{cmd}: exit code"
    if exit_code is None:
        return  # timed out: reported by the runner
    last_err = stderr_head.strip().splitlines()[-1] if stderr_head.strip() else "(stderr empty)"
    if exit_code not in expect:
        meaning = {2: "usage error", 126: "not executable", 127: "command not found"}.get(exit_code, "")
        if exit_code < 0:
            meaning = f"killed by signal {-exit_code}"
        report.fail(name, f"exit code {exit_code}{f' ({meaning})' if meaning else ''}, expected "
                    f"{' or '.join(map(str, expect))}; stderr: {last_err}")
    elif exit_code == 0 and failure_line is not None:
        report.fail(name, "exit code 0 although the output reports a failure", failure_line)
    elif exit_code == 1 and failure_line is None and expect == (0, 1):
        report.fail(name, f"exit code 1 but no global error on stdout; stderr: {last_err}")
    else:
        report.check(name).note(f"exit code {exit_code}")


class ReadChecker:
    """Ordering rules of a source `read`, fed with messages in stdout order."""

    FIRST = "read: first message is the catalog"
    KNOWN = "read: every stream named is in the catalog"
    STARTED = "read: each stream starts once, before its records"
    STATE = "read: a stream state comes after its stream started"
    TERMINAL = "read: exactly one terminal status (complete/skipped) per stream"
    AFTER = "read: nothing for a stream after its terminal status"
    GLOBAL = "read: no record or state after a global error"
    SNAPSHOT = "read: a snapshot begins after its stream started and ends before its terminal status"

    def __init__(self, report: Report):
        self.report = report
        for name in (self.FIRST, self.KNOWN, self.STARTED, self.STATE, self.TERMINAL, self.AFTER,
                     self.GLOBAL, self.SNAPSHOT):
            report.check(name)
        self.snapshots: dict[str, str] = {}  # stream -> id of the snapshot begun and not ended
        self.catalog: list[str] | None = None
        self.status: dict[str, Status] = {}  # stream -> lifecycle status (absent: pending)
        self.started: dict[str, int] = {}  # stream -> line of its started status
        self.ended: dict[str, tuple[int, str]] = {}  # stream -> (line, complete|skipped)
        self.global_error: int | None = None
        self.seen_any = False
        self.records = self.states = 0

    def feed(self, line_no: int, msg: dict, raw: bytes = b"") -> None:
        kind = msg.get("type")
        first, self.seen_any = not self.seen_any, True
        if kind == "catalog":
            self._catalog(line_no, msg, raw, first)
            return
        if first and _error_payload(msg) is None:
            self.report.fail(self.FIRST, f"first message is a {kind}, not the catalog", line_no, raw)
        body = msg.get(kind) if isinstance(kind, str) else None
        payload: dict = body if isinstance(body, dict) else {}
        if kind == "record":
            self.records += 1
            self._record(line_no, payload.get("stream"), raw)
        elif kind == "state":
            self.states += 1
            self._state(line_no, payload, raw)
        elif kind == "trace":
            self._trace(line_no, payload, raw)

    def _catalog(self, line_no: int, msg: dict, raw: bytes, first: bool) -> None:
        if self.catalog is not None:
            self.report.fail(self.FIRST, "a second catalog message", line_no, raw)
            return
        if not first:
            self.report.fail(self.FIRST, "the catalog is not the first message", line_no, raw)
        streams = msg["catalog"].get("streams") or []
        self.catalog = [s["name"] for s in streams if isinstance(s, dict) and isinstance(s.get("name"), str)]

    def _known(self, line_no: int, stream: object, what: str, raw: bytes) -> bool:
        if not isinstance(stream, str):
            self.report.fail(self.KNOWN, f"{what} without a stream name", line_no, raw)
            return False
        if self.catalog is not None and stream not in self.catalog:
            self.report.fail(self.KNOWN, f"{what} for stream {stream!r}, which is not in the catalog",
                             line_no, raw)
            return False  # one reason is enough: the lifecycle rules are not checked for unknown streams
        return True

    def _after_global_error(self, line_no: int, what: str, raw: bytes) -> None:
        if self.global_error is not None:
            self.report.fail(self.GLOBAL, f"{what} after the global error of line {self.global_error}",
                             line_no, raw)

    def _step(self, line_no: int, stream: str, event: Event, what: str, raw: bytes) -> Violation | None:
        """Move `stream` through the lifecycle table; fail the check of the rule the event breaks."""
        status = self.status.get(stream, PENDING)
        new, violation = step(status, event)
        if violation is not None:
            check, reason = self._explain(violation, stream, what)
            self.report.fail(check, reason, line_no, raw)
        if new != status:
            self.status[stream] = new
            if new == STARTED:
                self.started[stream] = line_no
            else:
                self.ended[stream] = (line_no, new)
        return violation

    def _explain(self, violation: Violation, stream: str, what: str) -> tuple[str, str]:
        if violation == "record_before_start":
            return self.STARTED, f"record for stream {stream!r} before its stream_status started"
        if violation == "state_before_start":
            return self.STATE, f"state for stream {stream!r} before its stream_status started"
        if violation == "started_twice":
            return self.STARTED, f"stream {stream!r} started twice (first at line {self.started[stream]})"
        if violation == "complete_without_start":
            return self.STARTED, f"stream {stream!r} complete without having started"
        end_line, status = self.ended[stream]
        if violation == "ended_twice":
            return self.TERMINAL, f"second terminal status for stream {stream!r} (first at line {end_line})"
        return self.AFTER, f"{what} for stream {stream!r} after its {status} status (line {end_line})"

    def _record(self, line_no: int, stream: object, raw: bytes) -> None:
        self._after_global_error(line_no, "record", raw)
        if self._known(line_no, stream, "record", raw):
            self._step(line_no, str(stream), "record", "record", raw)

    def _state(self, line_no: int, payload: dict, raw: bytes) -> None:
        self._after_global_error(line_no, "state", raw)
        stream = payload.get("stream")
        if payload.get("state_type") == "stream" and self._known(line_no, stream, "stream state", raw):
            self._step(line_no, str(stream), "state", "state", raw)

    def _trace(self, line_no: int, trace: dict, raw: bytes) -> None:
        trace_type = trace.get("trace_type")
        body = trace.get(trace_type) if isinstance(trace_type, str) else None
        body = body if isinstance(body, dict) else {}
        stream = body.get("stream")
        if trace_type == "error":
            if body.get("scope") == "global":
                self.global_error = self.global_error or line_no
            elif body.get("scope") == "stream" and self._known(line_no, stream, "stream error", raw):
                self._step(line_no, str(stream), "note", "error", raw)
        elif trace_type == "estimate":
            if self._known(line_no, stream, "estimate", raw):
                self._step(line_no, str(stream), "note", "estimate", raw)
        elif trace_type == "snapshot" and body.get("phase") in ("begin", "end") \
                and self._known(line_no, stream, "snapshot", raw):
            self._snapshot(line_no, str(stream), body, raw)
        elif trace_type == "stream_status" and self._known(line_no, stream, "stream_status", raw):
            status = body.get("status")
            event = status_event(status, "range_complete" in body) or "note"
            what = "started status" if event in ("start", "progress") else f"{status} status"
            violation = self._step(line_no, str(stream), event, what, raw)
            if event == "skip" and violation != "ended_twice" and not body.get("reason"):
                self.report.fail(self.TERMINAL, f"stream {stream!r} skipped without a reason", line_no, raw)

    def _snapshot(self, line_no: int, stream: str, body: dict, raw: bytes) -> None:
        if self.status.get(stream, PENDING) != STARTED:
            self.report.fail(self.SNAPSHOT, f"snapshot {body.get('phase')} for stream {stream!r}, which is "
                             "not running", line_no, raw)
        elif body["phase"] == "begin":
            if not isinstance(body.get("scope"), dict):
                self.report.fail(self.SNAPSHOT, f"snapshot begin for stream {stream!r} without a scope",
                                 line_no, raw)
            self.snapshots[stream] = str(body.get("id"))
        elif self.snapshots.pop(stream, None) != body.get("id"):
            self.report.fail(self.SNAPSHOT, f"snapshot end {body.get('id')!r} for stream {stream!r} without "
                             "its begin", line_no, raw)

    def finish(self) -> None:
        """End-of-output rules: a catalog was sent, every stream reached one terminal status."""
        if self.catalog is None and self.global_error is None:
            self.report.fail(self.FIRST, "no catalog message at all")
        streams = list(dict.fromkeys([*(self.catalog or []), *self.started]))
        missing = [s for s in streams if s not in self.ended]
        if missing and self.global_error is None:
            where = [f"{s!r} (started at line {self.started[s]})" if s in self.started
                     else f"{s!r} (never started)"
                     for s in missing[:5]]
            self.report.fail(self.TERMINAL, f"no complete/skipped status for {len(missing)} stream(s): "
                             + ", ".join(where) + (", ..." if len(missing) > 5 else ""))
        elif missing:
            self.report.check(self.TERMINAL).note(f"{len(missing)} stream(s) unfinished after "
                                                  "the global error")
        else:
            done = sum(1 for _, status in self.ended.values() if status == "complete")
            self.report.check(self.TERMINAL).note(
                f"{done} complete, {len(self.ended) - done} skipped; {self.records} records, "
                f"{self.states} states")


class EchoChecker:
    """A destination echoes every state it was sent, once, in order, with every key preserved.

    Echoes are matched to sent states by their `data` (each generated state has a unique one).
    """

    ALL = "write: every state is echoed"
    ORDER = "write: states are echoed in order, each once"
    KEYS = "write: echoed states keep every key"
    KNOWN = "write: no echo of a state that was never sent"

    def __init__(self, report: Report, sent: list[tuple[int, dict]]):
        self.report, self.sent = report, sent  # (input line number, state payload)
        for name in (self.ALL, self.ORDER, self.KEYS, self.KNOWN):
            report.check(name)
        self.echoed: dict[int, int] = {}  # index in sent -> output line
        self.next_index = 0

    def _index_of(self, payload: dict) -> int | None:
        for i, (_, sent) in enumerate(self.sent):
            if sent.get("data") == payload.get("data") and sent.get("stream") == payload.get("stream"):
                return i
        return None

    def feed(self, line_no: int, msg: dict, raw: bytes = b"") -> None:
        if msg.get("type") != "state" or not isinstance(msg.get("state"), dict):
            return
        payload = msg["state"]
        i = self._index_of(payload)
        if i is None:
            self.report.fail(self.KNOWN, "echoed state matches none of the states sent (data differs)",
                             line_no, raw)
            return
        in_line = self.sent[i][0]
        if i in self.echoed:
            self.report.fail(self.ORDER, f"state of input line {in_line} echoed twice (first at line "
                             f"{self.echoed[i]})", line_no, raw)
            return
        if i < self.next_index:
            self.report.fail(self.ORDER, f"state of input line {in_line} echoed after a later state",
                             line_no, raw)
        self.echoed[i] = line_no
        self.next_index = max(self.next_index, i + 1)
        for key, value in self.sent[i][1].items():
            if key not in payload:
                self.report.fail(self.KEYS, f"key {key!r} of the state of input line {in_line} is missing",
                                 line_no, raw)
            elif payload[key] != value:
                self.report.fail(self.KEYS, f"key {key!r} of the state of input line {in_line} changed",
                                 line_no, raw)

    def finish(self) -> None:
        missing = [line for i, (line, _) in enumerate(self.sent) if i not in self.echoed]
        if missing:
            self.report.fail(self.ALL, f"{len(missing)} of {len(self.sent)} states never echoed (input lines "
                             + ", ".join(map(str, missing[:10])) + ")")
        else:
            self.report.check(self.ALL).note(f"{len(self.sent)} states echoed")
