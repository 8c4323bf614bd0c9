"""The one JSON-lines reader of the project: streaming, and never crashing on a bad line.

`iter_lines(stream)` yields, per input line, either a `Line` (line number, raw bytes, parsed object) or
a `BadLine` (line number, short excerpt, reason). It never raises for bad input: invalid JSON, invalid
UTF-8, a non-object, or a line longer than `max_line_bytes` (the over-long line is consumed in chunks,
never held in memory). The caller decides: skip it, or stop with `BadLine.describe()`. Memory stays
bounded by one line whatever the input size.

Good lines take the fast path (one `readline`, one parse, a tuple): the engine forwards a million lines
through it. Only a line that does not parse as an object is looked at again to say why (or, when only
the exact parser reads it, `1e400`, becomes a `Line` after all). Numbers in `Line.message` are exact
(`protocol.jsonio.loads`); with `exact=False` they may be rounded (orjson alone, a little faster): for
a caller that reads the envelope and forwards `Line.raw`, which is always the exact text.

`ChunkReader` reads a file descriptor in large chunks and knows whether a complete line is already
waiting (`has_line`): a destination delays a commit only while more input is ready, and must never sit
on an uncommitted checkpoint while it blocks on a read (`select()` alone cannot tell: a buffered reader
may hold whole lines after draining the pipe).
"""
from __future__ import annotations

import os
import select
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from protocol.jsonio import JSONDecodeError, loads, loads_fast

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
EXCERPT_CHARS = 80
CHUNK_BYTES = 1 << 20


class Readable(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class Line(NamedTuple):
    line_no: int
    raw: bytes  # the line as read, including its trailing newline when present
    message: dict


@dataclass(frozen=True)
class BadLine:
    line_no: int
    excerpt: str
    reason: str

    def describe(self) -> str:
        return f"line {self.line_no}: {self.reason} (starts with: {self.excerpt})"


def excerpt_of(raw: bytes, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable, single-line excerpt of raw bytes for error messages."""
    text = raw[: limit * 4].decode("utf-8", errors="replace").rstrip("\r\n")
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text[:limit] + ("..." if len(text) > limit or len(raw) > limit * 4 else "")


def parse_line(line_no: int, raw: bytes) -> Line | BadLine:
    """Parse one raw line into a `Line` or explain why it is a `BadLine`."""
    body = raw.strip()
    if not body:
        return BadLine(line_no, "", "empty line")
    try:
        obj = loads(body)
    except JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return BadLine(line_no, excerpt_of(raw), f"invalid UTF-8 at byte {uexc.start}")
        return BadLine(line_no, excerpt_of(raw), f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return BadLine(line_no, excerpt_of(raw), f"expected a JSON object, got {type(obj).__name__}")
    return Line(line_no, raw, obj)


def exact_line(item: Line | BadLine) -> Line | BadLine:
    """A line of a fast reader (`exact=False`) with its numbers exact, for a caller whose values travel on."""
    return Line(item.line_no, item.raw, loads(item.raw)) if type(item) is Line else item


def _drain_too_long(stream: Readable, head: bytes, line_no: int, max_line_bytes: int) -> BadLine:
    """Consume the rest of an over-long line without keeping it."""
    size = len(head)
    while True:
        chunk = stream.readline(CHUNK_BYTES)
        size += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            break
    return BadLine(line_no, excerpt_of(head[:EXCERPT_CHARS * 4]),
                   f"line too long ({size} bytes, limit {max_line_bytes})")


_new_tuple = tuple.__new__  # builds a Line without NamedTuple's Python-level __new__ (the hot path)


def iter_lines(stream: Readable, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               skip_blank: bool = True, exact: bool = True) -> Iterator[Line | BadLine]:
    """Yield a `Line` or `BadLine` for every line of a binary stream, streaming."""
    readline, limit, line_no, new = stream.readline, max_line_bytes + 1, 0, _new_tuple
    parse = loads if exact else loads_fast
    while True:
        raw = readline(limit)
        if not raw:
            return
        line_no += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            yield _drain_too_long(stream, raw, line_no, max_line_bytes)
            continue
        try:
            msg = parse(raw)
        except JSONDecodeError:
            msg = None
        if type(msg) is dict:
            yield new(Line, (line_no, raw, msg))
        elif not (skip_blank and not raw.strip()):
            yield parse_line(line_no, raw)


class ChunkReader:
    """A minimal binary reader over a file descriptor: `readline(limit)` for `iter_lines`, plus `has_line`."""

    def __init__(self, fd: int, chunk: int = CHUNK_BYTES):
        self.fd, self.chunk = fd, chunk
        self.buf, self.pos, self.eof = b"", 0, False

    def readline(self, limit: int = -1, /) -> bytes:
        while True:
            end = len(self.buf) if limit < 0 else min(len(self.buf), self.pos + limit)
            nl = self.buf.find(b"\n", self.pos, end)
            if nl >= 0:
                return self._take(nl + 1)
            if end - self.pos == limit or self.eof:
                return self._take(end)
            data = os.read(self.fd, self.chunk)
            if not data:
                self.eof = True
            self.buf, self.pos = self.buf[self.pos:] + data, 0

    def _take(self, end: int) -> bytes:
        line, self.pos = self.buf[self.pos:end], end
        return line

    def has_line(self, wait: float = 0.0) -> bool:
        """True when `readline` would return at once: a whole line is buffered, or input is readable
        (waiting up to `wait` seconds for it)."""
        if self.eof or self.buf.find(b"\n", self.pos) >= 0:
            return True
        try:
            return bool(select.select([self.fd], [], [], wait)[0])
        except (OSError, ValueError):
            return False
