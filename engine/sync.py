"""`engine sync`: source -> pipe logic -> destination as subprocesses, resumable after any crash.

One run: load the confirmed state (`<destination> state` when it has that command, else the state
file), start `<destination> write`, then source attempts `<source> read --state <confirmed>` one
after another until one finishes. Source lines go through a bounded queue (a reader thread; the
source blocks when the engine is behind) into the shared `Processor`, which writes records and states
to the destination's stdin (blocking writes: back-pressure) and progress to stdout and stderr. Each
forwarded state is tagged with its attempt's `_generation`; the destination's echoes (see
`confirmations.py`) become the confirmed state, persisted as they come.

A source crash, non-zero exit, bad line, transient error trace or silence longer than
`source_timeout` ends the attempt: the source is killed, its in-flight lines are discarded (their
generation is stale), confirmations still in flight are awaited briefly, and `supervisor.decide`
restarts it from the confirmed state after a backoff, or gives up (same failure N times, too many
restarts without progress, permanent error). A stream's permanent error leaves that stream out of
later attempts. SIGINT/SIGTERM: stop the source, close the destination's stdin so it commits what it
has, save state, exit 130/143. The run ends with `eof` on stdout and one summary line on stderr, also
when it fails before any source started (state not loadable, discover failed, a connector that cannot
start): then `eof` is `failed`, `has_more` true, and its state the last known one (`early_failure`).
"""
from __future__ import annotations

import queue
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.confirmations import Confirmations
from engine.outcome import RunSummary, confirmed_text, run_status, summary
from engine.connectors import ArgFile, Child, destination_state, discover
from engine.pipe import PipeOptions, Processor, Signal
from engine.state_store import StateStore, Totals
from engine.supervisor import (Failure, History, RestartPolicy, decide, exit_failure, exit_text, signal_failure,
                               tag_state)
from protocol import messages
from protocol import state as protocol_state
from protocol.errors import ConfigError, ConnectorError
from protocol.jsonio import MessageWriter
from protocol.reader import iter_lines
from protocol.secrets import redact_message, redact_text

QUEUE_LINES = 1000
EOF = object()


@dataclass
class SyncOptions:
    source_cmd: list[str]
    source_config: dict
    destination_cmd: list[str]
    destination_config: dict
    state_file: Path | None = None
    streams: list[str] | None = None
    follow: bool = False
    source_timeout: float | None = 300.0  # seconds without any source output = hang
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    pipe: PipeOptions = field(default_factory=PipeOptions)
    drain_timeout: float = 15.0  # wait for in-flight confirmations before a restart
    stop_grace: float = 5.0  # SIGTERM -> SIGKILL delay for the source
    destination_timeout: float = 600.0  # wait for the destination to finish after its stdin closes


class DestinationGone(Exception):
    pass


class DestinationSink:
    """The Processor's data channel into the destination's stdin; its message channel to our stdout."""

    def __init__(self, run: "SyncRun"):
        self.run = run
        self.stdin: BinaryIO = run.destination.proc.stdin  # type: ignore[assignment]

    def data(self, raw: bytes) -> None:
        self._write(raw)

    def state(self, raw: bytes, payload: dict) -> None:
        key = protocol_state.state_key(payload)
        if key is not None:  # before the write: the echo may come back at once
            had_records = self.run.processor.tracker.attempt_records(key[1] or None) > 0
            self.run.confirmations.forwarded(key, payload.get("data"), had_records)
        self._write(tag_state({"type": "state", "state": payload}, self.run.generation))
        self.run.forwarded_states += 1
        self.flush()

    def message(self, msg: dict) -> None:
        self.run.emit(msg)

    def flush(self) -> None:
        try:
            self.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None

    def _write(self, raw: bytes) -> None:
        try:
            self.stdin.write(raw)
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None


class SyncRun:
    def __init__(self, options: SyncOptions, out: BinaryIO | None, view: Any):
        self.options, self.view = options, view
        self.writer = MessageWriter(out, redact=redact_message) if out is not None else None
        self.notices: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.store = StateStore(options.state_file) if options.state_file else None
        self.generation = 0
        self.restarts = 0
        self.forwarded_states = 0
        self.discarded_lines = 0
        self.excluded: dict[str, str] = {}  # stream -> why it is left out of later attempts
        self.retry_only: set[str] = set()
        self.stop_signal: int | None = None
        self.hard_stop = False
        self.destination_failure: str | None = None
        self.final_error: tuple[str, str] | None = None
        self.lines: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=QUEUE_LINES)
        self.start = time.monotonic()
        self.known_state: dict | None = None  # the confirmed state loaded at the start
        self._next_tick = 0.0
        self._last_totals_save = self.start

    # ---- output ------------------------------------------------------------------------------------
    def emit(self, msg: dict) -> None:
        if self.writer is not None:
            try:
                self.writer.write(msg)
            except (BrokenPipeError, ValueError):
                self.writer = None

    def event(self, text: str, level: str = "info") -> None:
        self.view.event(text, level)
        if level != "info":
            self.emit(messages.log("warn" if level == "warn" else "error", text))

    def _drain_notices(self) -> None:
        while True:
            try:
                notice = self.notices.get_nowait()
            except queue.Empty:
                return
            if notice[0] == "message":
                self.emit(notice[1])
            elif notice[0] == "stderr":
                self.view.event(f"{notice[1]}: {notice[2]}", "info")
            else:
                self.view.event(notice[2], notice[1])

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_tick:
            return
        self._next_tick = now + 0.05
        self._drain_notices()
        try:
            self.processor.tick()
        except DestinationGone as exc:
            self._destination_gone(str(exc))
        if now - self._last_totals_save >= 5.0:
            self._last_totals_save = now
            self._save_totals()

    # ---- totals ------------------------------------------------------------------------------------
    def _totals(self) -> Totals:
        tracker = self.processor.tracker
        return self.totals_base.plus(tracker.record_count, tracker.request_count or 0,
                                     int((time.monotonic() - self.start) * 1000), self.confirmations.stats)

    def _save_totals(self, complete: bool = False) -> None:
        if self.store is None:
            return
        totals = self._totals()
        totals.sync_complete = complete
        try:
            self.store.save_totals(totals)
        except OSError:
            pass

    def _progress_extra(self) -> dict:
        _, confirmed = self.confirmations.snapshot()
        return {"totals": self._totals().to_dict(), "restarts": self.restarts, "generation": self.generation,
                "confirmed_state_count": confirmed, "discarded_line_count": self.discarded_lines}

    # ---- setup -------------------------------------------------------------------------------------
    def _load_state(self, dest_config: ArgFile) -> dict:
        supported, state = destination_state(self.options.destination_cmd, dest_config)
        if supported:
            self.view.event("loaded the confirmed state from the destination")
            return state or protocol_state.empty()
        file_state = self.store.load() if self.store is not None else None
        if file_state is not None:
            self.view.event(f"loaded the confirmed state from {self.options.state_file}")
        return file_state or protocol_state.empty()

    def _catalog_for_streams(self, source_config: ArgFile) -> dict | None:
        if not self.options.streams:
            return None
        catalog = discover(self.options.source_cmd, source_config)
        by_name = {s.get("name"): s for s in catalog["streams"] if isinstance(s, dict)}
        unknown = [n for n in self.options.streams if n not in by_name]
        if unknown:
            raise ConfigError(f"--streams: unknown stream(s) {', '.join(unknown)}",
                              hint=f"available: {', '.join(sorted(str(n) for n in by_name))}")
        return {"streams": [by_name[n] for n in self.options.streams]}

    # ---- the run -----------------------------------------------------------------------------------
    def run(self) -> int:
        source_cfg = ArgFile(self.options.source_config, "source-config")
        dest_cfg = ArgFile(self.options.destination_config, "destination-config")
        self.source_cfg = source_cfg
        try:
            confirmed = self.known_state = self._load_state(dest_cfg)
            self.totals_base = self.store.load_totals() if self.store is not None else Totals()
            if self.totals_base.sync_complete:
                self.totals_base = Totals()
            self.totals_base.runs += 1
            catalog = self._catalog_for_streams(source_cfg)
            self.destination = Child("destination", self.options.destination_cmd + ["write", "--config", dest_cfg.path],
                                     [dest_cfg], stdin=True, on_stderr=self._on_stderr)
            self.confirmations = Confirmations(confirmed, self.store, self.notices)
            reader = threading.Thread(target=self.confirmations.run, args=(self.destination.proc.stdout,),
                                      name="destination-stdout", daemon=True)
            reader.start()
            pipe_options = PipeOptions(**{**self.options.pipe.__dict__, "catalog": None, "state": confirmed})
            self.processor = Processor(pipe_options, DestinationSink(self), self.view)
            self.processor.extra = self._progress_extra
            try:
                if catalog is not None:
                    self.processor.adopt_catalog(catalog)
                outcome = self._attempts()
            except DestinationGone:
                outcome = "destination"
            return self._finish(outcome, reader)
        finally:
            source_cfg.close()
            dest_cfg.close()

    def _on_stderr(self, name: str, text: str) -> None:
        self.notices.put(("stderr", name, text))

    def _attempts(self) -> str:
        history = History()
        while True:
            if self.processor.catalog is not None and not self._streams_to_read():
                return "done"  # every stream left out after permanent errors
            self.generation += 1
            failure = self._attempt()
            if self.stop_signal is not None:
                return "interrupted"
            if self.destination_failure is not None:
                return "destination"
            if failure is None:
                return "done"
            decision = decide(self.options.policy, history, failure,
                              self.confirmations.progressed(self.processor.tracker.advanced_streams()),
                              random.random())
            history = decision.history
            if not decision.restart:
                self.final_error = (failure.code, decision.reason)
                return "failed"
            self.restarts += 1
            self.event(f"source attempt {self.generation} failed: {failure.message}; restarting from the last "
                       f"confirmed state in {decision.delay:.1f}s", "warn")
            if not self._sleep(decision.delay):
                return "interrupted" if self.stop_signal is not None else "destination"
            tracker = self.processor.tracker
            tracker.new_attempt()
            for stream, why in self.excluded.items():
                tracker.mark_skipped(stream, f"left out after a permanent error {why}")

    def _streams_to_read(self) -> list[dict]:
        streams = [s for s in self.processor.catalog["streams"] if s["name"] not in self.excluded]  # type: ignore[index]
        if self.retry_only:
            streams = [s for s in streams if s["name"] in self.retry_only]
        return streams

    def _source_catalog(self) -> dict | None:
        if self.processor.catalog is None:
            return None
        streams = self._streams_to_read()
        if not self.options.streams and len(streams) == len(self.processor.catalog["streams"]):
            return None  # the source's own default streams
        return {"streams": streams}

    def _attempt(self) -> Failure | None:
        state, _ = self.confirmations.snapshot()
        files = [self.source_cfg, ArgFile(state, "state")]
        argv = self.options.source_cmd + ["read", "--config", self.source_cfg.path, "--state", files[1].path]
        catalog = self._source_catalog()
        self.retry_only = set()
        if catalog is not None:
            files.append(ArgFile(catalog, "catalog"))
            argv += ["--catalog", files[2].path]
        if self.options.follow:
            argv.append("--follow")
        self.confirmations.begin_generation(self.generation)
        try:
            source = Child("source", argv, files, on_stderr=self._on_stderr)
        except ConnectorError as exc:
            return Failure("permanent", exc.code, exc.message)
        finally:
            for f in files[1:]:
                f.close()
        reader = threading.Thread(target=self._read_source, args=(source, self.generation),
                                  name=f"source-{self.generation}", daemon=True)
        reader.start()
        failure = self._pump(source)
        if failure is not None and self.destination_failure is None and self.stop_signal is None:
            self._await_confirmations()
        return failure

    def _read_source(self, source: Child, generation: int) -> None:
        try:
            for item in iter_lines(source.proc.stdout, self.options.pipe.max_line_bytes):  # type: ignore[arg-type]
                self.lines.put((generation, item))
        except (OSError, ValueError):
            pass
        finally:
            self.lines.put((generation, EOF))

    def _pump(self, source: Child) -> Failure | None:
        """Forward one source attempt's lines; returns its failure, or None when it ended well."""
        last_output = time.monotonic()
        timeout = self.options.source_timeout
        failure: Failure | None = None
        while True:
            if self.stop_signal is not None or self.destination_failure is not None:
                source.stop(self.options.stop_grace)
                return None
            try:
                generation, item = self.lines.get(timeout=0.1)
            except queue.Empty:
                self._tick(force=True)
                self._check_destination()
                if timeout and time.monotonic() - last_output > timeout:
                    source.kill()
                    return Failure("hang", "timeout", f"the source printed nothing for {timeout:g}s (hang)")
                continue
            if generation != self.generation:
                self.discarded_lines += 1  # in-flight output of a superseded attempt: never applied
                continue
            if item is EOF:
                break
            last_output = time.monotonic()
            try:
                sig = self.processor.handle(item)
            except DestinationGone as exc:
                self._destination_gone(str(exc))
                continue
            if sig is not None:
                failure = self._on_signal(sig)
                if failure is not None:
                    if failure.kind == "permanent":
                        source.stop(self.options.stop_grace)
                    else:
                        source.kill()
                    return failure
            self._tick()
        code = source.wait(self.options.stop_grace)
        if code is None:
            code = source.stop(self.options.stop_grace)
        return self._exit_failure(source, code)

    def _exit_failure(self, source: Child, code: int | None) -> Failure | None:
        tracker = self.processor.tracker
        announced = {s["name"] for s in self._streams_to_read()} if self.processor.catalog else set()
        unfinished = [n for n in tracker.unfinished() if n in announced and n not in self.excluded]
        retry = [n for n, t in tracker.streams.items() if t.retryable_error and n not in self.excluded]
        failure = exit_failure(code, source.stderr_tail(), unfinished, retry)
        if failure is not None and failure.kind == "transient":
            self.retry_only = set(retry)
        return failure

    def _on_signal(self, sig: Signal) -> Failure | None:
        if sig.kind == "bad_message":
            self.event(f"the source printed a bad line: {sig.payload['message']}", "warn")
        elif sig.kind == "control":
            self.event("the source sent a config_update; engine sync does not store configs: update "
                       "your source config by hand", "warn")
        failure, exclude = signal_failure(sig.kind, sig.payload)
        if exclude is not None and exclude[0] not in self.excluded:
            self.excluded[exclude[0]] = exclude[1]
        return failure

    def _check_destination(self) -> None:
        code = self.destination.poll()
        if code is not None and self.destination_failure is None:
            self._destination_gone(f"the destination {exit_text(code)}")

    def _destination_gone(self, detail: str) -> None:
        if self.destination_failure is None:
            self.confirmations.eof.wait(2.0)
            code = self.destination.wait(2.0)  # a broken pipe says less than the destination's own exit
            if code not in (None, 0):
                detail = f"the destination {exit_text(code)}"
            tail = self.destination.stderr_tail()
            errors = self.confirmations.errors
            reason = f"[{errors[-1].get('code')}] {errors[-1].get('message')}" if errors else tail
            self.destination_failure = f"{detail}" + (f": {reason}" if reason else "")

    def _await_confirmations(self) -> None:
        self.processor.sink.flush()
        self.confirmations.wait_for(self.forwarded_states, self.options.drain_timeout)

    def _sleep(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stop_signal is not None or self.destination_failure is not None:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            self._tick()
            self._check_destination()
        return True

    # ---- the end -----------------------------------------------------------------------------------
    def _close_destination(self, reader: threading.Thread) -> int | None:
        try:
            self.processor.sink.flush()
        except DestinationGone:
            pass
        try:
            self.destination.proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError, ValueError):
            pass
        deadline = time.monotonic() + self.options.destination_timeout
        code = None
        while time.monotonic() < deadline:
            code = self.destination.wait(0.1)
            self._drain_notices()
            if code is not None or self.hard_stop:
                break
        if code is None:
            self.event("the destination did not finish in time; killing it", "error")
            code = self.destination.kill()
        reader.join(timeout=10.0)
        self._drain_notices()
        return code

    def _finish(self, outcome: str, reader: threading.Thread) -> int:
        code = self._close_destination(reader)
        if code != 0 and self.destination_failure is None:
            self._destination_gone(f"the destination {exit_text(code)}")
        self.confirmations.save(force=True)
        state, confirmed = self.confirmations.snapshot()
        unconfirmed = self.forwarded_states - confirmed
        tracker = self.processor.tracker
        if self.destination_failure is not None:
            outcome = "destination"
            self.final_error = ("destination_failed",
                                f"{self.destination_failure}. {confirmed_text(state, confirmed, unconfirmed)}")
        elif outcome == "done" and unconfirmed > 0:
            self.final_error = ("destination_failed", f"the destination exited without confirming {unconfirmed} "
                                f"state(s); {confirmed_text(state, confirmed, unconfirmed)}")
        status, exit_code = run_status(outcome, unconfirmed, tracker.outcome(True), self.stop_signal)
        if self.final_error is not None:
            self.processor.emit_error(messages.error_payload("global", self.final_error[0], self.final_error[1]))
        has_more = status != "succeeded" or tracker.has_more() or self.options.follow
        self._save_totals(complete=status == "succeeded" and not has_more)
        final = self.processor.snapshot()
        self.emit(messages.eof(status, has_more, state, final))
        if self.writer is not None:
            self.writer.flush()
        self.view.close(final)
        text = summary(RunSummary(
            status, exit_code, tracker.record_count, time.monotonic() - self.start, self.restarts,
            str(self.options.state_file) if self.store is not None else None, self.final_error,
            sorted(set(tracker.unfinished()) | set(tracker.errored()) | set(self.excluded)), tracker.skipped()))
        print(redact_text(text), file=sys.stderr, flush=True)
        return exit_code

    def early_failure(self, exc: ConnectorError) -> int:
        """End a run that failed before the sync proper (no destination writer, no Processor yet): the
        error, then `eof` failed with the last known state, then the stderr line. Returns the exit code."""
        payload = exc.payload()
        self.view.event(f"[{exc.code}] {exc.message}", "error")
        self.emit(exc.to_message())
        elapsed = int((time.monotonic() - self.start) * 1000)
        final = {"elapsed_ms": elapsed, "record_count": 0, "records_per_second": 0.0,
                 "window_records_per_second": 0.0, "streams": {}, "errors": [payload]}
        self.emit(messages.eof("failed", True, self._last_known_state(), final))
        if self.writer is not None:
            try:
                self.writer.flush()
            except (BrokenPipeError, ValueError):
                self.writer = None
        print(redact_text(f"engine: error [{exc.code}]: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "")),
              file=sys.stderr, flush=True)
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

    # ---- signals -----------------------------------------------------------------------------------
    def handle_signal(self, signum: int, _frame: Any = None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        else:
            self.hard_stop = True


def run_sync(options: SyncOptions, out: BinaryIO | None, view: Any) -> int:
    """Run one sync; returns the exit code. Installs SIGINT/SIGTERM handlers when on the main thread."""
    sync = SyncRun(options, out, view)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, sync.handle_signal)
    try:
        return sync.run()
    except ConnectorError as exc:
        if isinstance(exc, ConfigError):
            raise
        return sync.early_failure(exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
