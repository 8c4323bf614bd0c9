"""The progress views: the pure model and layout (progress_model), the plain lines (a snapshot of a
whole pipe-mode run), and the live view's rendering with rich at a fixed size. The live view in real
terminals is tests/engine/test_live_view_terminal.py."""
from __future__ import annotations

import io
import re
import subprocess
import sys

from rich.console import Console

from engine.live_view import render
from engine.plain_view import PlainView
from engine.progress_model import EventFilter, bar, build, coverage, error_text, frame
from protocol import messages
from protocol.jsonio import dumps_line
from tests.engine.conftest import ROOT

T0 = 1_600_000_000
NOT_ENABLED = "Your account is not set up to use Issuing."


def scripted_input() -> bytes:
    names = ("customers", "charges", "coupons", "issuing_cards", "issuing_cardholders", "issuing_disputes",
             "payouts")
    lines = [messages.catalog([messages.catalog_stream(n, {}) for n in names])]
    lines.append(messages.stream_status("customers", "started", time_range={"gte": T0, "lt": T0 + 100}))
    lines += [messages.record("customers", {"id": f"cus_{i}"}, emitted_at=1) for i in range(30)]
    lines.append(messages.stream_status("customers", "started", range_complete={"gte": T0, "lt": T0 + 50}))
    lines.append(messages.stream_status("charges", "started", time_range={"gte": T0, "lt": T0 + 10}))
    lines += [messages.record("charges", {"id": f"ch_{i}"}, emitted_at=1) for i in range(12)]
    lines.append(messages.stream_status("charges", "complete", range_complete={"gte": T0, "lt": T0 + 10}))
    lines.append(messages.stream_status("coupons", "started"))
    lines.append(messages.stream_status("coupons", "complete"))  # empty: no line in plain mode
    lines.append(messages.stream_status("issuing_cards", "started"))
    lines.append(messages.error("stream", "server_error", "issuing_cards: HTTP 500 after 8 retries",
                                stream="issuing_cards", retryable=False, http_status=500))
    lines.append(messages.stream_status("issuing_cards", "complete"))
    for name in ("issuing_cardholders", "issuing_disputes"):  # the source skips them, with a reason
        lines.append(messages.error("stream", "permission_denied", f"{name}: {NOT_ENABLED}", stream=name))
        lines.append(messages.stream_status(name, "skipped", reason=NOT_ENABLED))
    lines.append(messages.stream_status("customers", "complete",
                                        range_complete={"gte": T0 + 50, "lt": T0 + 100}))
    return b"".join(dumps_line(m) for m in lines)


PLAIN_SNAPSHOT = """\
[T] charges: 12 records
[T] issuing_cards: failed after 0 records: [server_error] issuing_cards: HTTP 500 after 8 retries
[T] customers: 30 records
[T] skipped issuing_cardholders, issuing_disputes: Your account is not set up to use Issuing.
[T] finished in T: 42 records (N/s), 6/7 streams done (3 complete, 2 skipped, 1 failed: issuing_cards)
[T] not finished: payouts
engine: run partial: not complete: payouts; errors in: issuing_cards
"""


def normalize(text: str) -> str:
    text = re.sub(r"\[\s*[\d.]+s\]|\[\s*\d+m\d+s\]", "[T]", text)
    text = re.sub(r"in [\d.]+s", "in T", text)
    return re.sub(r"[\d,.]+/s", "N/s", text)


def test_plain_mode_is_quiet_one_line_per_finished_stream_and_per_skip_reason():
    proc = subprocess.run([sys.executable, "-m", "engine", "--progress", "plain"], input=scripted_input(),
                          capture_output=True, cwd=ROOT, timeout=30)
    assert normalize(proc.stderr.decode()) == PLAIN_SNAPSHOT


class Out(io.StringIO):
    pass


def test_plain_mode_prints_a_progress_line_at_its_interval_and_each_event_once():
    now = [0.0]
    out = Out()
    view = PlainView(out, interval=10.0, clock=lambda: now[0])
    snap = {"record_count": 1500, "window_records_per_second": 250.0, "elapsed_ms": 6000,
            "request_count": 120, "requests_per_second": 11.5, "requests_per_second_limit": 12,
            "streams": {"customers": {"status": "started"}, "charges": {"status": "complete"},
                        "issuing_cards": {"status": "pending"}}}
    for step in range(30):  # 15 s of updates every 0.5 s: one line, at 10 s
        now[0] = step * 0.5
        view.update(snap)
        view.event("[rate_limited] customers: too many requests", "warn")
        view.event("[rate_limited] issuing_cards: too many requests", "warn")  # the same, another stream
    assert out.getvalue() == (
        "[   0.0s] warning: [rate_limited] customers: too many requests\n"
        "[  10.0s] progress: 1,500 records (250/s), 1/3 streams done, running: customers; 120 requests "
        "(11.5/s of 12/s), held by the rate limit\n")


def snapshot(**streams: dict) -> dict:
    return {"elapsed_ms": 65_000, "record_count": 1234, "window_records_per_second": 20.5,
            "request_count": 7, "streams": streams}


RUNNING = {"status": "started", "record_count": 1000, "total_range": {"gte": 0, "lt": 100},
           "completed_ranges": [{"gte": 0, "lt": 25}, {"gte": 75, "lt": 100}], "errors": []}
SKIPPED = {"status": "skipped", "reason": NOT_ENABLED, "record_count": 0,
           "errors": [{"scope": "stream", "code": "permission_denied", "message": NOT_ENABLED}]}
FAILED = {"status": "complete", "failed": True, "record_count": 3,
          "errors": [{"scope": "stream", "code": "server_error", "message": "HTTP 500", "stream": "refunds"}]}


def test_each_stream_lands_in_one_group_and_skipped_is_never_failed():
    m = build(snapshot(customers=RUNNING, issuing_cards=SKIPPED, issuing_disputes=SKIPPED, refunds=FAILED,
                       charges={"status": "complete", "record_count": 234}, coupons={"status": "pending"}))
    assert [r.name for r in m.running] == ["customers"] and [r.name for r in m.failed] == ["refunds"]
    assert m.skipped == {NOT_ENABLED: ["issuing_cards", "issuing_disputes"]}
    assert [r.name for r in m.done] == ["charges"] and m.pending == ["coupons"]
    assert m.done_count == 4 and m.eta_s is None  # no estimates: no ETA
    text = [line.text for line in frame(m, 30)]
    assert text[1] == "streams 4/6 done · 1 running · 2 skipped · 1 failed"
    assert text[4] == "✗ refunds failed: [server_error] refunds: HTTP 500"
    assert text[5] == f"– 2 skipped ({NOT_ENABLED}): issuing_cards, issuing_disputes"
    assert text[6:] == ["✓ 1 done (234 records): charges", "· 1 pending: coupons"]


def test_eta_only_when_every_stream_left_has_an_estimate():
    est = {**RUNNING, "estimate": 2000, "records_per_second": 100.0}
    m = build(snapshot(customers=est, charges={"status": "complete", "record_count": 234}))
    assert m.eta_s == 1000 / 20.5 and m.running[0].eta_s == 10.0
    assert m.running[0].detail == "50% of ~2,000  ETA 10.0s"
    assert build(snapshot(customers=est, coupons={"status": "pending"})).eta_s is None


def test_requests_against_the_budget_and_held_by_the_rate_limit():
    snap = {**snapshot(customers=RUNNING), "requests_per_second": 11.0, "requests_per_second_limit": 12.0}
    assert frame(build(snap), 10)[2].text == "requests 7 · 11.0/s of 12/s · held by the rate limit"
    snap["requests_per_second"] = 4.0
    assert frame(build(snap), 10)[2].text == "requests 7 · 4.0/s of 12/s"


def test_a_short_terminal_keeps_the_header_and_running_rows_and_collapses_the_rest():
    streams = {f"stream_{i:02d}": dict(RUNNING) for i in range(12)}
    streams.update({f"skipped_{i}": {**SKIPPED, "reason": f"reason {i}"} for i in range(4)})
    streams.update({f"failed_{i}": FAILED for i in range(3)})
    streams.update({"done": {"status": "complete"}, "later": {"status": "pending"}})
    m = build(snapshot(**streams))
    for height in range(1, 40):
        lines = frame(m, height)
        assert len(lines) <= height
        assert lines[0].text.startswith("elapsed 1m05s  records 1,234")
    short = [line.text or line.row.name for line in frame(m, 13)]
    assert short[3:] == ["stream_00", "stream_01", "stream_02", "stream_03", "stream_04", "stream_05",
                         "… 6 more running: stream_06, stream_07, stream_08, stream_09, stream_10, stream_11",
                         "✗ 3 failed: failed_0, failed_1, failed_2", "– 4 skipped for 4 reasons",
                         "✓ 1 done (0 records): done"]
    tiny = [line.text or line.row.name for line in frame(m, 5)]
    assert tiny[3:] == ["… 12 running: " + ", ".join(f"stream_{i:02d}" for i in range(12)),
                        "✗ 3 failed: failed_0, failed_1, failed_2"]


def test_live_frame_fits_width_and_height():
    names = {"a_stream_name_much_longer_than_twenty_eight_characters": RUNNING, "customers": RUNNING,
             "issuing_cards": SKIPPED, "refunds": FAILED}
    for width, height in ((40, 5), (80, 24), (100, 14), (200, 50)):
        console = Console(file=io.StringIO(), width=width, height=height, force_terminal=False,
                          color_system=None)
        console.print(render(snapshot(**names), width, height))
        lines = console.file.getvalue().splitlines()
        assert len(lines) <= height and all(len(line) <= width for line in lines), (width, lines)
    text = console.file.getvalue()
    assert " a_stream_name_much_longer_t… ███████▌░░░░░░░░░░░░░░▌███████     1,000    0.0/s" in text
    assert "✗ refunds failed" in text and "– 1 skipped" in text


def test_bar_and_coverage_show_which_part_of_the_time_range_is_read():
    assert coverage(RUNNING) == 0.5
    assert bar(RUNNING, 8) == "██░░░░██"
    assert bar({"status": "started", "total_range": {"gte": 0, "lt": 10},
                "completed_ranges": [{"gte": 0, "lt": 1}]}, width=4) == "▌░░░"


def test_event_filter_shows_a_message_once_even_for_other_streams():
    f = EventFilter()
    f.learn_streams(["issuing_cards", "issuing_cardholders", "cards"])
    assert f.admit("[permission_denied] issuing_cards: not set up", "error")
    assert not f.admit("[permission_denied] issuing_cardholders: not set up", "error")
    assert f.admit("[permission_denied] issuing_cardholders: not set up", "warn")  # another level
    assert f.admit("cards: other", "info") and not f.admit("issuing_cards: other", "info")
    assert f.repeated() == 2
    assert error_text({"code": "x", "stream": "s", "message": "s: boom"}) == "[x] s: boom"


def test_before_the_catalog_the_header_says_so_rather_than_zero_of_zero_streams():
    lines = [line.text for line in frame(build({"elapsed_ms": 900, "record_count": 0, "streams": {}}), 10)]
    assert lines == ["elapsed 0.9s  records 0 (0.0/s)", "waiting for the source's catalog"]
