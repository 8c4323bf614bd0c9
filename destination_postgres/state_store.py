"""Checkpoints in `<schema>._sync_state`: one row per stream state and one for the global state, of each
partition (`part`, '' for states without one: protocol.state).

A row is written in the same transaction as the rows it covers (see loader.py), so the stored state
and the tables never disagree. Only the `data` of a state is stored; the aggregate state printed by
`destination-postgres state` is rebuilt from the rows: `{"streams": {name: data}, "global": data|null}`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from destination_postgres import ddl
from destination_postgres.identifiers import STATE_TABLE, literal, qualified
from protocol.jsonio import dumps, loads
from protocol.state import GLOBAL, STREAM, build, state_key


def aggregate(rows: Iterable[tuple[str, str, str, object]]) -> dict:
    """The aggregate state from (scope, stream, partition, data) rows (as `protocol.state.state_key`
    names them)."""
    parts: dict[str, dict] = {}
    for scope, stream, part, data in rows:
        into = parts.setdefault(part, {"streams": {}, "global": None})
        if scope == GLOBAL:
            into["global"] = data
        elif scope == STREAM:
            into["streams"][stream] = data
    top = parts.pop("", {"streams": {}, "global": None})
    return build(top["streams"], top["global"], parts)


def save(cursor: Any, schema: str, payload: dict) -> None:
    """Write one state (in the caller's transaction); `payload` has a valid `state_key`."""
    key = state_key(payload)
    assert key is not None, "checked by the loader"
    scope, stream, part = key
    cursor.execute(ddl.save_state(schema, scope, stream, part, dumps(payload.get("data")).decode()))


def load(cursor: Any, schema: str) -> dict:
    """The last committed aggregate state; empty when the schema or the table does not exist."""
    cursor.execute(f"SELECT to_regclass({literal(qualified(schema, STATE_TABLE))})")
    if cursor.fetchone()[0] is None:
        return aggregate([])
    cursor.execute(ddl.load_states(schema))
    return aggregate((scope, stream, part, None if data is None else loads(data))
                     for scope, stream, part, data in cursor.fetchall())
