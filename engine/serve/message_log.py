"""The protocol messages of one sync run, kept for the readers of `GET /v1/syncs/{id}/messages`.

`MessageLog` is the binary stream `SyncRun` writes its messages to (`out`: the engine's writer redacts
every log, trace and eof before it gets here). Lines are numbered from 0; readers ask for the lines
from the number the previous read gave them (`read`), from any thread, and learn when the run has
ended (`closed`).
Memory is bounded: past `max_bytes` the oldest lines are dropped, except the first catalog (a reader
always learns the streams); a reader that fell behind gets `dropped` > 0 and goes on from the oldest
line kept. `on_message` sees every message once, parsed (the job's status comes from it).
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from protocol.jsonio import JSONDecodeError, loads

MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    lines: list[bytes]
    next: int  # the number to ask for next
    dropped: int  # lines the reader missed (dropped for memory) before these
    closed: bool  # the run has ended and these are its last lines


class MessageLog:
    def __init__(self, on_message: Callable[[dict], None] = lambda _msg: None, max_bytes: int = MAX_BYTES):
        self.on_message, self.max_bytes = on_message, max_bytes
        self._lock = threading.Lock()
        self._lines: deque[bytes] = deque()
        self._first = 0  # number of the oldest line in _lines
        self._bytes = 0
        self._pinned: tuple[int, bytes] | None = None  # the first catalog
        self._partial = b""
        self.closed = False

    # ---- the writer side (SyncRun's `out`) --------------------------------------------------------
    def write(self, data: bytes) -> int:
        text = self._partial + bytes(data)
        *complete, self._partial = text.split(b"\n")
        for line in complete:
            if line.strip():
                self._append(line + b"\n")
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def _append(self, line: bytes) -> None:
        try:
            msg = loads(line)
        except JSONDecodeError:
            msg = None
        with self._lock:
            number = self._first + len(self._lines)
            if self._pinned is None and isinstance(msg, dict) and msg.get("type") == "catalog":
                self._pinned = (number, line)
            self._lines.append(line)
            self._bytes += len(line)
            while self._bytes > self.max_bytes and len(self._lines) > 1:
                self._bytes -= len(self._lines.popleft())
                self._first += 1
        if isinstance(msg, dict):
            self.on_message(msg)

    # ---- the reader side --------------------------------------------------------------------------
    def read(self, start: int, limit: int = 1000) -> Chunk:
        """Up to `limit` lines from number `start` on (a number a previous Chunk gave as `next`, or 0)."""
        with self._lock:
            lines: list[bytes] = []
            dropped = 0
            if start < self._first:
                dropped = self._first - start
                if self._pinned is not None and start <= self._pinned[0] < self._first:
                    lines.append(self._pinned[1])
                    dropped -= 1
                start = self._first
            offset = min(start - self._first, len(self._lines))
            stop = min(len(self._lines), offset + limit)
            lines.extend(itertools.islice(self._lines, offset, stop))
            return Chunk(lines, self._first + stop, dropped, self.closed and stop == len(self._lines))
