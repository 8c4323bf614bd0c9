"""One sync of `engine serve`: `SyncJob` runs `engine.sync.run.SyncRun` (the same code, state and tables
as `engine sync`) in a thread of its own and says how it goes.

- Its protocol messages go to a `MessageLog` (`GET /v1/syncs/{id}/messages`), its progress snapshots to a
  `JobView`, its summary lines to `summary`. All of it is redacted (the engine's writer redacts messages;
  snapshots and summaries are redacted here), and the configs are shown only as their non-secret
  identity (`engine.sync.configs.identity`).
- `status`: `running` (`cancelling` once cancelled) until the run ends, then the `eof` status
  (`succeeded`, `partial`, `failed`), or `cancelled` after `cancel()` (the state is saved, like
  Ctrl-C), or `failed` for a run that could not start (a config error).
- `under_way`: true once the destination confirmed a first state (it holds the schema, so no other
  writer does) or the run ended; `POST /v1/syncs` waits for it to tell a conflict from a start.
- `wake()`: a webhook's "look for changes now" for a following sync, debounced (`Debounce`): the first
  at once, then at most one per `interval`, the last one never lost.
"""
from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

from engine.serve.message_log import MessageLog
from engine.sync.options import SyncOptions
from engine.sync.run import SyncRun
from protocol.errors import ConfigError
from protocol.secrets import redact_message, redact_text

MAX_ERRORS = 20
MAX_EVENTS = 20


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SyncSpec:
    """What a job runs, and what may be shown of it."""

    options: SyncOptions
    source: dict  # the source config's identity (no secret)
    destination: dict  # the destination config's identity (no secret)
    key: tuple  # the destination it writes: two running jobs never share one
    account: str | None  # the Stripe account it reads (None: the key's own), for webhooks


class Debounce:
    """When to send a wake-up (pure): at once when none was sent for `interval` seconds, else one at the
    end of the interval (and none more until that one is sent)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last = float("-inf")
        self.scheduled = False

    def poke(self, now: float) -> float | None:
        """Seconds until the wake-up to send (0: now), or None when one is already scheduled."""
        if self.scheduled:
            return None
        delay = self.last + self.interval - now
        if delay <= 0:
            self.last = now
            return 0.0
        self.scheduled = True
        return delay

    def fired(self, now: float) -> None:
        self.scheduled, self.last = False, now


class JobView:
    """The engine's progress view for a job: the newest snapshot and the last event lines."""

    def __init__(self) -> None:
        self.snapshot: dict | None = None
        self.events: deque[dict] = deque(maxlen=MAX_EVENTS)
        self.confirmed = threading.Event()

    def event(self, text: str, level: str = "info") -> None:
        self.events.append({"at": iso(time.time()), "level": level, "text": redact_text(text)})

    def update(self, snapshot: dict) -> None:
        self.snapshot = redact_message(snapshot)
        if snapshot.get("confirmed_state_count", 0) > 0:
            self.confirmed.set()

    def close(self, snapshot: dict) -> None:
        self.update(snapshot)


class SyncJob:
    def __init__(self, job_id: str, spec: SyncSpec, on_end: Callable[[SyncJob], None],
                 wake_debounce: float = 0.25):
        self.id, self.spec, self.on_end = job_id, spec, on_end
        self.view = JobView()
        self.errors: deque[dict] = deque(maxlen=MAX_ERRORS)
        self.eof: dict | None = None
        self.log = MessageLog(self._on_message)
        self.summary: list[str] = []
        self.failure: dict | None = None  # why a run could not start (a config error)
        self.created_at = time.time()
        self.ended_at: float | None = None
        self.exit_code: int | None = None
        self.cancelled = False
        self.wakes = 0  # wake-up signals sent to the source
        self._debounce = Debounce(wake_debounce)
        self._lock = threading.Lock()
        self.run = SyncRun(spec.options, cast(BinaryIO, self.log), self.view, self._report)
        self._thread = threading.Thread(target=self._run, name=f"sync-{job_id}", daemon=True)

    # ---- the run ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        code = 1
        try:
            code = self.run.run()
        except ConfigError as exc:
            self.failure, code = exc.payload(), exc.exit_code
            self.summary.append(redact_text(f"engine: error [{exc.code}]: {exc.message}"
                                            + (f"; hint: {exc.hint}" if exc.hint else "")))
        except Exception as exc:  # noqa: BLE001 - a bug must end the job with a clear error, not silently
            self.failure = {"scope": "global", "code": "internal_error", "retryable": False,
                            "message": redact_text(f"{type(exc).__name__}: {exc}")}
        finally:
            self.exit_code, self.ended_at = code, time.time()
            self.log.close()
            self.on_end(self)

    def _on_message(self, msg: dict) -> None:
        kind = msg.get("type")
        error = msg["trace"].get("error") if kind == "trace" else None
        if isinstance(error, dict) and msg["trace"].get("trace_type") == "error":
            self.errors.append(error)
        elif kind == "eof" and isinstance(msg.get("eof"), dict):
            self.eof = msg["eof"]

    def _report(self, text: str) -> None:
        self.summary.extend(redact_text(text).splitlines())

    def cancel(self) -> bool:
        """Stop the run cleanly (the state is saved); False when it had already ended."""
        if not self.running:
            return False
        self.cancelled = True
        self.run.stop(signal.SIGTERM)
        return True

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # ---- webhooks ---------------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask the source to look for changes now (debounced; any thread)."""
        with self._lock:
            delay = self._debounce.poke(time.monotonic())
        if delay == 0:
            self._send_wake()
        elif delay is not None:
            timer = threading.Timer(delay, self._scheduled_wake)
            timer.daemon = True
            timer.start()

    def _scheduled_wake(self) -> None:
        with self._lock:
            self._debounce.fired(time.monotonic())
        self._send_wake()

    def _send_wake(self) -> None:
        if self.running and self.run.wake():
            self.wakes += 1

    # ---- what is shown ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.ended_at is None

    @property
    def under_way(self) -> bool:
        return self.view.confirmed.is_set() or not self.running

    @property
    def status(self) -> str:
        if self.running:
            return "cancelling" if self.cancelled else "running"
        if self.cancelled:
            return "cancelled"
        if self.eof is not None and self.failure is None:
            return str(self.eof.get("status"))
        return "failed"

    @property
    def error(self) -> dict | None:
        """What ended the run badly: the first global error (a config error for a run that never began)."""
        if self.failure is not None:
            return self.failure
        return next((e for e in self.errors if e.get("scope") == "global"), None)

    def has_error(self, code: str) -> bool:
        return any(e.get("code") == code for e in self.errors)

    def info(self, last_success_at: float | None = None) -> dict[str, Any]:
        options = self.spec.options
        return {"id": self.id, "status": self.status, "follow": options.follow, "streams": options.streams,
                "source": self.spec.source, "destination": self.spec.destination,
                "created_at": iso(self.created_at), "ended_at": iso(self.ended_at),
                "exit_code": self.exit_code, "progress": self.view.snapshot, "error": self.error,
                "errors": list(self.errors), "events": list(self.view.events), "summary": self.summary,
                "has_more": self.eof.get("has_more") if self.eof else None, "wakes": self.wakes,
                "last_success_at": iso(last_success_at)}
