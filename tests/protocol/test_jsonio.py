"""protocol/jsonio.py: one line per message, flushed per message on a pipe, buffered on a file."""
from __future__ import annotations

import io
import os
import select
import subprocess
import sys

from protocol.jsonio import MessageWriter, dumps, dumps_line, loads
from protocol.messages import log, record

MSG = log("info", "héllo \n world", {"n": 1})


def test_dumps_line_is_compact_utf8_with_one_newline():
    line = dumps_line(MSG)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "héllo".encode() in line and b": " not in line
    assert loads(line) == MSG and dumps(MSG) + b"\n" == line


def test_writer_flushes_each_message_on_a_pipe():
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as reader, os.fdopen(w, "wb") as out:  # `out` is buffered
        writer = MessageWriter(out)
        assert writer.flush_each
        writer.write(MSG)
        ready, _, _ = select.select([reader], [], [], 2)
        assert ready, "the message did not reach the pipe without an explicit flush"
        assert reader.read(65536) == dumps_line(MSG)


def test_writer_buffers_on_a_regular_file(tmp_path):
    path = tmp_path / "out.jsonl"
    with open(path, "wb") as out:
        writer = MessageWriter(out)
        assert not writer.flush_each
        writer.write(MSG)
        assert path.stat().st_size == 0  # still in the buffer
        writer.flush()
        assert path.read_bytes() == dumps_line(MSG)


def test_child_process_output_arrives_per_message_through_a_pipe():
    """A subprocess writing through MessageWriter to a pipe: each line is readable before the next."""
    code = ("import sys, time\nfrom protocol.jsonio import MessageWriter\nw = MessageWriter()\n"
            "w.write({'type': 'log', 'log': {'level': 'info', 'message': 'first'}})\n"
            "sys.stdin.readline()\n"
            "w.write({'type': 'log', 'log': {'level': 'info', 'message': 'second'}})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        first = proc.stdout.readline()  # would block forever if the child buffered
        assert loads(first)["log"]["message"] == "first"
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        assert loads(proc.stdout.readline())["log"]["message"] == "second"
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_redaction_applies_to_logs_and_traces_not_records():
    seen = []
    writer = MessageWriter(open(os.devnull, "wb"), redact=lambda m: seen.append(m["type"]) or m)
    writer.write(MSG)
    writer.write(record("s", {"id": "1"}))
    assert seen == ["log"]


def test_eof_is_redacted_too_its_progress_repeats_error_messages():
    from protocol import messages
    from protocol.secrets import redact_message

    buf = io.BytesIO()
    error = {"code": "x", "message": "bad key sk_live_abcdefSECRET123 for postgresql://u:hunter2pw@h/db"}
    progress = {"elapsed_ms": 1, "record_count": 0, "records_per_second": 0.0,
                "streams": {"s": {"status": "complete", "errors": [error]}}}
    MessageWriter(buf, flush_each=True, redact=redact_message).write(
        messages.eof("partial", True, {"streams": {}, "global": None}, progress))
    out = buf.getvalue()
    assert b"SECRET123" not in out and b"hunter2pw" not in out and b"sk_live_****" in out
