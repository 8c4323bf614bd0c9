"""Accounts of a Connect platform rolled up (engine/partitions.py, progress_model): 2,000 accounts make
the same small snapshot and the same few lines as 2, in the live frame, the plain view and the tracker's
outcome; a failed account is named (a few), fails the run as partial, and clears when it completes."""
from __future__ import annotations

import io

from rich.console import Console

from engine.live_view import render
from engine.partitions import MAX_FAILED_KEPT, PartitionTally
from engine.plain_view import closing_lines, progress_line
from engine.progress_model import build, frame
from engine.tracker import Tracker
from protocol import messages
from protocol.jsonio import dumps

ACCOUNTS = [f"acct_{i:05d}" for i in range(2000)]


def rolled_up(failed: int = 3) -> PartitionTally:
    tally = PartitionTally()
    for acct in ACCOUNTS:
        tally.on_status({"partition": acct, "status": "started", "total": len(ACCOUNTS)})
    for acct in ACCOUNTS[:-8 - failed]:
        tally.on_status({"partition": acct, "status": "complete"})
    for acct in ACCOUNTS[-8 - failed:-8]:
        tally.on_error({"scope": "partition", "partition": acct, "code": "account_invalid",
                        "message": "gone"})
        tally.on_status({"partition": acct, "status": "failed", "reason": "gone"})
    return tally


def snapshot(tally: PartitionTally) -> dict:
    return {"elapsed_ms": 65_000, "record_count": 10_000, "window_records_per_second": 150.0,
            "streams": {"customers": {"status": "started", "record_count": 6000},
                        "charges": {"status": "started", "record_count": 4000}},
            "partitions": tally.snapshot()}


def test_two_thousand_accounts_make_a_small_snapshot():
    snap = rolled_up().snapshot()
    assert snap is not None
    assert {k: snap[k] for k in ("total", "done", "running", "failed")} == \
        {"total": 2000, "done": 1989, "running": 8, "failed": 3}
    assert len(snap["running_examples"]) == 3 and len(snap["failed_examples"]) == 3
    assert len(dumps(snap)) < 600
    many = rolled_up(failed=200).snapshot()
    assert many["failed"] == 200 and len(many["failed_examples"]) == MAX_FAILED_KEPT
    assert PartitionTally().snapshot() is None  # a read without partitions shows nothing of them


def test_the_live_frame_and_the_plain_lines_stay_a_few_lines():
    snap = snapshot(rolled_up())
    m = build(snap)
    text = [line.text for line in frame(m, 40)]
    assert text[2] == ("accounts 1,989/2,000 done · 8 running (acct_01992, acct_01993, acct_01994, ...)"
                       " · 3 failed")
    assert [t for t in text if t.startswith("✗ account")] == [
        f"✗ account {a}: [account_invalid] gone" for a in ACCOUNTS[-11:-8]]
    assert len(text) < 12
    for height in range(1, 30):
        assert len(frame(m, height)) <= height
    short = [line.text for line in frame(m, 6)]
    assert short[2].startswith("accounts 1,989/2,000 done")
    console = Console(file=io.StringIO(), width=80, height=12, force_terminal=False, color_system=None)
    console.print(render(snap, 80, 12))
    lines = console.file.getvalue().splitlines()
    assert len(lines) <= 12 and all(len(line) <= 80 for line in lines)
    line = progress_line(m)
    assert "\n" not in line and "accounts 1,989/2,000 done · 8 running" in line and len(line) < 300
    closing = closing_lines(build(snapshot(rolled_up(failed=50))), 0)
    # the summary, the roll-up, the failed accounts named, how many more, the streams not finished
    assert len(closing) == 1 + 1 + MAX_FAILED_KEPT + 1 + 1
    assert "... and 40 more failed account(s)" in closing


def test_a_failed_account_makes_the_run_partial_until_it_completes():
    tracker = Tracker(0)
    tracker.set_catalog(["customers"])
    tracker.on_status({"stream": "customers", "status": "started"}, 0)
    tracker.on_status({"stream": "customers", "status": "complete"}, 0)
    error = messages.partition_error("acct_1", "account_invalid", "account acct_1: revoked")["trace"]["error"]
    tracker.on_error(error)
    assert tracker.outcome(True) == "partial" and tracker.has_more()
    assert tracker.failed_partitions_text() == ["account acct_1 ([account_invalid] account acct_1: revoked)"]
    assert tracker.global_errors == []  # the account's error never stops the read
    tracker.new_attempt()  # a restarted source reads it again: still failed until it completes
    assert tracker.outcome(True) == "partial"
    tracker.partition_tally.on_status({"partition": "acct_1", "status": "complete"})
    assert tracker.partition_tally.failed_count == 0 and tracker.failed_partitions_text() == []
