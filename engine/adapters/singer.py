"""The Singer protocol and ours, both ways (pure; docs/third-party.md, "Singer").

The Singer specification (github.com/singer-io/getting-started, docs/SPEC.md and docs/DISCOVERY_MODE.md):
a tap runs as `tap --config C [--state S] [--catalog K]` (older taps: `--properties K`) and prints
SCHEMA, RECORD and STATE messages, one per line; `type`s are case-insensitive; a STATE's `value` is
whatever the tap wants back in `--state`; `tap --config C --discover` prints the catalog (one JSON
document) whose streams are chosen with `"selected": true` metadata. A target reads those messages and
prints each state value once everything before it is persisted.

Singer tap -> ours (`SourceTranslator`):
- SCHEMA -> nothing but the stream's `started` (the catalog comes from `--discover`: `to_catalog`, with
  `key_properties` as primary key and the replication key as cursor).
- RECORD -> `record` (`emitted_at` from `time_extracted`), after the stream's `started`.
- STATE -> our global state `{"singer": value}` (a Singer state covers every stream before it); the value
  goes back to the tap unchanged (`state_input`).
- ACTIVATE_VERSION -> an info log: our destinations keep no table versions, so rows of older versions
  stay (no hard deletes).
- The end: Singer has no end-of-stream marker, so every stream the tap was asked for is `complete` when
  it exits 0 (`finish`); a non-zero exit leaves them unfinished.

Ours -> a Singer target (`TargetWriter`): SCHEMA before the first record of a stream (its JSON Schema
plus `_sdc_deleted_at`, key properties from the primary key), RECORD (`time_extracted` from
`emitted_at`; a tombstone keeps its data and gets `_sdc_deleted_at`, the Singer convention that
targets with hard deletes act on), and STATEs whose value is the whole aggregate of our states so far:
`{"bookmarks": {stream: data}, "global": data, "stripe_sync": {"seq": n}}` (n: how many states of ours it
includes). Targets print the value of the last state they have persisted (some only at the end of their
input), so one echo confirms every state of ours up to its `seq` (`echo`); when STATEs go out is said
at `TargetWriter`.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from engine.adapters.base import ForeignMessageError, cut, iso_from_ms, ms_from_iso, obj, string
from protocol import messages
from protocol.errors import ConnectorError
from protocol.state import apply

TYPES = frozenset({"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION"})
STATE_KEY = "singer"  # our global state data: {"singer": <the tap's state value>}
OURS_KEY = "stripe_sync"  # in a STATE value sent to a target: {"seq": n}
DELETED_AT = "_sdc_deleted_at"
DELETED_AT_SCHEMA = {"type": ["null", "string"], "format": "date-time"}


def kind_of(msg: dict) -> str:
    return str(msg.get("type", "")).upper()


def is_singer(msg: dict) -> bool:
    """Whether a message has a Singer shape (RECORD with a top-level stream, STATE with a value)."""
    kind = kind_of(msg)
    if kind == "RECORD":
        return "stream" in msg and isinstance(msg.get("record"), dict)
    if kind == "STATE":
        return "value" in msg
    return kind in ("SCHEMA", "ACTIVATE_VERSION")


# ---- catalogs -------------------------------------------------------------------------------------------
def stream_metadata(entry: dict) -> dict:
    """The stream-level metadata (breadcrumb []) of a Singer catalog entry."""
    for item in entry.get("metadata") or []:
        if isinstance(item, dict) and item.get("breadcrumb") == [] and isinstance(item.get("metadata"), dict):
            return item["metadata"]
    return {}


def is_catalog(value: Any) -> bool:
    streams = value.get("streams") if isinstance(value, dict) else None
    return isinstance(streams, list) and bool(streams) and all(
        isinstance(s, dict) and ("tap_stream_id" in s or ("schema" in s and "json_schema" not in s))
        for s in streams)


def catalog_stream(entry: dict) -> dict:
    """One Singer catalog entry as our catalog stream (the Singer fields kept in `metadata.singer`)."""
    name = entry.get("tap_stream_id") or entry.get("stream")
    if not isinstance(name, str) or not name:
        raise ForeignMessageError("catalog stream without a 'tap_stream_id'")
    schema = obj(entry, "schema", f"catalog stream {name!r}")
    meta = stream_metadata(entry)
    keys = entry.get("key_properties") or meta.get("table-key-properties") or meta.get(
        "view-key-properties") or []
    replication_key = meta.get("replication-key") or next(iter(meta.get("valid-replication-keys") or []),
                                                          None)
    return {"name": name, "json_schema": schema, "primary_key": [[k] for k in keys if isinstance(k, str)],
            "cursor_field": [replication_key] if isinstance(replication_key, str) else [],
            "supports_time_range": False,
            "metadata": {"singer": {k: v for k, v in entry.items() if k != "schema"}}}


def to_catalog(value: Any) -> dict:
    """A Singer catalog (the output of `--discover`) as our catalog payload."""
    streams = value.get("streams") if isinstance(value, dict) else None
    if not isinstance(streams, list):
        raise ForeignMessageError("catalog without a list 'streams'")
    return {"streams": [catalog_stream(e) for e in streams if isinstance(e, dict)]}


def tap_catalog(streams: Iterable[dict]) -> dict:
    """The Singer catalog for `--catalog`/`--properties` that selects these streams and all their fields
    (`"selected": true` on the stream and on every field that is not `unsupported`)."""
    out = []
    for s in streams:
        singer = dict((s.get("metadata") or {}).get("singer") or {})
        metadata = [dict(m) for m in singer.get("metadata") or [] if isinstance(m, dict)]
        if not any(m.get("breadcrumb") == [] for m in metadata):
            metadata.insert(0, {"breadcrumb": [], "metadata": {}})
        for item in metadata:
            inner = dict(item.get("metadata") or {})
            if inner.get("inclusion") != "unsupported":
                inner["selected"] = True
            item["metadata"] = inner
        entry = {**singer, "tap_stream_id": singer.get("tap_stream_id", s["name"]),
                 "stream": singer.get("stream", s["name"]), "schema": s.get("json_schema") or {},
                 "metadata": metadata}
        keys = [p[0] for p in s.get("primary_key") or [] if len(p) == 1]
        if "key_properties" not in entry and keys:
            entry["key_properties"] = keys
        out.append(entry)
    return {"streams": out}


# ---- state ----------------------------------------------------------------------------------------------
def state_payload(value: Any) -> dict:
    return {"state_type": "global", "data": {STATE_KEY: value}}


def state_input(aggregate: dict) -> Any:
    """The tap's `--state` (the last confirmed STATE value) from our aggregate; None for no state.
    ConnectorError `state_mismatch` for state the tap did not make."""
    streams, glob = aggregate.get("streams") or {}, aggregate.get("global")
    if streams or (glob is not None and not (isinstance(glob, dict) and STATE_KEY in glob)):
        raise ConnectorError("state_mismatch", "the confirmed state was not made by a Singer tap (it has "
                             "stream states or no 'singer' key)",
                             hint="use another schema or --state-file for this tap, or delete the state")
    return glob.get(STATE_KEY) if glob is not None else None


# ---- tap -> ours ----------------------------------------------------------------------------------------
class SourceTranslator:
    """One Singer tap run translated to our messages; `streams`: the streams it was asked for."""

    def __init__(self, who: str, streams: Iterable[str] = ()):
        self.who = who
        self.streams = list(streams)
        self.started: set[str] = set()

    def _start(self, stream: str) -> list[dict]:
        if stream in self.started:
            return []
        self.started.add(stream)
        return [messages.stream_status(stream, "started")]

    def translate(self, msg: dict) -> list[dict]:
        kind = kind_of(msg)
        if kind == "RECORD":
            stream = string(msg, "stream", "RECORD")
            data = obj(msg, "record", "RECORD")
            at = ms_from_iso(msg.get("time_extracted")) or messages.now_ms()
            return self._start(stream) + [messages.record(stream, data, emitted_at=at)]
        if kind == "SCHEMA":
            stream = string(msg, "stream", "SCHEMA")
            obj(msg, "schema", "SCHEMA")
            return self._start(stream)
        if kind == "STATE":
            if "value" not in msg:
                raise ForeignMessageError("STATE without a 'value'")
            return [{"type": "state", "state": state_payload(msg["value"])}]
        if kind == "ACTIVATE_VERSION":
            stream = string(msg, "stream", "ACTIVATE_VERSION")
            return [messages.log("info", cut(f"{self.who}: stream {stream!r} activated table version "
                                             f"{msg.get('version')} (rows of older versions are kept)"))]
        raise ForeignMessageError(f"not a Singer message (type {msg.get('type')!r})")

    def finish(self, exit_code: int | None) -> tuple[list[dict], int | None]:
        if exit_code != 0:
            return [], exit_code
        names = self.streams or sorted(self.started)
        return [messages.stream_status(name, "complete") for name in names], exit_code


# ---- ours -> target -------------------------------------------------------------------------------------
SCALARS = ("string", "integer", "number", "boolean")


def portable(prop: Any) -> Any:
    """A top-level property schema SQL targets can store every value of: one whose type is a scalar or a
    container (Stripe's expandable fields: `["string", "object", "null"]`) becomes `anyOf` with the
    scalar first. Targets that type a column by the first type then make it text (an object is
    stored as its JSON there, e.g. target-duckdb) instead of a JSON column that refuses a bare id;
    validating targets still accept both forms."""
    types = prop.get("type") if isinstance(prop, dict) else None
    if not isinstance(types, list):
        return prop
    scalars = [t for t in types if t in SCALARS]
    containers = [t for t in types if t in ("object", "array")]
    if not (scalars and containers):
        return prop
    rest = {k: v for k, v in prop.items() if k != "type"}
    return {"anyOf": [{"type": t, **rest} for t in scalars] + [{"type": t} for t in containers]
            + ([{"type": "null"}] if "null" in types else [])}


class TargetWriter:
    """Our data messages for a Singer target, and the state values it prints back (see the module
    docstring). Keeps the aggregate so far and the states not yet confirmed, in order.

    When STATEs are written: a state of ours only updates the aggregate; the aggregate goes out as a
    STATE right before the next RECORD, at a `flush()` when records went out since the last STATE (so
    it covers them and the target may confirm it after its next flush), and at `finish()` (also
    after records, so a target that prints only a STATE no RECORD followed confirms the run). So the
    first STATE a target sees never follows a record: a target that takes its first STATE as flushed
    at once (pipelinewise targets) cannot confirm records it has not written; and a run without
    records writes one STATE, at its end, which such a target prints."""

    def __init__(self, who: str):
        self.who = who
        self.catalog: dict[str, dict] = {}
        self.schema_sent: set[str] = set()
        self.aggregate: dict = {"streams": {}, "global": None}
        self.seq = 0  # states of ours so far
        self.written = -1  # the seq of the last STATE written (-1: none yet)
        self.records_since_state = False
        self.pending: deque[tuple[int, dict]] = deque()  # (seq, payload) not yet confirmed

    def _state(self) -> list[dict]:
        self.written, self.records_since_state = self.seq, False
        return [{"type": "STATE", "value": {"bookmarks": self.aggregate.get("streams") or {},
                                            "global": self.aggregate.get("global"),
                                            OURS_KEY: {"seq": self.seq}}}]

    def begin(self, state: dict) -> list[dict]:
        self.aggregate = {"streams": dict(state.get("streams") or {}), "global": state.get("global")}
        return []

    def flush(self) -> list[dict]:
        return self._state() if self.records_since_state and self.written != self.seq else []

    def finish(self) -> list[dict]:
        return self._state() if self.records_since_state or self.written != self.seq else []

    def schema(self, stream: str) -> dict:
        entry = self.catalog.get(stream) or {}
        schema = dict(entry.get("json_schema") or {"type": "object"})
        properties = {k: portable(v) for k, v in (schema.get("properties") or {}).items()}
        schema["properties"] = {**properties, DELETED_AT: DELETED_AT_SCHEMA}
        msg = {"type": "SCHEMA", "stream": stream, "schema": schema,
               "key_properties": [p[0] for p in entry.get("primary_key") or [] if len(p) == 1]}
        cursor = entry.get("cursor_field") or []
        if len(cursor) == 1:
            msg["bookmark_properties"] = cursor
        return msg

    def data(self, msg: dict) -> list[dict]:
        kind = msg.get("type")
        if kind == "record":
            rec = msg["record"]
            stream, data = rec["stream"], messages.with_keys(rec)
            out = self._state() if self.written != self.seq else []
            if stream not in self.schema_sent:
                self.schema_sent.add(stream)
                out.append(self.schema(stream))
            if rec.get("deleted"):
                updated = rec.get("updated_at")
                data = {**data, DELETED_AT: iso_from_ms(1000 * updated if isinstance(updated, int)
                                                        else rec["emitted_at"])}
            out.append({"type": "RECORD", "stream": stream, "record": data,
                        "time_extracted": iso_from_ms(rec["emitted_at"])})
            self.records_since_state = True
            return out
        if kind == "state":
            payload = msg["state"]
            self.seq += 1
            self.pending.append((self.seq, payload))
            self.aggregate, _ = apply(self.aggregate, payload)
        elif kind == "catalog":
            for stream in msg["catalog"].get("streams") or []:
                self.catalog[stream["name"]] = stream
        return []

    def echo(self, msg: dict) -> list[dict]:
        """Our states confirmed by one state value the target printed (a bare value, or a STATE)."""
        value = msg.get("value") if kind_of(msg) == "STATE" else msg
        ours = value.get(OURS_KEY) if isinstance(value, dict) else None
        seq = ours.get("seq") if isinstance(ours, dict) else None
        if not isinstance(seq, int):
            return []
        out = []
        while self.pending and self.pending[0][0] <= seq:
            out.append({"type": "state", "state": self.pending.popleft()[1]})
        return out
