"""`engine sync` as a library: `SyncRun(options, out, view).run()` -> exit code (docs/engine.md).

A CLI, a worker or a server runs the same code: `out` is where protocol messages go (None: nowhere),
`view` shows progress, `report` takes the human summary lines (stderr for the CLI), `stop(signum)`
ends the run cleanly from any thread (a second call stops waiting for the destination), and `wake()`
asks a following source to look for changes now (docs/protocol.md, "Waking a following source"). Only
`run_sync`, for the CLI, installs SIGINT/SIGTERM handlers.

One run starts the first source attempt `read --state <pipe>` (it starts up and then waits for the
state) and `<destination> state` (the confirmed state; else the state file) at once, so the source's
start-up overlaps the state's. Once the state is loaded it goes down the pipe, the destination's
`write` starts (it has a round trip or more before the first records come: started beside the other
two, its start-up took CPU from theirs on a small machine and delayed the first request by ~0.15 s),
and a `Session` (`session.py`) takes over: source attempts one after another until one finishes.
`--streams` goes to our source as a catalog by name; `discover` runs only when the first attempt's
catalog lacks one of them (to name the streams there are). A foreign
source, or a destination that takes the catalog on its command line, needs the catalog first: then
the state is loaded, `discover` runs, and only then do `write` and `read` start. A run that fails
before the sync proper (state not loadable, discover failed, a connector that cannot start) still
ends with the error and `eof` (`failed`, `has_more` true, the last known state: `early_failure`).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, BinaryIO

from engine.adapters.protocols import SingerSource
from engine.progress_view import View
from engine.sync.attempt import Streams, start_source
from engine.sync.children import ArgFile, Child, PipeArg, destination_state, discover, singer_catalog_flag
from engine.sync.destination import start_writer
from engine.sync.options import SyncOptions
from engine.sync.output import RunOutput
from engine.sync.session import Session, Stop
from engine.sync.state_store import StateStore, Totals
from protocol import messages
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from protocol.secrets import redact_text


def stderr_report(text: str) -> None:
    print(redact_text(text), file=sys.stderr, flush=True)


class SyncRun:
    def __init__(self, options: SyncOptions, out: BinaryIO | None, view: View,
                 report: Callable[[str], None] = stderr_report):
        self.options, self.report = options, report
        self.output = RunOutput(out, view)
        self.store = StateStore(options.state_file) if options.state_file else None
        self.stopping = Stop()
        self.start = time.monotonic()
        self.known_state: dict | None = None  # the confirmed state loaded at the start
        self.session: Session | None = None  # once the sync proper began

    def stop(self, signum: int = signal.SIGTERM, _frame: Any = None) -> None:
        """Stop the run cleanly (also usable as a signal handler)."""
        self.stopping.request(signum)

    def wake(self) -> bool:
        """Send the source its wake signal (any thread); False when there is no source to wake now."""
        session = self.session
        return session is not None and session.wake()

    def run(self) -> int:
        """The whole run; returns its exit code. Raises ConfigError for usage errors (exit code 2)."""
        options = self.options
        source_config = ArgFile(options.source_config, "source-config")
        destination_config = ArgFile(options.destination_config, "destination-config")
        # our source and a destination that needs no catalog start at once (see the module docstring)
        early = not (options.source_protocol.foreign or options.destination_protocol.needs_catalog)
        state_pipe = PipeArg("state") if early else None
        source: Child | None = None
        writer: Child | None = None
        try:
            if state_pipe is not None:
                try:  # the first attempt's source: if it cannot start, its attempt says so
                    source = start_source(options, source_config, state_pipe,
                                          Streams(options.streams).for_source(None), self.output.on_stderr)
                except ConnectorError:
                    source = None
                state_pipe.started()
            state = self.known_state = self._load_state(destination_config)
            if state_pipe is not None:
                state_pipe.send(state)
                writer = start_writer(options.destination_cmd, destination_config, self.output,
                                      options.destination_protocol, write_args=options.write_args())
            totals = self.store.load_totals() if self.store is not None else Totals()
            if totals.sync_complete:
                totals = totals.restarted()
            totals.runs += 1
            catalog = None if early else self._catalog(source_config)
            self.session = Session(self.options, self.output, self.store, self.stopping, source_config,
                                   destination_config, state, totals, catalog, self.report, self.start,
                                   source, writer)
            source = writer = None  # the session owns them now
            return self.session.run()
        except ConfigError:
            raise
        except ConnectorError as exc:
            return self.early_failure(exc)
        finally:
            if source is not None:  # stopped before its pipe closes: it never reads an empty state
                source.kill()
            if writer is not None:
                writer.stop(options.stop_grace)
            if state_pipe is not None:
                state_pipe.close()
            source_config.close()
            destination_config.close()

    def _load_state(self, destination_config: ArgFile) -> dict:
        # a foreign destination has no `state` command: its confirmed state lives in the state file
        supported, state = (False, None) if self.options.destination_protocol.foreign else \
            destination_state(self.options.destination_cmd, destination_config)
        if supported:
            has_state = bool(state and ((state.get("streams") or {}) or state.get("global") is not None
                                        or state.get("partitions")))
            self.output.view.event("loaded the confirmed state from the destination" if has_state else
                                   "no confirmed state in the destination yet: a full sync")
            return state or protocol_state.empty()
        if self.store is None:
            self.output.event("the destination has no `state` command and there is no state file "
                              "(--no-state-file): this run starts from the beginning", "warn")
        file_state = self.store.load() if self.store is not None else None
        if file_state is not None:
            self.output.view.event(f"loaded the confirmed state from {self.options.state_file}")
        return file_state or protocol_state.empty()

    def _catalog(self, source_config: ArgFile) -> dict:
        """The catalog a foreign source (its catalog is how its streams are chosen) or a destination that
        takes it on its command line needs before it starts: discovered, narrowed to `--streams`."""
        options, proto = self.options, self.options.source_protocol
        if isinstance(proto, SingerSource):
            self.options = options = replace(options, source_protocol=replace(
                proto, catalog_flag=singer_catalog_flag(options.source_cmd)))
        catalog = discover(options.source_cmd, source_config, options.source_protocol)
        if not options.streams:  # a source's streams read only when named (`metadata.default` false) stay out
            return {**catalog, "streams": [s for s in catalog["streams"] if not isinstance(s, dict)
                                           or (s.get("metadata") or {}).get("default", True) is not False]}
        by_name = {s.get("name"): s for s in catalog["streams"] if isinstance(s, dict)}
        unknown = [n for n in options.streams if n not in by_name]
        if unknown:
            raise ConfigError(f"--streams: unknown stream(s) {', '.join(unknown)}",
                              hint=f"available: {', '.join(sorted(str(n) for n in by_name))}")
        return {"streams": [by_name[n] for n in options.streams]}

    def early_failure(self, exc: ConnectorError) -> int:
        """End a run that failed before the sync proper (no destination writer, no Processor yet): the
        error, then `eof` failed with the last known state, then the summary line. Returns the exit code."""
        payload = exc.payload()
        self.output.view.event(f"[{exc.code}] {exc.message}", "error")
        self.output.emit(exc.to_message())
        elapsed = int((time.monotonic() - self.start) * 1000)
        final = {"elapsed_ms": elapsed, "record_count": 0, "records_per_second": 0.0,
                 "window_records_per_second": 0.0, "streams": {}, "errors": [payload]}
        self.output.emit(messages.eof("failed", True, self._last_known_state(), final))
        self.output.flush()
        self.report(f"engine: error [{exc.code}]: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint
                                                                    else ""))
        return 1

    def _last_known_state(self) -> dict:
        """What was known: the state loaded this run, else the state file if readable, else empty."""
        if self.known_state is not None:
            return self.known_state
        if self.store is not None:
            try:
                loaded = self.store.load()
            except (ConfigError, OSError):
                loaded = None
            if loaded is not None:
                return loaded
        return protocol_state.empty()


def run_sync(options: SyncOptions, out: BinaryIO | None, view: View) -> int:
    """Run one sync for the CLI; returns the exit code. Installs SIGINT/SIGTERM handlers (main thread)."""
    sync = SyncRun(options, out, view)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, sync.stop)
    try:
        return sync.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
