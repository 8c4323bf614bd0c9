"""The destination of a sync run: its `write` process, the sink the Processor writes into, the thread
that turns its echoes into confirmed state (`confirmations.py`), and its health.

A foreign destination (Airbyte, Singer: `engine.adapters`) gets our messages translated to its protocol
and its output translated back before `Confirmations` sees it; one lock guards the translator, which
both threads use (it keeps the states not yet confirmed). Its command line follows its protocol.

Writes to its stdin block (back-pressure: a slow destination slows the source down). Each forwarded
state is tagged with its attempt's `_generation` and announced to `Confirmations` before it is written
(the echo may come back at once). A broken pipe becomes `DestinationGone`; `gone()` then records the
most telling reason (the destination's exit code and last error rather than "broken pipe").

`restart()` replaces a destination process that is gone by a new one (after the old one's last echoes
are read: the states a dead destination echoed are the only truth); the session then sends it the
catalog and a new source attempt from the confirmed state. The same `Destination` object (and so the
Processor's bound `write`) serves every process of the run; a foreign one gets a new translator.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from engine.adapters.base import DestinationTranslator, as_lines, who
from engine.adapters.protocols import DestinationProtocol
from engine.sync.children import ArgFile, Child
from engine.sync.confirmations import Confirmations
from engine.sync.confirmed import GENERATION_KEY, tag_state
from engine.sync.outcome import exit_text
from engine.sync.output import RunOutput
from protocol import messages
from protocol.jsonio import dumps_line, loads
from protocol.reader import BadLine, Line
from protocol.state import StateKey, state_key


class DestinationGone(Exception):
    """The destination's stdin is closed: it exited or crashed."""


def start_writer(argv: list[str], config: ArgFile, output: RunOutput,
                 protocol: DestinationProtocol | None = None, catalog: dict | None = None,
                 write_args: list[str] | None = None) -> Child:
    """Start the destination's `write` in the form of its protocol (it waits for its input; raises
    ConnectorError). `catalog`: for a protocol whose `write` takes it on its command line; `write_args`:
    `--verify` / `--repair` (options.write_args: destinations of ours)."""
    protocol = protocol or DestinationProtocol()
    files = [config]
    if protocol.needs_catalog:
        files.append(ArgFile(protocol.catalog_arg((catalog or {}).get("streams") or []), "catalog"))
    write = protocol.write_argv(argv, config.path, files[1].path if len(files) > 1 else None)
    write += write_args or []
    try:
        return Child("destination", write, files, stdin=True, on_stderr=output.on_stderr)
    finally:
        for f in files[1:]:
            f.close()


class LockedTranslator:
    """A foreign destination's translator shared by the main thread (our messages in) and the reader
    of its stdout (its echoes out): one lock around both."""

    def __init__(self, translator: DestinationTranslator):
        self.translator, self.lock = translator, threading.Lock()

    def data(self, msg: dict) -> list[dict]:
        with self.lock:
            return self.translator.data(msg)

    def begin(self, state: dict) -> list[dict]:
        with self.lock:
            return self.translator.begin(state)

    def flush(self) -> list[dict]:
        with self.lock:
            return self.translator.flush()

    def finish(self) -> list[dict]:
        with self.lock:
            return self.translator.finish()

    def echoes(self, items: Iterable[Line | BadLine]) -> Iterator[Line | BadLine]:
        for item in items:
            if isinstance(item, BadLine):
                yield item
                continue
            with self.lock:
                msgs = self.translator.echo(item.message)
            yield from as_lines(msgs, item.line_no)


class Destination:
    def __init__(self, argv: list[str], config: ArgFile, confirmations: Confirmations, output: RunOutput,
                 protocol: DestinationProtocol | None = None, catalog: dict | None = None,
                 write_args: list[str] | None = None, child: Child | None = None):
        """The destination's `write` process (`child`: the one started early), and its echoes."""
        self.confirmations, self.output = confirmations, output
        self.protocol = protocol or DestinationProtocol()
        self.argv, self.config, self.catalog, self.write_args = argv, config, catalog, write_args or []
        # how messages name it: a foreign destination by its protocol and command
        self.who = who("destination", self.protocol.name, argv)
        self.starts = 0
        self._start(child)
        self.write: Callable[[bytes], None] = self._write_translated if self.translator else self._write
        if self.translator is not None:
            self._send(self.translator.begin(confirmations.snapshot()[0]))

    def _start(self, child: Child | None = None) -> None:
        """A `write` process (`child`: the first one, started early) and the thread reading its echoes."""
        translator = self.protocol.translator(self.who)
        self.translator = LockedTranslator(translator) if translator is not None else None
        self.child = child or start_writer(self.argv, self.config, self.output, self.protocol, self.catalog,
                                           self.write_args)
        assert self.child.proc.stdin is not None and self.child.proc.stdout is not None
        self.stdin = self.child.proc.stdin
        self.echo_base = self.confirmations.new_destination()
        self.stdout_closed = threading.Event()  # every echo it made was read
        self.closed = False  # close() ran: its stdin is closed and it exited
        translate = self.translator.echoes if self.translator is not None else None
        self.reader = threading.Thread(target=self._read, args=(self.child.proc.stdout, translate),
                                       name="destination-stdout", daemon=True)
        self.reader.start()
        self.forwarded_states = 0
        self.failure: str | None = None  # why it is gone, once it is
        self.exit_code: int | None = None  # once it exited
        self.starts += 1

    def _read(self, stdout: BinaryIO, translate: Callable[[Iterable[Line | BadLine]],
                                                        Iterator[Line | BadLine]] | None) -> None:
        try:
            self.confirmations.run(stdout, translate)
        finally:
            self.stdout_closed.set()

    def restart(self, timeout: float) -> None:
        """Reap the process that is gone (reading its last echoes), then start a new one."""
        self.close(timeout, lambda: True)
        self._start()
        if self.translator is not None:
            try:
                self._send(self.translator.begin(self.confirmations.snapshot()[0]))
            except DestinationGone as exc:
                self.gone(str(exc))

    def unconfirmed(self) -> int:
        """States forwarded to this process that it did not echo."""
        _, count = self.confirmations.snapshot()
        return self.forwarded_states - (count - self.echo_base)

    def accept_unconfirmed(self) -> None:
        """Its protocol cannot confirm the last states it got (a Singer target): they count as not sent."""
        self.forwarded_states -= self.unconfirmed()

    # ---- writing -----------------------------------------------------------------------------------
    def _write(self, raw: bytes) -> None:
        try:
            self.stdin.write(raw)
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None

    def _write_translated(self, raw: bytes) -> None:
        """One of our data lines (catalog, record) in the destination's protocol."""
        assert self.translator is not None
        self._send(self.translator.data(loads(raw)))

    def _send(self, msgs: list[dict]) -> None:
        for msg in msgs:
            self._write(dumps_line(msg))

    def flush(self) -> None:
        if self.translator is not None:
            self._send(self.translator.flush())
        try:
            self.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise DestinationGone(str(exc)) from None

    def forward_state(self, payload: dict, generation: int, had_records: bool) -> None:
        key = state_key(payload)
        if key is not None:  # before the write: the echo may come back at once
            self.confirmations.forwarded(key, payload.get("data"), had_records)
        if self.translator is not None:
            self._send(self.translator.data({"type": "state",
                                             "state": {**payload, GENERATION_KEY: generation}}))
        else:
            self._write(tag_state({"type": "state", "state": payload}, generation))
        self.forwarded_states += 1
        self.flush()

    # ---- health ------------------------------------------------------------------------------------
    def check(self) -> None:
        """Notice a destination that exited while the source still runs."""
        code = self.child.poll()
        if code is not None and self.failure is None:
            self.gone(f"{self.who} {exit_text(code)}")

    def gone(self, detail: str) -> None:
        """Record why the destination is gone (once), preferring its exit code and its last error."""
        if self.failure is not None:
            return
        self.stdout_closed.wait(2.0)
        code = self.exit_code = self.child.wait(2.0)  # a broken pipe says less than its own exit
        if code not in (None, 0):
            detail = f"{self.who} {exit_text(code)}"
        tail = self.child.stderr_tail()
        errors = self.confirmations.errors
        reason = f"[{errors[-1].get('code')}] {errors[-1].get('message')}" if errors else tail
        self.failure = detail + (f": {reason}" if reason else "")

    def last_error(self) -> dict | None:
        """The last error trace this process printed, if any."""
        errors = self.confirmations.errors
        return errors[-1] if errors else None

    def await_confirmations(self, timeout: float) -> None:
        """Wait (up to `timeout`) until every forwarded state is echoed or the destination closed."""
        self.flush()
        self.confirmations.wait_for(self.echo_base + self.forwarded_states, timeout, self.stdout_closed)

    def close(self, timeout: float, hard_stop: Callable[[], bool]) -> int | None:
        """Close its stdin (it commits what it has and echoes the last states), wait for it to exit
        (killing it after `timeout`, or at once on `hard_stop()`), and read its last echoes."""
        try:
            if self.translator is not None:  # what its protocol wants at the end (Singer: the last STATE)
                self._send(self.translator.finish())
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
            self.output.event(f"{self.who} did not finish in time; killing it", "error")
            code = self.child.kill()
        self.reader.join(timeout=10.0)
        self.output.drain()
        self.exit_code, self.closed = code, True
        return code


class DestinationSink:
    """The Processor's channels in `engine sync`: data into the destination's stdin, messages to the run's
    output. `generation()` is the attempt in flight; `had_records(key)` whether records of that state's
    stream (of any stream for a global state) came before it in this attempt."""

    def __init__(self, destination: Destination, output: RunOutput, generation: Callable[[], int],
                 had_records: Callable[[StateKey], bool], forward_states: bool = True):
        self.destination, self.output = destination, output
        self.generation, self.had_records = generation, had_records
        self.forward_states = forward_states  # False for `engine verify`: no state ever reaches it
        self.data: Callable[[bytes], object] = destination.write

    def catalog(self, raw: bytes, payload: dict) -> None:
        """To the destination, and to the run's output (its first message, as in pipe mode)."""
        self.destination.write(raw)
        self.output.emit(messages.catalog(payload["streams"]))

    def state(self, raw: bytes, payload: dict) -> None:
        if not self.forward_states:
            return
        key = state_key(payload)
        self.destination.forward_state(payload, self.generation(), key is not None and self.had_records(key))

    def message(self, msg: dict) -> None:
        self.output.emit(msg)

    def flush(self) -> None:
        self.destination.flush()
