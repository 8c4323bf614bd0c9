"""Unit tests of engine/sync/outcome.py: eof status, exit code and the summary words."""
from __future__ import annotations

from engine.sync.outcome import RunSummary, run_status, summary


def test_run_status_and_summary():
    assert run_status("done", 0, "succeeded", None) == ("succeeded", 0)
    assert run_status("done", 0, "partial", None) == ("partial", 1)
    assert run_status("done", 2, "succeeded", None) == ("failed", 1)  # states the destination never confirmed
    assert run_status("interrupted", 5, "partial", 15) == ("partial", 143)
    assert run_status("failed", 0, "succeeded", None) == ("failed", 1)
    assert run_status("config", 0, "succeeded", None) == ("failed", 2)  # a connector refused its config
    text = summary(RunSummary("partial", 143, 1200, 3.25, 1, "/s.json", ("source_failed", "gave up"),
                              ["charges"], {"issuing_cards": "not enabled"}))
    assert text.splitlines() == [
        "engine: sync partial: 1,200 records in 3.2s, 1 restart(s); state saved to /s.json; interrupted by "
        "SIGTERM: the next run resumes from the confirmed state",
        "engine: error [source_failed]: gave up",
        "engine: not (fully) synced: charges",
        "engine: skipped by the source: issuing_cards (not enabled)"]

def test_summary_groups_skipped_streams_by_reason():
    text = summary(RunSummary("succeeded", 0, 10, 1.0, 0, None, None, [],
                              {"issuing_cards": "not enabled", "issuing_disputes": "not enabled",
                               "quotes": "403"}))
    assert text.splitlines()[-1] == \
        "engine: skipped by the source: issuing_cards, issuing_disputes (not enabled); quotes (403)"
