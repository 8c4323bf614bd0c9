"""`engine verify [--repair]`: compare the destination's tables with the source, stream by stream
(docs/engine.md, "`engine verify`").

A verify run is a `SyncRun` in mode `verify`: the source re-lists, as snapshots, what the confirmed state
says was read (`read --verify`: no events, no states), the destination compares each record with the
stored row and writes nothing (`write --verify`), the delete candidates are confirmed by the source, and
the destination reports per stream `checked`, `missing`, `stale` and `extra`. No state is forwarded or
saved, so a verify is safe to interrupt at any point. `--repair` first runs the same in mode `repair`
(the destination writes the listed versions and the confirmed tombstones; checkpoints untouched), then
verifies again: the second pass decides the exit code. Exit 0 clean, 1 drift or a failed run.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import BinaryIO

from engine.progress_view import View
from engine.sync.options import SyncOptions
from engine.sync.run import SyncRun
from protocol.jsonio import dumps

COUNTS = ("checked", "missing", "stale", "extra")


@dataclasses.dataclass
class Pass:
    mode: str
    exit_code: int
    reports: dict[str, dict]
    not_synced: list[str]

    @property
    def drift(self) -> int:
        return sum(r.get(k, 0) for r in self.reports.values() for k in ("missing", "stale", "extra"))


def run_verify(options: SyncOptions, out: BinaryIO | None, view: View, repair: bool,
               report: Callable[[str], None]) -> list[Pass]:
    """The passes of a verify (one, or repair then verify); stops after a pass that failed."""
    passes = []
    for mode in (["repair", "verify"] if repair else ["verify"]):
        run = SyncRun(dataclasses.replace(options, mode=mode, follow=False, sweep_deletes=False), out, view,
                      report)
        code = run.run()
        session = run.session
        reports = dict(session.confirmations.verify) if session is not None else {}
        skipped = session.processor.tracker.skipped() if session is not None else {}
        passes.append(Pass(mode, code, reports, sorted(skipped)))
        if code != 0:
            break
    return passes


def exit_code(passes: list[Pass]) -> int:
    last = passes[-1]
    return last.exit_code if last.exit_code != 0 else (1 if last.drift else 0)


def as_json(passes: list[Pass]) -> str:
    last = passes[-1]
    return dumps({"clean": exit_code(passes) == 0, "exit_code": exit_code(passes),
                  "passes": [{"mode": p.mode, "exit_code": p.exit_code, "streams": p.reports,
                              "not_synced": p.not_synced} for p in passes],
                  "streams": last.reports}).decode()


def as_table(passes: list[Pass]) -> str:
    lines = []
    for p in passes:
        title = "repair (fixes written)" if p.mode == "repair" else \
            "verify after repair" if len(passes) > 1 else "verify"
        lines.append(f"{title}:")
        width = max([len(s) for s in p.reports] + [6])
        lines.append(f"  {'stream':<{width}} " + " ".join(f"{k:>9}" for k in COUNTS))
        for stream, r in sorted(p.reports.items()):
            lines.append(f"  {stream:<{width}} " + " ".join(f"{r.get(k, 0):>9,}" for k in COUNTS))
            for kind, ids in sorted((r.get("examples") or {}).items()):
                lines.append(f"    {kind}: {', '.join(ids)}")
        if p.not_synced:
            lines.append(f"  not synced yet (nothing to compare): {', '.join(p.not_synced)}")
        if p.exit_code != 0:
            lines.append(f"  the run failed (exit code {p.exit_code}): see the errors above")
    last = passes[-1]
    if last.exit_code == 0:
        totals = {k: sum(r.get(k, 0) for r in last.reports.values()) for k in COUNTS}
        verdict = "clean" if not last.drift else (f"DRIFT: {totals['missing']:,} missing, "
                                                  f"{totals['stale']:,} stale, {totals['extra']:,} extra")
        lines.append(f"verdict: {verdict} ({totals['checked']:,} objects in {len(last.reports)} streams)")
    return "\n".join(lines)
