"""The `write` loop: messages in, rows and checkpoints committed, states echoed.

- `catalog` (from --catalog, or in band at any point): tables and new columns are created at once.
- `record`: buffered in a `Batch` (newest version per id). When the batch reaches `batch_size` rows or
  `batch_bytes`, everything buffered is written and committed, together with pending checkpoints.
- `state`: a fence. It is committed in the same transaction as every row before it, then echoed with
  `destination_stats` (rows inserted/updated/deleted since the previous echo of that stream; for a
  global state, of all streams). When more input is already waiting, the commit is delayed (at most
  `max_commit_delay` seconds, never past the batch limits) so that one transaction covers several
  checkpoints; each is still echoed, in order, only once committed.
- `trace`, `log`, `eof`, `control`, `spec`, `connection_status` are ignored; an unknown type gets one
  warning and is skipped.

Failures (nothing is lost silently):
- A record that cannot be stored (no id, stream not in the catalog, a value Postgres refuses) is a
  stream error naming stream, id and line. That stream's checkpoints after the record's line are not
  committed any more (nor are global checkpoints), so a rerun fetches it again; other streams go on.
- A line that is not a JSON object, or a record without a stream name, could belong to any stream:
  everything before it is committed, then the run stops with a global `bad_message` error.
- A lost connection: reconnect with backoff and replay the uncommitted batch (`retries` times), then a
  global `network` error naming what was not committed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from destination_postgres import ddl, errors
from destination_postgres.batch import Batch, Row, copy_line, copy_text, line_json, supersedes
from destination_postgres.config import Options
from destination_postgres.state_store import GLOBAL, state_key
from destination_postgres.writer import ZERO, Stats, TransactionRetry, Writer, add_stats, describe_target
from protocol import messages
from protocol.errors import ConnectorError
from protocol.jsonio import dumps, loads
from protocol.reader import BadLine, Line

IGNORED_TYPES = frozenset(("trace", "log", "eof", "control", "spec", "connection_status"))
ERRORS_PER_STREAM = 10  # stream error messages per stream; further lost records are only counted


@dataclass
class Pending:
    line_no: int
    message: dict  # the state message to echo once committed
    key: tuple[str, str]


class Loader:
    def __init__(self, opts: Options, writer: Writer, input_pending: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic):
        self.opts, self.writer = opts, writer
        self.input_pending, self.clock = input_pending, clock
        self.batch = Batch(opts.batch_size, opts.batch_bytes)
        self.columns: dict[str, list[ddl.Column]] = {}  # writable streams -> columns their upserts fill
        self.unavailable: dict[str, str] = {}  # stream -> why its table cannot be written
        self.frozen: dict[str, int] = {}  # stream -> first line of a record that was not written
        self.lost: dict[str, int] = {}  # stream -> number of records not written
        self.pending: list[Pending] = []
        self.pending_since = 0.0
        self.counts: dict[str, Stats] = {}  # stream -> stats since its previous echo
        self.warned: set[str] = set()

    # -- the loop -----------------------------------------------------------------------------
    def run(self, catalog: dict | None, lines: Iterable[Line | BadLine]) -> Iterator[dict]:
        if catalog is not None:
            yield from self.apply_catalog(catalog, 0)
        batch, columns = self.batch, self.columns
        for item in lines:
            if isinstance(item, BadLine):
                yield from self.stop(item.line_no, f"{item.reason} (starts with: {item.excerpt})")
            msg = item.message
            kind = msg.get("type")
            if kind == "record":
                rec = msg.get("record")
                stream = rec.get("stream") if isinstance(rec, dict) else None
                if not isinstance(stream, str):
                    yield from self.stop(item.line_no, "record message without a stream name")
                row = self.make_row(stream, rec, item.line_no) if stream in columns else None
                if isinstance(row, Row):
                    batch.add(stream, row)
                else:
                    yield from self.lose(stream, item.line_no, row or f"line {item.line_no}: "
                                         f"{self.not_writable(stream)}")
                if batch.full() or (self.pending and self.commit_due()):
                    yield from self.commit()
            elif kind == "state":
                yield from self.on_state(msg, item.line_no)
            elif kind == "catalog":
                payload = msg.get("catalog")
                if not isinstance(payload, dict):
                    yield from self.stop(item.line_no, "catalog message without its payload")
                yield from self.apply_catalog(payload, item.line_no)
            elif kind not in IGNORED_TYPES:
                yield from self.warn_once(f"type:{kind}", f"line {item.line_no}: unknown message type "
                                          f"{kind!r} ignored")
        yield from self.commit()
        yield from self.summary()

    def make_row(self, stream: str, rec: dict, line_no: int) -> Row | str:
        """The buffered row for a record, or why it cannot be written."""
        data = rec.get("data")
        if not isinstance(data, dict):
            return f"line {line_no}: record data is not an object"
        rid = data.get("id")
        if not isinstance(rid, str):
            if type(rid) is not int:
                return f"line {line_no}: record has no string 'id'"
            rid = str(rid)
        upd = rec.get("updated_at")
        if type(upd) is not int:
            emitted = rec.get("emitted_at")
            if type(emitted) is not int:
                return f"line {line_no}: record {rid!r} has neither updated_at nor emitted_at"
            upd = emitted // 1000
        deleted = rec.get("deleted") is True
        if deleted:  # a tombstone keeps the last known values under its own keys (as the upsert does)
            old = self.batch.get(stream, rid)
            if old is not None and supersedes(upd, True, old.upd, old.deleted):
                data = {**loads(line_json(old.line)), **data}
        return Row(rid, upd, deleted, copy_line(copy_text(rid), upd, deleted, dumps(data)), line_no, line_no)

    def commit_due(self) -> bool:
        return not self.input_pending() or self.clock() - self.pending_since >= self.opts.max_commit_delay

    def on_state(self, msg: dict, line_no: int) -> Iterator[dict]:
        payload = msg.get("state")
        key = state_key(payload) if isinstance(payload, dict) else None
        if key is None:
            yield messages.log("warn", f"line {line_no}: malformed state message ignored (needs state_type "
                                       "'stream' with a stream name, or 'global')")
            return
        if not self.pending:
            self.pending_since = self.clock()
        self.pending.append(Pending(line_no, msg, key))
        if self.batch.full() or self.commit_due():
            yield from self.commit()

    def not_writable(self, stream: str) -> str:
        if stream in self.unavailable:
            return self.unavailable[stream]
        return f"stream {stream!r} is not in the catalog"

    def stop(self, line_no: int, reason: str) -> Iterator[dict]:
        """Commit what came before a line that could belong to any stream, then end the run."""
        yield from self.commit()
        raise ConnectorError("bad_message", f"line {line_no}: {reason}; stopped there: nothing from this line "
                             "on was written and the last committed checkpoints are kept",
                             hint="fix the producer of the input, then rerun from the committed state")

    # -- catalog ------------------------------------------------------------------------------
    def apply_catalog(self, catalog: dict, line_no: int) -> Iterator[dict]:
        wanted: dict[str, list[ddl.Column]] = {}
        for entry in catalog.get("streams") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                where = f"line {line_no}" if line_no else "--catalog"
                raise ConnectorError("bad_message", f"{where}: catalog stream without a name: {str(entry)[:80]}")
            wanted[name] = ddl.plan_columns(entry.get("json_schema"))
        results = self.with_retries(lambda: self.writer.ensure_tables(wanted), "creating tables")
        for stream, result in results.items():
            if isinstance(result, list):
                self.columns[stream] = result
                self.unavailable.pop(stream, None)
            elif stream not in self.columns:  # a table that exists keeps being written
                self.unavailable[stream] = result
                yield from self.lose(stream, line_no, result, count=False)

    # -- commit -------------------------------------------------------------------------------
    def committable(self, p: Pending) -> bool:
        if p.key[0] == GLOBAL:
            return not self.frozen or min(self.frozen.values()) >= p.line_no
        first_lost = self.frozen.get(p.key[1])
        return first_lost is None or first_lost >= p.line_no

    def commit(self) -> Iterator[dict]:
        """Write the batch and the still valid pending checkpoints in one transaction, then echo."""
        if self.batch.empty() and not self.pending:
            return
        problems: list[dict] = []

        def unit() -> dict[str, Stats]:
            stats = self.write_batch(problems)
            latest = {p.key: p.message["state"] for p in self.pending if self.committable(p)}
            for payload in latest.values():
                self.writer.save_state(payload)
            self.writer.commit()
            return stats

        try:
            stats = self.with_retries(unit, "committing")
        except ConnectorError:
            yield from problems
            raise
        yield from problems
        for stream, s in stats.items():
            self.counts[stream] = add_stats(self.counts.get(stream, ZERO), s)
        self.batch.clear()
        for p in self.pending:
            if self.committable(p):
                yield self.echo(p)
        self.pending = []

    def write_batch(self, problems: list[dict]) -> dict[str, Stats]:
        out = {}
        for stream, by_id in self.batch.streams.items():
            if not by_id:
                continue
            stats, bad = self.writer.write_rows(stream, self.columns[stream], list(by_id.values()))
            for row, reason in bad:
                self.batch.remove(stream, row.id)
                problems.extend(self.lose(stream, row.first_line_no, f"record {row.id!r} (line {row.line_no}) "
                                          f"could not be written: {reason}", code="write_failed"))
            out[stream] = stats
        return out

    def with_retries(self, work: Callable, doing: str):
        """Run `work` in a transaction; on a lost connection reconnect and run it again."""
        for attempt in range(self.opts.retries + 1):
            try:
                return work()
            except (errors.ConnectionLost, TransactionRetry) as exc:
                last = exc
                if attempt == self.opts.retries:
                    break
                self.writer.reopen(exc)
        waiting = sorted({p.key[1] or "(global)" for p in self.pending})
        raise ConnectorError(
            "network", f"{doing}: lost the connection to {describe_target(self.opts.url)} "
            f"({last}); not committed: {self.batch.summary()}"
            + (f" and the checkpoints of {', '.join(map(repr, waiting))}" if waiting else "")
            + f"; the committed checkpoints in {self.opts.schema}._sync_state are intact", retryable=True,
            hint="rerun from the committed state once the database is reachable")

    def echo(self, p: Pending) -> dict:
        if p.key[0] == GLOBAL:
            total = ZERO
            for s in self.counts.values():
                total = add_stats(total, s)
            self.counts.clear()
        else:
            total = self.counts.pop(p.key[1], ZERO)
        p.message["state"]["destination_stats"] = {"inserted": total[0], "updated": total[1], "deleted": total[2]}
        return p.message

    # -- problems -----------------------------------------------------------------------------
    def lose(self, stream: str, line_no: int, reason: str, code: str = "bad_message",
             count: bool = True) -> Iterator[dict]:
        """Record that something of `stream` from `line_no` on is not written; report it (capped)."""
        self.frozen[stream] = min(self.frozen.get(stream, line_no), line_no)
        n = self.lost[stream] = self.lost.get(stream, 0) + (1 if count else 0)
        if n <= ERRORS_PER_STREAM:
            yield messages.error("stream", code, f"stream {stream!r}: {reason}; its checkpoints after line "
                                 f"{self.frozen[stream]} are not committed", stream=stream)

    def warn_once(self, key: str, text: str) -> Iterator[dict]:
        if key not in self.warned:
            self.warned.add(key)
            yield messages.log("warn", text)

    def summary(self) -> Iterator[dict]:
        for stream, n in sorted(self.lost.items()):
            if n:
                yield messages.log("warn", f"stream {stream!r}: {n} record(s) not written; its checkpoints "
                                   f"stop before line {self.frozen[stream]}", {"stream": stream, "lost": n})
