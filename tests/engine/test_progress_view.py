"""The progress view: the live view under a pseudo-terminal shows every stream and the totals; the
plain mode matches a snapshot (times and rates normalized); the frame renderer is pure."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from engine.progress_view import PlainView, bar, coverage, render_frame
from protocol import messages
from protocol.jsonio import dumps_line
from tests.engine.conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def scripted_input() -> bytes:
    t0 = 1_600_000_000
    lines = [messages.catalog([messages.catalog_stream(n, {})
                               for n in ("customers", "charges", "issuing_cards", "payouts")])]
    lines.append(messages.stream_status("customers", "started", time_range={"gte": t0, "lt": t0 + 100}))
    lines += [messages.record("customers", {"id": f"cus_{i}"}, emitted_at=1) for i in range(30)]
    lines.append(messages.stream_status("customers", "started", range_complete={"gte": t0, "lt": t0 + 50}))
    lines.append(messages.stream_status("charges", "started", time_range={"gte": t0, "lt": t0 + 10}))
    lines += [messages.record("charges", {"id": f"ch_{i}"}, emitted_at=1) for i in range(12)]
    lines.append(messages.stream_status("charges", "complete", range_complete={"gte": t0, "lt": t0 + 10}))
    lines.append(messages.stream_status("issuing_cards", "started"))
    lines.append(messages.error("stream", "permission_denied", "The key has no access to issuing_cards",
                                stream="issuing_cards", http_status=403))
    lines.append(messages.stream_status("issuing_cards", "complete"))
    lines.append(messages.stream_status("customers", "complete",
                                        range_complete={"gte": t0 + 50, "lt": t0 + 100}))
    return b"".join(dumps_line(m) for m in lines)


def test_live_view_under_a_pty_shows_every_stream_and_the_totals(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_bytes(scripted_input())
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with open(data, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-m", "engine"], stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=slave, cwd=ROOT)  # --progress auto: stderr is a terminal
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=30) == 1  # issuing_cards errored: partial
    raw = b"".join(chunks).decode()
    assert "\x1b[" in raw  # drawn in place with escape codes
    assert "\x1b[31m" in raw  # the error in red
    text = ANSI.sub("", raw)
    for name in ("customers", "charges", "issuing_cards", "payouts"):
        assert name in text
    final = text[text.rindex("elapsed"):]
    assert "records 42" in final and "streams 3/4 done" in final
    assert "[permission_denied] The key has no access to issuing_cards" in final
    assert "payouts" in final.split("pending")[-1]


PLAIN_SNAPSHOT = """\
[T] customers started
[T] charges started
[T] charges complete: 12 records
[T] issuing_cards started
[T] ERROR [permission_denied] issuing_cards: The key has no access to issuing_cards
[T] issuing_cards complete: 0 records
[T] customers complete: 30 records
[T] finished in T: 42 records (N/s), 3/4 streams done
[T]   customers: complete, 30 records, 100% of its time range
[T]   charges: complete, 12 records, 100% of its time range
[T]   issuing_cards: complete, 0 records, error [permission_denied] The key has no access to issuing_cards
[T]   payouts: pending, 0 records
engine: run partial: not complete: payouts; errors in: issuing_cards
"""


def normalize(text: str) -> str:
    text = re.sub(r"\[\s*[\d.]+s\]|\[\s*\d+m\d+s\]", "[T]", text)
    text = re.sub(r"in [\d.]+s", "in T", text)
    return re.sub(r"[\d,.]+/s", "N/s", text)


def test_plain_mode_snapshot():
    proc = subprocess.run([sys.executable, "-m", "engine", "--progress", "plain"], input=scripted_input(),
                          capture_output=True, cwd=ROOT, timeout=30)
    assert normalize(proc.stderr.decode()) == PLAIN_SNAPSHOT


def test_plain_mode_prints_progress_lines_at_its_interval():
    now = [0.0]

    class Out:
        text = ""

        def write(self, s):
            Out.text += s

        def flush(self):
            pass

    view = PlainView(Out(), interval=10.0, clock=lambda: now[0])
    snap = {"record_count": 1500, "window_records_per_second": 250.0, "elapsed_ms": 6000,
            "streams": {"customers": {"status": "started"}, "charges": {"status": "complete"}}}
    for step in range(30):  # 15 s of updates every 0.5 s: one line, at 10 s
        now[0] = step * 0.5
        view.update(snap)
    assert Out.text == "[  10.0s] progress: 1,500 records (250/s), 1/2 streams done; running: customers\n"


def test_render_frame_rows_bar_and_collapsed_lines():
    snap = {"elapsed_ms": 65_000, "record_count": 1234, "window_records_per_second": 20.5, "request_count": 7,
            "streams": {
                "customers": {"status": "started", "record_count": 1000, "total_range": {"gte": 0, "lt": 100},
                              "completed_ranges": [{"gte": 0, "lt": 25}, {"gte": 75, "lt": 100}],
                              "errors": []},
                "charges": {"status": "complete", "record_count": 234, "completed_ranges": [], "errors": []},
                "coupons": {"status": "pending", "record_count": 0, "errors": []}}}
    lines = render_frame(snap, width=100, color=False)
    assert lines[0] == "elapsed 1m05s  records 1,234  20/s  streams 1/3 done  requests 7"
    assert lines[1].startswith("  customers ██████░░░░░░░░░░░░██████  50.0%      1,000  started")
    assert lines[2] == "  ✓ 1 done (234 records): charges"
    assert lines[3] == "  · 1 pending: coupons"
    assert coverage(snap["streams"]["customers"]) == 0.5
    assert bar({"status": "started", "total_range": {"gte": 0, "lt": 10},
                "completed_ranges": [{"gte": 0, "lt": 1}]}, width=4) == "▌░░░"
    assert all(len(line) <= 40 for line in render_frame(snap, width=40, color=False))
