"""The partitions of a read (source-stripe: the accounts of a Connect platform), rolled up (pure).

A source that reads partitions reports each one's lifecycle with `partition_status` traces (`started`,
`complete`, `failed`, `skipped`, docs/protocol.md) and a partition's own errors with scope `partition`.
`PartitionTally` keeps counts, the partitions running now (at most the source's accounts in flight) and
a few failed ones with their reason (and the ids of all failed ones, to count each once), never an
object per partition: 2,000 accounts make the same small snapshot (`snapshot()`, the `partitions`
entry of `progress`) and the same few summary lines.

A partition that failed stays failed for the run until it completes in a later attempt; a restarted
source reads its partitions again, so the other counts start over with each attempt.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_FAILED_KEPT = 10  # failed partitions named (the rest counted)


@dataclass
class PartitionTally:
    total: int | None = None  # partitions of the current attempt, once the source said
    done: int = 0
    skipped: int = 0
    running: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # partition -> why (at most MAX_FAILED_KEPT)
    failed_ids: set[str] = field(default_factory=set)  # every failed partition (ids only)
    seen: bool = False  # any partition message at all

    def new_attempt(self) -> None:
        self.total, self.done, self.skipped = None, 0, 0
        self.running.clear()

    def on_status(self, payload: dict) -> bool:
        """Apply a `partition_status`; True when the roll-up changed."""
        part, status = payload.get("partition"), payload.get("status")
        if not isinstance(part, str) or not part:
            return False
        self.seen = True
        if isinstance(payload.get("total"), int):
            self.total = payload["total"]
        if status == "started":
            self.running.add(part)
            return True
        self.running.discard(part)
        if status == "complete":
            self.done += 1
            self._clear(part)
        elif status == "skipped":
            self.skipped += 1
        elif status == "failed":
            self._fail(part, str(payload.get("reason") or "failed"))
        return True

    def on_error(self, payload: dict) -> None:
        """A `partition`-scoped error: that partition did not sync everything."""
        part = payload.get("partition")
        if isinstance(part, str) and part:
            self.seen = True
            self._fail(part, f"[{payload.get('code')}] {payload.get('message')}")

    @property
    def failed_count(self) -> int:
        return len(self.failed_ids)

    def _fail(self, part: str, why: str) -> None:
        if part in self.failed_ids:
            return
        self.failed_ids.add(part)
        if len(self.failed) < MAX_FAILED_KEPT:
            self.failed[part] = why

    def _clear(self, part: str) -> None:
        self.failed_ids.discard(part)
        self.failed.pop(part, None)

    def snapshot(self) -> dict | None:
        if not self.seen:
            return None
        out = {"done": self.done, "running": len(self.running), "failed": self.failed_count,
               "skipped": self.skipped, "running_examples": sorted(self.running)[:3]}
        if self.total is not None:
            out["total"] = self.total
        if self.failed:
            out["failed_examples"] = dict(self.failed)
        return out
