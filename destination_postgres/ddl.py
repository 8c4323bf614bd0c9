"""SQL builders of the Postgres destination: plain strings, no connection (unit-tested as strings).

Every identifier goes through `identifiers.quote`, every value through `identifiers.literal`; no
statement here takes driver parameters, so a `%` in a stream name cannot confuse the driver either.

Schema changes only add (docs/destination-postgres.md, "Tables"): `plan_columns` reads the wanted typed
columns from a stream's JSON Schema, `columns_to_add` diffs them against the database catalog,
`alter_table` adds the missing ones.
Existing columns are never dropped or retyped; the upsert fills every existing column whose database
type it knows (`types.read_expression`), reading the property of the same name.

Live views (`live_view`, docs/destination-postgres.md "Live views"): one view per table in the schema
`<schema>_live`, holding the rows not deleted, Unix-seconds columns as timestamptz; a view only ever
gains columns (tables only gain columns, appended), so `CREATE OR REPLACE VIEW` keeps working.
"""
from __future__ import annotations

from dataclasses import dataclass

from destination_postgres import types
from destination_postgres.keys import Key
from destination_postgres.identifiers import (
    DELETED_AT, DELETED_TABLE, ID, RAW_DATA, RESERVED_COLUMNS, STAGE_TABLE, STATE_TABLE, SYNCED_AT,
    UPDATED_AT, column_name, literal, qualified, quote)


# the bookkeeping columns, quoted once
_ID, _RAW, _UPD, _SYNCED, _DEL = (quote(c) for c in (ID, RAW_DATA, UPDATED_AT, SYNCED_AT, DELETED_AT))


@dataclass(frozen=True)
class Column:
    name: str  # column name (unquoted, valid identifier)
    pg_type: str
    key: str  # top-level property of the object it is read from
    unix_time: bool = False  # the property holds Unix seconds (a timestamptz in the live view)


def plan_columns(json_schema: object) -> list[Column]:
    """The typed columns a stream's JSON Schema asks for, in schema order."""
    out, seen = [], set()
    props = json_schema.get("properties") if isinstance(json_schema, dict) else None
    for prop, pg_type in types.typed_properties(json_schema):
        name = column_name(prop)
        if name is not None and name not in seen:
            seen.add(name)
            out.append(Column(name, pg_type, prop, types.is_unix_time((props or {}).get(prop))))
    return out


def with_key_columns(columns: list[Column], key: Key) -> list[Column]:
    """`columns` plus a `text` column for each key field the schema gives no typed column (keys.py)."""
    have = {c.name for c in columns}
    extra = [Column(col, types.TEXT, field) for field, col in zip(key.fields, key.columns, strict=True)
             if col != ID and col not in have]
    return columns + extra


def missing_reserved(existing: dict[str, str]) -> list[str]:
    """Bookkeeping columns an existing table lacks (it was not made by this destination)."""
    return [c for c in RESERVED_COLUMNS if c not in existing]


def columns_to_add(wanted: list[Column], existing: dict[str, str]) -> list[Column]:
    """Wanted columns the table does not have yet (`existing`: column name -> database type)."""
    return [c for c in wanted if c.name not in existing]


def filled_columns(wanted: list[Column], existing: dict[str, str]) -> list[Column]:
    """The columns an upsert writes: every existing non-reserved column of a type this destination
    reads, with its property (from the catalog, else the column's own name), in table order."""
    key_of = {c.name: c.key for c in wanted}
    out = []
    for name, pg_type in existing.items():
        if name in RESERVED_COLUMNS or pg_type not in types.TYPED:
            continue
        out.append(Column(name, pg_type, key_of.get(name, name)))
    return out


def create_schema(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"


STATE_KEY = ("scope", "stream", "part")  # the key of `_sync_state` rows: protocol.state.state_key


def create_state_table(schema: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {qualified(schema, STATE_TABLE)} (scope text NOT NULL, "
            "stream text NOT NULL, data jsonb, committed_at timestamptz NOT NULL DEFAULT now(), "
            "part text NOT NULL DEFAULT '', PRIMARY KEY (scope, stream, part))")


def migrate_state_table(schema: str, constraint: str | None) -> list[str]:
    """`_sync_state` made before states had partitions: a `part` column ('' for its rows) in its key."""
    table = qualified(schema, STATE_TABLE)
    drop = f"DROP CONSTRAINT {quote(constraint)}, " if constraint else ""
    return [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS part text NOT NULL DEFAULT ''",
            f"ALTER TABLE {table} {drop}ADD PRIMARY KEY (scope, stream, part)"]


def create_deleted_table(schema: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {qualified(schema, DELETED_TABLE)} (stream text NOT NULL, "
            "id text NOT NULL, deleted_at bigint NOT NULL, PRIMARY KEY (stream, id))")


def create_table(schema: str, table: str, columns: list[Column], key: Key) -> str:
    typed = "".join(f"{quote(c.name)} {c.pg_type}, " for c in columns)
    return (f"CREATE TABLE IF NOT EXISTS {qualified(schema, table)} ({_ID} text NOT NULL, {typed}"
            f"{_RAW} jsonb NOT NULL, {_UPD} bigint NOT NULL, {_SYNCED} timestamptz NOT NULL DEFAULT now(), "
            f"{_DEL} bigint, PRIMARY KEY ({key.conflict_sql()}))")


def primary_keys_query(schema: str) -> str:
    """(table, constraint, column) of the primary key of every table of the schema, in key order."""
    return ("SELECT c.relname, con.conname, a.attname FROM pg_constraint con "
            "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            f"WHERE n.nspname = {literal(schema)} AND con.contype = 'p' ORDER BY c.relname, k.ord")


def alter_table(schema: str, table: str, columns: list[Column]) -> str | None:
    if not columns:
        return None
    adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {quote(c.name)} {c.pg_type}" for c in columns)
    return f"ALTER TABLE {qualified(schema, table)} {adds}"


def columns_query(schema: str) -> str:
    """(table, column, type) of every table of the schema, in column order."""
    return ("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(schema)} AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum")


def stage_table(index: int) -> str:
    """Name of a session temporary table that stages rows for one table (one per column set)."""
    return f"{STAGE_TABLE}_{index}"


def create_stage(stage: str, columns: list[Column]) -> str:
    """The stage: what `batch.copy_line` writes (typed values already converted by types.converter)."""
    typed = "".join(f"{quote(c.name)} {c.pg_type}, " for c in columns)
    return (f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(stage)} ({_ID} text NOT NULL, "
            f"{_UPD} bigint NOT NULL, {_DEL} bigint, {typed}{_RAW} jsonb NOT NULL)")


def copy_stage(stage: str, columns: list[Column]) -> str:
    names = ", ".join([_ID, _UPD, _DEL, *(quote(c.name) for c in columns), _RAW])
    return f"COPY pg_temp.{quote(stage)} ({names}) FROM STDIN"


def truncate_stage(stage: str) -> str:
    return f"TRUNCATE pg_temp.{quote(stage)}"


# Replace the stored row only with a newer version; on a tie only with a different later version,
# and never a tombstone with a live version (batch.supersedes is the same rule for one batch).
_NEWER = (f"(t.{_UPD} < excluded.{_UPD} OR (t.{_UPD} = excluded.{_UPD} AND t.{_DEL} IS NULL "
          f"AND (excluded.{_DEL} IS NOT NULL OR t.{_RAW} IS DISTINCT FROM excluded.{_RAW})))")
# ... and only when that changes the row: a version equal to the stored one (the same object, live or
# deleted as before) is not rewritten, so `_synced_at` means "last changed" (docs/destination-postgres.md,
# "Unchanged rows"). A tombstone is compared as it would be stored: merged over the stored object.
_CHANGED = (f"(CASE WHEN excluded.{_DEL} IS NULL THEN t.{_DEL} IS NOT NULL OR t.{_RAW} IS DISTINCT FROM "
            f"excluded.{_RAW} ELSE t.{_DEL} IS NULL OR t.{_RAW} IS DISTINCT FROM "
            f"(t.{_RAW} || excluded.{_RAW}) END)")


def upsert(schema: str, table: str, stage: str, columns: list[Column], key: Key, stream: str | None = None,
           force: bool = False) -> str:
    """Move the stage into the table; returns one row (inserted, updated, deleted, unchanged).

    A tombstone keeps the last known values: its keys are merged over the stored `_raw_data` and the
    typed columns are read from the merged object (the batch merges the same way, see loader.py).
    With `stream` given (hard delete), only live rows are moved, and not those whose id has a
    tombstone of the same second or newer in `_sync_deleted` (see `hard_delete`). `unchanged` counts the
    staged rows considered that did not change the table (equal to the stored row, or older). With
    `force` (repair) a row is replaced whenever it differs, whatever the stored version says.
    """
    live, merged = f"excluded.{_DEL} IS NULL", f"(t.{_RAW} || excluded.{_RAW})"
    typed = [quote(c.name) for c in columns]
    sets = "".join(f"{name} = CASE WHEN {live} THEN excluded.{name} "
                   f"ELSE {types.read_expression(c.pg_type, merged, literal(c.key))} END, "
                   for name, c in zip(typed, columns, strict=True)
                   if c.name not in key.columns)  # a key column never changes (and may be outside the object)
    where = ""
    if stream is not None:
        where = (f" WHERE s.{_DEL} IS NULL AND NOT EXISTS (SELECT 1 FROM {qualified(schema, DELETED_TABLE)} "
                 f"d WHERE d.stream = {literal(stream)} AND d.id = {key.text_sql('s')} "
                 f"AND d.deleted_at >= s.{_UPD})")
    guard = _CHANGED if force else f"{_NEWER} AND {_CHANGED}"
    return (
        f"WITH up AS (INSERT INTO {qualified(schema, table)} AS t "
        f"({', '.join([_ID, *typed, _RAW, _UPD, _SYNCED, _DEL])}) "
        f"SELECT {', '.join(f's.{n}' for n in [_ID, *typed, _RAW, _UPD])}, now(), s.{_DEL} "
        f"FROM pg_temp.{quote(stage)} s{where} ON CONFLICT ({key.conflict_sql()}) DO UPDATE SET {sets}"
        f"{_RAW} = CASE WHEN {live} THEN excluded.{_RAW} ELSE {merged} END, {_UPD} = excluded.{_UPD}, "
        f"{_SYNCED} = excluded.{_SYNCED}, {_DEL} = excluded.{_DEL} WHERE {guard} "
        f"RETURNING t.xmax = 0 AS ins, t.{_DEL} IS NOT NULL AS del) "
        "SELECT count(*) FILTER (WHERE ins AND NOT del), count(*) FILTER (WHERE NOT ins AND NOT del), "
        f"count(*) FILTER (WHERE del), (SELECT count(*) FROM pg_temp.{quote(stage)} s{where}) - count(*) "
        "FROM up")


def hard_delete(schema: str, table: str, stage: str, stream: str, key: Key) -> str:
    """Apply the stage's tombstones as deletes (hard delete mode); returns one row (0, 0, deleted,
    unchanged: tombstones of ids already deleted as recently).

    Each tombstone is remembered in `_sync_deleted` (newest per id) so that an older live version
    arriving later is not resurrected by `upsert(..., stream=...)`.
    """
    return (
        f"WITH tomb AS (SELECT {key.text_sql('s')} AS key_text, "
        f"{', '.join(f's.{quote(c)}' for c in key.columns)}, s.{_DEL} AS upd FROM pg_temp.{quote(stage)} s "
        f"WHERE s.{_DEL} IS NOT NULL), "
        f"reg AS (INSERT INTO {qualified(schema, DELETED_TABLE)} AS d (stream, id, deleted_at) "
        f"SELECT {literal(stream)}, key_text, upd FROM tomb ON CONFLICT (stream, id) DO UPDATE "
        "SET deleted_at = excluded.deleted_at WHERE d.deleted_at < excluded.deleted_at RETURNING 1), "
        f"gone AS (DELETE FROM {qualified(schema, table)} t USING tomb WHERE {key.join_sql('t', 'tomb')} "
        f"AND t.{_UPD} <= tomb.upd RETURNING 1) "
        # `gone` runs although unread (PostgreSQL runs every DML CTE)
        "SELECT 0, 0, count(*), (SELECT count(*) FROM tomb) - count(*) FROM reg")


def save_state(schema: str, scope: str, stream: str, part: str, data_json: str) -> str:
    return (f"INSERT INTO {qualified(schema, STATE_TABLE)} (scope, stream, part, data, committed_at) VALUES "
            f"({literal(scope)}, {literal(stream)}, {literal(part)}, {literal(data_json)}::jsonb, now()) "
            "ON CONFLICT (scope, stream, part) DO UPDATE SET data = excluded.data, "
            "committed_at = excluded.committed_at")


def load_states(schema: str) -> str:
    """(scope, stream, partition, data) of every row; a table without partitions (made before them,
    read before a write migrated it) reads as partition ''."""
    return (f"SELECT t.scope, t.stream, coalesce(to_jsonb(t)->>'part', ''), t.data::text "
            f"FROM {qualified(schema, STATE_TABLE)} t ORDER BY 1, 2, 3")


def live_view(schema: str, views_schema: str, table: str, columns: dict[str, str],
              unix_time: set[str]) -> str:
    """The view of a table's live rows (`_deleted_at IS NULL`): every column in table order but
    `_deleted_at`; `_updated_at` and the bigint columns named in `unix_time` as timestamptz."""
    exprs = []
    for name, pg_type in columns.items():
        if name == DELETED_AT:
            continue
        q = quote(name)
        converted = name == UPDATED_AT or (name in unix_time and pg_type == types.BIGINT)
        exprs.append(f"to_timestamp(t.{q}) AS {q}" if converted else f"t.{q}")
    return (f"CREATE OR REPLACE VIEW {qualified(views_schema, table)} AS SELECT {', '.join(exprs)} "
            f"FROM {qualified(schema, table)} t WHERE t.{_DEL} IS NULL")


def view_timestamp_columns_query(views_schema: str) -> str:
    """(view, column) of every timestamptz column of the views in a schema (kept converted on a rebuild)."""
    return ("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(views_schema)} AND c.relkind = 'v' AND a.attnum > 0 "
            "AND a.atttypid = 'timestamptz'::regtype")


def table_stats(schema: str, table: str) -> str:
    """One row: live rows, deleted rows, the last write (Unix seconds, NULL when empty)."""
    return (f"SELECT count(*) FILTER (WHERE {_DEL} IS NULL), count(*) FILTER (WHERE {_DEL} IS NOT NULL), "
            f"extract(epoch FROM max({_SYNCED}))::bigint FROM {qualified(schema, table)}")


def checkpoint_times(schema: str) -> str:
    """(scope, stream, Unix seconds) of every committed checkpoint."""
    return (f"SELECT scope, stream, extract(epoch FROM max(committed_at))::bigint "
            f"FROM {qualified(schema, STATE_TABLE)} GROUP BY scope, stream")


# ---- a table's key changed (docs/destination-postgres.md, "Keys": migrating a table) ---------------
def fill_key_column(schema: str, table: str, column: Column, default: object) -> str:
    """Give every row lacking a value of the new key column one: its object's property, else `default`
    (the catalog's `primary_key_defaults`: a key field outside the objects, like `_account_id`)."""
    read = types.read_expression(column.pg_type, f"t.{_RAW}", literal(column.key))
    value = f"COALESCE({read}, {literal(str(default)) if default is not None else 'NULL'}::{column.pg_type})"
    col = quote(column.name)
    return f"UPDATE {qualified(schema, table)} t SET {col} = {value} WHERE t.{col} IS NULL"


def count_null_keys(schema: str, table: str, key: Key) -> str:
    nulls = " OR ".join(f"t.{quote(c)} IS NULL" for c in key.columns)
    return f"SELECT count(*) FROM {qualified(schema, table)} t WHERE {nulls}"


def rekey_bookkeeping(schema: str, bookkeeping: str, table: str, stream: str, old: Key,
                      new: Key) -> list[str]:
    """Rewrite the key texts a bookkeeping table (`_sync_candidates`, `_sync_snapshot_seen`) holds for a
    stream whose key changed, from the rows they name; entries naming no row are dropped (a forgotten
    candidate or seen id only costs a candidate again at the next snapshot, confirmed by the source)."""
    b, t, s = qualified(schema, bookkeeping), qualified(schema, table), literal(stream)
    return [f"DELETE FROM {b} b WHERE b.stream = {s} AND NOT EXISTS (SELECT 1 FROM {t} t "
            f"WHERE {old.text_sql('t')} = b.id)",
            f"UPDATE {b} b SET id = {new.text_sql('t')} FROM {t} t WHERE b.stream = {s} "
            f"AND {old.text_sql('t')} = b.id"]


def rekey_deleted(schema: str, stream: str, new: Key, defaults: dict) -> str:
    """Hard-delete tombstones of a stream keyed by `id` alone, rewritten to `new` (its other key fields
    from `defaults`: their rows are gone, nothing else can name them); without defaults they are dropped."""
    d, s = qualified(schema, DELETED_TABLE), literal(stream)
    if any(f != ID and f not in defaults for f in new.fields):
        return f"DELETE FROM {d} WHERE stream = {s}"
    parts = ", ".join(f"{literal(f)}, " + ("d.id" if f == ID else f"{literal(str(defaults[f]))}::text")
                      for f in new.fields)
    return f"UPDATE {d} d SET id = jsonb_build_object({parts})::text WHERE d.stream = {s}"


def replace_primary_key(schema: str, table: str, constraint: str | None, key: Key) -> str:
    drop = f"DROP CONSTRAINT {quote(constraint)}, " if constraint else ""
    return f"ALTER TABLE {qualified(schema, table)} {drop}ADD PRIMARY KEY ({key.conflict_sql()})"
