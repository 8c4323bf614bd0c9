"""How an `engine sync` run ended, as pure functions: its eof status and exit code, and the words.

`run_status` maps the way the run stopped (`done`, `interrupted`, `failed`, `config`, `destination`)
plus what is known at the end to the `eof` status and the exit code (0 succeeded; 1 failed or partial;
2 a connector refused its config, a usage error; 128+N after signal N). `confirmed_text` says what the
destination confirmed and what it did not; `summary` is the stderr summary that names what was not
synced; `exit_text` says how a process ended.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field

from protocol.state import Stats


def run_status(outcome: str, unconfirmed: int, tracker_outcome: str,
               stop_signal: int | None) -> tuple[str, int]:
    """(eof status, exit code)."""
    if outcome == "interrupted":
        return "partial", 128 + (stop_signal or signal.SIGINT)
    if outcome == "done" and unconfirmed <= 0:
        return tracker_outcome, 0 if tracker_outcome == "succeeded" else 1
    return "failed", 2 if outcome == "config" else 1


def confirmed_text(state: dict, confirmed: int, unconfirmed: int) -> str:
    parts = state.get("partitions") or {}
    names = set(state.get("streams") or {}) | {n for p in parts.values() for n in (p.get("streams") or {})}
    streams = ", ".join(sorted(names)) or "none"
    if parts:
        streams += f" of {len(parts):,} account(s)"
    text = f"Confirmed state covers: {streams} ({confirmed} confirmation(s) this run)"
    if unconfirmed > 0:
        text += f"; {unconfirmed} forwarded state(s) were not confirmed and will be re-read next run"
    return text + "."


@dataclass
class RunSummary:
    status: str
    exit_code: int
    records: int
    seconds: float
    restarts: int
    state_file: str | None = None
    final_error: tuple[str, str] | None = None
    not_synced: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rows: Stats | None = None  # what the destination confirmed this run (destination_stats)
    command: str = "sync"


def summary(s: RunSummary) -> str:
    """The stderr lines that end a run."""
    where = f"; state saved to {s.state_file}" if s.state_file else ""
    text = (f"engine: {s.command} {s.status}: {s.records:,} records in {s.seconds:.1f}s, {s.restarts} "
            f"restart(s){where}")
    if s.rows is not None:
        text += (f"\nengine: rows: {s.rows.inserted:,} inserted, {s.rows.updated:,} updated, "
                 f"{s.rows.deleted:,} deleted, {s.rows.unchanged:,} unchanged")
    if s.exit_code > 128:
        text += f"; interrupted by {signal.Signals(s.exit_code - 128).name}: the next run resumes from the " \
                "confirmed state"
    if s.final_error is not None:
        text += f"\nengine: error [{s.final_error[0]}]: {s.final_error[1]}"
    if s.status != "succeeded" and s.not_synced:
        text += f"\nengine: not (fully) synced: {', '.join(sorted(s.not_synced))}"
    if s.skipped:
        by_reason: dict[str, list[str]] = {}
        for name, why in sorted(s.skipped.items()):
            by_reason.setdefault(why, []).append(name)
        text += "\nengine: skipped by the source: " + "; ".join(
            f"{', '.join(names)} ({why})" for why, names in sorted(by_reason.items(), key=lambda kv: kv[1]))
    return text


def exit_text(code: int | None) -> str:
    """`exited with code 1`, `was killed by SIGKILL` (pure)."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
