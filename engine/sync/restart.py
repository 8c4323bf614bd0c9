"""Restart decisions of `engine sync`, as pure functions (docs/engine.md, "`engine sync`").

- `classify_error(payload)`: what a source error trace means for the run: `global_permanent` (bad key,
  bad config: stop at once), `transient` (restart the source), `stream_permanent` (skip that stream for
  the rest of the run), `stream_retryable` (retry that stream on the next attempt).
- `destination_failure(...)`: a destination that is gone as a `Failure`: permanent when it said so (a
  non-retryable global error, a config it refused), else worth a restart of both (a crash, a Postgres
  outage longer than its own reconnects: `network`).
- `decide(policy, history, failure, progressed, rand)`: restart (after an exponential backoff with
  jitter) or give up. It gives up when the same failure happened `poison_threshold` times in a row
  without progress, or after `max_restarts` restarts without confirmed progress, or after
  `max_total_restarts` restarts in the run whatever happened (a backstop), or at once for a permanent
  failure: no hot loop. An attempt that confirmed progress resets the counters and the backoff (its
  restart is the first since progress: `max_restarts` 0 never restarts), and its failure starts no
  streak: only attempts without progress are "the same failure again". A network
  failure (`network`, `timeout`: a database or an API that is away for a while) is never "the same
  failure again" at the same place: it counts toward `max_restarts` only, so an outage gets the whole
  backoff (1, 2, 4, 8, 16 s by default) before the run gives up.
Whether an attempt made progress is `confirmed.AttemptProgress`'s to say; this module only decides.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from connector_kit.backoff import backoff_delay
from engine.sync.outcome import exit_text

FailureKind = Literal["crash", "exit", "transient", "hang", "bad_message", "incomplete", "permanent",
                      "destination"]
ErrorClass = Literal["global_permanent", "transient", "stream_permanent", "stream_retryable", "partition"]
PERMANENT_CODES = frozenset({"auth_failed", "invalid_config", "state_mismatch"})
OUTAGE_CODES = frozenset({"network", "timeout"})  # away for a while, not a failure at one place


@dataclass(frozen=True)
class Failure:
    """Why a source attempt ended badly."""

    kind: FailureKind
    code: str
    message: str
    exit_code: int | None = None

    @property
    def permanent(self) -> bool:
        return self.kind == "permanent"

    def signature(self) -> tuple[str, str, int | None]:
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
    last_signature: tuple[str, str, int | None] | None = None
    total_restarts: int = 0


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay: float
    reason: str
    history: History


def classify_error(payload: dict) -> ErrorClass:
    """global_permanent | transient | stream_permanent | stream_retryable | partition, for a trace error
    payload. A `partition` error (one Connect account) fails only that partition: the read goes on and
    the run ends partial (the next run reads it again)."""
    scope, retryable = payload.get("scope"), bool(payload.get("retryable"))
    if scope == "partition":
        return "partition"
    if scope == "stream" and isinstance(payload.get("stream"), str):
        return "stream_retryable" if retryable else "stream_permanent"
    if scope == "transient" or (retryable and payload.get("code") not in PERMANENT_CODES):
        return "transient"
    return "global_permanent"


def signal_failure(kind: str, payload: dict) -> tuple[Failure | None, tuple[str, str] | None]:
    """What a Processor signal means for the attempt: (its failure or None, (stream, why) to leave out)."""
    if kind == "bad_message":
        return Failure("bad_message", "bad_message",
                       f"bad line from the source: {payload.get('message')}"), None
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


def exit_failure(code: int | None, stderr_tail: str, unfinished: list[str],
                 retry: list[str], who: str = "the source") -> Failure | None:
    """How a source attempt that printed its last line ended: None when well (exit 0, streams finished).
    `who` names the source in the messages (a foreign connector by its protocol and name)."""
    if code == 2:
        return Failure("permanent", "invalid_config",
                       f"{who} {exit_text(code)} (usage error): {stderr_tail}", 2)
    if code != 0:
        kind: FailureKind = "crash" if code is None or code < 0 else "exit"
        detail = f": {stderr_tail}" if stderr_tail else ""
        return Failure(kind, "source_failed", f"{who} {exit_text(code)}{detail}", code)
    if unfinished:
        return Failure("incomplete", "source_failed",
                       f"{who} exited without finishing stream(s) {', '.join(sorted(unfinished))}")
    if retry:
        return Failure("transient", "source_failed",
                       f"retryable errors in stream(s) {', '.join(sorted(retry))}")
    return None


def destination_failure(exit_code: int | None, last_error: dict | None, detail: str) -> Failure:
    """A destination process that is gone (`detail` says how), as a restart decision can take it."""
    code = str((last_error or {}).get("code") or "destination_failed")
    if exit_code == 2 or (last_error is not None and classify_error(last_error) == "global_permanent"):
        return Failure("permanent", "invalid_config" if exit_code == 2 else code, detail, exit_code)
    return Failure("destination", code, detail, exit_code)


def backoff(policy: RestartPolicy, attempt: int, rand: float) -> float:
    """Delay before restart number `attempt` (1-based): base * 2^(attempt-1), capped, +- jitter."""
    return max(0.0, backoff_delay(attempt - 1, policy.base_delay, policy.max_delay, rand,
                                  (1 - policy.jitter, 1 + policy.jitter)))


def decide(policy: RestartPolicy, history: History, failure: Failure, progressed: bool,
           rand: float) -> Decision:
    """Restart or give up after `failure`; `progressed` is True when the attempt confirmed new state."""
    if progressed:  # its failure starts no streak of the same failure (only attempts without progress do)
        updated = History(restarts_without_progress=1, total_restarts=history.total_restarts + 1)
        same, without = 0, 1  # the restarts since the last progress: this one
    else:
        same = history.same_in_a_row + 1 if failure.signature() == history.last_signature else 1
        if failure.code in OUTAGE_CODES:
            same = 0
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
