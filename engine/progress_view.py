"""Human progress on stderr: the `View` interface and the choice of a view for `--progress`.

A `View` sees only two things: event lines (`event(text, level)`, level `info`, `warn` or `error`) and
progress snapshots (`update`, then `close` with the final one); it never needs the engine's internals,
so `engine sync`, a worker or a server (docs/architecture.md) show the same progress. The views:
`LiveView` (live_view.py, a frame redrawn in place on a terminal, drawn with rich), `PlainView`
(plain_view.py, quiet lines for logs and CI) and `NoView`. What they show is decided once, in
`progress_model.py`. `make_view(mode, out)` picks one for `--progress auto|live|plain|none`.
"""
from __future__ import annotations

import os
from typing import Protocol, TextIO

PROGRESS_MODES = ("auto", "live", "plain", "none")  # `tty` is still accepted for `live` (its old name)


class View(Protocol):
    """What the engine draws progress on: events (one line each) and progress snapshots."""

    def event(self, text: str, level: str = "info") -> None: ...
    def update(self, snapshot: dict) -> None: ...
    def close(self, snapshot: dict) -> None: ...


class NoView:
    def event(self, text: str, level: str = "info") -> None:
        pass

    def update(self, snapshot: dict) -> None:
        pass

    def close(self, snapshot: dict) -> None:
        pass


def resolve_mode(mode: str, out: TextIO, auto_fallback: str = "none") -> str:
    """`live`, `plain` or `none` for a `--progress` value: `auto` is live on a terminal (not TERM=dumb),
    else the fallback."""
    if mode == "tty":
        return "live"
    if mode != "auto":
        return mode
    try:
        terminal = out.isatty() and os.environ.get("TERM") != "dumb"  # a dumb terminal cannot redraw
    except (AttributeError, ValueError):
        terminal = False
    return "live" if terminal else auto_fallback


def make_view(mode: str, out: TextIO, auto_fallback: str = "none", plain_interval: float = 10.0) -> View:
    """A view for `--progress` (see `resolve_mode`)."""
    mode = resolve_mode(mode, out, auto_fallback)
    if mode == "live":
        from engine.live_view import LiveView  # rich is imported only when a terminal shows it
        return LiveView(out)
    if mode == "plain":
        from engine.plain_view import PlainView
        return PlainView(out, plain_interval)
    return NoView()
