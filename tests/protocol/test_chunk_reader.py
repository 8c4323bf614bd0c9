"""protocol.reader.ChunkReader: lines as iter_lines expects them, and an exact 'is a line waiting' answer."""
import os

from protocol.reader import BadLine, ChunkReader, iter_lines


def test_lines_limits_and_has_line():
    r, w = os.pipe()
    try:
        reader = ChunkReader(r, chunk=7)
        assert not reader.has_line()
        os.write(w, b'{"a": 1}\n{"b": 2}\npart')
        assert reader.has_line()
        assert reader.readline() == b'{"a": 1}\n'
        assert reader.has_line()  # the second line is buffered, the pipe may be empty
        assert reader.readline() == b'{"b": 2}\n'
        os.write(w, b"ial-line-that-is-long\n")
        assert reader.readline(5) == b"parti"  # at most `limit` bytes, like io.BufferedReader
        assert reader.readline() == b"al-line-that-is-long\n"
        assert not reader.has_line()
        os.write(w, b"tail")
        os.close(w)
        w = None
        assert reader.readline() == b"tail" and reader.readline() == b"" and reader.has_line()
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_iter_lines_over_chunk_reader_reports_an_overlong_line():
    r, w = os.pipe()
    os.write(w, b'{"x": "' + b"y" * 100 + b'"}\n{"ok": true}\n')
    os.close(w)
    items = list(iter_lines(ChunkReader(r, chunk=16), max_line_bytes=50))
    os.close(r)
    assert isinstance(items[0], BadLine) and "too long" in items[0].reason
    assert items[1].message == {"ok": True} and items[1].line_no == 2
