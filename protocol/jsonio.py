"""JSON encoding for the whole project: the one module that imports orjson.

Wire rules (docs/protocol.md, "Framing"): UTF-8 JSON, one message per line, `\\n`-terminated. `dumps`/`loads`
work on bytes; `MessageWriter` writes lines to a binary stream, flushing after every message when the
stream is a pipe or a terminal (a downstream process must see a checkpoint as soon as it exists) and
buffering otherwise (files), where throughput matters more.
"""
from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

JSONDecodeError = orjson.JSONDecodeError
_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    """Serialize to compact JSON bytes (no trailing newline)."""
    return orjson.dumps(obj, option=_OPTS)


def dumps_line(obj: Any) -> bytes:
    """Serialize to one wire line: compact JSON plus `\\n`."""
    return orjson.dumps(obj, option=_OPTS | orjson.OPT_APPEND_NEWLINE)


def dumps_pretty(obj: Any) -> str:
    """Human-readable, key-sorted JSON text (for files people read and diff)."""
    return orjson.dumps(obj, option=_OPTS | orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises `JSONDecodeError` (a ValueError) on bad JSON or invalid UTF-8."""
    return orjson.loads(data)


def _is_interactive_stream(stream: BinaryIO) -> bool:
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class MessageWriter:
    """Writes protocol messages as JSON lines to a binary stream.

    `flush_each` defaults to True for pipes, sockets and terminals and False for regular files.
    A `redact` callable, when given, is applied to every log/trace/connection_status/control/eof message
    before it is written (records are data and pass untouched; eof repeats error messages in its progress).
    """

    def __init__(self, stream: BinaryIO | None = None, flush_each: bool | None = None,
                 redact: Callable[[dict], dict] | None = None):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.flush_each = _is_interactive_stream(self.stream) if flush_each is None else flush_each
        self.redact = redact

    def write(self, message: dict) -> None:
        if self.redact is not None and message.get("type") in ("log", "trace", "connection_status",
                                                               "control", "eof"):
            message = self.redact(message)
        self.write_raw(dumps_line(message))

    def write_raw(self, line: bytes) -> None:
        """Write an already serialized line (must end with `\\n`); used to forward without re-encoding."""
        self.stream.write(line)
        if self.flush_each:
            self.stream.flush()

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass
