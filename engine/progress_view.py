"""Human progress on stderr: a live terminal view (plain ANSI escapes) or plain lines.

`render_frame(snapshot, width)` is pure: it turns a `progress` payload into the lines of the live view
(header with elapsed, records, records/s, streams done/total; one row per active or failed stream with
a bar of its completed time ranges; finished and pending streams collapsed to one line each; errors in
red with their code). `TtyView` redraws that frame in place; `PlainView` prints one line per event and
a progress line every `interval` seconds, for logs and non-terminals. `make_view(mode, stream)` picks
one for `--progress tty|plain|none|auto`. Every view implements `View`, and sees only progress
snapshots and event lines: it never needs the engine's internals.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from protocol import ranges
from protocol.lifecycle import TERMINAL
from protocol.secrets import redact_text


class View(Protocol):
    """What the engine draws progress on: events (one line each) and progress snapshots."""

    def event(self, text: str, level: str = "info") -> None: ...
    def update(self, snapshot: dict) -> None: ...
    def close(self, snapshot: dict) -> None: ...


RED, YELLOW, GREEN, DIM, BOLD, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
BAR_WIDTH = 24
MAX_ROWS = 20


def fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}/s" if r >= 10 else f"{r:,.1f}/s"


def fmt_elapsed(ms: int) -> str:
    s = ms // 1000
    if s < 60:
        return f"{ms / 1000:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def coverage(stream: dict) -> float | None:
    """Share of the stream's total_range covered by its completed ranges, or None without a range."""
    span = ranges.from_wire(stream.get("total_range"))
    if span is None:
        return 1.0 if stream.get("status") == "complete" else None
    length = span[1] - span[0]
    if length <= 0:
        return 1.0
    done = ranges.intersect(ranges.list_from_wire(stream.get("completed_ranges")), span)
    return ranges.total_length(done) / length


def bar(stream: dict, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells: full where the time range is completed, half where partly, light otherwise."""
    total = ranges.from_wire(stream.get("total_range"))
    if total is None or total[1] <= total[0]:
        return ("█" if stream.get("status") == "complete" else "░") * width
    gte, lt = total
    done = ranges.list_from_wire(stream.get("completed_ranges"))
    cells = []
    for i in range(width):
        a = gte + (lt - gte) * i // width
        b = max(a + 1, gte + (lt - gte) * (i + 1) // width)
        covered = ranges.total_length(ranges.intersect(done, (a, b)))
        cells.append("█" if covered >= b - a else "▌" if covered > 0 else "░")
    return "".join(cells)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def summary_counts(snapshot: dict) -> tuple[int, int]:
    streams = snapshot.get("streams") or {}
    done = sum(1 for s in streams.values() if s.get("status") in TERMINAL)
    return done, len(streams)


def header(snapshot: dict) -> str:
    done, total = summary_counts(snapshot)
    text = (f"elapsed {fmt_elapsed(snapshot.get('elapsed_ms', 0))}  records "
            f"{fmt_int(snapshot.get('record_count', 0))}"
            f"  {fmt_rate(snapshot.get('window_records_per_second', snapshot.get('records_per_second', 0)))}"
            f"  streams {done}/{total} done")
    if snapshot.get("request_count") is not None:
        text += f"  requests {fmt_int(snapshot['request_count'])}"
    if snapshot.get("restarts"):
        text += f"  restarts {snapshot['restarts']}"
    return text


def _error_line(err: dict) -> str:
    return f"[{err.get('code', '?')}] {err.get('message', '')}"


def render_frame(snapshot: dict, width: int = 100, color: bool = True) -> list[str]:
    """The live view's lines for one progress snapshot (pure)."""
    red, green, dim, bold, reset = (RED, GREEN, DIM, BOLD, RESET) if color else ("",) * 5
    streams: dict[str, dict] = snapshot.get("streams") or {}
    lines = [bold + _clip(header(snapshot), width) + reset]
    name_w = min(28, max([len(n) for n in streams] + [8]))
    rows, finished, pending = [], [], []
    for name, s in streams.items():
        status, errors = s.get("status"), s.get("errors") or []
        if status == "started" or errors:
            rows.append((name, s))
        elif status in TERMINAL:
            finished.append((name, s))
        else:
            pending.append(name)
    for name, s in rows[:MAX_ROWS]:
        share = coverage(s)
        pct = f"{share * 100:5.1f}%" if share is not None else "   ?  "
        label = "failed" if s.get("errors") and s.get("status") in TERMINAL else s.get("status")
        row = f"  {name[:name_w]:<{name_w}} {bar(s)} {pct} {fmt_int(s.get('record_count', 0)):>10}  {label}"
        lines.append(_clip(row, width))
        for err in (s.get("errors") or [])[-1:]:
            lines.append(red + _clip(f"    {_error_line(err)}", width) + reset)
    if len(rows) > MAX_ROWS:
        lines.append(f"  … {len(rows) - MAX_ROWS} more active streams")
    for err in (snapshot.get("errors") or [])[-2:]:
        lines.append(red + _clip(f"  error {_error_line(err)}", width) + reset)
    if finished:
        count = sum(s.get("record_count", 0) for _, s in finished)
        names = ", ".join(n + (" (skipped)" if s.get("status") == "skipped" else "") for n, s in finished)
        lines.append(green + _clip(f"  ✓ {len(finished)} done ({fmt_int(count)} records): {names}",
                                   width) + reset)
    if pending:
        lines.append(dim + _clip(f"  · {len(pending)} pending: {', '.join(pending)}", width) + reset)
    return lines


def plain_progress_line(snapshot: dict) -> str:
    done, total = summary_counts(snapshot)
    text = (f"progress: {fmt_int(snapshot.get('record_count', 0))} records "
            f"({fmt_rate(snapshot.get('window_records_per_second', 0.0))}), {done}/{total} streams done")
    active = [n for n, s in (snapshot.get("streams") or {}).items() if s.get("status") == "started"]
    if active:
        text += f"; running: {', '.join(active)}"
    return text


def plain_summary(snapshot: dict) -> list[str]:
    """Final lines of plain mode: totals, then one line per stream."""
    done, total = summary_counts(snapshot)
    lines = [f"finished in {fmt_elapsed(snapshot.get('elapsed_ms', 0))}: "
             f"{fmt_int(snapshot.get('record_count', 0))} "
             f"records ({fmt_rate(snapshot.get('records_per_second', 0.0))}), {done}/{total} streams done"]
    for name, s in (snapshot.get("streams") or {}).items():
        text = f"  {name}: {s.get('status')}, {fmt_int(s.get('record_count', 0))} records"
        share = coverage(s)
        if share is not None and s.get("total_range"):
            text += f", {share * 100:.0f}% of its time range"
        if s.get("errors"):
            text += f", error {_error_line(s['errors'][-1])}"
        lines.append(text)
    return lines


class PlainView:
    """One line per event, a progress line at most every `interval` seconds, a summary at the end."""

    def __init__(self, out: TextIO, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.out, self.interval, self.clock = out, interval, clock
        self.start = clock()
        self._last = self.start

    def _print(self, text: str) -> None:
        try:
            self.out.write(f"[{fmt_elapsed(int((self.clock() - self.start) * 1000)):>7}] "
                           f"{redact_text(text)}\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def event(self, text: str, level: str = "info") -> None:
        self._print({"warn": "warning: ", "error": "ERROR "}.get(level, "") + text)

    def update(self, snapshot: dict) -> None:
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._print(plain_progress_line(snapshot))

    def close(self, snapshot: dict) -> None:
        for line in plain_summary(snapshot):
            self._print(line)


class TtyView:
    """Redraws `render_frame` in place on a terminal; events print above the frame."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic):
        self.out, self.clock = out, clock
        self._drawn = 0
        self._last: dict | None = None

    def _width(self) -> int:
        try:
            return max(40, os.get_terminal_size(self.out.fileno()).columns - 1)
        except (OSError, ValueError, AttributeError):
            return 100

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass

    def _erase(self) -> str:
        return f"\r\x1b[{self._drawn}A\x1b[J" if self._drawn else "\r\x1b[J"

    def _frame(self, snapshot: dict) -> str:
        lines = render_frame(snapshot, self._width())
        self._drawn = len(lines)
        return "".join(line + "\n" for line in lines)

    def event(self, text: str, level: str = "info") -> None:
        color = {"warn": YELLOW, "error": RED}.get(level, "")
        line = (color + redact_text(text) + RESET) if color else redact_text(text)
        erase = self._erase() if self._drawn else ""
        frame = self._frame(self._last) if self._last is not None else ""
        self._write(erase + line + "\n" + frame)

    def update(self, snapshot: dict) -> None:
        erase = self._erase() if self._drawn else ""
        self._last = snapshot
        self._write(erase + self._frame(snapshot))

    def close(self, snapshot: dict) -> None:
        self.update(snapshot)


class NoView:
    def event(self, text: str, level: str = "info") -> None:
        pass

    def update(self, snapshot: dict) -> None:
        pass

    def close(self, snapshot: dict) -> None:
        pass


def make_view(mode: str, out: TextIO, auto_fallback: str = "none", plain_interval: float = 10.0) -> View:
    """A view for `--progress`: `tty`, `plain`, `none`, or `auto` (tty on a terminal, else auto_fallback)."""
    if mode == "auto":
        try:
            mode = "tty" if out.isatty() else auto_fallback
        except (AttributeError, ValueError):
            mode = auto_fallback
    if mode == "tty":
        return TtyView(out)
    if mode == "plain":
        return PlainView(out, plain_interval)
    return NoView()
