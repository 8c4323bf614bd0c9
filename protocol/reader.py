"""Streaming JSON-lines reader that never crashes on a bad line.

`iter_lines(stream)` yields, per input line, either a `Line` (raw bytes and the parsed object) or a
`BadLine` (line number, short excerpt, reason). It never raises for bad input: invalid JSON, invalid
UTF-8, a non-object, or a line longer than `max_line_bytes` (the over-long line is consumed in chunks,
never held in memory). The caller decides: skip it, or stop with `BadLine.describe()`.
Memory stays bounded by one line whatever the input size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

from protocol.jsonio import JSONDecodeError, loads

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
EXCERPT_CHARS = 80


@dataclass(frozen=True)
class Line:
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


def iter_lines(stream: BinaryIO, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               skip_blank: bool = True) -> Iterator[Line | BadLine]:
    """Yield a `Line` or `BadLine` for every line of a binary stream, streaming."""
    line_no = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            head = raw[:EXCERPT_CHARS * 4]
            size = len(raw)
            while True:  # drain the rest of the over-long line without keeping it
                chunk = stream.readline(1024 * 1024)
                size += len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield BadLine(line_no, excerpt_of(head),
                          f"line too long ({size} bytes, limit {max_line_bytes})")
            continue
        if skip_blank and not raw.strip():
            continue
        yield parse_line(line_no, raw)
