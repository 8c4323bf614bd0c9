"""Message validation against `specs/protocol/`.

Two levels, as the engine offers them (`--validate envelope|full`, docs/engine.md):
- `check_envelope(msg)`: a fast hand-written check done on every message (type known, payload an
  object, the few fields the engine relies on present with the right type). Returns None or a reason.
- `MessageValidator().errors(msg)`: the full JSON Schema (draft 2020-12) of the message's type, every
  error reported with its JSON path. Unknown keys are always allowed (forward compatibility).
"""
from __future__ import annotations

from functools import lru_cache, cache
from collections.abc import Iterator
from typing import TYPE_CHECKING

from protocol.jsonio import loads
from protocol.messages import MESSAGE_TYPES
from specs import PROTOCOL_DIR

if TYPE_CHECKING:  # jsonschema is imported when a full validation first needs it (a quarter second)
    from jsonschema import Draft202012Validator, ValidationError
    from referencing import Registry

_REQUIRED_FIELDS = {
    "record": (("stream", str), ("data", dict)),
    "state": (("state_type", str),),
    "trace": (("trace_type", str),),
    "log": (("level", str), ("message", str)),
    "catalog": (("streams", list),),
    "connection_status": (("status", str),),
    "control": (("control_type", str),),
    "eof": (("status", str),),
    "spec": (),
}


def check_envelope(msg: object) -> str | None:
    """Cheap structural check of one message; returns a human reason or None when it is fine."""
    if not isinstance(msg, dict):
        return "message is not a JSON object"
    kind = msg.get("type")
    if not isinstance(kind, str):
        return "missing string field 'type'"
    if kind not in _REQUIRED_FIELDS:
        return f"unknown message type {kind!r} (expected one of {', '.join(MESSAGE_TYPES)})"
    payload = msg.get(kind)
    if not isinstance(payload, dict):
        return f"{kind} message lacks its payload object under key {kind!r}"
    for field, typ in _REQUIRED_FIELDS[kind]:
        if not isinstance(payload.get(field), typ):
            return f"{kind}.{field} is missing or not a {typ.__name__}"
    if kind == "state" and payload["state_type"] == "stream" and not isinstance(payload.get("stream"), str):
        return "state.stream is missing for a stream state"
    return None


@lru_cache(maxsize=1)
def load_protocol_schemas() -> dict[str, dict]:
    """All schemas in specs/protocol, by file stem."""
    return {p.stem: loads(p.read_bytes()) for p in sorted(PROTOCOL_DIR.glob("*.json"))}


@lru_cache(maxsize=1)
def _registry() -> Registry:
    from referencing import Registry, Resource

    resources = [(s["$id"], Resource.from_contents(s)) for s in load_protocol_schemas().values()]
    return Registry().with_resources(resources)


@cache
def validator_for(schema_name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_protocol_schemas()[schema_name], registry=_registry())


def _path(err: ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                   for p in err.absolute_path).lstrip(".") or "(message)"


def iter_errors(msg: dict, schema_name: str | None = None) -> Iterator[str]:
    """Every schema violation of `msg` as 'path: message', against its type's schema."""
    reason = check_envelope(msg) if schema_name is None else None
    if reason:
        yield reason
        return
    name = schema_name or msg["type"]
    for err in sorted(validator_for(name).iter_errors(msg), key=lambda e: list(map(str, e.absolute_path))):
        yield f"{_path(err)}: {err.message}"


class MessageValidator:
    """Validates messages fully (`full=True`) or by envelope only."""

    def __init__(self, full: bool = False):
        self.full = full

    def errors(self, msg: object) -> list[str]:
        reason = check_envelope(msg)
        if reason or not self.full:
            return [reason] if reason else []
        return list(iter_errors(msg))  # type: ignore[arg-type]
