"""`engine status`: the confirmed state of a sync in words, from the protocol and the destination only.

The engine never reads a state's data (docs/architecture.md), so each part comes from the one who knows:

- which streams the confirmed state holds: `<destination> state` (else the state file), its keys only;
- per stream the time ranges covered and whether complete, and how current the incremental position
  (an events cursor) is: `<source> describe --state S` (optional), the source's own words;
- per stream live rows, deleted rows, the last write and the last checkpoint: `<destination> stats`
  (optional);
- the last run (when, how it ended), figures across runs, when each stream last completed without an
  error: the engine's totals file beside the state file (`state_store.Totals`).

A connector without the optional command leaves its part out, and the report says so. `gather` runs
the commands; `report_lines` (pure) puts the report into words.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

from engine.progress_model import fmt_elapsed, fmt_int, written_text
from engine.sync.children import ArgFile, destination_state, optional_object
from engine.sync.options import SyncOptions
from engine.sync.state_store import StateStore
from protocol import ranges
from protocol import state as protocol_state


@dataclass
class StatusReport:
    target: dict  # the destination config's non-secret settings (configs.identity)
    state_from: str  # "destination", "state file" or "" (nothing confirmed yet)
    state_file: str | None
    state_streams: list[str]
    has_global: bool
    description: dict | None = None  # what `<source> describe` printed
    stats: dict | None = None  # what `<destination> stats` printed
    totals: dict | None = None  # the totals file
    missing: list[str] = field(default_factory=list)  # parts left out, in words

    def to_dict(self) -> dict:
        return {"target": self.target, "state_from": self.state_from, "state_file": self.state_file,
                "state_streams": self.state_streams, "has_global": self.has_global,
                "description": self.description, "stats": self.stats, "totals": self.totals,
                "missing": self.missing}


def gather(options: SyncOptions, target: dict) -> StatusReport:
    """Ask the destination, the source and the state file (raises ConnectorError when the destination's
    state cannot be read, e.g. the database is unreachable)."""
    store = StateStore(options.state_file) if options.state_file else None
    dst = ArgFile(options.destination_config, "destination-config")
    src = ArgFile(options.source_config, "source-config")
    try:
        supported, state = destination_state(options.destination_cmd, dst)
        state_from = "destination" if supported else ""
        if not supported and store is not None:
            state = store.load()
            state_from = "state file" if state is not None else ""
        state = state or protocol_state.empty()
        streams, glob = protocol_state.split(state)
        report = StatusReport(target, state_from if (streams or glob is not None) else "",
                              str(options.state_file) if store is not None else None, sorted(streams),
                              glob is not None)
        state_arg = ArgFile(state, "state")
        try:
            ok, report.description = optional_object(
                "source", options.source_cmd + ["describe", "--config", src.path, "--state", state_arg.path],
                [src, state_arg], "streams")
        finally:
            state_arg.close()
        if not ok:
            report.missing.append("covered ranges: the source has no `describe` command")
        stats_argv = options.destination_cmd + ["stats", "--config", dst.path]
        ok, report.stats = optional_object("destination", stats_argv, [dst], "streams")
        if not ok:
            report.missing.append("row counts: the destination has no `stats` command")
        if store is not None and store.totals_path.exists():
            report.totals = store.load_totals().to_dict()
        elif store is None:
            report.missing.append("runs and last completions: no state file (--no-state-file)")
        return report
    finally:
        src.close()
        dst.close()


# ---- words (pure) --------------------------------------------------------------------------------------
def when(at: int | None, now: float) -> str:
    """`2024-05-01 12:03:00 UTC (4m05s ago)`, or `never`."""
    if not at:
        return "never"
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({fmt_elapsed(max(0.0, now - at) * 1000)} ago)"


def _day(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def covered_text(covered: Any) -> str:
    """`beginning → 2024-05-01 12:00:03`, `2 ranges: ...`, or `-` (a stream without time ranges)."""
    parts = ranges.merge(ranges.list_from_wire(covered))
    if not parts:
        return "-"
    start = "beginning" if parts[0][0] <= 0 else _day(parts[0][0])
    text = f"{start} → {_day(parts[-1][1])}"
    return text if len(parts) == 1 else f"{len(parts)} ranges, {text}"


def stream_rows(report: StatusReport) -> list[tuple[str, ...]]:
    """(stream, covered, complete, last complete, rows, deleted) per stream any part knows of."""
    described = (report.description or {}).get("streams") or {}
    stats = (report.stats or {}).get("streams") or {}
    completed = (report.totals or {}).get("completed_at") or {}
    names = sorted(set(report.state_streams) | set(described) | set(stats) | set(completed))
    rows: list[tuple[str, ...]] = []
    for name in names:
        d, s = described.get(name) or {}, stats.get(name) or {}
        flag = d.get("complete")
        complete = ("yes" if flag else "no") if isinstance(flag, bool) else "?" if described else ""
        if name not in report.state_streams and name not in described:
            complete = "not in the state"
        at = completed.get(name)
        rows.append((name, covered_text(d.get("covered")) if d else "", complete,
                     _day(at) if at else "never" if report.totals is not None else "",
                     fmt_int(s["rows"]) if isinstance(s.get("rows"), int) else "",
                     fmt_int(s["deleted"]) if isinstance(s.get("deleted"), int) else ""))
    return rows


def table(rows: list[tuple[str, ...]], heads: tuple[str, ...], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in [heads, *rows]]


def report_lines(report: StatusReport, now: float | None = None) -> list[str]:
    """`engine status` in words."""
    now = time.time() if now is None else now
    where = ", ".join(f"{k} {v}" for k, v in report.target.items()) or "the destination"
    lines = [f"destination: {where}"]
    if not report.state_from:
        lines.append("confirmed state: nothing confirmed yet (run `engine sync`)")
    else:
        what = f"{len(report.state_streams)} stream(s)" + (" and a global state" if report.has_global else "")
        source = "the destination" if report.state_from == "destination" else report.state_file
        lines.append(f"confirmed state: {what}, read from {source}")
    if report.state_file:
        lines.append(f"state file: {report.state_file}")
    totals = report.totals
    if totals and totals.get("last_run_at"):
        status = totals.get("last_status") or "?"
        lines.append(f"last run: {status}, ended {when(totals['last_run_at'], now)}")
        if not totals.get("sync_complete"):
            lines.append(f"since the last complete sync: {totals.get('runs', 0)} run(s), "
                         f"{fmt_int(totals.get('records', 0))} records; written: {written_text(totals)}")
    glob = (report.description or {}).get("global")
    if isinstance(glob, dict):
        text = f"incremental position: {glob.get('text', '')}".rstrip()
        if isinstance(glob.get("as_of"), int):
            text += f", as of {when(glob['as_of'], now)}"
        lines.append(text)
    rows = stream_rows(report)
    if rows:
        lines.append("")
        heads = ("stream", "covered (UTC)", "complete", "last complete (UTC)", "rows", "deleted")
        lines += table(rows, heads, {4, 5})
    for gap in report.missing:
        lines.append(f"(not shown: {gap})")
    return lines
