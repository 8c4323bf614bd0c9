"""The destination's side of `engine sync`: its stdout, read in a thread, becomes confirmed state.

A destination echoes each state only after committing everything before it, with every payload key
preserved plus `destination_stats`. `Confirmations.run` reads those echoes and:
- applies each to the confirmed aggregate state (`protocol.state.apply`), unless it carries a
  `_generation` older than the source attempt in flight (output of a superseded attempt is never
  applied; its rows are committed anyway, so its stats still count);
- tells whether the attempt in flight moved data (`confirmed.AttemptProgress`: rows written, records
  before a confirmed state, or a stream the tracker saw advance; never a state's contents);
- sums `destination_stats`; persists the state file at most every `save_interval` seconds (and on
  `save(force=True)`); hands destination errors and logs to the main thread through `notify`;
- collects what the destination says about snapshots (docs/protocol.md, "Snapshots and delete sweeps"):
  `candidates` (de-duplicated, at most `max_candidates` held: the rest stay pending in the destination
  for the next run), the answers to `end` (`swept`, `ignored`) and, with `write --verify`/`--repair`,
  the `verify` reports.
Everything shared with the main thread is guarded by one lock. One `Confirmations` serves every
destination process of a run, one after another (a restarted destination continues from the same
confirmed state); `new_destination` starts the count of the next one and forgets the errors of the last;
a wait ends early when the process in flight closed its stdout (its `closed` event).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import BinaryIO

from engine.sync.confirmed import AttemptProgress, generation_of
from engine.sync.output import Forward, Notice, ViewEvent
from engine.sync.state_store import StateStore
from protocol import state as protocol_state
from protocol.jsonio import dumps, loads
from protocol.reader import BadLine, Line, iter_lines
from protocol.state import ZERO, Stats

Translate = Callable[[Iterable[Line | BadLine]], Iterable[Line | BadLine]]
MAX_CANDIDATES = 100_000  # held in memory per run; more stay pending in the destination for the next run


def candidate_keys(body: dict) -> list[bytes]:
    """The rows of a `candidates` trace as canonical JSON keys: `{"id": ...}`, or the whole key of each
    row when the trace gives `keys` (a stream keyed by more than `id`, docs/protocol.md)."""
    ids, keys = body.get("ids") or [], body.get("keys")
    if isinstance(keys, list) and len(keys) == len(ids):
        items = keys
    else:
        items = [{"id": i} for i in ids]
    return [dumps(dict(sorted(k.items()))) for k in items
            if isinstance(k, dict) and isinstance(k.get("id"), str) and k["id"]]


class Confirmations:
    def __init__(self, state: dict, store: StateStore | None, notify: Callable[[Notice], None],
                 save_interval: float = 0.5, max_candidates: int = MAX_CANDIDATES):
        self.lock = threading.Lock()
        self.state = state
        self.store, self.notify, self.save_interval = store, notify, save_interval
        self.count = 0  # echoed states received (every generation)
        self.stale = 0  # echoes of superseded attempts, not applied
        self.stats = ZERO
        self.min_generation = 0
        self.attempt = AttemptProgress()
        self.errors: list[dict] = []  # of the current destination process
        self._dirty = False
        self._last_save = 0.0
        self._warned_untagged = False
        self.max_candidates = max_candidates
        self.candidates: dict[str, set[bytes]] = {}  # stream -> keys waiting for the source's confirmation
        self.candidates_held = 0
        self.candidates_left = 0  # beyond max_candidates: left pending for the next run
        self.answers = 0  # snapshot `end`s the destination answered (swept or ignored)
        self.swept: dict[str, int] = {}  # stream -> candidates of its last swept snapshot
        self.ignored: dict[str, str] = {}  # stream -> why the destination ignored its snapshot
        self.verify: dict[str, dict] = {}  # stream -> the destination's verify report

    def run(self, stream: BinaryIO, translate: Translate | None = None) -> None:
        """Thread body: read one destination process's stdout until it closes (`translate`: a foreign
        destination's lines to ours)."""
        try:
            items: Iterable[Line | BadLine] = iter_lines(stream)
            if translate is not None:
                items = translate(items)
            for item in items:
                if isinstance(item, BadLine):
                    self.notify(ViewEvent("warn", f"destination printed a bad line: {item.describe()}"))
                    continue
                msg = item.message
                kind = msg.get("type")
                payload = msg.get(kind) if isinstance(kind, str) else None
                if not isinstance(payload, dict):
                    continue
                if kind == "state":
                    self._confirm(payload)
                elif kind == "trace" and payload.get("trace_type") in ("candidates", "snapshot", "verify"):
                    self._sweep_trace(payload["trace_type"], payload.get(payload["trace_type"]))
                elif kind == "trace" and payload.get("trace_type") == "error":
                    error = payload["error"] if isinstance(payload.get("error"), dict) else {}
                    with self.lock:
                        self.errors = (self.errors + [error])[-10:]
                    self.notify(Forward(msg))
                    self.notify(ViewEvent("error",
                                          f"destination [{error.get('code')}] {error.get('message')}"))
                elif kind in ("log", "trace"):
                    self.notify(Forward(msg))
                    if kind == "log" and payload.get("level") in ("warn", "error"):
                        self.notify(ViewEvent(payload["level"], f"destination: {payload.get('message')}"))
        except (OSError, ValueError):
            pass
        finally:
            self.save(force=True)

    def _confirm(self, payload: dict) -> None:
        generation = generation_of(payload)
        with self.lock:
            self.count += 1
            self.stats = self.stats.plus(Stats.from_wire(payload.get("destination_stats")))
            if generation is None and not self._warned_untagged:
                self._warned_untagged = True
                self.notify(ViewEvent("warn", "the destination echoes states without their _generation key; "
                                              "confirmations are attributed to the current attempt"))
            if generation is not None and generation < self.min_generation:
                self.stale += 1
                return
            self.state, changed = protocol_state.apply(self.state, payload)
            key = protocol_state.state_key(payload)
            if key is not None:
                self.attempt.confirmed(key, payload.get("data"),
                                       Stats.from_wire(payload.get("destination_stats")),
                                       changed)
            self._dirty = self._dirty or changed
        self.save()

    def _sweep_trace(self, kind: str, body: object) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("stream"), str):
            return
        stream = body["stream"]
        with self.lock:
            if kind == "candidates" and isinstance(body.get("ids"), list):
                held = self.candidates.setdefault(stream, set())
                for cid in candidate_keys(body):
                    if cid in held:
                        continue
                    if self.candidates_held >= self.max_candidates:
                        self.candidates_left += 1
                        continue
                    held.add(cid)
                    self.candidates_held += 1
            elif kind == "snapshot" and body.get("phase") in ("swept", "ignored"):
                self.answers += 1
                if body["phase"] == "swept":
                    count = body.get("candidate_count")
                    self.swept[stream] = count if isinstance(count, int) else 0
                else:
                    self.ignored[stream] = str(body.get("reason") or "no reason given")
            elif kind == "verify":
                self.verify[stream] = body
        if kind == "snapshot" and body.get("phase") == "swept" and body.get("candidate_count"):
            self.notify(ViewEvent("info", f"{stream}: snapshot swept: {body['candidate_count']} row(s) no "
                                          "longer listed, to be confirmed"))

    def take_candidates(self) -> dict[str, list[dict]]:
        """The candidates collected so far (sorted), handed over for confirmation: per stream the key of
        each row ({"id": ...}, with the other key fields of a stream keyed by more than `id`)."""
        with self.lock:
            taken = {s: [loads(k) for k in sorted(keys)] for s, keys in self.candidates.items() if keys}
            self.candidates, self.candidates_held = {}, 0
            return taken

    def wait_for_answers(self, count: int, timeout: float, closed: threading.Event) -> bool:
        """Wait until `count` snapshot `end`s were answered (or the destination closed its stdout)."""
        return self._wait(lambda: self.answers >= count, timeout, closed)

    def save(self, force: bool = False) -> None:
        """Persist the confirmed state if it changed (throttled unless `force`)."""
        if self.store is None:
            return
        with self.lock:
            now = time.monotonic()
            if not self._dirty or (not force and now - self._last_save < self.save_interval):
                return
            state, self._dirty, self._last_save = self.state, False, now
            try:
                self.store.save(state)
            except OSError as exc:
                self._dirty = True
                self.notify(ViewEvent("error", f"cannot write the state file {self.store.path}: {exc}"))

    def new_destination(self) -> int:
        """A new destination process starts: forget the last one's errors; returns the echo count so far."""
        with self.lock:
            self.errors = []
            return self.count

    def snapshot(self) -> tuple[dict, int]:
        with self.lock:
            return self.state, self.count

    def begin_generation(self, generation: int) -> None:
        with self.lock:
            self.min_generation = generation
            self.attempt = AttemptProgress(generation)

    def forwarded(self, key: protocol_state.StateKey, data: object, had_records: bool) -> None:
        """A state of the attempt in flight is about to be written to the destination."""
        with self.lock:
            self.attempt.forwarded(key, data, had_records)

    def progressed(self, advanced_streams: set[str]) -> bool:
        """Whether the attempt in flight moved data (see `confirmed.AttemptProgress`)."""
        with self.lock:
            return self.attempt.progressed(advanced_streams)

    def wait_for(self, count: int, timeout: float, closed: threading.Event) -> bool:
        """Wait until `count` echoes arrived (or the destination closed its stdout: `closed`)."""
        return self._wait(lambda: self.count >= count, timeout, closed)

    def _wait(self, done: Callable[[], bool], timeout: float, closed: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if done():
                    return True
            if closed.wait(0.05):
                break
        with self.lock:
            return done()
