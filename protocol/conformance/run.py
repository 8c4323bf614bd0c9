"""Running a connector command for the conformance kit: the one I/O edge of the kit.

`run_command(argv, on_line, ...)` starts the command in its own process group, feeds `stdin_lines` from
a thread, hands every stdout line to `on_line` as it arrives (via `protocol.reader.iter_lines`, so
memory stays bounded whatever the output size), spools stderr to a temporary file, and kills the whole
process group when `timeout` seconds pass. Stderr is then scanned in chunks for secrets and crash
tracebacks; only its first few kilobytes are kept for the report.
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from protocol.reader import BadLine, Line, iter_lines

STDERR_HEAD_BYTES = 4096
# How crashes look on stderr in common languages (Python, Rust, Java, Go, Node).
TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b"panicked at", b"Exception in thread",
                     b"goroutine 1 [", b"    at Object.<anonymous>")


@dataclass
class RunResult:
    argv: list[str]
    exit_code: int | None  # None when killed after the timeout
    timed_out: bool = False
    seconds: float = 0.0
    stderr_head: str = ""
    stderr_secret: bool = False
    stderr_traceback: str = ""  # the first marker found, if any
    stdout_lines: int = 0


@dataclass
class _Spool:
    forms: list[bytes]
    head: bytearray = field(default_factory=bytearray)
    secret: bool = False
    traceback: str = ""


def run_command(argv: list[str], on_line: Callable[[Line | BadLine], None], timeout: float = 60.0,
                stdin_lines: Iterable[bytes] | None = None, secret_forms: Iterable[bytes] = (),
                cwd: str | None = None) -> RunResult:
    """Run one command to completion (or timeout), streaming its stdout lines to `on_line`."""
    started = time.monotonic()
    result = RunResult(list(argv), exit_code=None)
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv,
                                    stdin=subprocess.PIPE if stdin_lines is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err, start_new_session=True, cwd=cwd)
        except OSError as exc:  # not found, not executable: report like a shell would
            result.exit_code = 127 if isinstance(exc, FileNotFoundError) else 126
            result.stderr_head = f"cannot run {argv[0]!r}: {exc.strerror or exc}"
            return result
        assert proc.stdout is not None
        timer = threading.Timer(timeout, _kill_group, args=(proc, result))
        timer.daemon = True
        timer.start()
        feeder = None
        if stdin_lines is not None:
            feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin_lines), daemon=True)
            feeder.start()
        try:
            for item in iter_lines(proc.stdout, skip_blank=False):
                result.stdout_lines += 1
                on_line(item)
        finally:
            proc.stdout.close()
            code = proc.wait()
            timer.cancel()
            if feeder is not None:
                feeder.join(timeout=5)
        result.exit_code = None if result.timed_out else code
        result.seconds = time.monotonic() - started
        spool = _scan_stderr(err, list(secret_forms))
    result.stderr_head = spool.head.decode("utf-8", errors="replace")
    result.stderr_secret, result.stderr_traceback = spool.secret, spool.traceback
    return result


def _kill_group(proc: subprocess.Popen, result: RunResult) -> None:
    result.timed_out = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created: the command and its children
    except (ProcessLookupError, PermissionError):
        pass


def _feed(stdin: IO[bytes], lines: Iterable[bytes]) -> None:
    try:
        for line in lines:
            stdin.write(line)
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the command stopped reading; its exit code and output tell the story


def _scan_stderr(err: IO[bytes], forms: list[bytes], chunk_size: int = 1 << 20) -> _Spool:
    """Look for secrets and traceback markers in the spooled stderr, chunk by chunk (with overlap)."""
    spool = _Spool(forms)
    err.seek(0)
    overlap = max([len(f) for f in forms] + [len(m) for m in TRACEBACK_MARKERS]) - 1
    tail = b""
    while True:
        chunk = err.read(chunk_size)
        if not chunk:
            return spool
        if len(spool.head) < STDERR_HEAD_BYTES:
            spool.head += chunk[:STDERR_HEAD_BYTES - len(spool.head)]
        window = tail + chunk
        spool.secret = spool.secret or any(f in window for f in forms)
        if not spool.traceback:
            spool.traceback = next((m.decode() for m in TRACEBACK_MARKERS if m in window), "")
        tail = window[-overlap:] if overlap > 0 else b""
