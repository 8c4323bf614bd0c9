"""Snapshots, delete candidates and verification on the destination's connection (docs/protocol.md,
"Snapshots and delete sweeps"; docs/destination-postgres.md, "Snapshots and delete candidates").

The loader hands every `snapshot` marker here, after committing everything before it, and asks, for each
unit it commits, which open snapshot a stream's rows belong to (`seen_snapshot`) and whether they may
answer pending candidates (`has_candidates`). Plain `write`:
- `begin`: a new id starts the stream's snapshot (dropping older ones); the id of an open snapshot
  continues it (a resumed source); the id of an ended one changes nothing. Committed at once.
- `end`: the live rows inside the scope that the snapshot did not receive become candidates, in the same
  transaction that closes the snapshot; then `candidates` traces (the ids, 500 per message) and the
  `swept` answer. An `end` of a snapshot already ended answers again with its counts (and its candidates
  still pending); a scope this destination cannot evaluate (a parent scope) is answered `ignored`.
- `pending()`: at the start of a write, the candidates still waiting from earlier runs.
Parent-scoped snapshots (child streams, `parent_marker`) are handled in memory and need no commit of
their own: between `begin` and `end` the ids of the stream's records naming that parent (in the scope's
`field`) are noted; `end` (with `as_of`) queues a `ParentSweep` that the next unit runs after its rows
(`snapshot_sql.parent_sweep`: the parent's live rows not received are tombstoned at `as_of`), answered
`swept` (with `deleted`) once committed. A crash before that commit loses nothing: the source's
checkpoint covering the parent comes after the `end`, so the parent and its children are read again.
`--verify` / `--repair`: nothing is stored; the ids received are the classification of the session
(`pg_temp._sync_verify`), `end` reports the live rows in scope it did not receive as candidates, and
`report()` gives one `verify` trace per stream at the end of input.
"""
from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from dataclasses import dataclass
from typing import Any

from destination_postgres import ddl, snapshot_sql
from destination_postgres.identifiers import table_name
from destination_postgres.writer import VERIFY, WRITE, Writer
from protocol import messages
from protocol import snapshot as snap
from protocol.jsonio import dumps, loads

CANDIDATES_PER_MESSAGE = 500


@dataclass
class ParentSweep:
    """The complete set of one parent's children (`seen`) as of `as_of`; `column`: the typed column of
    `field` in the child table (None: read from `_raw_data`)."""

    stream: str
    snapshot_id: str
    field: str
    parent_id: str
    seen: set[str] = dataclasses.field(default_factory=set)
    as_of: int | None = None
    column: str | None = None


class Sweeps:
    def __init__(self, writer: Writer):
        self.writer = writer
        self.parent_open: dict[str, dict[str, ParentSweep]] = {}  # stream -> parent id -> open sweep
        self.parent_ended: list[ParentSweep] = []  # waiting for the next commit
        self.parent_ignored: set[str] = set()  # parent snapshots begun that this write does not sweep
        self.open: dict[str, str] = {}  # stream -> id of the snapshot its rows are recorded for
        self.scopes: dict[str, snap.Scope | snap.Unknown] = {}  # --verify / --repair: by stream
        self.candidate_streams: set[str] = set()

    @property
    def _schema(self) -> str:
        return self.writer.opts.schema

    def seen_snapshot(self, stream: str) -> str | None:
        return self.open.get(stream) if self.writer.mode == WRITE else None

    def has_candidates(self, stream: str) -> bool:
        return stream in self.candidate_streams

    def _query(self, sql: str, doing: str) -> list[tuple]:
        def work() -> list[tuple]:
            with self.writer.guard(doing), self.writer.db.cursor() as cur:
                cur.execute(sql)
                rows = cur.fetchall() if cur.description else []
            self.writer.commit()
            return rows
        return self.writer.retrying(work, doing, lambda: doing)

    def _run(self, statements: list[str], doing: str, result: bool = False) -> tuple | None:
        """Run statements in one transaction (retried on a lost connection); the first's row if asked."""
        def work() -> tuple | None:
            row = None
            with self.writer.guard(doing), self.writer.db.cursor() as cur:
                for i, sql in enumerate(statements):
                    cur.execute(sql)
                    if result and i == 0:
                        row = cur.fetchone()
            self.writer.commit()
            return row
        return self.writer.retrying(work, doing, lambda: doing)

    # ---- the start of a write ----------------------------------------------------------------------
    def pending(self) -> Iterator[dict]:
        """The candidates still waiting from earlier writes (reported by plain `write`; with `--repair`
        only noted, so that its rows answer them too)."""
        if self.writer.mode == VERIFY:
            return
        rows = self._query(snapshot_sql.candidate_streams(self._schema), "reading the delete candidates")
        self.candidate_streams = {r[0] for r in rows}
        if self.writer.mode != WRITE:
            return
        for stream in sorted(self.candidate_streams):
            yield from self._candidates(stream, None)

    def _candidates(self, stream: str, snapshot_id: str | None) -> Iterator[dict]:
        ids = [r[1] for r in self._query(snapshot_sql.candidates_of(self._schema, stream, snapshot_id),
                                         "reading the delete candidates")]
        yield from _chunks(stream, ids, snapshot_id)

    # ---- parent-scoped snapshots ------------------------------------------------------------------
    def parent_marker(self, payload: dict) -> list[dict] | None:
        """Handle the marker when it belongs to a parent-scoped snapshot (its answers, if any, now);
        None when it does not (a marker of another scope: `marker`)."""
        stream, phase, snapshot_id = payload.get("stream"), payload.get("phase"), payload.get("id")
        if not isinstance(stream, str) or not isinstance(snapshot_id, str):
            return None
        if phase == snap.BEGIN:
            scope = snap.scope_from_wire(payload.get("scope"))
            if not isinstance(scope, snap.Scope) or scope.kind != snap.PARENT or scope.parent is None:
                return None
            if scope.field is None or self.writer.mode != WRITE:
                self.parent_ignored.add(snapshot_id)  # answered `ignored` at its end
                return []
            self.parent_open.setdefault(stream, {})[scope.parent[1]] = ParentSweep(
                stream, snapshot_id, scope.field, scope.parent[1])
            return []
        if phase != snap.END:
            return None
        by_parent = self.parent_open.get(stream, {})
        sweep = next((s for s in by_parent.values() if s.snapshot_id == snapshot_id), None)
        if sweep is None:
            if snapshot_id not in self.parent_ignored:
                return None
            self.parent_ignored.discard(snapshot_id)
            return [messages.snapshot(stream, snap.IGNORED, snapshot_id, reason="a parent snapshot without "
                                      "a field, or with --verify / --repair, is not swept")]
        del by_parent[sweep.parent_id]
        if not by_parent:
            del self.parent_open[stream]
        as_of = payload.get("as_of")
        if isinstance(as_of, bool) or not isinstance(as_of, int):
            return [messages.snapshot(stream, snap.IGNORED, snapshot_id,
                                      reason="a parent snapshot's end needs as_of (Unix seconds)")]
        sweep.as_of = as_of
        self.parent_ended.append(sweep)
        return []

    def note(self, stream: str, data: Any) -> None:
        """A record of `stream`, which has open parent snapshots: counts as seen by its parent's."""
        open_sweeps = self.parent_open[stream]
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return
        field_name = next(iter(open_sweeps.values())).field  # a stream names its parent in one field
        sweep = open_sweeps.get(str(data.get(field_name)))
        if sweep is not None:
            sweep.seen.add(data["id"])

    def take_parent_sweeps(self, columns: dict[str, list[ddl.Column]]) -> list[ParentSweep]:
        """The sweeps ended since the last commit, with their parent column (`columns`: the writable
        streams')."""
        taken, self.parent_ended = self.parent_ended, []
        for sweep in taken:
            sweep.column = next((c.name for c in columns.get(sweep.stream, []) if c.key == sweep.field), None)
        return [s for s in taken if s.stream in columns]  # a stream not writable has its records lost

    # ---- markers -----------------------------------------------------------------------------------
    def marker(self, payload: dict, columns: list[ddl.Column] | None) -> Iterator[dict]:
        """Handle a source's `begin` or `end` (`columns`: the stream's, None when it cannot be written)."""
        stream, phase, snapshot_id = payload.get("stream"), payload.get("phase"), payload.get("id")
        if not isinstance(stream, str) or not isinstance(snapshot_id, str) or not snapshot_id:
            return
        if phase == snap.BEGIN:
            self._begin(stream, snapshot_id, payload.get("scope"))
        elif phase == snap.END:
            yield from self._end(stream, snapshot_id, columns)

    def _begin(self, stream: str, snapshot_id: str, scope_wire: Any) -> None:
        scope = snap.scope_from_wire(scope_wire)
        if self.writer.mode != WRITE:
            self.scopes[stream] = scope
            self.open[stream] = snapshot_id
            return
        if not isinstance(scope, snap.Scope):
            self.open.pop(stream, None)
            return
        row = self._query(snapshot_sql.snapshot_status(self._schema, stream, snapshot_id),
                          f"reading the snapshot of {stream!r}")
        if row and row[0][0] == "done":
            self.open.pop(stream, None)
            return
        if not row:
            self._run(snapshot_sql.begin_snapshot(self._schema, stream, snapshot_id,
                                                  dumps(scope.to_wire()).decode()),
                      f"beginning a snapshot of {stream!r}")
        self.open[stream] = snapshot_id

    def _end(self, stream: str, snapshot_id: str, columns: list[ddl.Column] | None) -> Iterator[dict]:
        self.open.pop(stream, None)
        if self.writer.mode != WRITE:
            yield from self._end_verify(stream, snapshot_id, columns)
            return
        row = self._query(snapshot_sql.snapshot_status(self._schema, stream, snapshot_id),
                          f"reading the snapshot of {stream!r}")
        if not row:
            yield messages.snapshot(stream, snap.IGNORED, snapshot_id, reason="no begin of this snapshot "
                                    "was received (or its scope cannot be evaluated here)")
            return
        status, seen, count, scope_text = row[0]
        if status == "open":
            predicate = _predicate(snap.scope_from_wire(loads(scope_text)) if scope_text else None)
            if predicate is None or columns is None:
                yield messages.snapshot(stream, snap.IGNORED, snapshot_id,
                                        reason="the scope cannot be evaluated on this table")
                return
            result = self._run([snapshot_sql.end_snapshot(self._schema, table_name(stream), stream,
                                                          snapshot_id, predicate),
                                *snapshot_sql.close_snapshot(self._schema, stream, snapshot_id)],
                               f"ending the snapshot of {stream!r}", result=True)
            assert result is not None
            seen, count = int(result[0]), int(result[1])
        if count:
            self.candidate_streams.add(stream)
            yield from self._candidates(stream, snapshot_id)
        yield messages.snapshot(stream, snap.SWEPT, snapshot_id, seen=int(seen), candidate_count=int(count))

    def _end_verify(self, stream: str, snapshot_id: str, columns: list[ddl.Column] | None) -> Iterator[dict]:
        predicate = _predicate(self.scopes.pop(stream, None))
        if predicate is None or columns is None:
            yield messages.snapshot(stream, snap.IGNORED, snapshot_id,
                                    reason="no begin, or a scope that cannot be evaluated on this table")
            return
        ids: list[str] = []
        if stream not in self.writer.absent:
            ids = [r[0] for r in self._query(snapshot_sql.verify_candidates(
                self._schema, table_name(stream), stream, predicate), f"verifying {stream!r}")]
        yield from _chunks(stream, ids, snapshot_id)
        seen = self._query(snapshot_sql.verify_seen(stream), f"verifying {stream!r}")[0][0]
        yield messages.snapshot(stream, snap.SWEPT, snapshot_id, seen=int(seen), candidate_count=len(ids))

    # ---- the end of --verify / --repair ------------------------------------------------------------
    def report(self) -> Iterator[dict]:
        if self.writer.mode == WRITE:
            return
        by_stream: dict[str, dict[str, tuple[int, list[str]]]] = {}
        rows = self._query(snapshot_sql.verify_counts(), "reading the verification")
        for stream, cls, count, examples in rows:
            by_stream.setdefault(stream, {})[cls] = (int(count), list(examples or []))
        for stream, classes in sorted(by_stream.items()):
            counts = {c: classes.get(c, (0, []))[0] for c in snapshot_sql.CLASSES}
            examples = {c: classes[c][1] for c in ("missing", "stale", "extra") if c in classes}
            yield messages.verify_report(stream, VERIFY if self.writer.mode == VERIFY else "repair",
                                         sum(counts.values()), counts["missing"], counts["stale"],
                                         counts["extra"], examples or None)


def _predicate(scope: snap.Scope | snap.Unknown | None) -> str | None:
    return snapshot_sql.scope_predicate(scope) if isinstance(scope, snap.Scope) else None


def _chunks(stream: str, ids: list[str], snapshot_id: str | None) -> Iterator[dict]:
    for i in range(0, len(ids), CANDIDATES_PER_MESSAGE):
        yield messages.candidates(stream, ids[i:i + CANDIDATES_PER_MESSAGE], snapshot_id)
