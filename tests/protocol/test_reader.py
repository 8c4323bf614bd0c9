"""protocol/reader.py: every kind of bad line becomes a BadLine with its line number and a readable
reason, reading goes on with the next line, over-long lines are skipped in bounded memory, and reading
streams (memory does not grow with the input)."""
from __future__ import annotations

import io
from decimal import Decimal
import tracemalloc

import pytest

from protocol.jsonio import dumps_line
from protocol.reader import DEFAULT_MAX_LINE_BYTES, BadLine, Line, iter_lines, parse_line

GOOD = dumps_line({"type": "log", "log": {"level": "info", "message": "ok"}})


def read_all(data: bytes, **kwargs) -> list:
    return list(iter_lines(io.BytesIO(data), **kwargs))


@pytest.mark.parametrize("bad,reason", [
    (b'{"type": "log", "log": \n', "invalid JSON"),
    (b"not json at all\n", "invalid JSON"),
    (b'{"type":"log","log":{"level":"info","message":"\xff\xfe"}}\n', "invalid UTF-8 at byte"),
    (b"[1, 2, 3]\n", "expected a JSON object, got list"),
    (b'"just a string"\n', "expected a JSON object, got str"),
    (b"42\n", "expected a JSON object, got int"),
    (b"null\n", "expected a JSON object, got NoneType"),
])
def test_bad_line_is_reported_with_its_number_and_reading_continues(bad, reason):
    items = read_all(GOOD + bad + GOOD)
    assert [type(i) for i in items] == [Line, BadLine, Line]
    assert [i.line_no for i in items] == [1, 2, 3]
    assert reason in items[1].reason
    text = items[1].describe()
    assert text.startswith("line 2: ") and reason in text
    assert "Traceback" not in text and "\n" not in text


def test_empty_lines_are_skipped_by_default_but_keep_line_numbers():
    items = read_all(GOOD + b"\n   \n" + GOOD)
    assert [i.line_no for i in items] == [1, 4]
    strict = read_all(GOOD + b"\n" + GOOD, skip_blank=False)
    assert isinstance(strict[1], BadLine) and strict[1].line_no == 2 and strict[1].reason == "empty line"
    assert strict[2].line_no == 3


def test_last_line_without_newline_and_crlf_are_read():
    items = read_all(GOOD.rstrip(b"\n") + b"\r\n" + GOOD.rstrip(b"\n"))
    assert [type(i) for i in items] == [Line, Line]
    assert items[0].message == items[1].message


def test_line_keeps_its_raw_bytes_for_forwarding():
    (item,) = read_all(GOOD)
    assert item.raw == GOOD and item.message["log"]["message"] == "ok"


def test_ten_megabyte_line_is_a_bad_line_and_the_next_line_is_read():
    huge = b'{"type":"record","record":{"stream":"s","data":{"x":"' + b"a" * (10 * 1024 * 1024) + b'"}}}\n'
    items = read_all(GOOD + huge + GOOD)  # default limit: 8 MiB
    assert [type(i) for i in items] == [Line, BadLine, Line]
    bad = items[1]
    assert bad.line_no == 2 and items[2].line_no == 3
    assert f"line too long ({len(huge)} bytes, limit {DEFAULT_MAX_LINE_BYTES})" == bad.reason
    assert bad.excerpt.startswith('{"type":"record"') and len(bad.excerpt) <= 83


def test_small_limit_and_boundaries():
    line = b'{"k":"' + b"x" * 20 + b'"}\n'  # 29 bytes including the newline
    assert isinstance(read_all(line, max_line_bytes=28)[0], Line)  # the newline does not count
    items = read_all(line + line.rstrip(b"\n"), max_line_bytes=27)
    assert [type(i) for i in items] == [BadLine, BadLine]
    assert "limit 27" in items[0].reason and items[1].line_no == 2


def test_excerpt_is_short_printable_and_single_line():
    bad = parse_line(7, b"\xff" * 10 + b"\r\n")
    assert bad.line_no == 7 and "\n" not in bad.excerpt and "\r" not in bad.excerpt
    long_bad = parse_line(1, b"x" * 1000 + b"\n")
    assert long_bad.excerpt.endswith("...") and len(long_bad.excerpt) <= 83


class GeneratedLines(io.RawIOBase):
    """A readable stream producing `count` protocol lines on the fly (the input is never in memory)."""

    TEMPLATE = dumps_line({"type": "record", "record": {"stream": "customers", "data": {
        "id": "cus_%08d", "name": "x" * 60}, "emitted_at": 1700000000000}})

    def __init__(self, count: int):
        self.next, self.count = 0, count
        self.pending = b""
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if len(self.pending) < len(buf) and self.next < self.count:
            batch = range(self.next, min(self.count, self.next + 1000))
            self.pending += b"".join(self.TEMPLATE % n for n in batch)
            self.next = batch.stop
        chunk, self.pending = self.pending[:len(buf)], self.pending[len(buf):]
        buf[:len(chunk)] = chunk
        self.produced += len(chunk)
        return len(chunk)


def test_reading_streams_in_bounded_memory():
    source = GeneratedLines(200_000)
    stream = io.BufferedReader(source)
    tracemalloc.start()
    try:
        count = 0
        for item in iter_lines(stream):
            assert isinstance(item, Line)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert source.produced > 25_000_000
    assert peak < 1_000_000, f"peak {peak} bytes for {source.produced} bytes of input"


def test_valid_numbers_orjson_refuses_or_rounds_are_good_lines_with_exact_values():
    line = b'{"type":"record","record":{"data":{"id":"a","n":1e400,"big":12345678901234567890123}}}\n'
    for exact in (True, False):
        item, = read_all(line, exact=exact)
        assert isinstance(item, Line) and item.raw == line
        assert item.message["record"]["data"]["n"] == Decimal("1e400")
    rounded = b'{"type":"state","state":{"big":123456789012345678901}}\n'
    assert read_all(rounded)[0].message["state"]["big"] == 123456789012345678901
    assert read_all(rounded, exact=False)[0].raw == rounded  # a fast reader's caller forwards the raw bytes
