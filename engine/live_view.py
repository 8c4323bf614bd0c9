"""The live progress view on a terminal (`--progress live`), drawn with rich.

Each update lays the snapshot out with `progress_model.frame` for the terminal's current size (read
from the output's own descriptor every time, so a resize is followed) and hands rich's `Live` one
`Group` of lines: header and summary lines as `Text` cropped with an ellipsis, and the running streams
as one `Table.grid` with fixed column widths (name, a bar of the stream's time range read, records,
records/s, detail). The frame is never taller than the terminal minus one line nor wider than it, so
rich can always redraw it in place (`vertical_overflow="crop"` is only a safety net). Event lines are
printed above the frame, each distinct message once (`progress_model.EventFilter`); rich wraps a long
event line at the terminal's width. No refresh thread: the frame is redrawn when the engine updates it.

The bar is not rich's `ProgressBar`: it shows *which parts* of a stream's time range are read (a
source that reads newest first fills it from the right), not one fraction.
"""
from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from engine.progress_model import EventFilter, Line, Row, bar, fmt_int, fmt_rate, frame
from engine.progress_model import build as build_model
from protocol.secrets import redact_text

STYLES = {"": "", "bold": "bold", "dim": "dim", "red": "red", "yellow": "yellow", "green": "green"}
LEVEL_STYLE = {"warn": "yellow", "error": "red"}
DEFAULT_SIZE = (100, 30)


def terminal_size(out: TextIO) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(out.fileno())
        return size.columns, size.lines
    except (OSError, ValueError, AttributeError):
        return DEFAULT_SIZE


def column_widths(width: int, names: list[str]) -> tuple[int, int]:
    """(name, bar) widths for a terminal `width`: the rest goes to the detail column."""
    name_w = min(max([len(n) for n in names] + [8]), 28, max(10, width // 4))
    bar_w = max(6, min(30, (width - 2 - name_w - 21) // 3))
    return name_w, bar_w


def text_line(line: Line) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for part, style in line.segments:
        text.append(redact_text(part), STYLES.get(style, ""))
    return text


def rows_table(rows: list[Row], width: int, names: list[str]) -> Table:
    """The running streams, in columns sized for `width` and the longest of `names` (all streams, so the
    columns stay put while streams come and go)."""
    name_w, bar_w = column_widths(width, names)
    table = Table.grid(padding=(0, 1), expand=False)
    table.add_column(width=name_w + 1, no_wrap=True, overflow="ellipsis")  # 1 for the indent
    table.add_column(width=bar_w, no_wrap=True)
    table.add_column(width=9, justify="right", no_wrap=True)
    table.add_column(width=8, justify="right", no_wrap=True)
    rest = max(1, width - (name_w + 1) - bar_w - 9 - 8 - 4)
    table.add_column(width=rest, no_wrap=True, overflow="ellipsis")
    for row in rows:
        cells = bar(row.progress, bar_w)
        styled = Text()
        for cell in cells:
            styled.append(cell, "green" if cell != "░" else "dim")
        table.add_row(" " + row.name, styled, fmt_int(row.records), fmt_rate(row.rate),
                      Text(redact_text(row.detail), style="red" if row.errors else ""))
    return table


def render(snapshot: dict, width: int, height: int) -> Group:
    """The renderable of one frame: at most `height` lines of at most `width` cells."""
    lines = frame(build_model(snapshot), height)
    names = list(snapshot.get("streams") or {})
    parts: list[Text | Table] = []
    rows: list[Row] = []
    for line in lines:
        if line.row is not None:
            rows.append(line.row)
            continue
        if rows:
            parts.append(rows_table(rows, width, names))
            rows = []
        parts.append(text_line(line))
    if rows:
        parts.append(rows_table(rows, width, names))
    return Group(*parts)


class LiveView:
    """See the module docstring."""

    def __init__(self, out: TextIO):
        self.out = out
        self.console = Console(file=out, force_terminal=True, highlight=False, emoji=False, markup=False,
                               soft_wrap=False)
        self.filter = EventFilter()
        self._live: Live | None = None
        self._last: dict | None = None

    def _fit(self) -> tuple[int, int]:
        width, height = terminal_size(self.out)
        self.console.size = (width, height)
        return width, max(1, height - 1)

    def _draw(self, snapshot: dict) -> None:
        width, height = self._fit()
        renderable = render(snapshot, width, height)
        try:
            if self._live is None:
                self._live = Live(renderable, console=self.console, auto_refresh=False, transient=False,
                                  redirect_stdout=False, redirect_stderr=False, vertical_overflow="crop")
                self._live.start(refresh=True)
            else:
                self._live.update(renderable, refresh=True)
        except (OSError, ValueError):
            pass

    def event(self, text: str, level: str = "info") -> None:
        if not self.filter.admit(text, level):
            return
        self._fit()
        try:
            self.console.print(Text(redact_text(text), style=LEVEL_STYLE.get(level, "")))
        except (OSError, ValueError):
            pass

    def update(self, snapshot: dict) -> None:
        self._last = snapshot
        self.filter.learn_streams(list((snapshot.get("streams") or {}).keys()))
        self._draw(snapshot)

    def close(self, snapshot: dict) -> None:
        self.update(snapshot)
        if self._live is not None:
            try:
                self._live.stop()
            except (OSError, ValueError):
                pass
            self._live = None
        repeated = self.filter.repeated()
        if repeated:
            try:
                self.console.print(Text(f"({fmt_int(repeated)} repeated message(s) not shown)", style="dim"))
            except (OSError, ValueError):
                pass
