"""A running sync: the destination, the Processor, and source attempts one after another until one
finishes, then the end (docs/engine.md, "`engine sync`").

`Session.run()` starts the attempts (`attempt.py`), asks the restart policy after each failed one
(`restart.decide`, with `Confirmations.progressed` saying whether it moved data), sleeps the backoff,
and finishes: the destination's stdin is closed so it commits and echoes what it has, the confirmed
state is saved, the last error and `eof` go out, and one summary names what was not synced. Progress
snapshots carry the run's figures (totals across the runs of one sync, restarts, generation,
confirmations, discarded lines). The outer shell (loading state, failing early, stopping) is `run.py`.

A destination that is gone (a crash, an error worth retrying such as a Postgres outage longer than its
own reconnects; also at the very end, before it confirmed everything) is an attempt failure like the
source's, under the same policy and budget: after the backoff a new destination process gets the
catalog and a new source attempt starts from the confirmed state (what the dead one echoed), so
nothing is applied twice. A permanent destination error (it refused its config, a non-retryable global
error) ends the run at once.
"""
from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

from engine.processor import Processor
from engine.sync.attempt import SourceAttempt, SourceLines, Streams
from engine.sync.children import ArgFile, Child, discover
from engine.sync.confirmations import Confirmations
from engine.sync.destination import Destination, DestinationGone, DestinationSink
from engine.sync.options import SyncOptions
from engine.sync.outcome import RunSummary, confirmed_text, exit_text, run_status, summary
from engine.sync.output import RunOutput
from engine.sync.restart import Failure, History, decide, destination_failure
from engine.sync.state_store import StateStore, Totals
from engine.sync.sweep import ConfirmOutcome, confirm_candidates
from protocol import messages
from protocol.errors import ConfigError, ConnectorError
from protocol.lifecycle import COMPLETE
from protocol.state import StateKey

TOTALS_SAVE_SECONDS = 5.0
TICK_SECONDS = 0.05


class Stop:
    """Stop requests shared by the run and its session (set from a signal handler or another thread)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.hard = False  # a second request: stop waiting for the destination

    def request(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
        else:
            self.hard = True


class Session:
    def __init__(self, options: SyncOptions, output: RunOutput, store: StateStore | None, stop: Stop,
                 source_config: ArgFile, destination_config: ArgFile, state: dict, totals: Totals,
                 catalog: dict | None, report: Callable[[str], None], start: float,
                 first_source: Child | None = None, writer: Child | None = None):
        self.options, self.output, self.stop = options, output, stop
        self.store = None if options.verifying else store  # verify never writes the state file
        self.source_config, self.totals_base, self.report = source_config, totals, report
        self.start = start  # when the run began (loading the state and discovering count too)
        self.generation = 0
        self.restarts = 0
        self.final_error: tuple[str, str, bool] | None = None  # code, message, retryable
        self.gave_up_on: Failure | None = None  # the failure that ended the attempts (its class: restart.py)
        # a foreign source always gets a catalog: it is how its streams are chosen
        self.streams = Streams(options.streams, always=options.source_protocol.foreign)
        self.lines = SourceLines()
        self.confirmations = Confirmations(state, None if options.verifying else store, output.notify)
        self.destination = Destination(options.destination_cmd, destination_config, self.confirmations,
                                       output, options.destination_protocol, catalog,
                                       options.write_args(), writer)
        self.first_source = first_source  # started while the state loaded, that state on its way
        pipe_options = dataclasses.replace(options.pipe, catalog=None, state=state)
        sink = DestinationSink(self.destination, output, lambda: self.generation, self._had_records,
                               forward_states=not options.verifying)
        self.processor = Processor(pipe_options, sink, output.view, start=start)
        self.processor.extra = self._progress_extra
        self._catalog = catalog  # known before the source runs (a foreign source), else its first message
        self.sweep: ConfirmOutcome | None = None
        self.attempt: SourceAttempt | None = None  # the one running now
        self._next_tick = 0.0
        self._last_totals_save = time.monotonic()

    def _had_records(self, key: StateKey) -> bool:
        return self.processor.tracker.attempt_records(key[1] or None) > 0

    def stopping(self) -> bool:
        return self.stop.signal is not None or self.destination.failure is not None

    def wake(self) -> bool:
        attempt = self.attempt
        return attempt is not None and attempt.wake()

    # ---- the run -----------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            if self._catalog is not None:
                self.processor.adopt_catalog(self._catalog)
            outcome = self._attempts()
        except DestinationGone as exc:
            self.destination.gone(str(exc))
            outcome = "destination"
        except ConfigError:  # a usage error found by the first attempt: no eof, like one found before it
            self.destination.close(self.options.destination_timeout, lambda: self.stop.hard)
            self.confirmations.save(force=True)
            raise
        return self._finish(outcome)

    # ---- deletes beyond the event window -----------------------------------------------------------
    def _sweep(self) -> None:
        """Once the read is over: wait until the destination answered everything forwarded (ours; an
        Airbyte/Singer destination answers no marker), then have the source confirm the delete candidates
        it reported (`sweep.py`); warn when either side cannot."""
        ends = self.processor.snapshot_markers.get("end", 0)
        # Airbyte and Singer destinations answer no snapshot marker, and some confirm only once their input
        # ends (target-jsonl): waiting for their confirmations here would only wait out drain_timeout.
        foreign = self.options.destination_protocol.foreign
        if not foreign:
            self.destination.await_confirmations(self.options.drain_timeout)
        confirmations = self.confirmations
        if ends and (foreign or not confirmations.wait_for_answers(ends, self.options.drain_timeout if
                                                                  self.options.verifying else 1.0,
                                                                  self.destination.stdout_closed)):
            self.output.event("the destination does not answer snapshot markers: deletes older than the "
                              "source's event window are not swept", "warn")
        for stream, why in sorted(confirmations.ignored.items()):
            self.output.event(f"{stream}: the destination ignored its snapshot ({why}): deletes older than "
                              "the event window are not swept", "warn")
        streams = {s["name"] for s in (self.processor.catalog or {}).get("streams", [])}
        candidates = {s: ids for s, ids in confirmations.take_candidates().items() if s in streams}
        if confirmations.candidates_left:
            self.output.event(f"{confirmations.candidates_left} more delete candidate(s) stay pending for "
                              f"the next run (a run confirms at most {confirmations.max_candidates:,})",
                              "warn")
        if not candidates:
            return
        if self.options.follow:
            self.output.event(f"{sum(map(len, candidates.values()))} delete candidate(s) wait for "
                              "confirmation by the next run without --follow", "warn")
            return
        self.tick(True)
        if self.options.source_protocol.foreign:  # Airbyte and Singer have no confirm command
            outcome = ConfirmOutcome(asked=sum(map(len, candidates.values())), unsupported=True)
        else:
            outcome = confirm_candidates(self.options.source_cmd, self.source_config, candidates,
                                         self.destination, self.output)
        self.sweep = outcome
        where = ", ".join(f"{s} ({len(ids)})" for s, ids in sorted(candidates.items()))
        if outcome.unsupported:
            self.output.event(f"{outcome.asked} delete candidate(s) of {where} cannot be confirmed: the "
                              "source has no `confirm` command, so deletes older than its event window are "
                              "not swept (they stay pending in the destination)", "warn")
            return
        if not self.options.verifying:
            self._fence()
        self.output.event(f"delete candidates of {where}: {outcome.tombstones} gone (tombstoned), "
                          f"{outcome.live} still exist (kept), {outcome.unanswered} unanswered")
        if outcome.unanswered:
            self.output.event(f"{outcome.unanswered} delete candidate(s) could not be confirmed and stay "
                              f"pending for the next run: {'; '.join(outcome.errors[-3:])}", "warn")

    def _attempts(self) -> str:
        history = History()
        while True:
            tracker = self.processor.tracker
            if self.processor.catalog is not None and not self.streams.to_read(self.processor.catalog):
                failure = self._end_of_read()  # every stream left out after permanent errors
                if failure is None:
                    return "done"
            else:
                failure = self._attempt()
                if self.stop.signal is not None:
                    return "interrupted"
                if failure is None:
                    return "done"
            decision = decide(self.options.policy, history, failure,
                              self.confirmations.progressed(tracker.advanced_streams()), random.random())
            history = decision.history
            gone = self.destination.failure is not None
            if not decision.restart:
                reason = self._with_confirmed(decision.reason) if gone else decision.reason
                self.final_error, self.gave_up_on = (failure.code, reason, not failure.permanent), failure
                if failure.code == "invalid_config":
                    return "config"
                return "destination" if gone else "failed"
            self.restarts += 1
            what = self.destination.who if gone else f"source attempt {self.generation}"
            self.output.event(f"{what} failed: {failure.message}; restarting {'both' if gone else 'it'} from "
                              f"the last confirmed state in {decision.delay:.1f}s", "warn")
            if not self._sleep(decision.delay):
                return "interrupted"
            if self.destination.failure is not None:
                self._restart_destination()
            tracker.new_attempt()
            for stream, why in self.streams.excluded.items():
                tracker.mark_skipped(stream, f"left out after a permanent error {why}")

    def _restart_destination(self) -> None:
        """A new destination process, with the catalog in use (raises ConnectorError when it cannot start)."""
        self.destination.restart(self.options.destination_timeout)
        try:
            self.processor.resend_catalog()
        except DestinationGone as exc:
            self.destination.gone(str(exc))

    def _attempt(self) -> Failure | None:
        """One source attempt (the first one's source started early, its state on the way); then, when it
        ended well, the end of the read (the destination must confirm everything)."""
        self.generation += 1
        started, self.first_source = self.first_source, None
        if self.destination.failure is not None:  # gone again at once: no source to start
            if started is not None:
                started.kill()
            self.confirmations.begin_generation(self.generation)
            return self._destination_failure()
        state, _ = self.confirmations.snapshot()
        attempt = self.attempt = SourceAttempt(self.generation, self.options, self.processor, self.lines,
                                               self.destination, self.output, self.streams, self.stopping,
                                               self.tick)
        failure = attempt.run(self.source_config, state, started)
        self.attempt = None
        if self.generation == 1 and self.streams.unknown(self.processor.catalog):
            self._check_stream_names()
        if self.stop.signal is not None:
            return None
        if self.destination.failure is not None:
            return self._destination_failure()
        return self._end_of_read() if failure is None else failure

    def _end_of_read(self) -> Failure | None:
        """The read is over: confirm the delete candidates (`_sweep`), then close the destination; None
        when it confirmed everything, else its failure (restarted like a crash mid-read)."""
        if self.destination.failure is None:
            try:
                self._sweep()
            except DestinationGone as exc:
                self.destination.gone(str(exc))
        return self._close_destination()

    def _close_destination(self) -> Failure | None:
        """Close the destination's stdin and wait for it: None when it exited well having confirmed every
        state it was sent."""
        destination = self.destination
        code = destination.close(self.options.destination_timeout, lambda: self.stop.hard)
        if code != 0 and destination.failure is None:
            destination.gone(f"{destination.who} {exit_text(code)}")
        if destination.failure is not None:
            return self._destination_failure()
        unconfirmed = destination.unconfirmed()
        if unconfirmed > 0 and self.options.destination_protocol.foreign:
            # A Singer target prints a state only after a flush that follows it, and exits 0 once it has
            # written everything: its rows are there, only the confirmed state lags (docs/third-party.md).
            self.output.event(f"{destination.who} exited 0 without printing its last {unconfirmed} "
                              "state(s); the confirmed state is the last one it printed, so the next run "
                              "re-reads from there", "warn")
            destination.accept_unconfirmed()
        elif unconfirmed > 0:
            state, confirmed = self.confirmations.snapshot()
            return Failure("permanent", "destination_failed", f"{destination.who} exited without confirming "
                           f"{unconfirmed} state(s); {confirmed_text(state, confirmed, unconfirmed)}")
        return None

    def _with_confirmed(self, text: str) -> str:
        """`text` plus what the destination confirmed and what it did not (when it is gone)."""
        state, confirmed = self.confirmations.snapshot()
        return f"{text}. {confirmed_text(state, confirmed, self.destination.unconfirmed())}"

    def _destination_failure(self) -> Failure:
        destination = self.destination
        return destination_failure(destination.exit_code, destination.last_error(),
                                   destination.failure or f"{destination.who} is gone")

    def _check_stream_names(self) -> None:
        """The source did not read every stream of `--streams`: if its catalog lacks some, that is a usage
        error naming the streams it has (ConfigError). Only now is `discover` run: not before every sync."""
        try:
            catalog = discover(self.options.source_cmd, self.source_config, self.options.source_protocol)
        except ConnectorError:
            return  # the attempt's own failure tells what happened
        unknown = self.streams.unknown(catalog)
        if unknown:
            names = sorted(str(s.get("name")) for s in catalog["streams"])
            raise ConfigError(f"--streams: unknown stream(s) {', '.join(unknown)}",
                              hint=f"available: {', '.join(names)}")

    def _sleep(self, seconds: float) -> bool:
        """Sleep the backoff (noticing a destination that exits meanwhile); False when stopped."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stop.signal is not None:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            self.tick(False)
            if not self.destination.closed:
                self.destination.check()
        return True

    def tick(self, force: bool = False) -> None:
        """Periodic duties of the main thread: notices, the Processor's progress and flushes, totals."""
        now = time.monotonic()
        if not force and now < self._next_tick:
            return
        self._next_tick = now + TICK_SECONDS
        self.output.drain()
        try:
            self.processor.tick()
        except DestinationGone as exc:
            self.destination.gone(str(exc))
        if now - self._last_totals_save >= TOTALS_SAVE_SECONDS:
            self._last_totals_save = now
            self._save_totals()

    def _fence(self) -> None:
        """Forward the last confirmed state once more after the confirmations' records: a fence that
        changes nothing (its data is already confirmed) but makes the destination commit them and echo
        their `destination_stats`, so the run's counts include them."""
        state, _ = self.confirmations.snapshot()
        if state.get("global") is not None:
            payload = {"state_type": "global", "data": state["global"]}
        elif state.get("streams"):
            name, data = next(iter(sorted(state["streams"].items())))
            payload = {"state_type": "stream", "stream": name, "data": data}
        else:
            return
        self.destination.forward_state(payload, self.generation, True)
        self.destination.await_confirmations(self.options.drain_timeout)

    # ---- totals ------------------------------------------------------------------------------------
    def _totals(self) -> Totals:
        tracker = self.processor.tracker
        return self.totals_base.plus(tracker.record_count, tracker.request_count or 0,
                                     int((time.monotonic() - self.start) * 1000), self.confirmations.stats)

    def _save_totals(self, ended: str | None = None, complete: bool = False) -> None:
        """Save the totals; `ended`: the run ended with this status (its history is recorded)."""
        if self.store is None:
            return
        totals = self._totals()
        if ended is not None:
            tracker = self.processor.tracker
            done = [n for n, t in tracker.streams.items() if t.status == COMPLETE and not t.errored]
            totals = totals.ended(int(time.time()), ended, done, complete)
        try:
            self.store.save_totals(totals)
        except OSError:
            pass

    def _progress_extra(self) -> dict:
        _, confirmed = self.confirmations.snapshot()
        return {"totals": self._totals().to_dict(), "destination_stats": self.confirmations.stats.to_wire(),
                "restarts": self.restarts, "generation": self.generation,
                "confirmed_state_count": confirmed, "discarded_line_count": self.lines.discarded}

    # ---- the end -----------------------------------------------------------------------------------
    def _finish(self, outcome: str) -> int:
        destination = self.destination
        if not destination.closed:  # stopped, or the source failed for good: it commits what it has
            code = destination.close(self.options.destination_timeout, lambda: self.stop.hard)
            if code != 0 and destination.failure is None:
                destination.gone(f"{destination.who} {exit_text(code)}")
        if destination.failure is not None and self.final_error is None:
            failure = self.gave_up_on = self._destination_failure()
            outcome = "config" if failure.code == "invalid_config" else "destination"
            self.final_error = (failure.code, self._with_confirmed(failure.message), not failure.permanent)
        self.confirmations.save(force=True)
        state, confirmed = self.confirmations.snapshot()
        unconfirmed = destination.unconfirmed()
        tracker = self.processor.tracker
        status, exit_code = run_status(outcome, unconfirmed, tracker.outcome(True), self.stop.signal)
        if self.final_error is not None:
            error_code, text, retryable = self.final_error
            self.processor.emit_error(messages.error_payload("global", error_code, text, retryable=retryable))
        has_more = status != "succeeded" or tracker.has_more() or self.options.follow
        self._save_totals(ended=status, complete=status == "succeeded" and not has_more)
        final = self.processor.snapshot()
        self.output.emit(messages.eof(status, has_more, state, final))
        self.output.flush()
        self.output.view.close(final)
        self.report(summary(RunSummary(
            status, exit_code, tracker.record_count, time.monotonic() - self.start, self.restarts,
            str(self.options.state_file) if self.store is not None else None,
            self.final_error[:2] if self.final_error else None,
            sorted(set(tracker.unfinished()) | set(tracker.errored()) | set(self.streams.excluded))
            + tracker.failed_partitions_text(),
            tracker.skipped(), None if self.options.verifying else self.confirmations.stats,
            self.options.mode if self.options.verifying else "sync")))
        return exit_code
