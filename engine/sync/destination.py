"""The destination of a sync run: its `write` process, the sink the Processor writes into, the thread
that turns its echoes into confirmed state (`confirmations.py`), and its health.

Writes to its stdin block (back-pressure: a slow destination slows the source down). Each forwarded
state is tagged with its attempt's `_generation` and announced to `Confirmations` before it is written
(the echo may come back at once). A broken pipe becomes `DestinationGone`; `gone()` then records the
most telling reason (the destination's exit code and last error rather than "broken pipe").
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.sync.children import ArgFile, Child
from engine.sync.confirmations import Confirmations
from engine.sync.confirmed import tag_state
from engine.sync.outcome import exit_text
from engine.sync.output import RunOutput
from protocol import messages
from protocol.state import StateKey, state_key


class DestinationGone(Exception):
    """The destination's stdin is closed: it exited or crashed."""


def start_writer(argv: list[str], config: ArgFile, output: RunOutput) -> Child:
    """Start `<destination> write --config C` (it waits for its input; raises ConnectorError)."""
    return Child("destination", argv + ["write", "--config", config.path], [config], stdin=True,
                 on_stderr=output.on_stderr)


class Destination:
    def __init__(self, argv: list[str], config: ArgFile, confirmations: Confirmations, output: RunOutput,
                 child: Child | None = None):
        """The destination's `write` process (`child`: the one started early), and its echoes."""
        self.confirmations, self.output = confirmations, output
        self.child = child or start_writer(argv, config, output)
        assert self.child.proc.stdin is not None and self.child.proc.stdout is not None
        self.stdin = self.child.proc.stdin
        self.reader = threading.Thread(target=confirmations.run, args=(self.child.proc.stdout,),
                                       name="destination-stdout", daemon=True)
        self.reader.start()
        self.forwarded_states = 0
        self.failure: str | None = None  # why it is gone, once it is

    # ---- writing -----------------------------------------------------------------------------------
    def write(self, raw: bytes) -> None:
        try:
            self.stdin.write(raw)
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None

    def flush(self) -> None:
        try:
            self.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None

    def forward_state(self, payload: dict, generation: int, had_records: bool) -> None:
        key = state_key(payload)
        if key is not None:  # before the write: the echo may come back at once
            self.confirmations.forwarded(key, payload.get("data"), had_records)
        self.write(tag_state({"type": "state", "state": payload}, generation))
        self.forwarded_states += 1
        self.flush()

    # ---- health ------------------------------------------------------------------------------------
    def check(self) -> None:
        """Notice a destination that exited while the source still runs."""
        code = self.child.poll()
        if code is not None and self.failure is None:
            self.gone(f"the destination {exit_text(code)}")

    def gone(self, detail: str) -> None:
        """Record why the destination is gone (once), preferring its exit code and its last error."""
        if self.failure is not None:
            return
        self.confirmations.eof.wait(2.0)
        code = self.child.wait(2.0)  # a broken pipe says less than the destination's own exit
        if code not in (None, 0):
            detail = f"the destination {exit_text(code)}"
        tail = self.child.stderr_tail()
        errors = self.confirmations.errors
        reason = f"[{errors[-1].get('code')}] {errors[-1].get('message')}" if errors else tail
        self.failure = detail + (f": {reason}" if reason else "")

    def await_confirmations(self, timeout: float) -> None:
        """Wait (up to `timeout`) until every forwarded state is echoed or the destination closed."""
        self.flush()
        self.confirmations.wait_for(self.forwarded_states, timeout)

    def close(self, timeout: float, hard_stop: Callable[[], bool]) -> int | None:
        """Close its stdin (it commits what it has and echoes the last states), wait for it to exit
        (killing it after `timeout`, or at once on `hard_stop()`), and read its last echoes."""
        try:
            self.flush()
        except DestinationGone:
            pass
        try:
            self.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        deadline = time.monotonic() + timeout
        code = None
        while time.monotonic() < deadline:
            code = self.child.wait(0.1)
            self.output.drain()
            if code is not None or hard_stop():
                break
        if code is None:
            self.output.event("the destination did not finish in time; killing it", "error")
            code = self.child.kill()
        self.reader.join(timeout=10.0)
        self.output.drain()
        return code


class DestinationSink:
    """The Processor's channels in `engine sync`: data into the destination's stdin, messages to the run's
    output. `generation()` is the attempt in flight; `had_records(key)` whether records of that state's
    stream (of any stream for a global state) came before it in this attempt."""

    def __init__(self, destination: Destination, output: RunOutput, generation: Callable[[], int],
                 had_records: Callable[[StateKey], bool]):
        self.destination, self.output = destination, output
        self.generation, self.had_records = generation, had_records
        self.data: Callable[[bytes], object] = destination.write

    def catalog(self, raw: bytes, payload: dict) -> None:
        """To the destination, and to the run's output (its first message, as in pipe mode)."""
        self.destination.write(raw)
        self.output.emit(messages.catalog(payload["streams"]))

    def state(self, raw: bytes, payload: dict) -> None:
        key = state_key(payload)
        self.destination.forward_state(payload, self.generation(), key is not None and self.had_records(key))

    def message(self, msg: dict) -> None:
        self.output.emit(msg)

    def flush(self) -> None:
        self.destination.flush()
