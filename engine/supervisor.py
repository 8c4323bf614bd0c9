"""Restart decisions of `engine sync`, as pure functions (DESIGN.md section 5).

- `classify_error(payload)`: what a source error trace means for the run: `global_permanent` (bad key,
  bad config: stop at once), `transient` (restart the source), `stream_permanent` (skip that stream for
  the rest of the run), `stream_retryable` (retry that stream on the next attempt).
- `decide(policy, history, failure, progressed, rand)`: restart (after an exponential backoff with
  jitter) or give up. It gives up when the same failure happened `poison_threshold` times in a row, or
  after `max_restarts` restarts without confirmed progress, or after `max_total_restarts` restarts in
  the run whatever happened (a backstop), or at once for a permanent failure: no hot loop. Confirmed
  progress resets the first two counters and the backoff.
- `is_progress(aggregate, payload)`: whether a confirmation is real progress: rows written
  (`destination_stats`) or a stream's remaining work shrank or finished. A new attempt always confirms
  a slightly different state even when no data moved (the events cursor's `checked_at` and a finished
  stream's `accounted_range.lt` follow the new upper bound); such changes are not progress, or a source
  that fails at the same place would be restarted forever.
- Generation tags: each source attempt has a number; states forwarded to the destination carry it as
  `_generation` (an engine-reserved key that destinations echo back), so a confirmation is attributed
  to the attempt that produced it.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from typing import Any

from connector_kit.backoff import backoff_delay
from protocol.jsonio import dumps_line
from protocol.ranges import from_wire
from protocol.state import Stats

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


def is_progress(aggregate: dict, payload: dict) -> bool:
    """Whether a confirmed state payload is real progress over `aggregate` (pure): rows written, or a
    stream whose remaining work shrank or finished, or events handled. Not progress: an unchanged state,
    a finished stream whose `accounted_range` follows the new upper bound, an events cursor whose only
    change is `checked_at`."""
    is_global = payload.get("state_type") == "global"
    if is_global:
        old = aggregate.get("global")
    else:
        stream = payload.get("stream")
        old = (aggregate.get("streams") or {}).get(stream) if isinstance(stream, str) else None
    new = payload.get("data")
    if old == new:
        return False
    if Stats.from_wire(payload.get("destination_stats")).rows_written:
        return True
    return _global_progress(old, new) if is_global else _stream_progress(old, new)


def _windows(data: Any) -> tuple[tuple[int, int], list[tuple[int, int, Any]]] | None:
    """(accounted range, remaining windows) of a time-mode stream state; None for another shape."""
    if not isinstance(data, dict) or not isinstance(data.get("remaining"), list):
        return None
    accounted = from_wire(data.get("accounted_range"))
    if accounted is None:
        return None
    windows = []
    for item in data["remaining"]:
        span = from_wire(item)
        if span is None:
            return None
        windows.append((span[0], span[1], item.get("cursor")))
    return accounted, windows


def _clip(windows: list[tuple[int, int, Any]], within: tuple[int, int]) -> list[tuple[int, int, Any]]:
    out = [(max(g, within[0]), min(lt, within[1]), c) for g, lt, c in windows]
    return [w for w in out if w[0] < w[1]]


def _stream_progress(old: Any, new: Any) -> bool:
    """A changed stream state: progress when the work left inside the old accounted range shrank (or
    a page inside a window was read: a new cursor). Work added by a new upper bound does not count.
    States of another shape (cursor streams: `{"cursor", "done"}`) count whenever they changed."""
    new_w = _windows(new)
    if new_w is None:
        return True
    old_w = _windows(old)
    if old_w is None:
        if old is not None:
            return True  # another shape before: not comparable
        old_w = (new_w[0], [(new_w[0][0], new_w[0][1], None)])  # no state yet: all of it to do
    within = old_w[0]
    before, after = _clip(old_w[1], within), _clip(new_w[1], within)
    left_before = sum(lt - g for g, lt, _ in before)
    left_after = sum(lt - g for g, lt, _ in after)
    if left_after != left_before:
        return left_after < left_before
    cursors_before = {c for _, _, c in before if c is not None}
    return any(c is not None and c not in cursors_before for _, _, c in after)


def _global_progress(old: Any, new: Any) -> bool:
    """Events handled: the events cursor's `created` or `seen` moved (never `checked_at` alone)."""
    before = old.get("events_cursor") if isinstance(old, dict) else None
    after = new.get("events_cursor") if isinstance(new, dict) else None
    if not isinstance(before, dict) or not isinstance(after, dict):
        return False
    return (before.get("created"), before.get("seen")) != (after.get("created"), after.get("seen"))

