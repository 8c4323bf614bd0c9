"""Restart decisions of `engine sync`, as pure functions (DESIGN.md section 5).

- `classify_error(payload)`: what a source error trace means for the run: `global_permanent` (bad key,
  bad config: stop at once), `transient` (restart the source), `stream_permanent` (skip that stream for
  the rest of the run), `stream_retryable` (retry that stream on the next attempt).
- `decide(policy, history, failure, progressed, rand)`: restart (after an exponential backoff with
  jitter) or give up. It gives up when the same failure happened `poison_threshold` times in a row, or
  after `max_restarts` restarts without confirmed progress, or after `max_total_restarts` restarts in
  the run whatever happened (a backstop), or at once for a permanent failure: no hot loop. Confirmed
  progress resets the first two counters and the backoff.
- `AttemptProgress`: whether an attempt moved data, judged from protocol information only (rows
  written, records before a confirmed state, `stream_status` ranges); states stay opaque values.
- Generation tags: each source attempt has a number; states forwarded to the destination carry it as
  `_generation` (an engine-reserved key that destinations echo back), so a confirmation is attributed
  to the attempt that produced it.
"""
from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from connector_kit.backoff import backoff_delay
from protocol.jsonio import dumps_line
from protocol.state import STREAM, StateKey, Stats

GENERATION_KEY = "_generation"
PERMANENT_CODES = frozenset({"auth_failed", "invalid_config", "state_mismatch"})


@dataclass(frozen=True)
class Failure:
    """Why a source attempt ended badly. `kind`: crash | exit | transient | hang | bad_message |
    incomplete | permanent."""

    kind: str
    code: str
    message: str
    exit_code: int | None = None

    @property
    def permanent(self) -> bool:
        return self.kind == "permanent"

    def signature(self) -> tuple:
        return (self.kind, self.code, self.exit_code)


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5  # restarts in a row without confirmed progress
    poison_threshold: int = 3  # the same failure this many times in a row ends the run
    max_total_restarts: int = 50  # restarts in one run, progress or not (0: no cap)
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.2  # +- share of the delay


@dataclass(frozen=True)
class History:
    restarts_without_progress: int = 0
    same_in_a_row: int = 0
    last_signature: tuple | None = None
    total_restarts: int = 0


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay: float
    reason: str
    history: History


def classify_error(payload: dict) -> str:
    """global_permanent | transient | stream_permanent | stream_retryable, for a trace error payload."""
    scope, retryable = payload.get("scope"), bool(payload.get("retryable"))
    if scope == "stream" and isinstance(payload.get("stream"), str):
        return "stream_retryable" if retryable else "stream_permanent"
    if scope == "transient" or (retryable and payload.get("code") not in PERMANENT_CODES):
        return "transient"
    return "global_permanent"


def signal_failure(kind: str, payload: dict) -> tuple[Failure | None, tuple[str, str] | None]:
    """What a Processor signal means for the attempt: (its failure or None, (stream, why) to leave out)."""
    if kind == "bad_message":
        return Failure("bad_message", "bad_message", f"bad line from the source: {payload.get('message')}"), None
    if kind != "error":
        return None, None
    text = f"[{payload.get('code')}] {payload.get('message')}"
    code = str(payload.get("code", "source_failed"))
    cls = classify_error(payload)
    if cls == "global_permanent":
        return Failure("permanent", code, f"source error {text}"), None
    if cls == "transient":
        return Failure("transient", code, f"transient source error {text}"), None
    if cls == "stream_permanent":
        return None, (payload["stream"], text)
    return None, None


def exit_failure(code: int | None, stderr_tail: str, unfinished: list[str], retry: list[str]) -> Failure | None:
    """How a source attempt that printed its last line ended: None when well (exit 0, streams finished)."""
    if code == 2:
        return Failure("permanent", "invalid_config", f"the source {exit_text(code)} (usage error): {stderr_tail}", 2)
    if code != 0:
        kind = "crash" if code is None or code < 0 else "exit"
        return Failure(kind, "source_failed", f"the source {exit_text(code)}" + (f": {stderr_tail}" if stderr_tail
                                                                                   else ""), code)
    if unfinished:
        return Failure("incomplete", "source_failed",
                       f"the source exited without finishing stream(s) {', '.join(sorted(unfinished))}")
    if retry:
        return Failure("transient", "source_failed", f"retryable errors in stream(s) {', '.join(sorted(retry))}")
    return None


def exit_text(code: int | None) -> str:
    """`exited with code 1`, `was killed by SIGKILL` (pure)."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def backoff(policy: RestartPolicy, attempt: int, rand: float) -> float:
    """Delay before restart number `attempt` (1-based): base * 2^(attempt-1), capped, +- jitter (rand in [0,1))."""
    return max(0.0, backoff_delay(attempt - 1, policy.base_delay, policy.max_delay, rand,
                                  (1 - policy.jitter, 1 + policy.jitter)))


def decide(policy: RestartPolicy, history: History, failure: Failure, progressed: bool, rand: float) -> Decision:
    """Restart or give up after `failure`; `progressed` is True when the attempt confirmed new state."""
    if progressed:
        history = History(total_restarts=history.total_restarts)
    same = history.same_in_a_row + 1 if failure.signature() == history.last_signature else 1
    without = history.restarts_without_progress + 1
    updated = replace(history, same_in_a_row=same, last_signature=failure.signature(),
                      restarts_without_progress=without, total_restarts=history.total_restarts + 1)
    if failure.permanent:
        return Decision(False, 0.0, f"{failure.message} (a permanent error: not retried)", updated)
    if same >= policy.poison_threshold:
        return Decision(False, 0.0, f"the same failure happened {same} times in a row without progress: "
                        f"{failure.message}", updated)
    if without > policy.max_restarts:
        return Decision(False, 0.0, f"gave up after {policy.max_restarts} restarts without progress; last "
                        f"failure: {failure.message}", updated)
    if policy.max_total_restarts and history.total_restarts >= policy.max_total_restarts:
        return Decision(False, 0.0, f"gave up after {history.total_restarts} restarts in this run (the "
                        f"--max-total-restarts cap); last failure: {failure.message}", updated)
    return Decision(True, backoff(policy, without, rand), failure.message, updated)


def tag_state(msg: dict, generation: int) -> bytes:
    """The wire line of a state message with the attempt's generation added to its payload."""
    return dumps_line({**msg, "state": {**msg["state"], GENERATION_KEY: generation}})


def generation_of(payload: dict) -> int | None:
    value = payload.get(GENERATION_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


MAX_STATES_BEFORE_RECORDS = 64  # per state key and attempt; older ones are forgotten (judged as no progress)


@dataclass
class AttemptProgress:
    """Whether one source attempt moved data, from protocol information only (pure; the caller locks).

    Every attempt confirms a slightly different state even when no data moved (a source's state may
    follow the new upper bound or carry a timestamp), so a changed confirmation alone is not progress,
    or a source failing at the same place would be restarted forever. A changed confirmation counts when
    - its `destination_stats` show rows written, or
    - records of its stream (for a global state: of any stream) were forwarded in this attempt before
      the state was (`forwarded(..., had_records=True)`), or
    - its stream advanced in this attempt by `stream_status` alone (`Tracker.advanced_streams`: more of
      the range known when the attempt began completed, or completed for the first time in the run).
    States are compared as opaque values; nothing reads inside them.
    """

    generation: int = 0
    moved: bool = False
    changed: set[StateKey] = field(default_factory=set)
    _after_records: set[StateKey] = field(default_factory=set)
    _before_records: dict[StateKey, deque] = field(default_factory=dict)

    def forwarded(self, key: StateKey, data: Any, had_records: bool) -> None:
        """A state is about to go to the destination; `had_records`: records of it came before it."""
        if had_records:
            self._after_records.add(key)
        else:
            self._before_records.setdefault(key, deque(maxlen=MAX_STATES_BEFORE_RECORDS)).append(data)

    def confirmed(self, key: StateKey, data: Any, stats: Stats, changed: bool) -> None:
        """The destination echoed a state of this attempt; `changed`: the confirmed data changed."""
        if not changed:
            return
        self.changed.add(key)
        if stats.rows_written or (key in self._after_records and data not in self._before_records.get(key, ())):
            self.moved = True

    def progressed(self, advanced_streams: set[str]) -> bool:
        return self.moved or any((STREAM, name) in self.changed for name in advanced_streams)

