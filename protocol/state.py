"""The state shapes protocol version 1 makes normative (docs/protocol.md, `state`): the one module that
reads and builds them. A stream's or the global state's `data` is opaque to everyone but its source.

- Aggregate state, what `read --state` takes, `eof.state` holds and `destination state` prints:
  `{"streams": {name: data}, "global": data | null}`, plus `"partitions": {partition: {"streams",
  "global"}}` when a source keeps state per partition (source-stripe: per Connect account). `empty()`,
  `normalize()` (tolerant, for stores and other processes' output), `split()` (strict, for a source's
  `--state`), `partitions()` (strict too), `build()`.
- A state message's key: `state_key(payload)` -> `("stream", name, partition)` or `("global", "",
  partition)`, partition `""` for none (a state message's optional `partition`: a non-empty string);
  `apply()` puts a state's data into an aggregate (the confirmation algebra of whoever keeps confirmed
  state).
- `destination_stats` of an echoed state: `Stats` (`inserted`, `updated`, `deleted`, `unchanged`), read
  tolerantly.
- The time-window checkpoint, the shape the protocol recommends to a source that reads time ranges
  (source-stripe's time streams use it): `{"accounted_range": {gte, lt}, "remaining": [{gte, lt,
  cursor?, ...}]}`; everything in `accounted_range` outside `remaining` was emitted, and `remaining: []`
  means done up to `accounted_range.lt`. `time_window()`, `parse_time_window()` (strict: names the
  field), `covered()`. No reader but the source looks inside it: the engine takes progress from
  `stream_status` messages only.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

from protocol import ranges
from protocol.errors import ConfigError
from protocol.ranges import Range

STREAM: Final = "stream"
GLOBAL: Final = "global"
StateKey = tuple[Literal["stream", "global"], str, str]  # (scope, stream or "", partition or "")


def empty() -> dict:
    return {"streams": {}, "global": None}


def build(streams: Mapping[str, Any], global_data: Any = None,
          partitions: Mapping[str, Any] | None = None) -> dict:
    out = {"streams": dict(streams), "global": global_data}
    if partitions:
        out["partitions"] = {p: build(v.get("streams") or {}, v.get("global")) for p, v in partitions.items()}
    return out


def normalize(value: Any) -> dict | None:
    """An aggregate state with both keys, or None when `value` does not have the shape at all."""
    if not isinstance(value, dict) or not isinstance(value.get("streams", {}), (dict, type(None))):
        return None
    parts = value.get("partitions")
    parts = {p: v for p, v in parts.items() if isinstance(p, str) and p and isinstance(v, dict)} \
        if isinstance(parts, dict) else None
    return build(value.get("streams") or {}, value.get("global"), parts)


def partitions(value: Any, option: str = "--state") -> dict[str, tuple[dict, dict | None]]:
    """{partition: (streams, global)} of an aggregate state given to a source; ConfigError if bad."""
    parts = value.get("partitions") if isinstance(value, dict) else None
    if parts is None:
        return {}
    if not isinstance(parts, dict):
        raise ConfigError(f"{option}: partitions must be an object "
                          "{partition: {\"streams\": ..., \"global\": ...}}")
    return {p: split(v, f"{option}: partitions.{p}") for p, v in parts.items()}


def split(value: Any, option: str = "--state") -> tuple[dict, dict | None]:
    """(streams, global) of an aggregate state given to a source; ({}, None) for none. ConfigError if bad."""
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        raise ConfigError(f"{option}: expected {{\"streams\": {{...}}, \"global\": ...}}")
    streams = value.get("streams")
    streams = {} if streams is None else streams
    if not isinstance(streams, dict):
        raise ConfigError(f"{option}: streams must be an object {{name: state}}")
    glob = value.get("global")
    if glob is not None and not isinstance(glob, dict):
        raise ConfigError(f"{option}: global must be an object or null")
    return streams, glob or None


def state_key(payload: Mapping[str, Any]) -> StateKey | None:
    """(scope, stream, partition) of a state payload, or None when it is malformed."""
    kind = payload.get("state_type")
    part = payload.get("partition", "")
    if not isinstance(part, str):
        return None
    if kind == GLOBAL:
        return GLOBAL, "", part
    stream = payload.get("stream")
    if kind == STREAM and isinstance(stream, str):
        return STREAM, stream, part
    return None


def data_at(aggregate: Mapping[str, Any], key: StateKey) -> Any:
    """The data an aggregate holds for a state key (None when it holds none)."""
    if key[2]:
        aggregate = (aggregate.get("partitions") or {}).get(key[2]) or {}
    if key[0] == GLOBAL:
        return aggregate.get("global")
    return (aggregate.get("streams") or {}).get(key[1])


def apply(aggregate: dict, payload: Mapping[str, Any]) -> tuple[dict, bool]:
    """The aggregate after a state payload, and whether it changed (pure; `aggregate` is not modified)."""
    key = state_key(payload)
    if key is None:
        return aggregate, False
    if key[2]:  # a partition's state: applied to that partition's own aggregate
        parts = aggregate.get("partitions") or {}
        inner, changed = apply(parts.get(key[2]) or empty(), {**payload, "partition": ""})
        if not changed:
            return aggregate, False
        return {**aggregate, "partitions": {**parts, key[2]: inner}}, True
    data = payload.get("data")
    streams = aggregate.get("streams") or {}
    if key[0] == GLOBAL:
        if aggregate.get("global") == data:
            return aggregate, False
        return {**aggregate, "global": data}, True
    if key[1] in streams and streams[key[1]] == data:
        return aggregate, False
    return {**aggregate, "streams": {**streams, key[1]: data}}, True


class Stats(NamedTuple):
    """`destination_stats` of an echoed state: rows inserted, updated and deleted (tombstoned) since the
    previous echo, and rows received `unchanged` (equal to the stored row, or older: not rewritten)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def plus(self, other: Stats) -> Stats:
        return Stats(*(a + b for a, b in zip(self, other, strict=True)))

    @property
    def rows_written(self) -> int:
        return self.inserted + self.updated + self.deleted

    def to_wire(self) -> dict[str, int]:
        return self._asdict()

    @classmethod
    def from_wire(cls, value: Any) -> Stats:
        """Tolerant: a missing object, key or non-integer count is 0 (negative counts too)."""
        if not isinstance(value, dict):
            return ZERO
        return cls(*(v if isinstance(v := value.get(k), int) and not isinstance(v, bool) and v > 0 else 0
                     for k in cls._fields))


ZERO: Final = Stats()


def time_window(accounted: Range, remaining: Iterable[dict]) -> dict:
    """A time-window checkpoint: the accounted range and the windows of it not yet emitted."""
    return {"accounted_range": ranges.to_wire(accounted), "remaining": list(remaining)}


class StateShapeError(ValueError):
    """A state that does not have the shape it claims; the message names the field."""


def parse_time_window(data: Any) -> tuple[Range, list[dict]]:
    """(accounted range, remaining windows as given) of a time-window checkpoint, or StateShapeError.

    Every window has integer `gte`/`lt` and a `cursor` that is a string or null when present; other keys
    of a window are the source's own and are passed through."""
    if not isinstance(data, dict) or not isinstance(data.get("accounted_range"), dict):
        raise StateShapeError("expected {\"accounted_range\": {\"gte\", \"lt\"}, \"remaining\": [...]}")
    problem = ranges.wire_problem(data["accounted_range"])
    if problem:
        raise StateShapeError(f"accounted_range.{problem}")
    remaining = data.get("remaining", [])
    if not isinstance(remaining, list):
        raise StateShapeError("remaining must be a list")
    for i, window in enumerate(remaining):
        if not isinstance(window, dict):
            raise StateShapeError(f"remaining[{i}] must be an object")
        problem = ranges.wire_problem(window)
        if problem:
            raise StateShapeError(f"remaining[{i}].{problem}")
        if window.get("cursor") is not None and not isinstance(window["cursor"], str):
            raise StateShapeError(f"remaining[{i}].cursor must be an object id or null")
    accounted = ranges.from_wire(data["accounted_range"])
    assert accounted is not None  # checked above
    return accounted, remaining


def covered(accounted: Range, remaining: Iterable[dict]) -> list[Range]:
    """The parts of the accounted range a time-window checkpoint says were emitted."""
    return ranges.subtract([accounted], ranges.list_from_wire(list(remaining)))
