"""Per-stream bookkeeping of one engine run: pure logic, no I/O, no clock of its own.

The `Tracker` is fed the messages a source emits (records by stream name, states, stream_status,
errors, estimates) with explicit `now_ms` times, and answers with what the engine must print:
enriched `stream_status` payloads, anomaly warnings (strings, never exceptions: processing is tolerant,
docs/engine.md), `progress` snapshots and the run's outcome.

Per stream it keeps: lifecycle status (`pending` -> `started` -> `complete` | `skipped`, moved by the
table of `protocol.lifecycle`, which the conformance kit applies strictly), record and
state counts, `total_range` (the `time_range` of `started`), `completed_ranges` (every `range_complete`,
merged half-open with `protocol.ranges`), errors (the last few, plus a count) and the last state data
seen, which it never reads: progress comes from protocol messages only, so a source with any state
format gets the same bars and the same restart decisions. Memory is bounded by the number of catalog streams.
Records of streams outside the catalog are not counted; the caller drops them.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol import ranges
from engine.partitions import PartitionTally
from protocol import state as protocol_state
from protocol.lifecycle import COMPLETE, PENDING, SKIPPED, STARTED, TERMINAL, Status, status_event, step
from protocol.ranges import Range

MAX_ERRORS_KEPT = 5
MAX_UNKNOWN_STREAMS_WARNED = 100
WINDOW_MS = 10_000
_UNSET: Any = object()


@dataclass
class StreamTrack:
    """Everything the engine knows about one stream during a run."""

    name: str
    status: Status = PENDING
    record_count: int = 0
    state_count: int = 0
    total_range: Range | None = None
    completed: list[Range] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    permanent_error: bool = False  # a stream-scope, non-retryable error: skip it on restarts
    retryable_error: bool = False
    reason: str | None = None
    started_ms: int | None = None
    ended_ms: int | None = None
    estimate: int | None = None
    last_state: Any = _UNSET
    restartable: bool = False  # a new source attempt may announce this stream again
    source_skipped: bool = False  # the source itself ended it `skipped` (with a reason): not a failure
    warned: set[str] = field(default_factory=set)
    # the current source attempt (see `Tracker.new_attempt`): what it started from, whether it advanced
    attempt_range: Range | None = None  # the range known when the attempt began (None: its first time_range)
    attempt_covered: int = 0  # seconds of attempt_range completed when the attempt began
    attempt_base_records: int = 0  # record_count when the attempt began
    advanced: bool = False  # completed more of attempt_range, or completed for the first time in the run
    completed_before: bool = False  # complete in an earlier attempt of this run

    @property
    def attempt_records(self) -> int:
        return self.record_count - self.attempt_base_records

    def covered_within(self, span: Range) -> int:
        return ranges.total_length(ranges.intersect(self.completed, span))

    def rate(self, now_ms: int) -> float:
        if self.started_ms is None:
            return 0.0
        end = self.ended_ms if self.ended_ms is not None else now_ms
        return per_second(self.record_count, end - self.started_ms)

    @property
    def errored(self) -> bool:
        """Its data may be incomplete because of an error (a stream the source chose to skip is not)."""
        return (self.permanent_error or self.retryable_error) and not self.source_skipped

    def progress(self, now_ms: int) -> dict:
        out: dict[str, Any] = {"status": self.status, "record_count": self.record_count,
                               "records_per_second": self.rate(now_ms),
                               "completed_ranges": ranges.list_to_wire(self.completed),
                               "total_range": ranges.to_wire(self.total_range) if self.total_range else None,
                               "errors": list(self.errors)}
        if self.error_count > len(self.errors):
            out["error_count"] = self.error_count
        if self.estimate is not None:
            out["estimate"] = self.estimate
        if self.reason:
            out["reason"] = self.reason
        if self.status in TERMINAL and self.errored:
            out["failed"] = True
        return out


def per_second(count: int, elapsed_ms: int) -> float:
    """A rate rounded to one decimal; 0 when no time has passed."""
    return round(count * 1000.0 / elapsed_ms, 1) if elapsed_ms > 0 else 0.0


class Tracker:
    """Run-wide tracker. Feed it messages in order; read `snapshot()` and `outcome()`."""

    def __init__(self, start_ms: int):
        self.start_ms = start_ms
        self.streams: dict[str, StreamTrack] = {}
        self.global_errors: list[dict] = []
        self.transient_error_count = 0
        self.global_state: Any = _UNSET
        self.partitions: dict = protocol_state.empty()  # the states of partitions: an aggregate of them
        self.partition_tally = PartitionTally()  # partitions (Connect accounts): done, running, failed
        self.bad_message_count = 0
        self.dropped_record_count = 0
        self._request_base = 0  # requests of earlier source attempts
        self._request_max: int | None = None  # the current attempt's highest reported count
        self.request_limit: float | None = None  # the source's request budget (requests per second)
        self._unknown_warned: set[str] = set()
        self._samples: deque[tuple[int, int, int]] = deque()  # (ms, records, requests) of the last 10 s

    # ---- catalog and seeding -------------------------------------------------------------------------
    def set_catalog(self, names: Iterable[str]) -> None:
        for name in names:
            self.streams.setdefault(name, StreamTrack(name))

    def seed_state(self, aggregate: Any) -> None:
        """Start from a previous run's aggregate state: the base of `state_aggregate()`. Its data stays
        opaque: what was done shows as completed when the source says so (`range_complete`)."""
        if not isinstance(aggregate, dict):
            return
        for name, data in (aggregate.get("streams") or {}).items():
            if name in self.streams:
                self.streams[name].last_state = data
        if "global" in aggregate:
            self.global_state = aggregate.get("global")
        if isinstance(aggregate.get("partitions"), dict):
            self.partitions = {"streams": {}, "global": None, "partitions": dict(aggregate["partitions"])}

    def new_attempt(self) -> None:
        """A restarted source will announce its streams again: forget lifecycle, keep counts and ranges,
        and judge the new attempt against what is known now (`advanced_streams`)."""
        if self._request_max is not None:
            self._request_base += self._request_max
        self._request_max = None
        self.global_errors = []  # handled by restarting; a new attempt is judged on its own
        self.partition_tally.new_attempt()
        for track in self.streams.values():
            track.completed_before = track.completed_before or track.status == COMPLETE
            track.attempt_range = track.total_range
            track.attempt_covered = track.covered_within(track.total_range) if track.total_range else 0
            track.attempt_base_records, track.advanced = track.record_count, False
            if track.status == STARTED:
                track.status = PENDING
            track.restartable = not track.permanent_error

    # ---- messages ------------------------------------------------------------------------------------
    def mark_skipped(self, stream: str, reason: str) -> None:
        """The engine leaves a stream out of later attempts (after a permanent error)."""
        track = self.streams.get(stream)
        if track is not None and track.status not in TERMINAL:
            track.status, track.reason, track.restartable = SKIPPED, reason, False

    def on_record(self, stream: str) -> str | None:
        """Count a record. Returns a warning (first time only) or None; unknown streams are not counted."""
        track = self.streams.get(stream)
        if track is None:
            self.dropped_record_count += 1
            return self._unknown(stream, "record")
        track.record_count += 1
        if step(track.status, "record")[1] == "after_end":
            return _once(track, f"record after {track.status}",
                         f"stream {stream!r}: record after the stream was {track.status}")
        return None

    def on_state(self, payload: dict) -> tuple[bool, str | None]:
        """Track a state payload. Returns (forward it?, warning or None)."""
        if payload.get("partition"):  # a partition's own state (opaque too): kept for the aggregate
            self.partitions, _ = protocol_state.apply(self.partitions, payload)
            stream = payload.get("stream")
            if payload.get("state_type") == "stream" and isinstance(stream, str) and stream in self.streams:
                self.streams[stream].state_count += 1
            return True, None
        if payload.get("state_type") == "global":
            self.global_state = payload.get("data")
            return True, None
        stream = payload.get("stream")
        track = self.streams.get(stream)  # type: ignore[arg-type]
        if track is None:
            return False, self._unknown(str(stream), "state")
        track.state_count += 1
        track.last_state = payload.get("data")
        if step(track.status, "state")[1] == "state_before_start":
            return True, _once(track, "state before start",
                               f"stream {stream!r}: state before the stream started")
        return True, None

    def on_status(self, payload: dict, now_ms: int) -> tuple[dict | None, list[str], bool]:
        """Apply a source stream_status. Returns (enriched payload or None to drop, warnings, changed).

        `changed` is True when the lifecycle status moved (started, complete, skipped): the caller then
        emits a progress trace at once.
        """
        stream, status = payload.get("stream"), payload.get("status")
        track = self.streams.get(stream)  # type: ignore[arg-type]
        if track is None:
            warning = self._unknown(str(stream), "stream_status")
            return None, [warning] if warning else [], False
        self._note_requests(payload)
        warnings: list[str | None] = []
        changed = False
        if status == STARTED:
            declared = ranges.from_wire(payload.get("time_range"))
            if declared is not None:
                track.total_range = declared
                if track.attempt_range is None:
                    track.attempt_range = declared
        done = ranges.from_wire(payload.get("range_complete"))
        if done is not None:
            track.completed = ranges.add(track.completed, done)
            span = track.attempt_range
            if span is not None and track.covered_within(span) > track.attempt_covered:
                track.advanced = True
        event = status_event(status, done is not None)
        if event is not None:
            current = PENDING if track.restartable else track.status  # a new attempt may announce it again
            new, violation = step(current, event)
            if violation == "ended_twice":
                warnings.append(_once(track, "duplicate end",
                                      f"stream {stream!r}: {status} after {track.status}"))
            elif event == "start" and violation is not None:
                warnings.append(_once(track, "duplicate start", f"stream {stream!r}: started twice"))
            elif new != current:
                changed = self._enter(track, new, payload, now_ms)
        enriched = {**payload, "record_count": track.record_count, "records_per_second": track.rate(now_ms),
                    "completed_ranges": ranges.list_to_wire(track.completed),
                    "total_range": ranges.to_wire(track.total_range) if track.total_range else None}
        return enriched, [w for w in warnings if w], changed

    @staticmethod
    def _enter(track: StreamTrack, status: Status, payload: dict, now_ms: int) -> bool:
        """Move a stream to `status` (started or terminal); True when its status changed."""
        changed = track.status != status
        track.status, track.restartable = status, False
        if track.started_ms is None:
            track.started_ms = now_ms
        if status == STARTED:
            track.retryable_error, track.ended_ms = False, None
            return changed
        track.ended_ms, track.source_skipped = now_ms, status == SKIPPED
        if status == COMPLETE and not track.completed_before:
            track.advanced = True
        if status == SKIPPED and payload.get("reason"):
            track.reason = str(payload["reason"])
        return changed

    def on_error(self, payload: dict) -> None:
        scope, stream = payload.get("scope"), payload.get("stream")
        if scope == "partition":
            self.partition_tally.on_error(payload)
            return
        if scope == "global":
            self.global_errors = (self.global_errors + [payload])[-MAX_ERRORS_KEPT:]
            return
        if scope == "transient":
            self.transient_error_count += 1
        track = self.streams.get(stream) if isinstance(stream, str) else None
        if track is None:
            return
        track.error_count += 1
        track.errors = (track.errors + [payload])[-MAX_ERRORS_KEPT:]
        if scope == "stream":
            if payload.get("retryable"):
                track.retryable_error = True
            else:
                track.permanent_error = True

    def on_estimate(self, payload: dict) -> None:
        track = self.streams.get(payload.get("stream"))  # type: ignore[arg-type]
        if track is not None and isinstance(payload.get("row_count"), int):
            track.estimate = payload["row_count"]

    def _note_requests(self, payload: dict) -> None:
        count = payload.get("request_count")
        if isinstance(count, int) and (self._request_max is None or count > self._request_max):
            self._request_max = count
        limit = payload.get("requests_per_second_limit")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
            self.request_limit = float(limit)

    def _unknown(self, stream: str, what: str) -> str | None:
        if stream in self._unknown_warned or len(self._unknown_warned) > MAX_UNKNOWN_STREAMS_WARNED:
            return None
        self._unknown_warned.add(stream)
        if len(self._unknown_warned) > MAX_UNKNOWN_STREAMS_WARNED:
            return "more streams outside the catalog; no further warnings about them"
        return f"stream {stream!r} is not in the catalog: its {what} messages are dropped"

    # ---- reading -------------------------------------------------------------------------------------
    @property
    def record_count(self) -> int:
        return sum(t.record_count for t in self.streams.values())

    @property
    def request_count(self) -> int | None:
        if self._request_max is None and self._request_base == 0:
            return None
        return self._request_base + (self._request_max or 0)

    def snapshot(self, now_ms: int) -> dict:
        """The `progress` payload (docs/protocol.md, `trace`) at `now_ms`."""
        total, requests = self.record_count, self.request_count
        elapsed = max(0, now_ms - self.start_ms)
        self._samples.append((now_ms, total, requests or 0))
        while len(self._samples) > 1 and now_ms - self._samples[0][0] > WINDOW_MS:
            self._samples.popleft()
        first_ms, first_count, first_requests = self._samples[0]
        window = per_second(total - first_count, now_ms - first_ms) if now_ms > first_ms else \
            per_second(total, elapsed)
        out: dict[str, Any] = {"elapsed_ms": elapsed, "record_count": total,
                               "records_per_second": per_second(total, elapsed),
                               "window_records_per_second": window,
                               "streams": {name: t.progress(now_ms) for name, t in self.streams.items()}}
        if requests is not None:
            out["request_count"] = requests
            out["requests_per_second"] = per_second(requests - first_requests, now_ms - first_ms) \
                if now_ms > first_ms else per_second(requests, elapsed)
        if self.request_limit is not None:
            out["requests_per_second_limit"] = self.request_limit
        if self.global_errors:
            out["errors"] = list(self.global_errors)
        if self.bad_message_count:
            out["bad_message_count"] = self.bad_message_count
        partitions = self.partition_tally.snapshot()
        if partitions is not None:
            out["partitions"] = partitions
        return out

    def state_aggregate(self) -> dict:
        """Aggregate state of the last states seen (`{"streams": ..., "global": ...}`)."""
        streams = {n: t.last_state for n, t in self.streams.items() if t.last_state is not _UNSET}
        return protocol_state.build(streams, None if self.global_state is _UNSET else self.global_state,
                                    self.partitions.get("partitions"))

    def failed_partitions_text(self) -> list[str]:
        """The failed partitions for the summary's "not synced" list: a few named, the rest counted."""
        tally = self.partition_tally
        named = [f"account {p} ({why})" for p, why in sorted(tally.failed.items())]
        more = tally.failed_count - len(named)
        return named + ([f"{more} more account(s)"] if more > 0 else [])

    def unfinished(self) -> list[str]:
        return [n for n, t in self.streams.items() if t.status not in TERMINAL]

    def errored(self) -> list[str]:
        """Streams whose data may be incomplete because of an error (not those the source chose to skip)."""
        return [n for n, t in self.streams.items() if t.errored]

    def skipped(self) -> dict[str, str]:
        """Streams the source skipped, with its reason (e.g. a feature not enabled on the account)."""
        return {n: t.reason or "" for n, t in self.streams.items() if t.source_skipped}

    def has_more(self) -> bool:
        """True when another run would bring more data: a stream unfinished, or ended after a stream error
        (the protocol ends such a stream `complete`, with its checkpoint where the error left it)."""
        return bool(self.partition_tally.failed_count) or any(
            t.status not in TERMINAL or t.retryable_error or (t.status == COMPLETE and t.permanent_error)
            for t in self.streams.values())

    def advanced_streams(self) -> set[str]:
        """Streams the current attempt moved on by protocol information alone: a `range_complete` added
        coverage inside the range known when the attempt began (not work a new upper bound added), or the
        stream completed for the first time in the run. The restart policy counts such a stream as progress
        once a changed state of it is confirmed (engine/sync: `Confirmations.progressed`)."""
        return {n for n, t in self.streams.items() if t.advanced}

    def attempt_records(self, stream: str | None) -> int:
        """Records forwarded in the current attempt: of one stream, or of all streams (None)."""
        if stream is None:
            return sum(t.attempt_records for t in self.streams.values())
        track = self.streams.get(stream)
        return track.attempt_records if track is not None else 0

    def outcome(self, ended_normally: bool) -> str:
        """`succeeded`, `partial` (a stream errored or unfinished, bad lines skipped) or `failed` (global
        error, aborted)."""
        if self.global_errors or not ended_normally:
            return "failed"
        if self.unfinished() or self.errored() or self.bad_message_count or self.partition_tally.failed_count:
            return "partial"
        return "succeeded"


def _once(track: StreamTrack, key: str, text: str) -> str | None:
    if key in track.warned:
        return None
    track.warned.add(key)
    return text
