"""Pipe mode: `engine` between a source and a destination, stdin -> stdout (docs/engine.md, "Pipe mode").

`run_pipe` feeds every stdin line to the shared `Processor` (`engine/processor.py`) with both of its
channels on stdout (`WriterSink`: records buffered, everything else flushed at once), stops at the first
bad line (unless told to skip them), and ends with `eof` and, when the run did not succeed, one human
line on stderr (`pipe_failure_line`). Ctrl-C or SIGTERM is an interruption, not an error: `eof`, exit
128+N and a line saying how to resume (`INTERRUPTED`). Other protocols (docs/third-party.md): a foreign
source's lines are translated to ours before the Processor (`open_input`), and a foreign destination's
stdout gets only its own messages (`ForeignSink`).
"""
from __future__ import annotations

import itertools
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from engine.adapters import protocols
from engine.adapters.base import DestinationTranslator, SourceTranslator, as_lines, translate_lines
from engine.adapters.protocols import detect, source_protocol
from engine.processor import PipeOptions, Processor
from engine.progress_model import group_of
from engine.progress_view import View
from protocol import messages
from protocol.jsonio import MessageWriter, dumps_line, loads
from protocol.lifecycle import TERMINAL
from protocol.reader import BadLine, Line, exact_line, iter_lines
from protocol.secrets import redact_message, redact_text
from protocol.state import empty

TICK_SECONDS = 0.05
INTERRUPTED = ("engine: interrupted by {signal}; the destination keeps what it committed: resume by "
               "running the pipeline again from it (`<source> read --config C --state \"$(<destination> "
               "state --config D)\"`)")


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


class ForeignSink:
    """Both channels for a foreign destination (Airbyte, Singer) on stdout: our data messages translated
    to its protocol (wrapped by its `begin`/`finish`), the engine's own messages kept off stdout (the
    progress view on stderr still shows them): the destination reads nothing it does not understand."""

    def __init__(self, writer: MessageWriter, translator: DestinationTranslator, state: dict | None):
        self.writer, self.translator = writer, translator
        self.data: Callable[[bytes], object] = lambda raw: self._send(translator.data(loads(raw)))
        self._send(translator.begin(state or empty()))

    def _send(self, msgs: list[dict]) -> None:
        for msg in msgs:  # data goes out as it came (not redacted), like ours
            self.writer.stream.write(dumps_line(msg))

    def catalog(self, raw: bytes, payload: dict) -> None:
        self._send(self.translator.data({"type": "catalog", "catalog": payload}))

    def state(self, raw: bytes, payload: dict) -> None:
        self._send(self.translator.data({"type": "state", "state": payload}))
        self.flush()

    def message(self, msg: dict) -> None:
        pass

    def flush(self) -> None:
        self._send(self.translator.flush())
        self.writer.flush()

    def finish(self) -> None:
        self._send(self.translator.finish())
        self.writer.flush()


def open_input(items: Iterator[Line | BadLine], protocol: str,
               streams: list[str]) -> tuple[Iterator[Line | BadLine], SourceTranslator | None]:
    """The input as our messages: a foreign source's lines translated (`auto`: in the protocol its first
    line has; ours goes on through `itertools.chain`, untouched)."""
    if protocol == "auto":
        first = next(items, None)
        if first is None:
            return iter(()), None
        protocol = detect(first.message) if isinstance(first, Line) else "native"
        items = itertools.chain([first], items)
    translator = source_protocol(protocol).translator(f"the {protocol} source", streams)
    if translator is None:
        return items, None  # ours: records go on as their raw bytes (a fast reader is enough)
    # a foreign line is translated and written again: read it with exact numbers first
    return translate_lines(map(exact_line, items), translator, f"the {protocol} source"), translator


class Interrupted(Exception):
    """Raised by a signal handler to end pipe mode early (still with an eof line)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_pipe(stdin: BinaryIO, stdout: BinaryIO, options: PipeOptions, view: View | None = None,
             source_protocol: str = "auto", destination_protocol: str = "native") -> int:
    """Pipe mode: read `stdin`, write `stdout`, end with `eof`. Returns the exit code: 0 only on success,
    1 failed or partial, 128+N when interrupted by signal N (SIGINT counts as KeyboardInterrupt).
    A foreign source's input is translated to ours (`source_protocol`, `auto` = detected); a foreign
    destination gets only its own messages on stdout (`ForeignSink`), without the `eof` line."""
    writer = MessageWriter(stdout, flush_each=False, redact=redact_message)
    target = protocols.destination_protocol(destination_protocol).translator(
        f"the {destination_protocol} destination")
    sink = WriterSink(writer) if target is None else ForeignSink(writer, target, options.state)
    processor = Processor(options, sink, view)
    handle_line, monotonic, next_tick = processor.handle_line, time.monotonic, 0.0
    ended_normally, interrupted = True, 0
    try:
        streams = [s["name"] for s in options.catalog["streams"]] if options.catalog else []
        items, source = open_input(iter_lines(stdin, options.max_line_bytes, exact=False), source_protocol,
                                   streams)
        for item in items:
            if type(item) is Line:
                sig = handle_line(*item)
            else:
                sig = processor.handle(item)
            if sig is not None and sig.kind == "bad_message":
                processor.emit_error(sig.payload)
                ended_normally = False
                break
            now = monotonic()
            if now >= next_tick:
                next_tick = now + TICK_SECONDS
                processor.tick()
        if source is not None and ended_normally:  # pipe mode cannot see the source's exit code
            for line in as_lines(source.finish(0)[0], 0):
                processor.handle(line)
    except (KeyboardInterrupt, Interrupted) as exc:
        ended_normally, interrupted = False, getattr(exc, "signum", 2)
    tracker = processor.tracker
    processor.flush_early()
    if processor.catalog is None and ended_normally:
        ended_normally = False
        processor.emit_error(messages.error_payload(
            "global", "bad_message",
            "the input ended without a catalog message (and no --catalog was given)"))
    status = tracker.outcome(ended_normally)
    final = processor.snapshot()
    if isinstance(sink, ForeignSink):
        sink.finish()
    else:
        writer.write(messages.eof(status, tracker.has_more(), tracker.state_aggregate(), final))
    writer.flush()
    processor.view.close(final)
    if interrupted:
        sys.stderr.write(INTERRUPTED.format(signal=signal_name(interrupted)) + "\n")
    elif status != "succeeded":
        sys.stderr.write(redact_text(pipe_failure_line(status, final)) + "\n")
    return 128 + interrupted if interrupted else 0 if status == "succeeded" else 1


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def pipe_failure_line(status: str, snapshot: dict) -> str:
    """The one human line that ends a pipe-mode run that did not succeed (stdout already has the details)."""
    errors = snapshot.get("errors") or []
    if errors:
        last = errors[-1]
        return f"engine: run {status}: [{last.get('code', '?')}] {last.get('message', '')}"
    streams = snapshot.get("streams") or {}
    open_streams = sorted(n for n, s in streams.items() if s.get("status") not in TERMINAL)
    errored = sorted(n for n, s in streams.items() if s.get("errors") and group_of(s) != "skipped")
    parts = []
    if open_streams:
        parts.append(f"not complete: {', '.join(open_streams[:10])}" + (" ..." if len(open_streams) > 10
                                                                        else ""))
    if errored:
        parts.append(f"errors in: {', '.join(errored[:10])}" + (" ..." if len(errored) > 10 else ""))
    if snapshot.get("bad_message_count"):
        parts.append(f"{snapshot['bad_message_count']} bad line(s) skipped")
    return f"engine: run {status}: " + ("; ".join(parts) or "see the error traces on stdout")
