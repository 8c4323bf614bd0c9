"""Checkpoints in `<schema>._sync_state`: one row per stream state and one for the global state.

A row is written in the same transaction as the rows it covers (see loader.py), so the stored state
and the tables never disagree. Only the `data` of a state is stored; the aggregate state printed by
`destination-postgres state` is rebuilt from the rows: `{"streams": {name: data}, "global": data|null}`.
"""
from __future__ import annotations

from typing import Iterable

from destination_postgres import ddl
from destination_postgres.identifiers import STATE_TABLE, literal, qualified
from protocol.jsonio import dumps, loads

STREAM, GLOBAL = "stream", "global"


def state_key(payload: dict) -> tuple[str, str] | None:
    """(scope, stream) of a state payload, or None when it is malformed."""
    kind = payload.get("state_type")
    if kind == "global":
        return GLOBAL, ""
    if kind == "stream" and isinstance(payload.get("stream"), str):
        return STREAM, payload["stream"]
    return None


def aggregate(rows: Iterable[tuple[str, str, object]]) -> dict:
    """The aggregate state from (scope, stream, data) rows."""
    out: dict = {"streams": {}, "global": None}
    for scope, stream, data in rows:
        if scope == GLOBAL:
            out["global"] = data
        elif scope == STREAM:
            out["streams"][stream] = data
    return out


def save(cursor, schema: str, payload: dict) -> None:
    """Write one state (in the caller's transaction)."""
    scope, stream = state_key(payload)
    cursor.execute(ddl.save_state(schema, scope, stream, dumps(payload.get("data")).decode()))


def load(cursor, schema: str) -> dict:
    """The last committed aggregate state; empty when the schema or the table does not exist."""
    cursor.execute(f"SELECT to_regclass({literal(qualified(schema, STATE_TABLE))})")
    if cursor.fetchone()[0] is None:
        return aggregate([])
    cursor.execute(ddl.load_states(schema))
    return aggregate((scope, stream, None if data is None else loads(data))
                     for scope, stream, data in cursor.fetchall())
