"""The emulated clock: real time plus an offset that tests can advance (never reads a fake timer)."""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, start_time: int | None = None):
        self._lock = threading.Lock()
        self.offset = 0.0 if start_time is None else float(start_time) - time.time()

    def now(self) -> int:
        """Emulated Unix time in whole seconds."""
        return int(time.time() + self.offset)

    def now_float(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> int:
        with self._lock:
            self.offset += float(seconds)
        return self.now()
