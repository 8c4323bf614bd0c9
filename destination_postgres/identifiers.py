"""Identifier rules of the Postgres destination (pure; the only place that names tables and columns).

Rules:
- Every identifier is double-quoted; an embedded `"` is doubled. Quoting makes any name safe, so a
  stream called `x"; drop table y; --` becomes a table with exactly that odd name and nothing else.
- PostgreSQL identifiers hold at most 63 bytes (NAMEDATALEN - 1) and no NUL byte. A name that is
  longer, contains NUL, or is a reserved table name is shortened to `<prefix>_<hash>`: the longest
  UTF-8 prefix that fits (NULs removed) plus `_` and the first 10 hex digits of the SHA-256 of the full
  name. The result is stable across runs and distinct for distinct names, while short names are kept
  exactly as they are.
- Reserved columns are `id` (text primary key, from `data.id`) and the `_`-prefixed bookkeeping columns
  below. A stream property with one of these names gets no typed column (it stays in `_raw_data`).
- Reserved tables (`_sync_state`, `_sync_deleted`, `_sync_snapshots`, `_sync_snapshot_seen`,
  `_sync_candidates`) live in the same schema as the stream tables; a stream with one of those names
  gets the shortened form instead.
- The live views of a schema's tables live in `<schema>_live`, one view per table, named like it.
- SQL string literals are written as `E'...'` with `\\` and `'` escaped, which reads the same whatever
  `standard_conforming_strings` says.
"""
from __future__ import annotations

import hashlib

MAX_IDENTIFIER_BYTES = 63
HASH_HEX_DIGITS = 10

ID = "id"
RAW_DATA = "_raw_data"
UPDATED_AT = "_updated_at"
SYNCED_AT = "_synced_at"
DELETED_AT = "_deleted_at"
RESERVED_COLUMNS = (ID, RAW_DATA, UPDATED_AT, SYNCED_AT, DELETED_AT)

STATE_TABLE = "_sync_state"
DELETED_TABLE = "_sync_deleted"
SNAPSHOTS_TABLE = "_sync_snapshots"  # snapshots begun and ended, by stream (snapshot_sql.py)
SEEN_TABLE = "_sync_snapshot_seen"  # ids received inside an open snapshot
CANDIDATES_TABLE = "_sync_candidates"  # delete candidates waiting for the source's confirmation
STAGE_TABLE = "_sync_stage"  # session temporary table (pg_temp)
VERIFY_TABLE = "_sync_verify"  # session temporary table (pg_temp): write --verify / --repair
RESERVED_TABLES = (STATE_TABLE, DELETED_TABLE, SNAPSHOTS_TABLE, SEEN_TABLE, CANDIDATES_TABLE)
LIVE_SUFFIX = "_live"  # the schema of the live views: <schema>_live


def shorten(name: str) -> str:
    """A valid identifier for `name`: itself when it fits, else a stable `<prefix>_<hash>` form."""
    if "\x00" not in name and len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    return _hashed(name)


def _hashed(name: str) -> str:
    digest = hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[:HASH_HEX_DIGITS]
    budget = MAX_IDENTIFIER_BYTES - HASH_HEX_DIGITS - 1
    prefix = name.replace("\x00", "").encode("utf-8", errors="surrogatepass")[:budget]
    return prefix.decode("utf-8", errors="ignore") + "_" + digest


def table_name(stream: str) -> str:
    """The table holding `stream` (unquoted)."""
    if stream in RESERVED_TABLES or not stream:
        return _hashed(stream)
    return shorten(stream)


def views_schema(schema: str) -> str:
    """The schema of the live views of `schema`'s tables: `<schema>_live` (shortened when too long)."""
    return shorten(f"{schema}{LIVE_SUFFIX}")


def column_name(prop: str) -> str | None:
    """The typed column for a top-level property (unquoted), or None when the name is reserved."""
    if prop in RESERVED_COLUMNS:
        return None
    return shorten(prop)


def quote(name: str) -> str:
    """A double-quoted SQL identifier; `name` must already be valid (see `shorten`)."""
    if "\x00" in name or len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(f"not a valid identifier (shorten it first): {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """`"schema"."table"` for valid identifiers."""
    return f"{quote(schema)}.{quote(table)}"


def literal(text: str) -> str:
    """A SQL string literal (`E'...'`); text must not contain NUL (Postgres text cannot hold it)."""
    if "\x00" in text:
        raise ValueError("a SQL string cannot contain NUL")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
