"""Plain progress lines for logs and CI (`--progress plain`): line-oriented and quiet.

What it prints, each line prefixed with the elapsed time: event lines (warnings, errors, restarts,
connector stderr), each distinct message once (`progress_model.EventFilter`); a line when a stream
finishes with records or fails (streams that end empty print nothing); one line per distinct skip
reason naming its streams (gathered for a second, so streams skipped together share a line); a
progress summary every `interval` seconds; and a closing summary. Everything comes from progress
snapshots and event lines, like every `View`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from engine.progress_model import (
    EventFilter, Model, accounts_text, build, failed_accounts, fmt_elapsed, fmt_int, fmt_rate, written_text)
from protocol.secrets import redact_text

SKIP_GATHER_SECONDS = 1.0
LEVEL_PREFIX = {"warn": "warning: ", "error": "error: "}


def progress_line(m: Model) -> str:
    """The periodic summary: records and pace, streams, requests against the budget."""
    text = (f"progress: {fmt_int(m.records)} records ({fmt_rate(m.rate)}), "
            f"{m.done_count}/{m.stream_count} streams done")
    if m.running:
        text += f", running: {', '.join(r.name for r in m.running)}"
    if m.partitions is not None:
        text += f"; {accounts_text(m.partitions)}"
    if m.eta_s is not None:
        text += f"; ETA {fmt_elapsed(m.eta_s * 1000)}"
    if m.requests is not None:
        text += f"; {fmt_int(m.requests)} requests"
        if m.request_rate is not None:
            budget = f" of {m.request_limit:g}/s" if m.request_limit else ""
            text += f" ({m.request_rate:,.1f}/s{budget})"
        if m.rate_limited:
            text += ", held by the rate limit"
    if m.error_count:
        text += f"; {m.error_count} error(s), latest: {m.latest_error}"
    return text


def closing_lines(m: Model, repeated: int) -> list[str]:
    skipped = sum(len(v) for v in m.skipped.values())
    text = (f"finished in {fmt_elapsed(m.elapsed_ms)}: {fmt_int(m.records)} records "
            f"({fmt_rate(m.records * 1000 / m.elapsed_ms if m.elapsed_ms else 0.0)}), "
            f"{m.done_count}/{m.stream_count} streams done")
    details = [f"{len(m.done)} complete"] if m.done else []
    if skipped:
        details.append(f"{skipped} skipped")
    if m.failed:
        details.append(f"{len(m.failed)} failed: {', '.join(r.name for r in m.failed)}")
    if details:
        text += f" ({', '.join(details)})"
    if m.written is not None:
        text += f"; written: {written_text(m.written)}"
    lines = [text]
    if m.partitions is not None:
        lines.append(accounts_text(m.partitions))
        lines += failed_accounts(m.partitions)
    unfinished = [r.name for r in m.running] + m.pending
    if unfinished:
        lines.append(f"not finished: {', '.join(unfinished)}")
    if repeated:
        lines.append(f"({fmt_int(repeated)} repeated message(s) not shown)")
    return lines


class PlainView:
    """See the module docstring."""

    def __init__(self, out: TextIO, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.out, self.interval, self.clock = out, interval, clock
        self.start = clock()
        self._last = self.start
        self._groups: dict[str, str] = {}  # stream -> group last seen
        self._reasons_shown: set[str] = set()
        self._skips: dict[str, list[str]] = {}  # reason -> streams, not printed yet
        self._skips_since: float | None = None
        self.filter = EventFilter()

    def _print(self, text: str) -> None:
        try:
            self.out.write(f"[{fmt_elapsed(int((self.clock() - self.start) * 1000)):>7}] "
                           f"{redact_text(text)}\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def event(self, text: str, level: str = "info") -> None:
        if self.filter.admit(text, level):
            self._print(LEVEL_PREFIX.get(level, "") + text)

    def _changes(self, m: Model) -> None:
        """Lines for streams that just finished, failed or were skipped."""
        for row in m.done + m.failed:
            if self._groups.get(row.name) == row.group:
                continue
            self._groups[row.name] = row.group
            if row.group == "failed":
                self._print(f"{row.name}: failed after {fmt_int(row.records)} records: {row.latest_error}")
            elif row.records:
                self._print(f"{row.name}: {fmt_int(row.records)} records")
        for reason, names in m.skipped.items():
            for name in names:
                if self._groups.get(name) != "skipped":
                    self._groups[name] = "skipped"
                    if reason not in self._reasons_shown:
                        self._skips.setdefault(reason, []).append(name)
                        if self._skips_since is None:
                            self._skips_since = self.clock()

    def _flush_skips(self) -> None:
        for reason, names in self._skips.items():
            self._reasons_shown.add(reason)
            self._print(f"skipped {', '.join(names)}: {reason}")
        self._skips, self._skips_since = {}, None

    def update(self, snapshot: dict) -> None:
        m = build(snapshot)
        self.filter.learn_streams(list((snapshot.get("streams") or {}).keys()))
        self._changes(m)
        now = self.clock()
        if self._skips_since is not None and now - self._skips_since >= SKIP_GATHER_SECONDS:
            self._flush_skips()
        if now - self._last >= self.interval:
            self._last = now
            self._print(progress_line(m))

    def close(self, snapshot: dict) -> None:
        m = build(snapshot)
        self._changes(m)
        self._flush_skips()
        for line in closing_lines(m, self.filter.repeated()):
            self._print(line)
