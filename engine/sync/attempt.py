"""One source attempt of `engine sync`: `<source> read --state <confirmed>`, its lines pumped through the
Processor until it ends, and how it ended (a `restart.Failure`, or None when it finished well).

- `Streams`: which catalog streams an attempt reads: all but those left out after a permanent error,
  or only those to retry after retryable errors.
- `SourceLines`: the bounded queue (1,000 lines) between a source's reader thread and the main thread,
  shared by all attempts. Lines of a superseded attempt still in it are counted and dropped, never
  applied (their generation is stale).
- `start_source`: the source's `read` in the form of its protocol (`engine.adapters.protocols`), with
  its config, state and catalog as in-memory files (the first attempt's state may still be loading: a
  `PipeArg`, see `run.py`).
- `SourceAttempt.run()`: start the source (or take the one started early; a foreign source's lines are
  translated to ours in the reader thread, and what its protocol implies at the end is fed in after it
  exited), pump: every
  line to the Processor, its signals to the restart policy's words (`restart.signal_failure`), silence
  longer than `source_timeout` is a hang, then the exit code and the unfinished streams
  (`restart.exit_failure`). On a failure the source's process group is killed and the confirmations
  still in flight are awaited (`drain_timeout`) before the caller decides. `wake()` (any thread) sends
  a following source its wake signal once its first line (the catalog) was read.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from engine.adapters.base import SourceTranslator, as_lines, translate_lines, who
from engine.processor import Processor, Signal
from engine.sync.children import ArgFile, Child, PipeArg
from engine.sync.destination import Destination, DestinationGone
from engine.sync.options import SyncOptions
from engine.sync.output import RunOutput
from engine.sync.restart import Failure, exit_failure, signal_failure
from protocol.errors import ConnectorError
from protocol.reader import BadLine, Line, iter_lines

QUEUE_LINES = 1000


@dataclass
class Streams:
    """Which catalog streams the next source attempt reads."""

    names: list[str] | None = None  # the user chose the streams (--streams): always pass a catalog
    always: bool = False  # pass a catalog even of every stream (a foreign source: how streams are chosen)
    # stream -> why it is left out for the rest of the run
    excluded: dict[str, str] = field(default_factory=dict)
    retry_only: set[str] = field(default_factory=set)  # the next attempt retries only these

    def to_read(self, catalog: dict | None) -> list[dict]:
        if catalog is None:
            return []
        streams = [s for s in catalog["streams"] if s["name"] not in self.excluded]
        return [s for s in streams if s["name"] in self.retry_only] if self.retry_only else streams

    def for_source(self, catalog: dict | None) -> dict | None:
        """The `--catalog` of the next attempt (None: the source's own default streams); takes retry_only.
        Before the source printed its catalog, the chosen streams by name."""
        if catalog is None:
            return {"streams": [{"name": n} for n in self.names]} if self.names else None
        streams = self.to_read(catalog)
        self.retry_only = set()
        if not (self.names or self.always) and len(streams) == len(catalog["streams"]):
            return None
        return {"streams": streams}

    def unknown(self, catalog: dict | None) -> list[str]:
        """Chosen streams the source's catalog does not have (all of them before it printed one)."""
        have = {s.get("name") for s in catalog["streams"]} if catalog is not None else set()
        return [n for n in self.names or () if n not in have]

    def exclude(self, stream: str, why: str) -> None:
        self.excluded.setdefault(stream, why)


class SourceLines:
    """The queue between the source's reader thread and the main thread (see the module docstring)."""

    def __init__(self, size: int = QUEUE_LINES):
        self.queue: queue.Queue[tuple[int, Line | BadLine | None]] = queue.Queue(maxsize=size)
        self.discarded = 0

    def read(self, stream: BinaryIO, generation: int, max_line_bytes: int,
             translator: SourceTranslator | None = None, who: str = "the source") -> None:
        """Reader thread body: every line of `stream` (translated to ours for a foreign source), then None."""
        try:
            # ours: records are forwarded raw, so the fast reader; a foreign line is translated and
            # written again, so its numbers must be exact
            items: Iterable[Line | BadLine] = iter_lines(stream, max_line_bytes, exact=translator is not None)
            if translator is not None:
                items = translate_lines(items, translator, who)
            for item in items:
                self.queue.put((generation, item))
        except (OSError, ValueError):
            pass
        finally:
            self.queue.put((generation, None))

    def next(self, generation: int, timeout: float) -> Line | BadLine | None:
        """The next line of `generation`, None at its end; `queue.Empty` when nothing came in `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            gen, item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if gen == generation:
                return item
            self.discarded += 1  # in-flight output of a superseded attempt: never applied


def start_source(options: SyncOptions, source_config: ArgFile, state: ArgFile | PipeArg | None,
                 catalog: dict | None, on_stderr: Callable[[str, str], None]) -> Child:
    """Start the source's `read` in its protocol's form (`state` None: without one), with the run's read
    options (`--follow`, `--verify`, ...); raises ConnectorError."""
    proto = options.source_protocol
    catalog_file = ArgFile(proto.catalog_arg(catalog["streams"]), "catalog") if catalog else None
    files = [f for f in (source_config, state, catalog_file) if f is not None]
    argv = proto.read_argv(options.source_cmd, source_config.path,
                           catalog_file.path if catalog_file else None, state.path if state else None)
    argv += options.read_args()
    try:
        return Child("source", argv, files, on_stderr=on_stderr)
    finally:
        if catalog_file is not None:
            catalog_file.close()


class SourceAttempt:
    def __init__(self, generation: int, options: SyncOptions, processor: Processor, lines: SourceLines,
                 destination: Destination, output: RunOutput, streams: Streams,
                 stopping: Callable[[], bool], tick: Callable[[bool], None]):
        self.generation, self.options, self.processor, self.lines = generation, options, processor, lines
        self.destination, self.output, self.streams = destination, output, streams
        self.stopping, self.tick = stopping, tick
        self.who = who("source", options.source_protocol.name, options.source_cmd)  # in messages
        self.source: Child | None = None
        self.awake = False  # the source printed its first line: its wake handler is installed

    def wake(self) -> bool:
        sig, source = self.options.wake_signal, self.source
        if sig is None or not self.options.follow or not self.awake or source is None:
            return False
        return source.send_signal(sig)

    def run(self, source_config: ArgFile, state: dict, started: Child | None = None) -> Failure | None:
        """One attempt from `state`; `started`: its source, started early with that state on the way."""
        proto = self.options.source_protocol
        catalog = self.streams.for_source(self.processor.catalog)
        names = [s["name"] for s in catalog["streams"]] if catalog is not None else []
        translator = proto.translator(self.who, names)
        self.destination.confirmations.begin_generation(self.generation)
        source = started
        if source is None:
            state_arg = proto.state_arg(state)  # its own form (a foreign state may not be ours)
            state_file = ArgFile(state_arg, "state") if state_arg is not None else None
            try:
                source = start_source(self.options, source_config, state_file, catalog, self.output.on_stderr)
            except ConnectorError as exc:
                return Failure("permanent", exc.code, exc.message)
            finally:
                if state_file is not None:
                    state_file.close()
        self.source = source
        assert source.proc.stdout is not None
        threading.Thread(target=self.lines.read,
                         args=(source.proc.stdout, self.generation, self.options.pipe.max_line_bytes,
                               translator, self.who),
                         name=f"source-{self.generation}", daemon=True).start()
        failure = self._pump(source, translator)
        if failure is not None and not self.stopping():
            self.destination.await_confirmations(self.options.drain_timeout)
        return failure

    def _pump(self, source: Child, translator: SourceTranslator | None = None) -> Failure | None:
        """Forward the attempt's lines; returns its failure, or None when it ended well (or was stopped)."""
        last_output = time.monotonic()
        timeout = self.options.source_timeout
        while True:
            if self.stopping():
                source.stop(self.options.stop_grace)
                return None
            try:
                item = self.lines.next(self.generation, 0.1)
            except queue.Empty:
                self.tick(True)
                self.destination.check()
                if timeout and time.monotonic() - last_output > timeout:
                    source.kill()
                    return Failure("hang", "timeout", f"the source printed nothing for {timeout:g}s (hang)")
                continue
            if item is None:
                break
            last_output = time.monotonic()
            self.awake = True
            try:
                sig = self.processor.handle(item)
            except DestinationGone as exc:
                self.destination.gone(str(exc))
                continue
            failure = self._on_signal(sig) if sig is not None else None
            if failure is not None:
                if failure.permanent:
                    source.stop(self.options.stop_grace)
                else:
                    source.kill()
                return failure
            self.tick(False)
        code = source.wait(self.options.stop_grace)
        if code is None:
            code = source.stop(self.options.stop_grace)
        if translator is not None:  # what the foreign protocol implies at the end of a read
            end, code = translator.finish(code)
            for line in as_lines(end, 0):
                try:
                    sig = self.processor.handle(line)
                except DestinationGone as exc:
                    self.destination.gone(str(exc))
                    return None
                failure = self._on_signal(sig) if sig is not None else None
                if failure is not None:
                    return failure
        return self._exit_failure(source, code)

    def _exit_failure(self, source: Child, code: int | None) -> Failure | None:
        tracker, excluded = self.processor.tracker, self.streams.excluded
        announced = {s["name"] for s in self.streams.to_read(self.processor.catalog)}
        unfinished = [n for n in tracker.unfinished() if n in announced and n not in excluded]
        retry = [n for n, t in tracker.streams.items() if t.retryable_error and n not in excluded]
        failure = exit_failure(code, source.stderr_tail(), unfinished, retry, self.who)
        if failure is not None and failure.kind == "transient":
            self.streams.retry_only = set(retry)
        return failure

    def _on_signal(self, sig: Signal) -> Failure | None:
        if sig.kind == "bad_message":
            self.output.event(f"the source printed a bad line: {sig.payload['message']}", "warn")
        elif sig.kind == "control":
            self.output.event("the source sent a config_update; engine sync does not store configs: update "
                              "your source config by hand", "warn")
        failure, exclude = signal_failure(sig.kind, sig.payload)
        if exclude is not None:
            self.streams.exclude(*exclude)
        return failure
