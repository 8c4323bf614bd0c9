"""Constructors for every wire message of protocol version 1 (docs/protocol.md, "Messages").

Each function returns the plain envelope dict `{"type": T, T: payload}`; nothing here does I/O.
Optional fields are left out when not given, so messages stay small and match `specs/protocol/`.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from protocol import ranges

PROTOCOL_VERSION = "1"

MESSAGE_TYPES = ("spec", "connection_status", "catalog", "record", "state", "log", "trace", "control", "eof")
ERROR_SCOPES = ("global", "stream", "transient")
ERROR_CODES = ("auth_failed", "permission_denied", "rate_limited", "not_found", "invalid_request",
               "server_error", "network", "write_failed", "bad_message", "invalid_config", "timeout",
               "state_mismatch", "conflict", "internal_error", "source_failed", "destination_failed")


def now_ms() -> int:
    return int(time.time() * 1000)


def _envelope(kind: str, payload: dict) -> dict:
    return {"type": kind, kind: payload}


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def spec(name: str, version: str, config_schema: dict, state_schema: dict | None = None,
         wake_signal: str | None = None) -> dict:
    return _envelope("spec", _compact({
        "protocol_version": PROTOCOL_VERSION, "connector": {"name": name, "version": version},
        "config_schema": config_schema, "state_schema": state_schema, "wake_signal": wake_signal}))


def connection_status(status: str, message: str, error: dict | None = None) -> dict:
    return _envelope("connection_status", _compact({"status": status, "message": message, "error": error}))


def catalog_stream(name: str, json_schema: dict, primary_key: list | None = None,
                   cursor_field: list | None = None, supports_time_range: bool = False,
                   metadata: dict | None = None) -> dict:
    return {"name": name, "json_schema": json_schema, "primary_key": primary_key or [["id"]],
            "cursor_field": cursor_field or [], "supports_time_range": supports_time_range,
            "metadata": metadata or {}}


def catalog(streams: Iterable[dict]) -> dict:
    return _envelope("catalog", {"streams": list(streams)})


def record(stream: str, data: dict, emitted_at: int | None = None, deleted: bool = False,
           updated_at: int | None = None, keys: dict | None = None) -> dict:
    payload: dict[str, Any] = {"stream": stream, "data": data,
                               "emitted_at": now_ms() if emitted_at is None else emitted_at}
    if deleted:
        payload["deleted"] = True
    if updated_at is not None:
        payload["updated_at"] = updated_at
    if keys:
        payload["keys"] = keys
    return _envelope("record", payload)


def with_keys(record_payload: dict) -> dict:
    """A record's data with its `keys` (primary-key fields outside the object, e.g. `_account_id`)
    merged in: the form for a destination that only knows objects (a Singer or Airbyte one)."""
    keys = record_payload.get("keys")
    data = record_payload["data"]
    return {**data, **keys} if isinstance(keys, dict) and keys else data


def stream_state(stream: str, data: Any, **extra: Any) -> dict:
    return _envelope("state", {"state_type": "stream", "stream": stream, "data": data, **extra})


def global_state(data: Any, **extra: Any) -> dict:
    return _envelope("state", {"state_type": "global", "data": data, **extra})


def log(level: str, message: str, data: dict | None = None) -> dict:
    return _envelope("log", _compact({"level": level, "message": message, "data": data}))


def trace(trace_type: str, payload: dict, emitted_at: int | None = None) -> dict:
    return _envelope("trace", {"trace_type": trace_type, trace_type: payload,
                               "emitted_at": now_ms() if emitted_at is None else emitted_at})


def stream_status(stream: str, status: str, time_range: dict | None = None,
                  range_complete: dict | None = None, reason: str | None = None, **extra: Any) -> dict:
    return trace("stream_status", _compact({"stream": stream, "status": status, "time_range": time_range,
                                            "range_complete": range_complete, "reason": reason, **extra}))


def error_payload(scope: str, code: str, message: str, stream: str | None = None, retryable: bool = False,
                  http_status: int | None = None, request_id: str | None = None) -> dict:
    return _compact({"scope": scope, "stream": stream, "code": code, "retryable": retryable,
                     "message": message, "http_status": http_status, "request_id": request_id})


def error(scope: str, code: str, message: str, stream: str | None = None, retryable: bool = False,
          http_status: int | None = None, request_id: str | None = None) -> dict:
    return trace("error", error_payload(scope, code, message, stream, retryable, http_status, request_id))


def partition_error(partition: str, code: str, message: str, retryable: bool = False,
                    http_status: int | None = None, request_id: str | None = None) -> dict:
    """An error of one partition (a Connect account) alone: the other partitions go on."""
    payload = error_payload("partition", code, message, None, retryable, http_status, request_id)
    return trace("error", {**payload, "partition": partition})


def partition_status(partition: str, status: str, reason: str | None = None, total: int | None = None,
                     record_count: int | None = None) -> dict:
    """A partition's lifecycle (`started`, `complete`, `failed`, `skipped`); `total`: how many partitions
    this read covers, when known."""
    return trace("partition_status", _compact({"partition": partition, "status": status, "reason": reason,
                                               "total": total, "record_count": record_count}))


def estimate(stream: str, row_count: int) -> dict:
    return trace("estimate", {"stream": stream, "row_count": row_count})


def snapshot(stream: str, phase: str, snapshot_id: str, scope: dict | None = None, **extra: Any) -> dict:
    """A `snapshot` trace (protocol/snapshot.py): a source's `begin`/`end`, a destination's answer."""
    return trace("snapshot", _compact({"stream": stream, "phase": phase, "id": snapshot_id, "scope": scope,
                                       **extra}))


def candidates(stream: str, ids: list[str], snapshot_id: str | None = None,
               keys: list[dict] | None = None) -> dict:
    """`keys`: the whole key of each row (in the order of `ids`), for a stream keyed by more than `id`."""
    return trace("candidates", _compact({"stream": stream, "ids": ids, "snapshot_id": snapshot_id,
                                         "keys": keys}))


def verify_report(stream: str, mode: str, checked: int, missing: int, stale: int, extra: int,
                  examples: dict[str, list[str]] | None = None) -> dict:
    return trace("verify", _compact({"stream": stream, "mode": mode, "checked": checked, "missing": missing,
                                     "stale": stale, "extra": extra, "examples": examples}))


def progress(payload: dict) -> dict:
    return trace("progress", payload)


def config_update(config: dict) -> dict:
    return _envelope("control", {"control_type": "config_update", "config": config})


def eof(status: str, has_more: bool, state: dict, progress_snapshot: dict) -> dict:
    return _envelope("eof", {"status": status, "has_more": has_more, "state": state,
                             "progress": progress_snapshot})


def time_range(gte: int, lt: int) -> dict:
    return ranges.to_wire((gte, lt))
