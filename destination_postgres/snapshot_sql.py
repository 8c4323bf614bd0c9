"""SQL builders for snapshots, delete candidates and verification: plain strings, no connection
(docs/destination-postgres.md, "Snapshots and delete candidates", "Verify and repair").

Tables (in the stream tables' schema, reserved names, `identifiers.py`):
- `_sync_snapshots (stream, id, scope, status 'open'|'done', seen, candidates, began_at, ended_at)`: the
  snapshots of each stream begun and ended (only the latest ones are kept);
- `_sync_snapshot_seen (stream, snapshot, id)`: the ids received inside an open snapshot, written in the
  same transaction as their rows, so a snapshot survives any crash and resumes with its checkpoint;
- `_sync_candidates (stream, id, snapshot, found_at)`: live rows a snapshot did not see, waiting for the
  source's confirmation; a committed record of the same id removes one (`clear_candidates`).
Parent-scoped snapshots (child streams: the complete set of one parent's children as of `as_of`) keep
nothing in tables: `parent_sweep` tombstones the parent's live rows not received, in the transaction that
writes the received ones (`parent_index` makes that a lookup by the parent column).
`write --verify` and `--repair` keep their bookkeeping in a session table, `pg_temp._sync_verify
(stream, id, class)`: every id received, classified against the stored row before anything is written.
"""
from __future__ import annotations

from destination_postgres import types
from destination_postgres.identifiers import (
    CANDIDATES_TABLE, DELETED_AT, DELETED_TABLE, ID, RAW_DATA, SEEN_TABLE, SNAPSHOTS_TABLE, SYNCED_AT,
    UPDATED_AT, VERIFY_TABLE, literal, qualified, quote, shorten)
from protocol import snapshot as snap

_ID, _RAW, _DEL, _UPD, _SYNCED = (quote(c) for c in (ID, RAW_DATA, DELETED_AT, UPDATED_AT, SYNCED_AT))
_VERIFY = f"pg_temp.{quote(VERIFY_TABLE)}"
CLASSES = ("ok", "missing", "stale", "extra")


def create_tables(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, SNAPSHOTS_TABLE)} (stream text NOT NULL, "
        "id text NOT NULL, scope jsonb, status text NOT NULL, seen bigint NOT NULL DEFAULT 0, "
        "candidates bigint NOT NULL DEFAULT 0, began_at timestamptz NOT NULL DEFAULT now(), "
        "ended_at timestamptz, PRIMARY KEY (stream, id))",
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, SEEN_TABLE)} (stream text NOT NULL, "
        "snapshot text NOT NULL, id text NOT NULL, PRIMARY KEY (stream, snapshot, id))",
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, CANDIDATES_TABLE)} (stream text NOT NULL, "
        "id text NOT NULL, snapshot text, found_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (stream, id))",
    ]


def create_verify_table() -> str:
    return (f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(VERIFY_TABLE)} (stream text NOT NULL, "
            "id text NOT NULL, class text NOT NULL, PRIMARY KEY (stream, id))")


def scope_predicate(scope: snap.Scope, alias: str = "t") -> str | None:
    """A WHERE condition selecting the rows of table `alias` inside `scope`; None when this destination
    cannot evaluate it (a parent scope: tables have no parent column). The field is read from `_raw_data`,
    the stored object itself, not from its typed column (which may be NULL where a value did not fit)."""
    if scope.kind == snap.STREAM:
        return "TRUE"
    if scope.kind != snap.RANGE or scope.field is None:
        return None
    value = types.read_expression(types.NUMERIC, f"{alias}.{_RAW}", literal(scope.field))
    if not scope.ranges:
        return "FALSE"
    return "(" + " OR ".join(f"({value} >= {a} AND {value} < {b})" for a, b in scope.ranges) + ")"


# ---- snapshots (write) ---------------------------------------------------------------------------
def snapshot_status(schema: str, stream: str, snapshot_id: str) -> str:
    """(status, seen, candidates, scope as text) of one snapshot."""
    return (f"SELECT status, seen, candidates, scope::text FROM {qualified(schema, SNAPSHOTS_TABLE)} "
            f"WHERE stream = {literal(stream)} AND id = {literal(snapshot_id)}")


def begin_snapshot(schema: str, stream: str, snapshot_id: str, scope_json: str) -> list[str]:
    """A new snapshot of `stream`: earlier ones (and their ids) are dropped."""
    s = literal(stream)
    return [f"DELETE FROM {qualified(schema, SEEN_TABLE)} WHERE stream = {s}",
            f"DELETE FROM {qualified(schema, SNAPSHOTS_TABLE)} WHERE stream = {s}",
            f"INSERT INTO {qualified(schema, SNAPSHOTS_TABLE)} (stream, id, scope, status) VALUES "
            f"({s}, {literal(snapshot_id)}, {literal(scope_json)}::jsonb, 'open')"]


def record_seen(schema: str, stage: str, stream: str, snapshot_id: str) -> str:
    return (f"INSERT INTO {qualified(schema, SEEN_TABLE)} (stream, snapshot, id) SELECT {literal(stream)}, "
            f"{literal(snapshot_id)}, s.{_ID} FROM pg_temp.{quote(stage)} s ON CONFLICT DO NOTHING")


def clear_candidates(schema: str, stage: str, stream: str) -> str:
    return (f"DELETE FROM {qualified(schema, CANDIDATES_TABLE)} c USING pg_temp.{quote(stage)} s "
            f"WHERE c.stream = {literal(stream)} AND c.id = s.{_ID}")


def end_snapshot(schema: str, table: str, stream: str, snapshot_id: str, predicate: str) -> str:
    """Turn an open snapshot's unseen live rows into candidates; returns one row (seen, candidates)."""
    s, i = literal(stream), literal(snapshot_id)
    seen = f"{qualified(schema, SEEN_TABLE)} v WHERE v.stream = {s} AND v.snapshot = {i}"
    return (
        f"WITH cand AS (INSERT INTO {qualified(schema, CANDIDATES_TABLE)} AS c (stream, id, snapshot) "
        f"SELECT {s}, t.{_ID}, {i} FROM {qualified(schema, table)} t WHERE t.{_DEL} IS NULL AND {predicate} "
        f"AND NOT EXISTS (SELECT 1 FROM {seen} AND v.id = t.{_ID}) "
        "ON CONFLICT (stream, id) DO UPDATE SET snapshot = excluded.snapshot, found_at = now() RETURNING 1) "
        f"SELECT (SELECT count(*) FROM {seen}), (SELECT count(*) FROM cand)")


def close_snapshot(schema: str, stream: str, snapshot_id: str) -> list[str]:
    """Mark a snapshot done with its counts and drop its seen ids (after `end_snapshot`, in the same
    transaction: a crash in between leaves it open, and its `end` again does the same)."""
    s, i = literal(stream), literal(snapshot_id)
    return [f"UPDATE {qualified(schema, SNAPSHOTS_TABLE)} SET status = 'done', seen = (SELECT count(*) FROM "
            f"{qualified(schema, SEEN_TABLE)} WHERE stream = {s} AND snapshot = {i}), candidates = (SELECT "
            f"count(*) FROM {qualified(schema, CANDIDATES_TABLE)} WHERE stream = {s} AND snapshot = {i}), "
            f"ended_at = now() WHERE stream = {s} AND id = {i}",
            f"DELETE FROM {qualified(schema, SEEN_TABLE)} WHERE stream = {s} AND snapshot = {i}"]


def candidates_of(schema: str, stream: str | None = None, snapshot_id: str | None = None) -> str:
    """(stream, id) of the pending candidates, in order (of one snapshot, of one stream, or all)."""
    where = []
    if stream is not None:
        where.append(f"stream = {literal(stream)}")
    if snapshot_id is not None:
        where.append(f"snapshot = {literal(snapshot_id)}")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT stream, id FROM {qualified(schema, CANDIDATES_TABLE)}{cond} ORDER BY stream, id"


def candidate_streams(schema: str) -> str:
    return f"SELECT DISTINCT stream FROM {qualified(schema, CANDIDATES_TABLE)}"


# ---- parent-scoped snapshots (child streams) -------------------------------------------------------
def parent_index(schema: str, table: str, column: str) -> str:
    """The index on a child table's parent column (the joins and the sweeps go through it)."""
    return (f"CREATE INDEX IF NOT EXISTS {quote(shorten(f'{table}_{column}_idx'))} "
            f"ON {qualified(schema, table)} ({quote(column)})")


def parent_sweep(schema: str, table: str, stream: str, column: str | None, field: str, parent_id: str,
                 as_of: int, seen: list[str], hard_delete: bool = False) -> str:
    """Tombstone (at version `as_of`) the live rows of one parent that its snapshot did not receive and
    whose version is not newer than `as_of` (on a tie the later message, the snapshot, wins); returns one
    row: how many. `column`: the parent's typed column (indexed), else the property in `_raw_data`. With
    `hard_delete` the rows are deleted and remembered in `_sync_deleted` like any tombstone."""
    of_parent = f"t.{quote(column)} = {literal(parent_id)}" if column else \
        f"t.{_RAW}->>{literal(field)} = {literal(parent_id)}"
    kept = f" AND t.{_ID} <> ALL (ARRAY[{', '.join(map(literal, seen))}]::text[])" if seen else ""
    where = f"{of_parent} AND t.{_DEL} IS NULL AND t.{_UPD} <= {int(as_of)}{kept}"
    if not hard_delete:
        return (f"WITH gone AS (UPDATE {qualified(schema, table)} t SET {_DEL} = {int(as_of)}, "
                f"{_UPD} = {int(as_of)}, {_SYNCED} = now() WHERE {where} RETURNING 1) "
                "SELECT count(*) FROM gone")
    return (f"WITH gone AS (DELETE FROM {qualified(schema, table)} t WHERE {where} RETURNING t.{_ID}), "
            f"reg AS (INSERT INTO {qualified(schema, DELETED_TABLE)} AS d (stream, id, deleted_at) "
            f"SELECT {literal(stream)}, {_ID}, {int(as_of)} FROM gone ON CONFLICT (stream, id) DO UPDATE "
            "SET deleted_at = excluded.deleted_at WHERE d.deleted_at < excluded.deleted_at RETURNING 1) "
            "SELECT count(*) FROM gone")


# ---- verify and repair ---------------------------------------------------------------------------
def classify(schema: str, table: str | None, stage: str, stream: str) -> str:
    """Record each staged id's class against the stored row (before anything is written): a live version
    is `missing` (no live row), `stale` (another `_raw_data`) or `ok`; a tombstone is `extra` over a live
    row, else `ok`. `table` None: the table does not exist (every live version is missing)."""
    joined = (f"LEFT JOIN {qualified(schema, table)} t ON t.{_ID} = s.{_ID}" if table is not None
              else f"LEFT JOIN (SELECT NULL::text AS {_ID}, NULL::jsonb AS {_RAW}, NULL::bigint AS {_DEL}) t "
                   "ON FALSE")
    return (f"INSERT INTO {_VERIFY} (stream, id, class) SELECT {literal(stream)}, s.{_ID}, CASE "
            f"WHEN s.{_DEL} IS NOT NULL THEN CASE WHEN t.{_ID} IS NOT NULL AND t.{_DEL} IS NULL THEN 'extra' "
            "ELSE 'ok' END "
            f"WHEN t.{_ID} IS NULL OR t.{_DEL} IS NOT NULL THEN 'missing' "
            f"WHEN t.{_RAW} IS DISTINCT FROM s.{_RAW} THEN 'stale' ELSE 'ok' END "
            f"FROM pg_temp.{quote(stage)} s {joined} "
            "ON CONFLICT (stream, id) DO UPDATE SET class = excluded.class")


def verify_candidates(schema: str, table: str, stream: str, predicate: str) -> str:
    """Ids of live rows inside the scope that the verification did not receive."""
    return (f"SELECT t.{_ID} FROM {qualified(schema, table)} t WHERE t.{_DEL} IS NULL AND {predicate} "
            f"AND NOT EXISTS (SELECT 1 FROM {_VERIFY} v WHERE v.stream = {literal(stream)} "
            f"AND v.id = t.{_ID}) ORDER BY t.{_ID}")


def verify_seen(stream: str) -> str:
    return f"SELECT count(*) FROM {_VERIFY} WHERE stream = {literal(stream)}"


def verify_counts() -> str:
    """(stream, class, count, up to 5 example ids) of everything classified."""
    return (f"SELECT stream, class, count(*), (array_agg(id ORDER BY id))[1:5] FROM {_VERIFY} "
            "GROUP BY stream, class ORDER BY stream, class")
