"""protocol/jsonio.py: one line per message, flushed per message on a pipe, buffered on a file."""
from __future__ import annotations

import io
import os
import select
import subprocess
import sys
from decimal import Decimal

import pytest

from protocol.jsonio import (MAX_DEPTH, JSONDecodeError, MessageWriter, dumps, dumps_line, dumps_pretty,
                             loads, may_round)
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


# ---- numbers keep their exact value; any nesting the parser takes can be written back ---------------

EXACT = [b"123456789012345678901234567890", b"-123456789012345678901234567890", b"1e400", b"-1E+400",
         b"1.0000000000000000000001", b"1e-400", b"4.9e-324", b"18446744073709551616",
         b"0.30000000000000004441"]


@pytest.mark.parametrize("number", EXACT)
def test_numbers_orjson_cannot_hold_keep_their_exact_value(number):
    doc = b'{"n":' + number + b',"m":[1,2.5,"x"]}'
    parsed = loads(doc)
    assert Decimal(str(parsed["n"])) == Decimal(number.decode())
    assert parsed["m"][0] == 1 and type(parsed["m"][0]) is int  # small integers stay ints
    again = loads(dumps(parsed))
    assert Decimal(str(again["n"])) == Decimal(number.decode())
    assert dumps_line(parsed) == dumps(parsed) + b"\n"


def test_ordinary_documents_take_the_fast_path_and_look_as_before():
    doc = {"id": "cus_1", "amount": 1500, "created": 1_700_000_000, "ratio": 0.25, "phone": "+14155550123",
           "ms": 1_700_000_000_123}
    raw = dumps(doc)
    assert not may_round(raw) and loads(raw) == doc and type(loads(raw)["ratio"]) is float
    assert loads(b'{"big":9223372036854775807}') == {"big": 9_223_372_036_854_775_807}
    assert not may_round(b'{"id":"ch_00000000000000000001","url":"https://x/00000000000000000001"}')
    assert may_round(b'{"s":"x 12345678901234567"}') and loads(b'{"s":"x 12345678901234567"}') \
        == {"s": "x 12345678901234567"}  # a string that looks like a number only costs the exact parser


@pytest.mark.parametrize("depth", [254, 255, 300, 1024])
def test_any_depth_the_parser_accepts_is_written_back(depth):
    doc = b'{"a":' * depth + b"1" + b"}" * depth
    assert dumps(loads(doc)) == doc
    assert dumps_line(loads(doc)) == doc + b"\n"
    assert dumps(loads(dumps_pretty(loads(doc)))) == doc


def test_deeper_than_the_limit_and_what_orjson_refuses_stay_refused_by_the_exact_parser():
    too_deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    for doc in (too_deep, b"[1e999," + too_deep + b"]", b"[1e999, NaN]", b'[1e999, "\\ud800"]',
                b"[1e999,]", b"[1e999] x", b'[1e999, "\xff"]'):
        with pytest.raises(JSONDecodeError):
            loads(doc)


def test_exact_numbers_and_big_integers_are_written_exactly():
    assert dumps({"a": Decimal("1.50"), "b": 2 ** 70, "c": -(2 ** 70), "d": [Decimal("1E+400")]}) \
        == b'{"a":1.50,"b":1180591620717411303424,"c":-1180591620717411303424,"d":[1E+400]}'
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError):
        dumps(cyclic)
