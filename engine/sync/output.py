"""Where a sync run reports (the main thread only): protocol messages on stdout, the human view, and
notices other threads hand over.

`emit` writes one protocol message (redacted) when there is an output at all; `event` shows a line in the
view and, for warnings and errors, also emits it as a `log`; `notify` is the one thread-safe entry: the
destination's reader thread and the children's stderr threads queue a `Notice`, and the main thread
shows them in order with `drain`. A server or a worker (docs/architecture.md) passes its own `out` and
`view`.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import BinaryIO

from engine.progress_view import View
from protocol import messages
from protocol.jsonio import MessageWriter
from protocol.secrets import redact_message


@dataclass(frozen=True)
class ViewEvent:
    """A line for the view only (e.g. a warning from the destination's reader)."""

    level: str
    text: str


@dataclass(frozen=True)
class Forward:
    """A message from a child (the destination's logs and errors) to emit as it is."""

    message: dict


@dataclass(frozen=True)
class ChildStderr:
    """One (redacted) stderr line of a child process."""

    child: str
    text: str


Notice = ViewEvent | Forward | ChildStderr


class RunOutput:
    def __init__(self, out: BinaryIO | None, view: View):
        self.writer = MessageWriter(out, redact=redact_message) if out is not None else None
        self.view = view
        self._notices: queue.SimpleQueue[Notice] = queue.SimpleQueue()

    def emit(self, msg: dict) -> None:
        if self.writer is not None:
            try:
                self.writer.write(msg)
            except (BrokenPipeError, ValueError):
                self.writer = None

    def flush(self) -> None:
        if self.writer is not None:
            try:
                self.writer.flush()
            except (BrokenPipeError, ValueError):
                self.writer = None

    def event(self, text: str, level: str = "info") -> None:
        self.view.event(text, level)
        if level != "info":
            self.emit(messages.log("warn" if level == "warn" else "error", text))

    def notify(self, notice: Notice) -> None:
        """Hand a notice to the main thread (safe from any thread)."""
        self._notices.put(notice)

    def on_stderr(self, child: str, text: str) -> None:
        self.notify(ChildStderr(child, text))

    def drain(self) -> None:
        """Show the notices queued so far (main thread)."""
        while True:
            try:
                notice = self._notices.get_nowait()
            except queue.Empty:
                return
            if isinstance(notice, Forward):
                self.emit(notice.message)
            elif isinstance(notice, ChildStderr):
                self.view.event(f"{notice.child}: {notice.text}", "info")
            else:
                self.view.event(notice.text, notice.level)
