"""Reading stdin in large chunks while knowing whether a complete line is already waiting.

The loader delays a checkpoint's commit only while more input is ready, and must never sit on an
uncommitted checkpoint while it blocks on a read. `select()` alone cannot tell: a buffered reader may
hold whole lines after draining the pipe. `ChunkReader` owns its buffer, so `has_line()` is exact:
a complete line in the buffer, or bytes readable on the descriptor.
"""
from __future__ import annotations

import os
import select

CHUNK = 1 << 20


class ChunkReader:
    """A minimal binary reader over a file descriptor: `readline(limit)` for protocol.reader.iter_lines."""

    def __init__(self, fd: int, chunk: int = CHUNK):
        self.fd, self.chunk = fd, chunk
        self.buf, self.pos, self.eof = b"", 0, False

    def readline(self, limit: int = -1) -> bytes:
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
