"""The request log: one entry per ``/v1`` request (masked key only), bounded, with cheap counters.

With a record file (``--record FILE``) every entry is also appended to it as one JSON line, flushed at
once, so a user can watch what their client sent and what it got (``tail -f FILE``). An entry:
``{seq, method, path, query, headers (Stripe-Version, Stripe-Account, Idempotency-Key, User-Agent,
Content-Type, as sent), key (masked), account, livemode, status, request_id, limiter, limiter_time
(when the rate limiter judged it, Unix seconds, null when limits are off), fault, time (of arrival, Unix
seconds), emulated_time, duration_ms}``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import IO, Any

import orjson


class RequestLog:
    def __init__(self, limit: int = 200_000, record: str | None = None):
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self.seq = 0
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self._record: IO[bytes] | None = open(record, "wb") if record else None  # noqa: SIM115

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.seq += 1
            entry["seq"] = self.seq
            self._entries.append(entry)
            self.by_path[entry["path"]] += 1
            self.by_status[entry["status"]] += 1
            if self._record is not None:
                self._record.write(orjson.dumps(entry) + b"\n")
                self._record.flush()

    def close(self) -> None:
        with self._lock:
            if self._record is not None:
                self._record.close()
                self._record = None

    def entries(
        self, path: str | None = None, since: int = 0, status: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._entries)
        out = [
            e
            for e in items
            if e["seq"] > since
            and (
                path is None or e["path"] == path or (path.endswith("*") and e["path"].startswith(path[:-1]))
            )
            and (status is None or e["status"] == status)
        ]
        return out[-limit:] if limit else out

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.by_path.values()),
                "last_seq": self.seq,
                "by_path": dict(self.by_path),
                "by_status": {str(k): v for k, v in self.by_status.items()},
            }

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.by_path.clear()
            self.by_status.clear()
