"""The Airbyte protocol and ours, both ways (pure; docs/third-party.md, "Airbyte").

Message shapes follow the published Airbyte protocol (`airbyte_protocol.yaml`, release 0.18.0; a JSON
copy is a test fixture): upper-case `type`, `connectionStatus` in camelCase, `emitted_at` in epoch
milliseconds, STATE types STREAM, GLOBAL and LEGACY.

Airbyte source -> ours (`SourceTranslator`):
- RECORD -> `record` (stream, data, emitted_at; a namespace is dropped: the stream name names the table).
- STATE -> `state` whose `data` is `{"airbyte": <the AirbyteStateMessage without its stats>}`: a STREAM
  state per stream, GLOBAL and LEGACY as our global state. The blob is opaque to us and goes back to the
  source unchanged (`state_input`): the confirmed state stays in Airbyte's own format.
- LOG -> `log` (FATAL/ERROR -> error, WARN -> warn, INFO -> info, DEBUG/TRACE -> debug).
- TRACE STREAM_STATUS: STARTED -> `started`, COMPLETE -> `complete`, INCOMPLETE -> `complete` (plus a
  retryable stream error at the end if the source reported none for that stream); RUNNING is dropped.
- TRACE ERROR, by `failure_type`: with a `stream_descriptor` a stream error (`config_error`: permanent,
  the stream is left out; `system_error`/`transient_error`: retryable); without one `config_error` is a
  global permanent error and the others are transient (the engine restarts the source). The CDK ends a
  read whose streams failed with one combined config_error ("During the sync, the following streams did
  not sync successfully", airbyte_cdk/exception_handler.py) and exit code 1 "because the platform relies
  on a non-zero exit code" (airbyte_cdk/sources/abstract_source.py): that summary becomes a warning and
  the exit code 0, so the streams' own errors decide.
- TRACE ESTIMATE of type STREAM -> `estimate`; SYNC estimates and ANALYTICS are dropped.
- CATALOG -> `catalog` (`to_catalog`: primary key from `source_defined_primary_key`, cursor from
  `default_cursor_field`, the other Airbyte fields kept in `metadata.airbyte`), SPEC -> `spec`,
  CONNECTION_STATUS -> `connection_status`, CONTROL CONNECTOR_CONFIG -> `control` config_update.

Ours -> an Airbyte destination (`DestinationWriter`): `record` -> RECORD (a tombstone gets
`_ab_cdc_deleted_at`, Airbyte's CDC convention for deletes), `state` -> STATE carrying our whole state
payload in its blob under `stripe_sync`, so the STATE the destination echoes once committed gives it
back exactly (`echo`). The destination gets the configured catalog on its command line.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.adapters.base import ForeignMessageError, cut, int_ms, iso_from_ms, obj, string
from protocol import messages
from protocol.errors import ConnectorError

TYPES = frozenset({"RECORD", "STATE", "LOG", "SPEC", "CONNECTION_STATUS", "CATALOG", "TRACE", "CONTROL",
                   "DESTINATION_CATALOG"})
STATE_KEY = "airbyte"  # our state data: {"airbyte": <the AirbyteStateMessage without its stats>}
OURS_KEY = "stripe_sync"  # our state payload inside the blob of a STATE sent to an Airbyte destination
DELETED_AT = "_ab_cdc_deleted_at"
LOG_LEVELS = {"FATAL": "error", "ERROR": "error", "WARN": "warn", "WARNING": "warn", "INFO": "info",
              "DEBUG": "debug", "TRACE": "debug"}
COMBINED_ERROR = "During the sync, the following streams did not sync successfully"


def is_airbyte(msg: dict) -> bool:
    """Whether a message looks like Airbyte's (its upper-case type, not a Singer shape)."""
    kind = msg.get("type")
    if kind not in TYPES:
        return False
    if kind == "RECORD":
        return isinstance(msg.get("record"), dict) and "stream" not in msg
    if kind == "STATE":
        return "value" not in msg
    return True


# ---- catalogs -------------------------------------------------------------------------------------------
def is_catalog(value: Any) -> bool:
    """An AirbyteCatalog or ConfiguredAirbyteCatalog (not ours, not Singer's)."""
    streams = value.get("streams") if isinstance(value, dict) else None
    return isinstance(streams, list) and bool(streams) and all(
        isinstance(s, dict) and (isinstance(s.get("stream"), dict) or "supported_sync_modes" in s)
        for s in streams)


def catalog_stream(stream: dict, configured: dict | None = None) -> dict:
    """One AirbyteStream (with its ConfiguredAirbyteStream, if any) as our catalog stream."""
    name = string(stream, "name", "catalog stream")
    schema = stream.get("json_schema") if isinstance(stream.get("json_schema"), dict) else {}
    configured = configured or {}
    pk = configured.get("primary_key") or stream.get("source_defined_primary_key") or []
    cursor = configured.get("cursor_field") or stream.get("default_cursor_field") or []
    extra = {k: v for k, v in stream.items() if k not in ("name", "json_schema")}
    return {"name": name, "json_schema": schema, "primary_key": pk, "cursor_field": cursor,
            "supports_time_range": False, "metadata": {"airbyte": extra}}


def to_catalog(payload: Any) -> dict:
    """An AirbyteCatalog or a ConfiguredAirbyteCatalog as our catalog payload."""
    streams = payload.get("streams") if isinstance(payload, dict) else None
    if not isinstance(streams, list):
        raise ForeignMessageError("catalog without a list 'streams'")
    out = []
    for entry in streams:
        if isinstance(entry, dict) and isinstance(entry.get("stream"), dict):
            out.append(catalog_stream(entry["stream"], entry))
        elif isinstance(entry, dict):
            out.append(catalog_stream(entry))
        else:
            raise ForeignMessageError("catalog stream is not an object")
    return {"streams": out}


def configured_catalog(streams: Iterable[dict]) -> dict:
    """The ConfiguredAirbyteCatalog for our catalog streams: incremental where the stream supports it
    and has a cursor, deduplicated by primary key where it has one (`append_dedup`), else `append`."""
    out = []
    for s in streams:
        cursor, pk = s.get("cursor_field") or [], s.get("primary_key") or []
        meta = (s.get("metadata") or {}).get("airbyte") or {}
        stream = {"name": s["name"], "json_schema": s.get("json_schema") or {},
                  "supported_sync_modes": ["full_refresh", "incremental"] if cursor else ["full_refresh"],
                  **meta}
        incremental = "incremental" in stream["supported_sync_modes"] and bool(
            cursor or stream.get("source_defined_cursor"))
        entry: dict[str, Any] = {"stream": stream,
                                 "sync_mode": "incremental" if incremental else "full_refresh",
                                 "destination_sync_mode": "append_dedup" if pk else "append"}
        if incremental and cursor:
            entry["cursor_field"] = cursor
        if pk:
            entry["primary_key"] = pk
        out.append(entry)
    return {"streams": out}


# ---- state ----------------------------------------------------------------------------------------------
def _descriptor_name(value: Any, what: str) -> str:
    return string(value.get("stream_descriptor") if isinstance(value, dict) else None, "name",
                  f"{what}'s stream_descriptor")


def state_payload(state: dict) -> dict:
    """Our state payload for an AirbyteStateMessage (a missing type with `data` is LEGACY)."""
    kind = state.get("type") or ("LEGACY" if "data" in state else None)
    if kind == "STREAM":
        stream = obj(state, "stream", "STREAM state")
        blob = {"type": "STREAM", "stream": stream}
        return {"state_type": "stream", "stream": _descriptor_name(stream, "STREAM state"),
                "data": {STATE_KEY: blob}}
    if kind == "GLOBAL":
        return {"state_type": "global",
                "data": {STATE_KEY: {"type": "GLOBAL", "global": obj(state, "global", "GLOBAL state")}}}
    if kind == "LEGACY":
        return {"state_type": "global", "data": {STATE_KEY: {"type": "LEGACY", "data": state.get("data")}}}
    raise ForeignMessageError(f"STATE of unknown type {kind!r}")


def _blob(data: Any, where: str) -> dict:
    if isinstance(data, dict) and isinstance(data.get(STATE_KEY), dict):
        return data[STATE_KEY]
    raise ConnectorError("state_mismatch", f"the confirmed state of {where} was not made by an Airbyte "
                         "source (it has no 'airbyte' key)",
                         hint="use another schema or --state-file for this source, or delete the state")


def state_input(aggregate: dict) -> Any:
    """What `read --state` of an Airbyte source takes, from our aggregate state: the list of its own
    state messages (a LEGACY state: its bare `data` object, the legacy input form); None for no state.
    ConnectorError `state_mismatch` for state the source did not make."""
    out = []
    glob = aggregate.get("global")
    if glob is not None:
        blob = _blob(glob, "the global state")
        if blob.get("type") == "LEGACY":
            return blob.get("data")
        out.append(blob)
    for name, data in sorted((aggregate.get("streams") or {}).items()):
        out.append(_blob(data, f"stream {name!r}"))
    return out or None


# ---- errors ---------------------------------------------------------------------------------------------
def error_payload(err: dict, who: str, role: str = "source") -> dict:
    """Our error payload for an AirbyteErrorTraceMessage, classified by its `failure_type`."""
    failure = err.get("failure_type") or "system_error"
    text = cut(f"{who}: {err.get('message') or err.get('internal_message') or 'error without a message'}")
    descriptor = err.get("stream_descriptor")
    stream = descriptor.get("name") if isinstance(descriptor, dict) else None
    code = "invalid_config" if failure == "config_error" else f"{role}_failed"
    if isinstance(stream, str) and stream:
        return messages.error_payload("stream", code, text, stream=stream,
                                      retryable=failure != "config_error")
    if failure == "config_error":
        return messages.error_payload("global", code, text)
    return messages.error_payload("transient", code, text, retryable=True)


# ---- source -> ours -------------------------------------------------------------------------------------
class SourceTranslator:
    """One Airbyte source `read` (or `discover`/`check`/`spec`) translated to our messages."""

    def __init__(self, who: str, streams: Iterable[str] = ()):
        self.who = who
        self.streams = list(streams)  # the streams the read was asked for
        self.saw_status = False
        self.incomplete: set[str] = set()  # INCOMPLETE without a stream error of its own (yet)
        self.stream_errors: set[str] = set()
        self.combined_error = False

    def translate(self, msg: dict) -> list[dict]:
        kind = msg.get("type")
        if kind == "RECORD":
            rec = obj(msg, "record", "RECORD")
            data = obj(rec, "data", "RECORD")
            return [messages.record(string(rec, "stream", "RECORD"), data,
                                    emitted_at=int_ms(rec.get("emitted_at"), messages.now_ms()))]
        if kind == "STATE":
            return [{"type": "state", "state": state_payload(obj(msg, "state", "STATE"))}]
        if kind == "LOG":
            log = obj(msg, "log", "LOG")
            level = LOG_LEVELS.get(str(log.get("level", "INFO")).upper(), "info")
            return [messages.log(level, cut(f"{self.who}: {log.get('message', '')}"))]
        if kind == "TRACE":
            return self._trace(obj(msg, "trace", "TRACE"))
        if kind == "CATALOG":
            return [{"type": "catalog", "catalog": to_catalog(obj(msg, "catalog", "CATALOG"))}]
        if kind == "SPEC":
            spec = obj(msg, "spec", "SPEC")
            return [messages.spec(self.who, "unknown",  # an Airbyte SPEC has no connector version
                                  mark_secrets(spec.get("connectionSpecification") or {}))]
        if kind == "CONNECTION_STATUS":
            status = obj(msg, "connectionStatus", "CONNECTION_STATUS")
            ok = status.get("status") == "SUCCEEDED"
            text = cut(f"{self.who}: {status.get('message') or status.get('status')}")
            return [messages.connection_status("succeeded" if ok else "failed", text)]
        if kind == "CONTROL":
            control = obj(msg, "control", "CONTROL")
            if control.get("type") == "CONNECTOR_CONFIG":
                return [messages.config_update(obj(control.get("connectorConfig"), "config", "CONTROL"))]
            return []
        if kind == "DESTINATION_CATALOG":
            return []
        raise ForeignMessageError(f"not an Airbyte message (type {kind!r})")

    def _trace(self, trace: dict) -> list[dict]:
        kind = trace.get("type")
        at = int_ms(trace.get("emitted_at"), messages.now_ms())
        if kind == "STREAM_STATUS":
            self.saw_status = True
            status = obj(trace, "stream_status", "STREAM_STATUS trace")
            stream = _descriptor_name(status, "STREAM_STATUS")
            value = status.get("status")
            if value == "STARTED":
                return [_status(stream, "started", at)]
            if value == "COMPLETE":
                return [_status(stream, "complete", at)]
            if value == "INCOMPLETE":
                if stream not in self.stream_errors:
                    self.incomplete.add(stream)
                return [_status(stream, "complete", at)]
            return []  # RUNNING (its rate-limit reasons are not ours to act on)
        if kind == "ERROR":
            payload = error_payload(obj(trace, "error", "ERROR trace"), self.who)
            if payload["scope"] == "stream":
                self.stream_errors.add(payload["stream"])
                self.incomplete.discard(payload["stream"])
            elif self.stream_errors and str(trace["error"].get("message", "")).startswith(COMBINED_ERROR):
                self.combined_error = True
                return [messages.log("warn", f"{self.who}: some streams did not sync successfully (their "
                                             "errors are reported above)")]
            return [messages.trace("error", payload, emitted_at=at)]
        if kind == "ESTIMATE":
            estimate = obj(trace, "estimate", "ESTIMATE trace")
            rows = estimate.get("row_estimate")
            if estimate.get("type", "STREAM") == "STREAM" and isinstance(rows, int):
                return [messages.trace("estimate", {"stream": string(estimate, "name", "ESTIMATE"),
                                                    "row_count": rows}, emitted_at=at)]
            return []
        if kind == "ANALYTICS":
            return []
        raise ForeignMessageError(f"TRACE of unknown type {kind!r}")

    def finish(self, exit_code: int | None) -> tuple[list[dict], int | None]:
        out = [messages.error("stream", "source_failed", f"{self.who}: stream {name!r} ended INCOMPLETE "
                              "without an error message", stream=name, retryable=True)
               for name in sorted(self.incomplete)]
        if exit_code == 0 and not self.saw_status:  # a source older than STREAM_STATUS: done at exit 0
            out += [messages.stream_status(name, "complete") for name in self.streams]
        if exit_code == 1 and self.combined_error:
            exit_code = 0  # the CDK's non-zero exit after stream errors: those errors decide
        return out, exit_code


def _status(stream: str, status: str, at: int) -> dict:
    return messages.trace("stream_status", {"stream": stream, "status": status}, emitted_at=at)


def mark_secrets(schema: Any) -> Any:
    """A config schema with Airbyte's `airbyte_secret: true` also marked `secret: true` (ours)."""
    if isinstance(schema, list):
        return [mark_secrets(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: mark_secrets(v) for k, v in schema.items()}
    if schema.get("airbyte_secret") is True:
        out["secret"] = True
    return out


# ---- ours -> destination --------------------------------------------------------------------------------
class DestinationWriter:
    """Our data messages for an Airbyte destination's `write`, and its output back to ours."""

    def __init__(self, who: str):
        self.who = who

    def begin(self, state: dict) -> list[dict]:
        return []

    def flush(self) -> list[dict]:
        return []

    def finish(self) -> list[dict]:
        return []

    def data(self, msg: dict) -> list[dict]:
        kind = msg.get("type")
        if kind == "record":
            rec = msg["record"]
            data = messages.with_keys(rec)
            if rec.get("deleted"):
                data = {**data, DELETED_AT: iso_from_ms(1000 * rec["updated_at"] if isinstance(
                    rec.get("updated_at"), int) else rec["emitted_at"])}
            return [{"type": "RECORD", "record": {"stream": rec["stream"], "data": data,
                                                  "emitted_at": rec["emitted_at"]}}]
        if kind == "state":
            payload = msg["state"]
            blob = {OURS_KEY: payload}
            if payload.get("state_type") == "global":
                return [{"type": "STATE", "state": {"type": "GLOBAL",
                                                    "global": {"shared_state": blob, "stream_states": []}}}]
            return [{"type": "STATE", "state": {"type": "STREAM", "stream": {
                "stream_descriptor": {"name": payload["stream"]}, "stream_state": blob}}}]
        return []  # the catalog went on the command line (configured_catalog)

    def echo(self, msg: dict) -> list[dict]:
        kind, payload = msg.get("type"), msg.get(str(msg.get("type", "")).lower())
        body: dict = payload if isinstance(payload, dict) else {}
        if kind == "STATE":
            holder = _inner(_inner(body, "global"), "shared_state") if body.get("type") == "GLOBAL" else \
                _inner(_inner(body, "stream"), "stream_state")
            ours = holder.get(OURS_KEY)
            if isinstance(ours, dict):
                return [{"type": "state", "state": ours}]
            return [messages.log("warn", f"{self.who} echoed a state the engine did not send; ignored")]
        if kind == "LOG":
            level = LOG_LEVELS.get(str(body.get("level", "INFO")).upper(), "info")
            return [messages.log(level, cut(f"{self.who}: {body.get('message', '')}"))]
        if kind == "TRACE" and body.get("type") == "ERROR" and isinstance(body.get("error"), dict):
            return [messages.trace("error", error_payload(body["error"], self.who, "destination"))]
        return []


def _inner(value: dict, key: str) -> dict:
    inner = value.get(key)
    return inner if isinstance(inner, dict) else {}
