"""A tiny source and destination built on connector_kit, to test the shared CLI scaffolding end to end.

    python scaffold_connector.py source spec|check|discover|read ...
    python scaffold_connector.py destination spec|check|write ...

The source config's `mode` picks a behaviour: "ok" (default), "stream_error", "global_error", "crash",
"bad_request" (a ConnectorError with a hint). It logs its API key on purpose: the scaffolding must mask it.
"""
from __future__ import annotations

import sys

from protocol import messages
from connector_kit.cli import build_connector_cli
from connector_kit.connector import Connector, ReadRequest, WriteRequest
from protocol.errors import ConnectorError
from protocol.reader import BadLine

SOURCE_SCHEMA = {
    "type": "object", "required": ["api_key"], "additionalProperties": False,
    "properties": {
        "api_key": {"type": "string", "minLength": 8, "secret": True},
        "mode": {"enum": ["ok", "stream_error", "global_error", "crash", "bad_request"], "default": "ok"},
        "records": {"type": "integer", "minimum": 0, "default": 3},
    },
}
DESTINATION_SCHEMA = {
    "type": "object", "required": ["url"],
    "properties": {"url": {"type": "string", "secret": True}},
}
STREAMS = ["customers", "invoices"]


def _check(config: dict) -> str:
    if config.get("mode") == "global_error":
        raise ConnectorError("auth_failed", f"Invalid API key provided: {config['api_key']}", http_status=401)
    return "connected"


def _discover(config: dict) -> list[dict]:
    return [messages.catalog_stream(name, {"type": "object"}, supports_time_range=True) for name in STREAMS]


def _read(request: ReadRequest) -> list[dict] | object:
    config = request.config
    names = [s["name"] for s in request.catalog["streams"]] if request.catalog else STREAMS
    yield messages.catalog([s for s in _discover(config) if s["name"] in names])
    yield messages.log("info", f"reading with key {config['api_key']}",
                       {"state_streams": sorted((request.state or {}).get("streams", {}))})
    if config["mode"] == "crash":
        raise RuntimeError("boom")
    if config["mode"] == "bad_request":
        raise ConnectorError("invalid_request", "the API refused the request", hint="check the api_version")
    for name in names:
        yield messages.stream_status(name, "started", time_range=messages.time_range(0, 100))
        if config["mode"] == "global_error":
            yield messages.error("global", "auth_failed", f"key {config['api_key']} was revoked")
            return
        if config["mode"] == "stream_error" and name == "invoices":
            yield messages.error("stream", "permission_denied", "no access", stream=name, http_status=403)
            yield messages.stream_status(name, "skipped", reason="permission_denied")
            continue
        for i in range(config["records"]):
            yield messages.record(name, {"id": f"{name}_{i}"}, updated_at=1)
        yield messages.stream_state(name, {"accounted_range": {"gte": 0, "lt": 100}, "remaining": []})
        yield messages.stream_status(name, "complete", range_complete=messages.time_range(0, 100))


def _write(request: WriteRequest):
    for item in request.lines:
        if isinstance(item, BadLine):
            raise ConnectorError("bad_message", item.describe())
        if item.message.get("type") == "state":
            yield {**item.message, "state": {**item.message["state"],
                                             "destination_stats": {"inserted": 0, "updated": 0,
                                                                   "deleted": 0}}}


source = build_connector_cli(Connector("scaffold-source", "0.0.1", "source", SOURCE_SCHEMA, _check,
                                       discover=_discover, read=_read))
destination = build_connector_cli(Connector("scaffold-destination", "0.0.1", "destination",
                                            DESTINATION_SCHEMA,
                                            lambda config: "ok", write=_write))

if __name__ == "__main__":
    group = {"source": source, "destination": destination}[sys.argv[1]]
    group(sys.argv[2:], prog_name=f"scaffold-{sys.argv[1]}")
