"""The thin psycopg2 layer: one connection, DDL, COPY + upsert of a stream's rows, checkpoints.

Every psycopg2 error is classified where it appears (errors.classify): a lost connection raises
`ConnectionLost` (the loader reconnects with `reopen()` and replays its batch), a lost race raises
`TransactionRetry`, a row that cannot be stored is isolated by bisection inside savepoints and
returned to the caller, anything else becomes a global `ConnectorError`.

The connection holds a session advisory lock on the schema for its whole life, so two writers of the
same schema never interleave; the second waits `lock_wait_seconds`, then fails with a clear message.

Every retry is said while it happens: before each reconnect backoff and each replay, `on_retry` gets one
line saying what is retried, why and when (the CLI writes it as a `log` warning at once).
"""
from __future__ import annotations

import hashlib
import io
import random
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions

from connector_kit.backoff import backoff_delay
from destination_postgres import ddl, errors, snapshot_sql, state_store
from destination_postgres.batch import Row
from destination_postgres.keys import DEFAULT, Key
from destination_postgres.config import Options
from destination_postgres.identifiers import (
    CANDIDATES_TABLE, DELETED_TABLE, ID, RESERVED_TABLES, SEEN_TABLE, STATE_TABLE, literal, qualified,
    table_name, views_schema)
from protocol.errors import ConfigError, ConnectorError
from protocol.secrets import redact_text
from protocol.state import ZERO, Stats

APPLICATION_NAME = "destination-postgres"
LOCK_CLASS = 0x5353  # first key of our advisory locks (namespace); the second is the schema's hash
COPY_CHUNK = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class StagePlan:
    """The statements that move a batch of one stream (one column set) into its table."""

    stage: str
    create: str
    copy: str
    moves: list[str]  # each returns one row of Stats (none with --verify)
    truncate: str
    classify: str | None = None  # --verify / --repair: record each id's class first


WRITE, VERIFY, REPAIR = "write", "verify", "repair"  # how `write` treats rows (docs: "Verify and repair")


class TransactionRetry(Exception):
    """The transaction lost a race (deadlock, serialization); roll back and replay it."""


def describe_target(url: str) -> str:
    """`host:port/dbname as user` for messages: never the password."""
    try:
        params = psycopg2.extensions.parse_dsn(url)
    except psycopg2.Error:
        return "the configured database"
    host = params.get("host") or "localhost"
    where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"
    return redact_text(where + (f" as {params['user']}" if params.get("user") else ""))


def schema_lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(schema.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


_PERMANENT_CONNECT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                      "authentication failed", "permission denied", "role ")


def connect(opts: Options) -> psycopg2.extensions.connection:
    """One connection attempt; ConnectionLost when worth retrying, ConnectorError/ConfigError if not."""
    try:
        psycopg2.extensions.parse_dsn(opts.url)
    except psycopg2.Error:
        raise ConfigError("--config: url: not a valid PostgreSQL URL or connection string",
                          hint="e.g. postgresql://user:password@localhost:5432/db") from None
    try:
        # TCP keepalives: a peer that vanished without a reset is noticed within about a minute
        return psycopg2.connect(opts.url, application_name=APPLICATION_NAME,
                                connect_timeout=opts.connect_timeout, keepalives=1, keepalives_idle=30,
                                keepalives_interval=10, keepalives_count=3)
    except psycopg2.Error as exc:
        text = errors.describe(exc)
        if errors.classify(exc) == errors.CONFIG:
            raise ConfigError(f"--config: url: {text}", hint="e.g. postgresql://user:password@localhost:5432/db"
                              "?sslmode=require") from None
        if any(p in text.lower() for p in _PERMANENT_CONNECT):
            raise ConnectorError("auth_failed", f"cannot connect to {describe_target(opts.url)}: {text}",
                                 hint="check the user, password and database name in the url") from None
        raise errors.ConnectionLost(text) from None


OnRetry = Callable[[str, dict], None]


def connect_with_retries(opts: Options, sleep: Callable[[float], None] = time.sleep,
                         on_retry: OnRetry | None = None) -> psycopg2.extensions.connection:
    """Connect, retrying lost/refused connections with exponential backoff and jitter; `on_retry` hears
    of each backoff before it starts."""
    last = ""
    for attempt in range(opts.retries + 1):
        if attempt:
            delay = backoff_delay(attempt - 1, 0.5, 10.0, random.random())
            if on_retry is not None:
                on_retry(f"connecting to {describe_target(opts.url)}: {last}; retry {attempt} of "
                         f"{opts.retries} in {delay:.1f}s",
                         {"retry": attempt, "max_retries": opts.retries, "delay_s": round(delay, 3)})
            sleep(delay)
        try:
            return connect(opts)
        except errors.ConnectionLost as exc:
            last = str(exc)
    raise ConnectorError("network", f"cannot connect to {describe_target(opts.url)} after "
                         f"{opts.retries + 1} attempts: {last}", retryable=True,
                         hint="check that the server is running and reachable")


class Writer:
    """One destination session. Methods run inside the current transaction unless they say otherwise."""

    def __init__(self, opts: Options, mode: str = WRITE, on_retry: OnRetry | None = None):
        self.opts, self.mode, self.on_retry = opts, mode, on_retry
        self.conn: psycopg2.extensions.connection | None = None
        self._plans: dict[tuple, StagePlan] = {}
        self._staged: set[str] = set()
        self._locked = False
        self.absent: set[str] = set()  # --verify: streams whose table does not exist (nothing is created)
        self.keys: dict[str, Key] = {}  # stream -> its primary key (from the catalog; DEFAULT: `id`)
        self.key_defaults: dict[str, dict] = {}  # stream -> the catalog's primary_key_defaults
        self.notes: list[str] = []  # what ensure_tables changed that the loader logs (key migrations)

    @property
    def db(self) -> psycopg2.extensions.connection:
        """The open connection; a method that needs one when there is none lost it (reconnect)."""
        if self.conn is None:
            raise errors.ConnectionLost("no open connection")
        return self.conn

    # -- connection ---------------------------------------------------------------------------
    def open(self, write: bool = True) -> None:
        """Connect (with retries); to write, also take the schema lock (stage tables come later)."""
        self.conn = connect_with_retries(self.opts, on_retry=self.on_retry)
        if not write:
            return
        self._staged = set()  # stage tables exist per session
        with self.guard("taking the schema lock"):
            self._lock()
        if self.mode != WRITE:
            with self.guard("preparing the verification"), self.db.cursor() as cur:
                cur.execute(snapshot_sql.create_verify_table())
            self.db.commit()

    def reopen(self, exc: Exception) -> None:
        """Recover from ConnectionLost (new connection) or TransactionRetry (rollback)."""
        if isinstance(exc, TransactionRetry) and self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
                self._staged = set()  # stage tables created in the rolled back transaction are gone
                return
            except psycopg2.Error:
                pass
        if self.mode != WRITE:  # what was compared so far lived in the lost session
            raise ConnectorError("network", f"lost the connection to {describe_target(self.opts.url)} "
                                 f"during --{self.mode} ({exc}); its bookkeeping was in that session",
                                 retryable=True, hint=f"run the {self.mode} again")
        self.close()
        self.open()

    def close(self) -> None:
        """Release the schema lock at once (the server would only notice the closed socket later), close."""
        if self.conn is not None:
            try:
                if self._locked and not self.conn.closed:
                    self.conn.rollback()
                    with self.conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock_all()")
                    self.conn.commit()
            except psycopg2.Error:
                pass
            self._locked = False
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None

    def _lock(self) -> None:
        key = schema_lock_key(self.opts.schema)
        deadline = time.monotonic() + self.opts.lock_wait_seconds
        with self.db.cursor() as cur:
            while True:
                cur.execute(f"SELECT pg_try_advisory_lock({LOCK_CLASS}, {key})")
                if cur.fetchone()[0]:
                    self.db.commit()
                    self._locked = True
                    return
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            cur.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                        f"classid = {LOCK_CLASS} AND objid = {key} AND objsubid = 2")
            holder = cur.fetchone()
        self.db.rollback()
        who = f" (server process {holder[0]})" if holder else ""
        raise ConnectorError(
            "conflict", f"schema {self.opts.schema!r} is being written by another destination-postgres"
            f"{who}; waited {self.opts.lock_wait_seconds:g} s", retryable=True,
            hint="let the other writer finish, or write into another schema")

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Map psycopg2 errors other than row errors to ConnectionLost / TransactionRetry / ConnectorError."""
        try:
            yield
        except psycopg2.Error as exc:
            kind = errors.classify(exc)
            if kind == errors.CONNECTION:
                raise errors.ConnectionLost(f"{doing}: {errors.describe(exc)}") from None
            if kind == errors.RETRY:
                raise TransactionRetry(f"{doing}: {errors.describe(exc)}") from None
            raise errors.fatal(exc, doing) from None

    def commit(self) -> None:
        with self.guard("committing"):
            self.db.commit()

    def retrying(self, work: Callable[[], T], doing: str, not_committed: Callable[[], str]) -> T:
        """Run `work` (one transaction); after a lost connection or race, reopen and run it again,
        `retries` times, then a global error naming what `not_committed()` describes."""
        for attempt in range(self.opts.retries + 1):
            try:
                return work()
            except (errors.ConnectionLost, TransactionRetry) as exc:
                target = describe_target(self.opts.url)
                failure = ConnectorError("network", f"lost the connection to {target} ({exc})",
                                         retryable=True)
                if attempt == self.opts.retries:
                    break
                if self.on_retry is not None:
                    self.on_retry(f"{doing}: {exc}; replay {attempt + 1} of {self.opts.retries} of "
                                  f"{not_committed()}",
                                  {"replay": attempt + 1, "max_retries": self.opts.retries})
                try:
                    self.reopen(exc)
                except ConnectorError as reopen_failed:
                    failure = reopen_failed
                    break
        raise ConnectorError(
            failure.code, f"{doing}: {failure.message}; not committed: {not_committed()}; the committed "
            f"checkpoints in {self.opts.schema}._sync_state are intact", retryable=failure.retryable,
            hint=failure.hint or "rerun from the committed state once the database is reachable")

    # -- schema -------------------------------------------------------------------------------
    def key(self, stream: str) -> Key:
        return self.keys.get(stream, DEFAULT)

    def existing_keys(self) -> dict[str, tuple[str, list[str]]]:
        """{table: (primary key constraint, its columns)} of the schema."""
        with self.db.cursor() as cur:
            cur.execute(ddl.primary_keys_query(self.opts.schema))
            out: dict[str, tuple[str, list[str]]] = {}
            for table, constraint, column in cur.fetchall():
                out.setdefault(table, (constraint, []))[1].append(column)
            return out

    def existing_columns(self) -> dict[str, dict[str, str]]:
        """{table: {column: type}} of the schema (committed catalog)."""
        with self.db.cursor() as cur:
            cur.execute(ddl.columns_query(self.opts.schema))
            out: dict[str, dict[str, str]] = {}
            for table, column, pg_type in cur.fetchall():
                out.setdefault(table, {})[column] = pg_type
            return out

    def ensure_tables(self, wanted: dict[str, list[ddl.Column]]) -> dict[str, list[ddl.Column] | str]:
        """Create the schema and missing tables, add missing columns; commit (with --verify: nothing is
        created, a stream without a table is `absent`).

        Returns per stream the columns its upserts fill, or a reason why the stream cannot be written.
        """
        schema = self.opts.schema
        results: dict[str, list[ddl.Column] | str] = {}
        if self.mode == VERIFY:
            existing = self.existing_columns()
            self.db.commit()
            for stream, columns in wanted.items():
                have = existing.get(table_name(stream))
                if have is None:
                    self.absent.add(stream)
                elif ddl.missing_reserved(have):
                    results[stream] = (f"table {schema}.{table_name(stream)} was not made by "
                                       "destination-postgres")
                    continue
                results[stream] = columns if have is None else ddl.filled_columns(columns, have)
            return results
        with self.guard(f"creating schema {schema!r}"), self.db.cursor() as cur:
            cur.execute(f"SELECT 1 FROM pg_namespace WHERE nspname = {literal(schema)}")
            if cur.fetchone() is None:
                cur.execute(ddl.create_schema(schema))
            cur.execute(ddl.create_state_table(schema))
            for sql in snapshot_sql.create_tables(schema):
                cur.execute(sql)
            if self.opts.hard_delete:
                cur.execute(ddl.create_deleted_table(schema))
            existing = self.existing_columns()
            keys = self.existing_keys()
            constraint, state_key = keys.get(STATE_TABLE, (None, []))
            if tuple(state_key) != ddl.STATE_KEY:
                for sql in ddl.migrate_state_table(schema, constraint):
                    cur.execute(sql)
                self.notes.append(f"migrated table {schema}.{STATE_TABLE}: states may have a partition "
                                  "(a column part, '' for the existing rows)")
            for stream, columns in wanted.items():
                table = table_name(stream)
                problem = self._ensure_table(cur, stream, columns, existing.get(table))
                if not problem and table in existing and table in keys:
                    problem = self._migrate_key(cur, stream, columns, keys[table], existing)
                if problem:
                    results[stream] = problem
            self.db.commit()
            existing = self.existing_columns()
            self.db.commit()
        for stream, columns in wanted.items():
            if stream not in results:
                results[stream] = ddl.filled_columns(columns, existing.get(table_name(stream), {}))
        return results

    def _try(self, cur: Any, sql: str) -> str | None:
        """Run one statement in a savepoint; the database's refusal in words (None when it went through).
        A lost connection is raised (the caller's `retrying` replays)."""
        cur.execute("SAVEPOINT ddl")
        try:
            cur.execute(sql)
        except psycopg2.Error as exc:
            if errors.classify(exc) in (errors.CONNECTION, errors.RETRY):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT ddl")
            return errors.describe(exc)
        cur.execute("RELEASE SAVEPOINT ddl")
        return None

    def ensure_views(self, wanted: dict[str, list[ddl.Column]]) -> list[str]:
        """Create or update the live view of each stream's table in `<schema>_live`; commit. Returns
        warnings: a view that cannot be made never stops the writes. With --verify nothing is created."""
        if not self.opts.live_views or self.mode == VERIFY:
            return []
        schema, views = self.opts.schema, views_schema(self.opts.schema)
        hint = "set live_views to false in the destination config to skip them"
        with self.guard(f"creating the live views in {views!r}"), self.db.cursor() as cur:
            cur.execute(f"SELECT 1 FROM pg_namespace WHERE nspname = {literal(views)}")
            problem = self._try(cur, ddl.create_schema(views)) if cur.fetchone() is None else None
            if problem:
                self.db.commit()
                return [f"no live views: cannot create schema {views}: {problem} ({hint})"]
            tables = self.existing_columns()
            cur.execute(ddl.view_timestamp_columns_query(views))
            converted: dict[str, set[str]] = {}
            for view, column in cur.fetchall():
                converted.setdefault(view, set()).add(column)
            warnings = []
            for stream, columns in wanted.items():
                table = table_name(stream)
                existing = tables.get(table)
                if existing is None or ddl.missing_reserved(existing):
                    continue
                unix_time = {c.name for c in columns if c.unix_time} | converted.get(table, set())
                problem = self._try(cur, ddl.live_view(schema, views, table, existing, unix_time))
                if problem:
                    warnings.append(f"live view {views}.{table} not updated: {problem} ({hint})")
            self.db.commit()
        return warnings

    def table_stats(self) -> dict:
        """Per stream: live rows, deleted rows, the last write and the last committed checkpoint (Unix
        seconds): what `destination-postgres stats` prints. Exact counts (a scan of each table)."""
        schema = self.opts.schema
        out: dict[str, dict[str, Any]] = {}
        with self.guard("reading table statistics"), self.db.cursor() as cur:
            tables = {t for t, cols in self.existing_columns().items()
                      if t not in RESERVED_TABLES and not ddl.missing_reserved(cols)}
            checkpoints: dict[str, int] = {}
            cur.execute(f"SELECT to_regclass({literal(qualified(schema, STATE_TABLE))})")
            if cur.fetchone()[0] is not None:
                cur.execute(ddl.checkpoint_times(schema))
                checkpoints = {stream: at for scope, stream, at in cur.fetchall() if scope == "stream"}
            names = {table_name(s): s for s in checkpoints}  # a shortened table name back to its stream
            for table in sorted(tables):
                cur.execute(ddl.table_stats(schema, table))
                live, deleted, last = cur.fetchone()
                stream = names.get(table, table)
                out[stream] = {"rows": live, "deleted": deleted, "last_synced_at": last,
                               "checkpoint_at": checkpoints.get(stream)}
        self.db.rollback()
        return {"schema": schema, "streams": out}

    def _ensure_table(self, cur: Any, stream: str, columns: list[ddl.Column],
                      existing: dict | None) -> str | None:
        table = table_name(stream)
        if existing is not None and ddl.missing_reserved(existing):
            return (f"table {self.opts.schema}.{table} exists but was not made by destination-postgres "
                    f"(missing columns {', '.join(ddl.missing_reserved(existing))})")
        sql = ddl.create_table(self.opts.schema, table, columns, self.key(stream)) if existing is None \
            else ddl.alter_table(self.opts.schema, table, ddl.columns_to_add(columns, existing))
        if sql is None:
            return None
        problem = self._try(cur, sql)
        return f"cannot create or alter table {self.opts.schema}.{table}: {problem}" if problem else None

    def _migrate_key(self, cur: Any, stream: str, columns: list[ddl.Column], current: tuple[str, list[str]],
                     existing: dict[str, dict[str, str]]) -> str | None:
        """Change a table's primary key to the catalog's (docs/destination-postgres.md, "Keys"), in the
        transaction of `ensure_tables`; a note says what was done. None when nothing was to do; else why
        the stream cannot be written (the table is left as it was)."""
        schema, table, key = self.opts.schema, table_name(stream), self.key(stream)
        constraint, have = current
        if tuple(have) == key.columns:
            return None
        old = Key(tuple(have), tuple(have))
        defaults = self.key_defaults.get(stream, {})
        cur.execute("SAVEPOINT rekey")
        try:
            by_name = {c.name: c for c in columns}
            for name, column in zip(key.fields, key.columns, strict=True):
                if column not in have and column != ID:
                    cur.execute(ddl.fill_key_column(schema, table, by_name[column], defaults.get(name)))
            cur.execute(ddl.count_null_keys(schema, table, key))
            nulls = cur.fetchone()[0]
            if nulls:
                cur.execute("ROLLBACK TO SAVEPOINT rekey")
                missing = [f for f, c in zip(key.fields, key.columns, strict=True) if c not in have]
                return (f"table {schema}.{table} is keyed by {old.describe()}, the catalog asks for "
                        f"{key.describe()}: {nulls} stored rows have no {', '.join(missing)} and the catalog "
                        "gives no primary_key_defaults for them; the table was not changed")
            tables = existing.keys()
            for bookkeeping in (CANDIDATES_TABLE, SEEN_TABLE):
                if bookkeeping in tables:
                    for sql in ddl.rekey_bookkeeping(schema, bookkeeping, table, stream, old, key):
                        cur.execute(sql)
            if DELETED_TABLE in tables and old.simple:
                cur.execute(ddl.rekey_deleted(schema, stream, key, defaults))
            cur.execute(ddl.replace_primary_key(schema, table, constraint, key))
            cur.execute(f"SELECT count(*) FROM {qualified(schema, table)}")
            rows = cur.fetchone()[0]
        except psycopg2.Error as exc:
            if errors.classify(exc) in (errors.CONNECTION, errors.RETRY):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT rekey")
            return (f"cannot change the primary key of {schema}.{table} from {old.describe()} to "
                    f"{key.describe()}: {errors.describe(exc)}; the table was not changed")
        cur.execute("RELEASE SAVEPOINT rekey")
        given = ", ".join(f"{f} = {v!r}" for f, v in sorted(defaults.items()) if f not in old.fields)
        filled = f"; rows without a value got {given}" if given else ""
        self.notes.append(f"migrated table {schema}.{table}: primary key {old.describe()} -> "
                          f"{key.describe()} ({rows} rows{filled})")
        return None

    # -- rows and checkpoints -----------------------------------------------------------------
    def _plan(self, stream: str, columns: list[ddl.Column]) -> StagePlan:
        plan_key = (stream, tuple(columns))
        plan = self._plans.get(plan_key)
        if plan is None:
            schema, table, stage = self.opts.schema, table_name(stream), ddl.stage_table(len(self._plans))
            key = self.key(stream)
            moves = [ddl.upsert(schema, table, stage, columns, key, force=self.mode == REPAIR)]
            if self.opts.hard_delete:
                moves = [ddl.hard_delete(schema, table, stage, stream, key),
                         ddl.upsert(schema, table, stage, columns, key, stream, force=self.mode == REPAIR)]
            classify = None
            if self.mode != WRITE:
                classify = snapshot_sql.classify(schema, None if stream in self.absent else table, stage,
                                                 stream, key)
            plan = StagePlan(stage, ddl.create_stage(stage, columns), ddl.copy_stage(stage, columns),
                             [] if self.mode == VERIFY else moves, ddl.truncate_stage(stage), classify)
            self._plans[plan_key] = plan
        return plan

    def write_rows(self, stream: str, columns: list[ddl.Column], rows: list[Row],
                   seen: list[tuple[str, str]] | None = None,
                   clear_candidates: bool = False) -> tuple[Stats, list]:
        """Upsert rows (distinct keys) into the stream's table; returns (stats, [(bad row, reason)]).

        `seen`: the open snapshots these rows may belong to, (id, `where` on the stage alias `s`): the keys
        inside each are recorded with the rows; `clear_candidates`: the stream has pending delete
        candidates, which these rows answer."""
        plan = self._plan(stream, columns)
        key = self.key(stream)
        after = [snapshot_sql.record_seen(self.opts.schema, plan.stage, stream, snapshot_id, key, where)
                 for snapshot_id, where in seen or []]
        if clear_candidates and self.mode != VERIFY:
            after.append(snapshot_sql.clear_candidates(self.opts.schema, plan.stage, stream, key))
        with self.guard(f"writing stream {stream!r}"), self.db.cursor() as cur:
            if plan.stage not in self._staged:
                cur.execute(plan.create)
                self._staged.add(plan.stage)
            return self._write_part(cur, plan, rows, after)

    def _write_part(self, cur: Any, plan: StagePlan, rows: list[Row], after: list[str]) -> tuple[Stats, list]:
        cur.execute("SAVEPOINT part")
        try:
            cur.copy_expert(plan.copy, io.BytesIO(b"".join(r.line for r in rows)), size=COPY_CHUNK)
            if plan.classify is not None:
                cur.execute(plan.classify)
            stats = ZERO
            for sql in plan.moves:
                cur.execute(sql)
                stats = stats.plus(Stats(*cur.fetchone()))
            for sql in after:
                cur.execute(sql)
            cur.execute(plan.truncate)
        except psycopg2.Error as exc:
            if errors.classify(exc) != errors.ROW:
                raise
            cur.execute("ROLLBACK TO SAVEPOINT part")
            cur.execute("RELEASE SAVEPOINT part")
            if len(rows) == 1:
                return ZERO, [(rows[0], errors.describe(exc))]
            mid = len(rows) // 2
            first, bad_first = self._write_part(cur, plan, rows[:mid], after)
            second, bad_second = self._write_part(cur, plan, rows[mid:], after)
            return first.plus(second), bad_first + bad_second
        cur.execute("RELEASE SAVEPOINT part")
        return stats, []

    def ensure_parent_indexes(self, parent_columns: dict[str, str]) -> None:
        """An index on each child table's parent column (stream -> column); committed."""
        if self.mode == VERIFY or not parent_columns:
            return
        with self.guard("creating the parent indexes"), self.db.cursor() as cur:
            for stream, column in sorted(parent_columns.items()):
                cur.execute(snapshot_sql.parent_index(self.opts.schema, table_name(stream), column))
        self.db.commit()

    def parent_sweep(self, sweep: Any) -> int:  # a sweeps.ParentSweep (sweeps imports this module)
        """Run one `sweeps.ParentSweep` (in the open transaction); the rows it tombstoned."""
        with self.guard(f"sweeping the children of {sweep.parent_id} in {sweep.stream!r}"), \
                self.db.cursor() as cur:
            cur.execute(snapshot_sql.parent_sweep(self.opts.schema, table_name(sweep.stream), sweep.stream,
                                                  sweep.column, sweep.field, sweep.parent_id, sweep.as_of,
                                                  sorted(sweep.seen), self.opts.hard_delete,
                                                  self.key(sweep.stream), sweep.part))
            return int(cur.fetchone()[0])

    def save_state(self, payload: dict) -> None:
        with self.guard("saving a checkpoint"), self.db.cursor() as cur:
            state_store.save(cur, self.opts.schema, payload)

    def check_access(self) -> str:
        """Whether the schema exists and is writable, or can be created (no changes made)."""
        schema = literal(self.opts.schema)
        with self.guard("checking privileges"), self.db.cursor() as cur:
            cur.execute(f"SELECT has_schema_privilege(oid, 'CREATE') AND has_schema_privilege(oid, 'USAGE') "
                        f"FROM pg_namespace WHERE nspname = {schema}")
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
                allowed, verdict = cur.fetchone()[0], "does not exist yet and can be created"
                missing = "CREATE on the database"
            else:
                allowed, verdict, missing = row[0], "exists and is writable", "USAGE and CREATE on the schema"
        self.db.rollback()
        target = describe_target(self.opts.url)
        if not allowed:
            raise ConnectorError("permission_denied", f"connected to {target}, but schema "
                                 f"{self.opts.schema!r} needs {missing}",
                                 hint="GRANT the missing privilege, or pick another schema")
        return f"connected to {target}; schema {self.opts.schema!r} {verdict}"

    def pending_candidates(self) -> list[tuple[str, str]]:
        """(stream, id) of every pending delete candidate (none when the schema has no such table)."""
        with self.guard("reading the delete candidates"), self.db.cursor() as cur:
            cur.execute(f"SELECT to_regclass({literal(qualified(self.opts.schema, CANDIDATES_TABLE))})")
            rows = []
            if cur.fetchone()[0] is not None:
                cur.execute(snapshot_sql.candidates_of(self.opts.schema))
                rows = cur.fetchall()
        self.db.rollback()
        return rows

    def load_state(self) -> dict:
        with self.guard("reading checkpoints"), self.db.cursor() as cur:
            state = state_store.load(cur, self.opts.schema)
        self.db.rollback()
        return state
