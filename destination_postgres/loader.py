"""The `write` loop: messages in, rows and checkpoints committed, states echoed.

- `catalog` (from --catalog, or in band at any point): tables and new columns are created at once.
- `record`: converted to one COPY line (typed columns + `_raw_data`: `encode.py`) and buffered in a
  `Batch` (newest version per id). When the batch reaches `batch_size` rows or `batch_bytes`, it is committed.
- `state`: a fence (the destination-independent bookkeeping is `connector_kit.checkpoints`). It is
  committed in the same transaction as every row before it (a `Unit`), then
  echoed with `destination_stats` (rows inserted/updated/deleted since the previous echo of that
  stream; for a global state, of all streams). While more input is already waiting, the commit is
  delayed (at most `max_commit_delay` seconds, never past the batch limits) so that one transaction
  covers several checkpoints; each is still echoed, in order, and only once committed.
- Commits run on a background thread while the next batch is parsed (one at a time); before reading
  on when no input is waiting, the loader waits for the commit, so echoes are never held back.
- `trace` `snapshot` markers (`begin`, `end`): everything before one is committed first, then it goes to
  `sweeps.Sweeps` (ids received inside a snapshot are recorded with their rows; `end` turns the live rows
  it did not receive into delete candidates and answers). Pending candidates of earlier runs are
  reported once the first catalog is applied. Other `trace`s, `log`, `eof`, `control`, `spec`,
  `connection_status` are ignored; an unknown type gets one warning and is skipped.
- `--verify` / `--repair` (`writer.mode`): every record is classified against the stored row first;
  `--verify` writes nothing, neither mode stores states (they are ignored), and one `verify` trace per
  stream goes out at the end of input.

Failures (nothing is lost silently):
- A NUL character (which Postgres text and jsonb cannot hold) is replaced by U+FFFD and the record
  stored, with one warning per stream and field (`encode.py`).
- A record that cannot be stored (no id, stream not in the catalog, a value Postgres refuses, a value
  that cannot be encoded) is a stream error naming stream, id and line. That stream's checkpoints
  after the record's line are not committed any more (nor are global checkpoints), so a rerun fetches
  it again; other streams go on.
- A line that is not a JSON object, or a record without a stream name, could belong to any stream:
  everything before it is committed, then the run stops with a global `bad_message` error.
- A lost connection: reconnect with backoff and replay the uncommitted unit (`retries` times), then a
  global `network` error naming what was not committed.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from connector_kit.checkpoints import Checkpoints, CommitJob
from destination_postgres import ddl, keys
from destination_postgres.batch import Batch, Row
from destination_postgres.config import Options
from destination_postgres.encode import RowEncoder
from destination_postgres.types import converter
from destination_postgres.sweeps import Sweeps
from destination_postgres.unit import Outcome, Unit, run_unit
from destination_postgres.writer import WRITE, Writer
from protocol import messages, snapshot
from protocol.errors import ConfigError, ConnectorError
from protocol.reader import BadLine, Line

IGNORED_TYPES = frozenset(("trace", "log", "eof", "control", "spec", "connection_status"))
ERRORS_PER_STREAM = 10  # stream error messages per stream; further lost records are only counted


class Loader:
    def __init__(self, opts: Options, writer: Writer, input_pending: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic):
        self.opts, self.writer = opts, writer
        self.checkpoints = Checkpoints(input_pending, clock)
        self.batch = Batch(opts.batch_size, opts.batch_bytes)
        self.encoder = RowEncoder()
        self.columns: dict[str, list[ddl.Column]] = {}  # writable streams -> columns their upserts fill
        self.unavailable: dict[str, str] = {}  # stream -> why its table cannot be written
        self.lost: dict[str, int] = {}  # stream -> number of records not written
        self.inflight: CommitJob[Outcome] | None = None
        self.reported: set[tuple[str, str]] = set()  # (stream, property) warned about a mismatch
        self.reported_nul: set[tuple[str, str]] = set()  # (stream, field) warned about a NUL
        self.warned: set[str] = set()
        self.sweeps = Sweeps(writer)
        self.announced = False  # pending delete candidates reported

    # -- the loop -----------------------------------------------------------------------------
    def run(self, catalog: dict | None, lines: Iterable[Line | BadLine]) -> Iterator[dict]:
        if catalog is not None:
            yield from self.apply_catalog(catalog, 0)
        batch, columns, checkpoints, encode = self.batch, self.columns, self.checkpoints, self.encoder.row
        sweeps = self.sweeps
        for item in lines:
            if isinstance(item, BadLine):
                yield from self.stop(item.line_no, f"{item.reason} (starts with: {item.excerpt})")
                return  # not reached: stop() raises
            msg = item.message
            kind = msg.get("type")
            if kind == "record":
                rec = msg.get("record")
                stream = rec.get("stream") if isinstance(rec, dict) else None
                if not isinstance(rec, dict) or not isinstance(stream, str):
                    yield from self.stop(item.line_no, "record message without a stream name")
                    return  # not reached: stop() raises
                if stream in sweeps.parent_open:
                    sweeps.note(stream, rec.get("data"))
                try:
                    row = encode(stream, rec, item.line_no, batch.get) if stream in columns else None
                except (ValueError, TypeError, RecursionError) as exc:  # refused per record, never the run
                    row = f"line {item.line_no}: record {_id_of(rec)} cannot be encoded: {exc}"
                if isinstance(row, Row):
                    batch.add(stream, row)
                else:
                    yield from self.lose(stream, item.line_no, row or f"line {item.line_no}: "
                                         f"{self.not_writable(stream)}")
                if batch.full() or (checkpoints.pending and checkpoints.commit_due()):
                    yield from self.commit()
            elif kind == "state":
                if self.writer.mode != WRITE:
                    yield from self.warn_once("state", f"states are not stored with --{self.writer.mode}; "
                                              f"ignored (first on line {item.line_no})")
                    continue
                yield from self.on_state(msg, item.line_no)
            elif kind == "trace" and isinstance(msg.get("trace"), dict) \
                    and msg["trace"].get("trace_type") == "snapshot":
                yield from self.on_snapshot(msg["trace"].get("snapshot"))
            elif kind == "catalog":
                payload = msg.get("catalog")
                if not isinstance(payload, dict):
                    yield from self.stop(item.line_no, "catalog message without its payload")
                    return  # not reached: stop() raises
                yield from self.apply_catalog(payload, item.line_no)
            elif kind not in IGNORED_TYPES:
                yield from self.warn_once(f"type:{kind}", f"line {item.line_no}: unknown message type "
                                          f"{kind!r} ignored")
        yield from self.commit(wait=True)
        yield from self.summary()
        yield from self.sweeps.report()

    def on_snapshot(self, payload: object) -> Iterator[dict]:
        """A source's snapshot marker: commit everything before it, then let the sweeps handle it."""
        if not isinstance(payload, dict) or payload.get("phase") not in snapshot.SOURCE_PHASES:
            return
        answers = self.sweeps.parent_marker(payload)  # a child stream's: swept with the next commit
        if answers is not None:
            yield from answers
            return
        yield from self.commit(wait=True)
        stream = payload.get("stream")
        yield from self.sweeps.marker(payload, self.columns.get(stream) if isinstance(stream, str) else None)

    def on_state(self, msg: dict, line_no: int) -> Iterator[dict]:
        if not self.checkpoints.add(msg, line_no):
            yield messages.log("warn", f"line {line_no}: malformed state message ignored (needs state_type "
                                       "'stream' with a stream name, or 'global')")
            return
        if self.batch.full() or self.checkpoints.commit_due():
            yield from self.commit()
        elif self.inflight is not None and self.inflight.done():
            yield from self.collect()

    def not_writable(self, stream: str) -> str:
        if stream in self.unavailable:
            return self.unavailable[stream]
        return f"stream {stream!r} is not in the catalog"

    def stop(self, line_no: int, reason: str) -> Iterator[dict]:
        """Commit what came before a line that could belong to any stream, then end the run."""
        yield from self.commit(wait=True)
        raise ConnectorError("bad_message", f"line {line_no}: {reason}; stopped there: nothing from this "
                             "line on was written and the last committed checkpoints are kept",
                             hint="fix the producer of the input, then rerun from the committed state")

    # -- catalog ------------------------------------------------------------------------------
    def apply_catalog(self, catalog: dict, line_no: int) -> Iterator[dict]:
        """Create tables and add columns for the streams of a catalog (rows already buffered were
        converted for the old columns, so they are committed first)."""
        wanted: dict[str, list[ddl.Column]] = {}
        parent_fields: dict[str, str] = {}  # child stream -> the property naming its parent
        for entry in catalog.get("streams") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                problem = f"catalog stream without a name: {str(entry)[:80]}"
                if not line_no:
                    raise ConfigError(f"--catalog: {problem}")
                yield from self.stop(line_no, problem)
                return  # not reached: stop() raises
            key = keys.key_of(entry)
            if isinstance(key, str):
                problem = f"stream {name!r}: {key}"
                if not line_no:
                    raise ConfigError(f"--catalog: {problem}")
                yield from self.lose(name, line_no, problem, count=False)
                continue
            self.writer.keys[name] = self.encoder.keys[name] = key
            defaults = entry.get("primary_key_defaults")
            self.writer.key_defaults[name] = defaults if isinstance(defaults, dict) else {}
            wanted[name] = ddl.with_key_columns(ddl.plan_columns(entry.get("json_schema")), key)
            parent = (entry.get("metadata") or {}).get("parent") if isinstance(entry.get("metadata"), dict) \
                else None
            if isinstance(parent, dict) and isinstance(parent.get("field"), str):
                parent_fields[name] = parent["field"]
        if any(self.batch.streams.get(name) for name in wanted):
            yield from self.commit(wait=True)
        else:
            yield from self.collect()  # the connection is free once no unit is in flight
        results = self.writer.retrying(lambda: self.writer.ensure_tables(wanted), "creating tables",
                                       lambda: "the tables of this catalog")
        for note in self.writer.notes:
            yield messages.log("warn", note)
        self.writer.notes.clear()
        for warning in self.writer.retrying(lambda: self.writer.ensure_views(wanted), "creating live views",
                                            lambda: "the live views (the rows are not affected)"):
            yield messages.log("warn", warning)
        for stream, result in results.items():
            if isinstance(result, list):
                self.columns[stream] = result
                self.encoder.converters[stream] = [(c.key, converter(c.pg_type)) for c in result]
                self.unavailable.pop(stream, None)
            elif stream not in self.columns:  # a table that exists keeps being written
                self.unavailable[stream] = result
                yield from self.lose(stream, line_no, result, count=False)
        indexed = {s: c.name for s, f in parent_fields.items() for c in self.columns.get(s, []) if c.key == f}
        self.writer.retrying(lambda: self.writer.ensure_parent_indexes(indexed), "creating indexes",
                             lambda: "the parent indexes (the rows are not affected)")
        if not self.announced:
            self.announced = True
            yield from self.sweeps.pending()

    # -- commit -------------------------------------------------------------------------------
    def commit(self, wait: bool = False) -> Iterator[dict]:
        """Hand the batch and pending checkpoints to a unit (after the previous one is collected);
        wait for it when asked or when no input is waiting, so its echoes go out before we block."""
        yield from self.collect()
        if not self.batch.empty() or self.checkpoints.pending or self.sweeps.parent_ended:
            pending, frozen = self.checkpoints.take()
            streams = [s for s, by_id in self.batch.streams.items() if by_id]
            seen = {s: snaps for s in streams if (snaps := self.sweeps.seen_snapshots(s))}
            unit = Unit({s: list(self.batch.streams[s].values()) for s in streams},
                        {s: self.columns[s] for s in streams}, pending, frozen, seen,
                        {s for s in streams if self.sweeps.has_candidates(s)},
                        self.sweeps.take_parent_sweeps(self.columns))
            self.batch.clear()
            self.inflight = CommitJob(lambda: run_unit(self.writer, unit), "destination-postgres-commit")
        if wait or not self.checkpoints.input_pending():
            yield from self.collect()

    def collect(self) -> Iterator[dict]:
        """Wait for the unit in flight, report its problems, echo its committed checkpoints."""
        if self.inflight is None:
            return
        job, self.inflight = self.inflight, None
        outcome = job.result()
        for stream, row, reason in outcome.bad:
            yield from self.lose(stream, row.first_line_no, f"record {row.id!r} (line {row.line_no}) "
                                 f"could not be written: {reason}", code="write_failed")
        yield from self.report_mismatches()
        for stream, stats in outcome.stats.items():
            self.checkpoints.count(stream, stats)
        for sweep, deleted in outcome.swept:
            yield messages.snapshot(sweep.stream, snapshot.SWEPT, sweep.snapshot_id, seen=len(sweep.seen),
                                    candidate_count=0, deleted=deleted)
        for p in outcome.committed:
            yield self.checkpoints.echo(p)

    def close(self) -> None:
        """Let a unit in flight finish before the connection is closed (its outcome is dropped)."""
        if self.inflight is not None:
            try:
                self.inflight.result()
            except BaseException:  # noqa: BLE001 - already failing or interrupted
                pass
            self.inflight = None

    # -- problems -----------------------------------------------------------------------------
    def lose(self, stream: str, line_no: int, reason: str, code: str = "bad_message",
             count: bool = True) -> Iterator[dict]:
        """Record that something of `stream` from `line_no` on is not written; report it (capped)."""
        first = self.checkpoints.freeze(stream, line_no)
        n = self.lost[stream] = self.lost.get(stream, 0) + (1 if count else 0)
        if n <= ERRORS_PER_STREAM:
            yield messages.error("stream", code, f"stream {stream!r}: {reason}; its checkpoints after line "
                                 f"{first} are not committed", stream=stream)

    def report_mismatches(self) -> Iterator[dict]:
        for (stream, path), (line_no, rid) in list(self.encoder.nul_replaced.items()):
            if (stream, path) not in self.reported_nul:
                self.reported_nul.add((stream, path))
                yield messages.log("warn", f"stream {stream!r}: record {rid!r} (line {line_no}) holds a NUL "
                                   f"character in {path}, which PostgreSQL cannot store: written as U+FFFD "
                                   "(further NULs in this field of this stream are replaced silently)",
                                   {"stream": stream, "id": rid, "field": path, "line": line_no})
        for (stream, key), (line_no, kind) in list(self.encoder.mismatched.items()):
            if (stream, key) not in self.reported:
                self.reported.add((stream, key))
                column = next(c for c in self.columns[stream] if c.key == key)
                yield messages.log("warn", f"stream {stream!r}: property {key!r} holds a {kind} (first on "
                                   f"line {line_no}) that does not fit column {column.name!r} "
                                   f"({column.pg_type}); the column gets NULL there and the value stays in "
                                   "_raw_data",
                                   {"stream": stream, "property": key, "line": line_no})

    def warn_once(self, key: str, text: str) -> Iterator[dict]:
        if key not in self.warned:
            self.warned.add(key)
            yield messages.log("warn", text)

    def summary(self) -> Iterator[dict]:
        for stream, n in sorted(self.lost.items()):
            if n:
                yield messages.log("warn", f"stream {stream!r}: {n} record(s) not written; its checkpoints "
                                   f"stop before line {self.checkpoints.frozen[stream]}",
                                   {"stream": stream, "lost": n})


def _id_of(rec: dict) -> str:
    data = rec.get("data")
    rid = data.get("id") if isinstance(data, dict) else None
    return repr(rid) if isinstance(rid, (str, int)) else "(no id)"
