"""One commit: the rows buffered since the previous commit and the checkpoints that came with them.

`run_unit` writes every stream's rows, then the parent sweeps of child streams, then the checkpoints that
are still valid, then commits, all in one transaction; on a lost connection it reconnects and replays the
whole unit (rows stay in the unit until committed). A row the database refuses is left out and reported;
checkpoints after it (of its stream, and global ones) are then not committed
(`connector_kit.checkpoints.committable`).

The loader runs one unit at a time on a `connector_kit.checkpoints.CommitJob` thread while it parses the
next batch: psycopg2 releases the GIL while the server works, so parsing and writing overlap. Only the
unit's thread touches the connection until the loader has collected the unit's outcome.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from connector_kit.checkpoints import Pending, committable
from destination_postgres import ddl
from destination_postgres.batch import Row
from destination_postgres.sweeps import ParentSweep
from destination_postgres.writer import Writer
from protocol.state import Stats


@dataclass
class Unit:
    rows: dict[str, list[Row]]  # stream -> rows with distinct ids
    columns: dict[str, list[ddl.Column]]
    pending: list[Pending]
    frozen: dict[str, int]  # a copy: stream -> first line of a record that was not written
    seen: dict[str, str] = field(default_factory=dict)  # stream -> open snapshot its rows belong to
    candidates: set[str] = field(default_factory=set)  # streams whose rows may answer delete candidates
    parent_sweeps: list[ParentSweep] = field(default_factory=list)  # run after the rows

    def summary(self) -> str:
        parts = [f"{len(rows)} of {name!r}" for name, rows in self.rows.items() if rows]
        text = f"{sum(len(r) for r in self.rows.values())} rows ({', '.join(parts)})" if parts else "no rows"
        waiting = sorted({p.key[1] or "(global)" for p in self.pending})
        return text + (f" and the checkpoints of {', '.join(map(repr, waiting))}" if waiting else "")


@dataclass
class Outcome:
    stats: dict[str, Stats] = field(default_factory=dict)
    bad: list[tuple[str, Row, str]] = field(default_factory=list)  # (stream, row, reason)
    committed: list[Pending] = field(default_factory=list)
    swept: list[tuple[ParentSweep, int]] = field(default_factory=list)  # (sweep, rows it tombstoned)


def run_unit(writer: Writer, unit: Unit) -> Outcome:
    """Write and commit a unit (retrying lost connections); raises ConnectorError when it cannot."""
    outcome = Outcome()

    def attempt() -> Outcome:
        outcome.stats = {}
        for stream, rows in unit.rows.items():
            if not rows:
                continue
            stats, failed = writer.write_rows(stream, unit.columns[stream], rows, unit.seen.get(stream),
                                              stream in unit.candidates)
            outcome.stats[stream] = stats
            if failed:
                for row, reason in failed:
                    outcome.bad.append((stream, row, reason))
                    unit.frozen[stream] = min(unit.frozen.get(stream, row.first_line_no), row.first_line_no)
                gone = {row.id for row, _ in failed}
                unit.rows[stream] = [r for r in rows if r.id not in gone]  # a replay leaves them out
        # A parent's sweep after its rows; not for a stream with a record that could not be written (the
        # source reads that parent again: its checkpoints stop before the record).
        outcome.swept = [(s, writer.parent_sweep(s)) for s in unit.parent_sweeps
                         if s.stream not in unit.frozen]
        outcome.committed = [p for p in unit.pending if committable(p, unit.frozen)]
        for payload in {p.key: p.message["state"] for p in outcome.committed}.values():
            writer.save_state(payload)
        writer.commit()
        return outcome

    return writer.retrying(attempt, "committing", unit.summary)
