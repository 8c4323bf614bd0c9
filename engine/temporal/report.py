"""`engine status --temporal` in words (pure): one line per workflow of a name.

Per workflow: its phase (syncing, waiting for the next run, parked with the reason, done, failed,
stopped; or how Temporal ended it: terminated, timed out), the account and schema, runs, the last
success, where it runs now (the worker of its pending activity, the attempt, the figures of its last
heartbeat) or last ran, and the last error.
"""
from __future__ import annotations

from datetime import UTC, datetime


def when(ts: float | None, now: float) -> str:
    if not ts:
        return "-"
    ago = max(0, int(now - ts))
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} ({ago // 3600}h{ago % 3600 // 60:02d}m ago)" if ago >= 3600 else \
        f"{text} ({ago // 60}m{ago % 60:02d}s ago)"


def phase(row: dict, now: float) -> str:
    execution = row.get("execution", "")
    if execution not in ("running", "completed"):
        return execution  # failed, terminated, timed_out, canceled, continued_as_new
    text = str(row.get("phase") or "starting")
    if text == "waiting" and row.get("next_run_at"):
        text += f" (next run in {max(0, int(row['next_run_at'] - now))}s)"
    return text


def where(row: dict) -> str:
    act = row.get("activity")
    if act:
        text = f"on {act.get('worker') or '(no worker yet)'}, attempt {act.get('attempt')}"
        beat = act.get("heartbeat") or {}
        if beat:
            text += f", {beat.get('records', 0):,} records, {beat.get('streams_done', 0)}/" \
                    f"{beat.get('streams', 0)} streams"
        if act.get("last_failure"):
            text += f"; last failure: {act['last_failure']}"
        return text
    return f"last on {row['last_worker']}" if row.get("last_worker") else "-"


def quiet(row: dict) -> bool:
    """Nothing to look at: done or waiting, and no error since the last success."""
    recovered = (row.get("last_success_at") or 0) >= (row.get("last_error_at") or 0)
    return row.get("phase") in ("done", "waiting") and (not row.get("last_error") or recovered) \
        and row.get("execution") in ("running", "completed")


def status_lines(rows: list[dict], now: float, full_up_to: int = 50) -> list[str]:
    """The lines; beyond `full_up_to` workflows, only those with something to look at (syncing, parked,
    failed, an error), then how many were left out."""
    if not rows:
        return ["no workflows of that name (engine submit starts one)"]
    lines = []
    counts: dict[str, int] = {}
    for row in rows:
        p = phase(row, now)
        counts[p.split(" ")[0]] = counts.get(p.split(" ")[0], 0) + 1
    shown = rows if len(rows) <= full_up_to else [r for r in rows if not quiet(r)]
    for row in shown:
        p = phase(row, now)
        lines.append(f"{row['workflow']}: {p}")
        detail = [f"account {row['account']}" if row.get("account") else None,
                  f"schema {row['schema']}" if row.get("schema") else None,
                  f"runs {row.get('runs', 0)}", f"last success {when(row.get('last_success_at'), now)}"]
        lines.append("  " + ", ".join(d for d in detail if d))
        lines.append(f"  {where(row)}")
        if row.get("parked_reason"):
            lines.append(f"  PARKED: {row['parked_reason']} (fix it, then `engine resume --temporal ... "
                         f"{row['workflow']}` or submit again)")
        elif row.get("last_error"):
            lines.append(f"  last error ({when(row.get('last_error_at'), now)}): {row['last_error']}")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if len(shown) < len(rows):
        lines.append(f"{len(rows) - len(shown)} more done or waiting without an error (--format json lists "
                     "every workflow)")
    return [f"{len(rows)} workflow(s): {summary}", ""] + lines
