"""A destination's checkpoint machinery, independent of where the rows go (docs/protocol.md, `state`;
docs/architecture.md, "How a checkpoint travels").

A state message is a fence: a stream state covers every earlier record of its stream, a global state
every earlier record. A destination may echo a state only once everything before it is committed,
in order, once, with every key kept plus `destination_stats` (rows since its previous echo of that
stream; for a global state, of all streams). `Checkpoints` keeps what that takes:

- `add(msg, line_no)`: a state waiting for its commit (`Pending`); malformed ones are refused;
- `freeze(stream, line_no)`: a record of `stream` from `line_no` on was not written (it could not be
  stored, or its stream cannot be written): that stream's later checkpoints, and every later global
  one, must never be committed (`committable`), so a rerun fetches the record again;
- `commit_due()`: commit scheduling. While more input is already waiting (`input_pending`, e.g.
  `protocol.reader.ChunkReader.has_line`), a commit may wait, at most `max_delay` seconds since the
  oldest pending checkpoint, so one transaction covers several checkpoints; a destination must never
  sit on an uncommitted checkpoint while it blocks on a read;
- `take()` hands the pending checkpoints and a copy of the frozen lines to one commit; `count()` adds
  a commit's row counts, `echo(p)` the echoed message with its `destination_stats`.

`CommitJob` runs one commit on its own thread while the next batch is parsed (one at a time: the caller
collects the previous job's result before starting the next). destination-postgres builds its `Loader`
on these; a second destination would too.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from protocol.state import GLOBAL, ZERO, StateKey, Stats, state_key

T = TypeVar("T")
MAX_COMMIT_DELAY_S = 1.0  # longest a checkpoint waits for more input before it is committed


@dataclass
class Pending:
    line_no: int
    message: dict  # the state message to echo once committed
    key: StateKey


def committable(p: Pending, frozen: dict[str, int]) -> bool:
    """Whether a checkpoint covers only written records (`frozen`: stream -> first line not written)."""
    if p.key[0] == GLOBAL:
        return not frozen or min(frozen.values()) > p.line_no
    first_lost = frozen.get(p.key[1])
    return first_lost is None or first_lost > p.line_no


class Checkpoints:
    def __init__(self, input_pending: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, max_delay: float = MAX_COMMIT_DELAY_S):
        self.input_pending, self.clock, self.max_delay = input_pending, clock, max_delay
        self.pending: list[Pending] = []  # checkpoints not handed to a commit yet
        self.pending_since = 0.0
        self.frozen: dict[str, int] = {}  # stream -> first line of a record that was not written
        self.counts: dict[str, Stats] = {}  # stream -> rows since its previous echo

    def add(self, msg: dict, line_no: int) -> bool:
        """Queue a state message for the next commit; False when it is malformed (no state key)."""
        payload = msg.get("state")
        key = state_key(payload) if isinstance(payload, dict) else None
        if key is None:
            return False
        if not self.pending:
            self.pending_since = self.clock()
        self.pending.append(Pending(line_no, msg, key))
        return True

    def freeze(self, stream: str, line_no: int) -> int:
        """Nothing of `stream` from `line_no` on is written; returns the stream's first frozen line."""
        first = self.frozen[stream] = min(self.frozen.get(stream, line_no), line_no)
        return first

    def commit_due(self) -> bool:
        return not self.input_pending() or self.clock() - self.pending_since >= self.max_delay

    def take(self) -> tuple[list[Pending], dict[str, int]]:
        """The pending checkpoints (now handed over) and a copy of the frozen lines, for one commit."""
        pending, self.pending = self.pending, []
        return pending, dict(self.frozen)

    def count(self, stream: str, stats: Stats) -> None:
        self.counts[stream] = self.counts.get(stream, ZERO).plus(stats)

    def echo(self, p: Pending) -> dict:
        """The committed state message with its `destination_stats` (rows since the previous echo)."""
        if p.key[0] == GLOBAL:
            total = ZERO
            for stats in self.counts.values():
                total = total.plus(stats)
            self.counts.clear()
        else:
            total = self.counts.pop(p.key[1], ZERO)
        p.message["state"]["destination_stats"] = total.to_wire()
        return p.message


class CommitJob(Generic[T]):
    """A function running on its own daemon thread; `result()` waits and re-raises its exception."""

    def __init__(self, fn: Callable[[], T], name: str = "commit"):
        self._fn = fn
        self._result: T | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set by _run when there is no error
