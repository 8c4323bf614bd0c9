"""What the destination confirmed, as pure functions and values (docs/engine.md, "`engine sync`").

- Generation tags: each source attempt has a number; states forwarded to the destination carry it as
  `_generation` (an engine-reserved key that destinations echo back), so a confirmation is attributed
  to the attempt that produced it and output of a superseded attempt is never applied.
- `AttemptProgress`: whether an attempt moved data, judged from protocol information only (rows
  written, records before a confirmed state, `stream_status` ranges); states stay opaque values. The
  confirmed aggregate itself is `protocol.state.apply`'s.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from protocol.jsonio import dumps_line
from protocol.state import STREAM, StateKey, Stats

GENERATION_KEY = "_generation"


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
        if stats.rows_written or (key in self._after_records
                                  and data not in self._before_records.get(key, ())):
            self.moved = True

    def progressed(self, advanced_streams: set[str]) -> bool:
        return self.moved or any(key[0] == STREAM and key[1] in advanced_streams for key in self.changed)
