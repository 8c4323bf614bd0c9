"""Pipe mode: `engine` between a source and a destination, stdin -> stdout (docs/engine.md, "Pipe mode").

`run_pipe` feeds every stdin line to the shared `Processor` (`engine/processor.py`) with both of its
channels on stdout (`WriterSink`: records buffered, everything else flushed at once), stops at the first
bad line (unless told to skip them), and ends with `eof` and, when the run did not succeed, one human
line on stderr (`pipe_failure_line`).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import BinaryIO

from engine.processor import PipeOptions, Processor
from engine.progress_view import View
from protocol import messages
from protocol.jsonio import MessageWriter
from protocol.lifecycle import TERMINAL
from protocol.reader import Line, iter_lines
from protocol.secrets import redact_message, redact_text

TICK_SECONDS = 0.05


class WriterSink:
    """Both channels into one MessageWriter (pipe mode). Records are buffered, everything else flushed."""

    def __init__(self, writer: MessageWriter):
        self.writer = writer
        # records: straight into the buffered stream (the hot path)
        self.data: Callable[[bytes], object] = writer.stream.write

    def catalog(self, raw: bytes, payload: dict) -> None:
        self.writer.stream.write(raw)

    def state(self, raw: bytes, payload: dict) -> None:
        self.writer.stream.write(raw)
        self.writer.flush()

    def message(self, msg: dict) -> None:
        self.writer.write(msg)
        self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()


class Interrupted(Exception):
    """Raised by a signal handler to end pipe mode early (still with an eof line)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_pipe(stdin: BinaryIO, stdout: BinaryIO, options: PipeOptions, view: View | None = None) -> int:
    """Pipe mode: read `stdin`, write `stdout`, end with `eof`. Returns the exit code: 0 only on success,
    1 failed or partial, 128+N when interrupted by signal N (SIGINT counts as KeyboardInterrupt)."""
    writer = MessageWriter(stdout, flush_each=False, redact=redact_message)
    processor = Processor(options, WriterSink(writer), view)
    handle_line, monotonic, next_tick = processor.handle_line, time.monotonic, 0.0
    ended_normally, interrupted = True, 0
    try:
        for item in iter_lines(stdin, options.max_line_bytes):
            if type(item) is Line:
                signal = handle_line(*item)
            else:
                signal = processor.handle(item)
            if signal is not None and signal.kind == "bad_message":
                processor.emit_error(signal.payload)
                ended_normally = False
                break
            now = monotonic()
            if now >= next_tick:
                next_tick = now + TICK_SECONDS
                processor.tick()
    except (KeyboardInterrupt, Interrupted) as exc:
        ended_normally, interrupted = False, getattr(exc, "signum", 2)
        processor.emit_error(messages.error_payload("global", "internal_error",
                                                    f"interrupted by signal {interrupted}"))
    tracker = processor.tracker
    processor.flush_early()
    if processor.catalog is None and ended_normally:
        ended_normally = False
        processor.emit_error(messages.error_payload(
            "global", "bad_message",
            "the input ended without a catalog message (and no --catalog was given)"))
    status = tracker.outcome(ended_normally)
    final = processor.snapshot()
    writer.write(messages.eof(status, tracker.has_more(), tracker.state_aggregate(), final))
    writer.flush()
    processor.view.close(final)
    if status != "succeeded":
        sys.stderr.write(redact_text(pipe_failure_line(status, final)) + "\n")
    return 128 + interrupted if interrupted else 0 if status == "succeeded" else 1


def pipe_failure_line(status: str, snapshot: dict) -> str:
    """The one human line that ends a pipe-mode run that did not succeed (stdout already has the details)."""
    errors = snapshot.get("errors") or []
    if errors:
        last = errors[-1]
        return f"engine: run {status}: [{last.get('code', '?')}] {last.get('message', '')}"
    streams = snapshot.get("streams") or {}
    open_streams = sorted(n for n, s in streams.items() if s.get("status") not in TERMINAL)
    errored = sorted(n for n, s in streams.items() if s.get("errors"))
    parts = []
    if open_streams:
        parts.append(f"not complete: {', '.join(open_streams[:10])}" + (" ..." if len(open_streams) > 10
                                                                        else ""))
    if errored:
        parts.append(f"errors in: {', '.join(errored[:10])}" + (" ..." if len(errored) > 10 else ""))
    if snapshot.get("bad_message_count"):
        parts.append(f"{snapshot['bad_message_count']} bad line(s) skipped")
    return f"engine: run {status}: " + ("; ".join(parts) or "see the error traces on stdout")
