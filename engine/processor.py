"""The Processor: validate, track and forward one source's lines (docs/engine.md, "Pipe mode").

Shared by pipe mode (`engine/pipe.py`) and `engine sync` (`engine/sync/`): it takes one input line at a
time (`protocol.reader.Line` or `BadLine`) and writes to a `Sink`, which has two channels: *data*
(catalog, records, states: what a destination needs, forwarded as the ORIGINAL bytes, never
re-serialized) and *messages* (the engine's own traces and logs). In pipe mode both channels are stdout;
`engine sync` sends data to the destination's stdin and messages to its own stdout.

Per line it: checks the envelope (always) or the full schema (`validate="full"`); turns a bad line into
one clear error naming the line number and an excerpt (then stops, or skips and counts with
`on_bad_message="skip"`); drops records/states of streams outside the catalog with one warning per
stream; replaces each source `stream_status` by an enriched one (`tracker.py`); emits `progress` after
every status change and at most every `progress_interval` seconds otherwise. `snapshot` markers go with
the data, in order with the records; source warnings and errors (`log`) are also shown in the view.
Everything it knows comes from the messages; the `data` of states is forwarded, never read. Lines may
come from a fast reader (`iter_lines(exact=False)`: numbers possibly rounded, the raw bytes exact): a
state is parsed again exactly, as its data travels on re-serialized (`eof.state`, the generation tag of
`engine sync`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from engine.progress_model import error_text
from engine.progress_view import NoView, View
from engine.tracker import Tracker
from protocol import messages
from protocol.jsonio import dumps_line, loads
from protocol.lifecycle import TERMINAL
from protocol.reader import DEFAULT_MAX_LINE_BYTES, BadLine, Line, excerpt_of
from protocol.validate import MessageValidator, check_envelope

Validation = Literal["envelope", "full"]
OnBadMessage = Literal["fail", "skip"]
SignalKind = Literal["bad_message", "error", "control"]


@dataclass
class PipeOptions:
    validate: Validation = "envelope"
    on_bad_message: OnBadMessage = "fail"
    progress_interval: float = 1.0  # seconds between periodic progress traces
    view_interval: float = 0.25  # seconds between redraws of the live view
    flush_interval: float = 0.2  # buffered records are flushed at least this often (when input flows)
    catalog: dict | None = None  # catalog payload given on the command line
    state: dict | None = None  # aggregate state the source started from: the base of eof.state
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


class Sink(Protocol):
    data: Callable[[bytes], object]  # records: an attribute, so the hot path calls a write directly

    def catalog(self, raw: bytes, payload: dict) -> None: ...
    def state(self, raw: bytes, payload: dict) -> None: ...
    def message(self, msg: dict) -> None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class Signal:
    """Something the caller may act on: `bad_message` (payload: error), `error` (a source error trace
    payload) or `control` (a control payload)."""

    kind: SignalKind
    payload: dict


MAX_EARLY_MESSAGES = 1000
SIGNAL_PRIORITY: dict[SignalKind, int] = {"bad_message": 0, "error": 1, "control": 2}


def _ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


def bad_message_error(line_no: int, reason: str, excerpt: str, stream: str | None = None) -> dict:
    where = f"line {line_no}" + (f" (stream {stream!r})" if stream else "")
    return messages.error_payload("global", "bad_message", f"{where}: {reason} (starts with: {excerpt})")


class Processor:
    """Validates, tracks and forwards one source's lines; see the module docstring."""

    def __init__(self, options: PipeOptions, sink: Sink, view: View | None = None,
                 clock: Callable[[], float] = time.monotonic, start: float | None = None):
        """`start`: when the run began on `clock` (default now): progress counts elapsed time from it."""
        self.options, self.sink, self.view, self.clock = options, sink, view or NoView(), clock
        self.tracker = Tracker(int((clock() if start is None else start) * 1000))
        self._streams = self.tracker.streams  # hot path shortcuts
        self._data = sink.data
        self.validator = MessageValidator(full=True) if options.validate == "full" else None
        self.catalog: dict | None = None  # the catalog payload forwarded downstream
        self._last_progress = self._last_view = self._last_flush = clock()
        self._dropped_kinds: set[str] = set()
        self._bad_reported = 0
        self._early: list[Line] = []  # logs/traces that came before the catalog, replayed after it
        self.extra: Callable[[], dict] | None = None  # adds fields to every progress snapshot
        self.snapshot_markers: dict[str, int] = {}  # snapshot markers forwarded, by phase
        if options.catalog is not None:
            self.adopt_catalog(options.catalog)

    # ---- input ---------------------------------------------------------------------------------------
    def handle(self, item: Line | BadLine) -> Signal | None:
        """Process one input line. Returns a Signal for the caller or None."""
        if type(item) is not Line:
            return self._bad(item.line_no, item.reason, item.excerpt)  # type: ignore[union-attr]
        return self.handle_line(item.line_no, item.raw, item.message)

    def handle_line(self, line_no: int, raw: bytes, msg: dict) -> Signal | None:
        """Process one parsed line (`raw` as read, `msg` its JSON object)."""
        # Fast path: a record of a running catalog stream (the same checks as check_envelope, inline).
        if self.validator is None and msg.get("type") == "record" and self.catalog is not None:
            payload = msg.get("record")
            if type(payload) is dict and type(payload.get("data")) is dict:
                track = self._streams.get(payload.get("stream"))  # type: ignore[arg-type]
                if track is not None and track.status not in TERMINAL:
                    track.record_count += 1
                    self._data(raw if raw.endswith(b"\n") else raw + b"\n")
                    return None
        reason = check_envelope(msg)
        if reason is None and self.validator is not None:
            errors = self.validator.errors(msg)
            reason = "; ".join(errors[:3]) if errors else None
        if reason is not None:
            return self._bad(line_no, reason, excerpt_of(raw), _stream_of(msg))
        kind = msg["type"]
        if self.catalog is None and kind in ("trace", "log", "control"):
            if len(self._early) >= MAX_EARLY_MESSAGES:
                return self._no_catalog(line_no, raw, msg)
            self._early.append(Line(line_no, raw, msg))
            return None
        if kind == "record":
            if self.catalog is None:
                return self._no_catalog(line_no, raw, msg)
            stream = msg["record"]["stream"]
            warning = self.tracker.on_record(stream)
            if warning:
                self._warn(warning)
            if stream in self._streams:
                self._data(raw if raw.endswith(b"\n") else raw + b"\n")
            return None
        if kind == "state":
            if self.catalog is None:
                return self._no_catalog(line_no, raw, msg)
            payload = loads(raw)["state"]  # exact numbers (see the module docstring)
            forward, warning = self.tracker.on_state(payload)
            if warning:
                self._warn(warning)
            if forward:
                self.sink.state(raw if raw.endswith(b"\n") else raw + b"\n", payload)
            return None
        if kind == "trace":
            if msg["trace"]["trace_type"] == "snapshot":
                return self._snapshot(msg, raw)
            return self._trace(msg)
        if kind == "catalog":
            return self._catalog(msg, line_no, raw)
        if kind == "log":
            self.sink.message(msg)
            level = msg["log"]["level"]
            if level in ("warn", "error"):  # warnings reach people, not only the JSON on stdout
                self.view.event(f"source: {msg['log']['message']}", level)
            return None
        if kind == "control":
            self.sink.message(msg)
            return Signal("control", msg["control"])
        if kind not in self._dropped_kinds:  # spec, connection_status, eof: not part of a read
            self._dropped_kinds.add(kind)
            self._warn(f"line {line_no}: a {kind!r} message is not expected from a source; dropped")
        return None

    def _trace(self, msg: dict) -> Signal | None:
        trace = msg["trace"]
        ttype = trace["trace_type"]
        payload = trace.get(ttype)
        if not isinstance(payload, dict):
            self.sink.message(msg)
            return None
        now = _ms(self.clock)
        if ttype == "stream_status":
            enriched, warnings, changed = self.tracker.on_status(payload, now)
            for warning in warnings:
                self._warn(warning)
            if enriched is not None:
                self.sink.message(messages.trace("stream_status", enriched,
                                                 emitted_at=trace.get("emitted_at")))
                if changed:
                    self.emit_progress()
            return None
        if ttype == "error":
            self.tracker.on_error(payload)
            self.sink.message(msg)
            if payload.get("scope") != "stream":  # a stream's errors show with the stream (its snapshot)
                self.view.event(error_text(payload), "error")
            self.emit_progress()
            return Signal("error", payload)
        if ttype == "partition_status":
            if self.tracker.partition_tally.on_status(payload) and payload.get("status") != "started":
                self.emit_progress()
        elif ttype == "estimate":
            self.tracker.on_estimate(payload)
        elif ttype == "progress":
            if "progress" not in self._dropped_kinds:
                self._dropped_kinds.add("progress")
                self._warn("progress traces from upstream are dropped (the engine emits its own)")
            return None
        self.sink.message(msg)
        return None

    def _snapshot(self, msg: dict, raw: bytes) -> Signal | None:
        """A source's snapshot marker goes with the data (the destination must see it in order with the
        records); markers of streams outside the catalog are dropped like their records."""
        payload = msg["trace"].get("snapshot")
        stream = payload.get("stream") if isinstance(payload, dict) else None
        if self.catalog is None or stream not in self._streams:
            return None
        self._data(raw if raw.endswith(b"\n") else raw + b"\n")
        self.snapshot_markers[payload.get("phase")] = self.snapshot_markers.get(payload.get("phase"), 0) + 1
        scope = payload.get("scope")
        per_parent = isinstance(scope, dict) and scope.get("kind") == "parent"  # one per parent: routine
        if payload.get("phase") == "begin" and not per_parent:
            self.view.event(f"{stream}: re-read in full as a snapshot (rows it no longer lists are "
                            "confirmed, then tombstoned)")
        return None

    def _catalog(self, msg: dict, line_no: int, raw: bytes) -> Signal | None:
        payload = msg["catalog"]
        names = [s.get("name") if isinstance(s, dict) else None for s in payload["streams"]]
        if not all(isinstance(n, str) and n for n in names):
            return self._bad(line_no, "catalog.streams: every stream needs a non-empty string 'name'",
                             excerpt_of(raw))
        if self.catalog is None:
            self._adopt_catalog(payload, raw if raw.endswith(b"\n") else raw + b"\n")
            return self._replay_early()
        else:
            outside = [str(n) for n in names if n not in self.tracker.streams]
            if outside:
                self._warn("the source announced streams outside the catalog in use, dropped: "
                           + ", ".join(outside))
        return None

    def resend_catalog(self) -> None:
        """Send the catalog in use downstream again (a restarted destination starts without it)."""
        if self.catalog is not None:
            self.sink.data(dumps_line({"type": "catalog", "catalog": self.catalog}))
            self.sink.flush()

    def adopt_catalog(self, payload: dict) -> None:
        """Use this catalog (e.g. from --catalog) and send it downstream now."""
        self._adopt_catalog(payload, dumps_line(messages.catalog(payload["streams"])))

    def _adopt_catalog(self, payload: dict, raw: bytes) -> None:
        self.catalog = payload
        self.tracker.set_catalog(s["name"] for s in payload["streams"])
        if self.options.state is not None:
            self.tracker.seed_state(self.options.state)
        self.sink.catalog(raw, payload)
        self.sink.flush()
        self.emit_progress()

    def _replay_early(self) -> Signal | None:
        """Handle the messages held back until the catalog; return the most important signal."""
        early, self._early = self._early, []
        signals = [s for s in map(self.handle, early) if s is not None]
        return min(signals, key=lambda s: SIGNAL_PRIORITY.get(s.kind, 9), default=None)

    def _no_catalog(self, line_no: int, raw: bytes, msg: dict) -> Signal | None:
        return self._bad(line_no, f"a {msg['type']} before any catalog message (the source must emit its "
                         "catalog first, or pass --catalog)", excerpt_of(raw), _stream_of(msg))

    def _bad(self, line_no: int, reason: str, excerpt: str, stream: str | None = None) -> Signal | None:
        error = bad_message_error(line_no, reason, excerpt, stream)
        if self.options.on_bad_message == "skip":
            self.tracker.bad_message_count += 1  # skipped lines make the outcome partial
            self._bad_reported += 1
            if self._bad_reported <= 10:
                suffix = " (further bad lines are counted, not logged)" if self._bad_reported == 10 else ""
                self._warn(f"skipped bad message: {error['message']}{suffix}")
            return None
        return Signal("bad_message", error)

    def _warn(self, text: str) -> None:
        self.sink.message(messages.log("warn", text))
        self.view.event(text, "warn")

    def flush_early(self) -> None:
        """Forward, untracked, the messages still held back for want of a catalog (end of input)."""
        early, self._early = self._early, []
        for item in early:
            self.sink.message(item.message)

    # ---- output --------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Periodic duties; call after each line and whenever idle."""
        now = self.clock()
        if now - self._last_flush >= self.options.flush_interval:
            self._last_flush = now
            self.sink.flush()
        if now - self._last_progress >= self.options.progress_interval:
            self.emit_progress()
        elif now - self._last_view >= self.options.view_interval:
            self._last_view = now
            self.view.update(self.snapshot())

    def snapshot(self) -> dict:
        snap = self.tracker.snapshot(_ms(self.clock))
        if self.extra is not None:
            snap.update(self.extra())
        return snap

    def emit_progress(self) -> dict:
        self._last_progress = self._last_view = self.clock()
        snap = self.snapshot()
        self.sink.message(messages.progress(snap))
        self.view.update(snap)
        return snap

    def emit_error(self, payload: dict) -> None:
        """Emit an engine error (e.g. a bad message that stops the run) and record it."""
        self.tracker.on_error(payload)
        self.sink.message(messages.trace("error", payload))
        self.view.event(error_text(payload), "error")


def _stream_of(msg: object) -> str | None:
    if isinstance(msg, dict):
        payload = msg.get(msg.get("type")) if isinstance(msg.get("type"), str) else None
        if isinstance(payload, dict) and isinstance(payload.get("stream"), str):
            return payload["stream"]
    return None
