"""Pipe mode (engine/pipe.py): catalog first, records and states forwarded byte for byte, enriched
statuses, progress, bad lines reported with line number and excerpt, eof last, exit codes."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest

from engine.pipe import run_pipe
from engine.processor import PipeOptions, Processor
from protocol import messages
from protocol.jsonio import dumps_line, loads
from protocol.validate import MessageValidator

CATALOG = messages.catalog([messages.catalog_stream("customers", {}, supports_time_range=True),
                            messages.catalog_stream("charges", {})])


def started(stream, **kw):
    return messages.stream_status(stream, "started", emitted_at=1, **kw)


def as_line(item) -> bytes:
    return item if isinstance(item, bytes) else dumps_line(item)


def run(items, **options) -> tuple[int, list[dict], bytes]:
    out = io.BytesIO()
    code = run_pipe(io.BytesIO(b"".join(as_line(i) for i in items)), out, PipeOptions(**options))
    raw = out.getvalue()
    return code, [loads(line) for line in raw.splitlines()], raw


def of_type(msgs, kind, sub=None):
    return [m for m in msgs if m["type"] == kind and (sub is None or m[kind].get("trace_type") == sub)]


def happy_input():
    rec = (b'{"type": "record",  "record": {"stream": "customers", "data": {"id": "cus_1", "x": 1.50}, '
           b'"emitted_at": 5}}\n')
    return [
        messages.log("info", "starting"),
        CATALOG,
        messages.stream_status("customers", "started", time_range={"gte": 0, "lt": 100}, request_count=2),
        rec,
        messages.record("customers", {"id": "cus_2"}, emitted_at=6),
        messages.stream_state("customers", {"accounted_range": {"gte": 0, "lt": 100}, "remaining": []}),
        messages.stream_status("customers", "complete", range_complete={"gte": 0, "lt": 100}),
        messages.stream_status("charges", "skipped", reason="not enabled on this account"),
        messages.global_state({"events_cursor": 7}),
    ], rec


def test_happy_path_order_forwarding_enrichment_and_eof():
    items, rec = happy_input()
    code, msgs, raw = run(items)
    assert code == 0
    assert msgs[0]["type"] == "catalog" and msgs[-1]["type"] == "eof"
    assert rec in raw  # forwarded byte for byte, odd spacing and 1.50 included
    assert [m["record"]["data"]["id"] for m in of_type(msgs, "record")] == ["cus_1", "cus_2"]
    assert [m["log"]["message"] for m in of_type(msgs, "log")] == ["starting"]  # held back until the catalog
    statuses = [m["trace"]["stream_status"] for m in of_type(msgs, "trace", "stream_status")]
    assert [(s["stream"], s["status"]) for s in statuses] == [("customers", "started"),
                                                              ("customers", "complete"),
                                                              ("charges", "skipped")]
    assert statuses[1]["record_count"] == 2 and statuses[1]["completed_ranges"] == [{"gte": 0, "lt": 100}]
    assert statuses[1]["total_range"] == {"gte": 0, "lt": 100} and "records_per_second" in statuses[1]
    assert len(of_type(msgs, "trace", "progress")) >= 3  # catalog + each status change
    eof = msgs[-1]["eof"]
    assert eof["status"] == "succeeded" and eof["has_more"] is False
    assert eof["state"] == {"streams": {"customers": {"accounted_range": {"gte": 0, "lt": 100},
                                                      "remaining": []}},
                            "global": {"events_cursor": 7}}
    assert eof["progress"]["record_count"] == 2 and eof["progress"]["request_count"] == 2
    validator = MessageValidator(full=True)
    for m in msgs:
        assert validator.errors(m) == [], m


@pytest.mark.parametrize("bad,reason", [
    (b"this is not json\n", "invalid JSON"),
    (b'{"type": "record", "record": {"data": {}}}\n', "record.stream is missing"),
    (b'{"type": "telepathy", "telepathy": {}}\n', "unknown message type 'telepathy'"),
    (b"[1]\n", "expected a JSON object"),
])
def test_bad_line_stops_the_run_with_line_number_and_excerpt(bad, reason):
    code, msgs, _ = run([CATALOG, started("customers"), bad, messages.record("customers", {"id": "after"})])
    assert code == 1
    errors = [m["trace"]["error"] for m in of_type(msgs, "trace", "error")]
    assert len(errors) == 1 and errors[0]["code"] == "bad_message" and errors[0]["scope"] == "global"
    assert errors[0]["message"].startswith("line 3") and reason in errors[0]["message"]
    assert bad.decode().strip()[:20] in errors[0]["message"]
    assert not of_type(msgs, "record")  # nothing after the bad line is forwarded
    assert msgs[-1]["eof"]["status"] == "failed"


def test_skip_bad_lines_counts_them_and_goes_on():
    code, msgs, _ = run([CATALOG, started("customers"), b"garbage\n", b"{broken\n",
                         messages.record("customers", {"id": "a"})], on_bad_message="skip")
    assert len(of_type(msgs, "record")) == 1
    warnings = [m["log"]["message"] for m in of_type(msgs, "log")]
    assert any("line 3" in w for w in warnings) and any("line 4" in w for w in warnings)
    eof = msgs[-1]["eof"]
    assert eof["progress"]["bad_message_count"] == 2 and eof["status"] == "partial" and code == 1


def test_records_outside_the_catalog_are_dropped_with_one_warning():
    items = [CATALOG, started("customers")] + [messages.record("ghost", {"id": str(i)}) for i in range(3)]
    code, msgs, _ = run(items)
    assert not of_type(msgs, "record")
    assert [m["log"]["message"] for m in of_type(msgs, "log")] == \
        ["stream 'ghost' is not in the catalog: its record messages are dropped"]


def test_full_validation_catches_what_the_envelope_check_lets_through():
    bad = messages.record("customers", {"id": "x"}, emitted_at=1)
    bad["record"]["emitted_at"] = "yesterday"
    items = [CATALOG, started("customers"), bad]
    assert run(items)[0] == 1  # customers never completes: partial, but the record went through
    code, msgs, _ = run(items, validate="full")
    error = of_type(msgs, "trace", "error")[0]["trace"]["error"]
    assert code == 1 and "record.emitted_at" in error["message"] and "stream 'customers'" in error["message"]


def test_record_before_any_catalog_is_a_bad_message():
    code, msgs, _ = run([messages.record("customers", {"id": "x"})])
    assert code == 1
    assert "before any catalog" in of_type(msgs, "trace", "error")[0]["trace"]["error"]["message"]


def test_catalog_option_is_emitted_first_and_the_sources_catalog_not_repeated():
    only_customers = {"streams": [messages.catalog_stream("customers", {})]}
    code, msgs, _ = run([CATALOG, started("customers"), messages.record("charges", {"id": "ch"}),
                         messages.stream_status("customers", "complete")], catalog=only_customers)
    assert code == 0
    assert of_type(msgs, "catalog") == [messages.catalog(only_customers["streams"])]
    assert msgs[0]["type"] == "catalog"
    assert not of_type(msgs, "record")
    assert any("outside the catalog" in m["log"]["message"] for m in of_type(msgs, "log"))


def test_source_errors_are_forwarded_and_tracked():
    err = messages.error("stream", "permission_denied", "no access to charges", stream="charges",
                         http_status=403)
    code, msgs, _ = run([CATALOG, started("customers"), started("charges"), err,
                         messages.stream_status("charges", "complete"),
                         messages.stream_status("customers", "complete")])
    assert code == 1
    eof = msgs[-1]["eof"]
    assert eof["status"] == "partial"
    assert eof["progress"]["streams"]["charges"]["errors"][0]["code"] == "permission_denied"


def test_secrets_are_redacted_from_forwarded_logs():
    code, msgs, raw = run([CATALOG, messages.log("error", "request with sk_test_abcdefghijklmnop failed")])
    assert b"abcdefghijklmnop" not in raw


def test_progress_is_periodic_but_not_more_often_than_the_interval():
    now = [0.0]
    out: list[dict] = []

    class Sink:
        def data(self, raw): pass
        def catalog(self, raw, payload): pass
        def state(self, raw, payload): pass
        def message(self, msg): out.append(msg)
        def flush(self): pass

    p = Processor(PipeOptions(progress_interval=5.0, catalog=CATALOG["catalog"]), Sink(),
                  clock=lambda: now[0])
    p.handle_line(1, b"", started("customers"))
    count = len(of_type(out, "trace", "progress"))
    for i in range(100):  # 100 records over 9.9 s: one periodic progress, at 5 s
        now[0] += 0.1
        p.handle_line(i + 2, b"{}\n", messages.record("customers", {"id": str(i)}))
        p.tick()
    assert len(of_type(out, "trace", "progress")) == count + 1


def test_states_reach_stdout_as_soon_as_they_are_read():
    """Feed the engine one line at a time: each state is readable downstream before the next line."""
    proc = subprocess.Popen([sys.executable, "-m", "engine", "--progress", "none"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        for line in (CATALOG, started("customers"), messages.record("customers", {"id": "a"})):
            proc.stdin.write(dumps_line(line))
        for n in range(3):
            proc.stdin.write(dumps_line(messages.stream_state("customers", {"n": n})))
            proc.stdin.flush()
            deadline = time.time() + 10
            while True:
                line = proc.stdout.readline()
                assert line, "engine exited early"
                msg = loads(line)
                if msg["type"] == "state":
                    assert msg["state"]["data"] == {"n": n}
                    break
                assert time.time() < deadline
        proc.stdin.close()
        rest = [loads(x) for x in proc.stdout.read().splitlines()]
        assert rest[-1]["type"] == "eof"
    finally:
        proc.kill()
        proc.wait()


def test_memory_does_not_grow_with_the_number_of_records():
    import tracemalloc

    class Discard(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return len(b)

    def peak(n: int) -> int:
        lines = [dumps_line(CATALOG), dumps_line(started("customers"))]
        rec = dumps_line(messages.record("customers", {"id": "cus_x", "pad": "x" * 500}, emitted_at=1))
        data = io.BytesIO(b"".join(lines) + rec * n)
        tracemalloc.start()
        run_pipe(data, io.BufferedWriter(Discard()), PipeOptions())
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(1_000), peak(15_000)
    assert large < small + 256 * 1024, (small, large)


def test_sigterm_ends_pipe_mode_with_an_eof_and_exit_143():
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "engine", "--progress", "none"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    proc.stdin.write(dumps_line(CATALOG) + dumps_line(messages.stream_state("customers", {"n": 1})))
    proc.stdin.flush()
    while loads(proc.stdout.readline())["type"] != "state":
        pass
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    eof = loads(out.splitlines()[-1])["eof"]
    assert eof["status"] == "failed" and eof["state"]["streams"] == {"customers": {"n": 1}}
    assert b"internal_error" not in out + err  # an interruption, not an error
    assert err.decode().startswith("engine: interrupted by SIGTERM; the destination keeps what it committed")


def test_a_bad_catalog_option_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "engine", "--catalog", '{"streams": [{"x": 1}]}'], input=b"",
                          capture_output=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.returncode == 2 and b"every stream needs a non-empty string 'name'" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_a_failed_pipe_run_ends_with_one_human_line_on_stderr():
    catalog = b'{"type":"catalog","catalog":{"streams":[{"name":"customers","json_schema":{}}]}}\n'
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    failed = subprocess.run([sys.executable, "-m", "engine", "--progress", "none"],
                            input=catalog + b"[1,2]\n",
                            capture_output=True, cwd=cwd)
    assert failed.returncode == 1
    assert failed.stderr.decode().splitlines() == [
        "engine: run failed: [bad_message] line 2: expected a JSON object, got list (starts with: [1,2])"]
    lifecycle = b"".join(
        b'{"type":"trace","trace":{"trace_type":"stream_status","emitted_at":1,"stream_status":'
        b'{"stream":"customers","status":"%s"}}}\n' % status for status in (b"started", b"complete"))
    ok = subprocess.run([sys.executable, "-m", "engine", "--progress", "none"], input=catalog + lifecycle,
                        capture_output=True, cwd=cwd)
    assert ok.returncode == 0 and ok.stderr == b""


def test_pipe_failure_line_names_open_streams_and_skipped_lines():
    from engine.pipe import pipe_failure_line

    snapshot = {"streams": {"a": {"status": "complete"},
                            "b": {"status": "started", "errors": [{"code": "x"}]}},
                "bad_message_count": 2}
    assert pipe_failure_line("partial", snapshot) == \
        "engine: run partial: not complete: b; errors in: b; 2 bad line(s) skipped"


def test_numbers_beyond_orjson_pass_through_and_states_keep_them_exactly():
    big = b'{"type":"record","record":{"stream":"customers","data":{"id":"c","n":1e400},"emitted_at":5}}\n'
    state = (b'{"type":"state","state":{"state_type":"global","data":{"cursor":1234567890123456789012345678}'
             b'}}\n')
    code, msgs, raw = run([CATALOG, started("customers"), big, state,
                           messages.stream_status("customers", "complete"),
                           messages.stream_status("charges", "complete")])
    assert code == 0, msgs
    assert big in raw and state in raw  # forwarded byte for byte, not a bad line
    assert b'"cursor":1234567890123456789012345678' in raw.splitlines()[-1]  # eof.state, exact


def test_source_warnings_reach_the_progress_view_and_snapshot_markers_go_with_the_data():
    from engine.plain_view import PlainView

    shown = io.StringIO()
    marker = messages.snapshot("customers", "begin", "customers@1.x", {"kind": "stream"})
    items = [CATALOG, started("customers"), marker,
             messages.log("warn", "events expired: re-reading customers"), messages.log("info", "quiet"),
             messages.snapshot("elsewhere", "begin", "e@1", {"kind": "stream"}),
             messages.stream_status("customers", "complete", emitted_at=2)]
    out = io.BytesIO()
    run_pipe(io.BytesIO(b"".join(as_line(i) for i in items)), out, PipeOptions(), PlainView(shown))
    text = shown.getvalue()
    assert "warning: source: events expired: re-reading customers" in text and "quiet" not in text
    msgs = [loads(line) for line in out.getvalue().splitlines()]
    assert [m for m in msgs if m["type"] == "trace" and m["trace"]["trace_type"] == "snapshot"] == [marker]
