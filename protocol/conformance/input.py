"""The generated input the conformance kit writes to a destination's `write` (pure, deterministic).

Two streams (`conformance_customers`, `conformance_invoices`) interleaved as a source and the engine
would send them: a catalog, a log, stream_status traces, records (one a tombstone), a stream state after
each batch of a stream, a global state, and the engine's final `eof`. Every state carries a unique
`data` (so its echo can be identified) and an engine-style `_generation` key that must come back.
"""
from __future__ import annotations

from protocol import messages
from protocol import state as protocol_state

STREAMS = ("conformance_customers", "conformance_invoices")
_ID_PREFIX = {"conformance_customers": ("cus", "customer"), "conformance_invoices": ("in", "invoice")}
EMITTED_AT = 1_700_000_000_000
UPDATED_AT = 1_700_000_000
WINDOW = (1_600_000_000, UPDATED_AT)
TIME_RANGE = messages.time_range(*WINDOW)

_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "amount": {"type": ["integer", "null"]},
        "name": {"type": ["string", "null"]},
        "paid": {"type": ["boolean", "null"]},
        "metadata": {"type": ["object", "null"]},
    },
}


def _catalog() -> dict:
    return messages.catalog([
        messages.catalog_stream(name, _SCHEMA, cursor_field=["created"], supports_time_range=True)
        for name in STREAMS])


def _record(stream: str, i: int) -> dict:
    prefix, kind = _ID_PREFIX[stream]
    data = {"id": f"{prefix}_conf_{i}", "object": kind, "created": 1_650_000_000 + i,
            "amount": 100 * i, "name": f"Name \u00e9 {i} \"quoted\"", "paid": i % 2 == 0,
            "metadata": {"n": str(i)}}
    return messages.record(stream, data, emitted_at=EMITTED_AT + i, updated_at=UPDATED_AT)


def _state(stream: str | None, seq: int) -> dict:
    if stream is None:
        return messages.global_state({"events_cursor": f"evt_conf_{seq}", "conformance_seq": seq},
                                     _generation=1)
    data = {**protocol_state.time_window(WINDOW, []), "conformance_seq": seq}
    return messages.stream_state(stream, data, _generation=1)


def destination_input(records_per_stream: int = 6, batches: int = 2) -> list[dict]:
    """The messages fed to `write`, in order; each stream gets `batches` states."""
    out = [_catalog(), messages.log("info", "conformance kit input", {"streams": list(STREAMS)})]
    out += [messages.stream_status(s, "started", time_range=TIME_RANGE) for s in STREAMS]
    seq = 0
    per_batch = max(1, records_per_stream // batches)
    for b in range(batches):
        for stream in STREAMS:
            first = b * per_batch
            last = records_per_stream if b == batches - 1 else first + per_batch
            out += [_record(stream, i) for i in range(first, last)]
            seq += 1
            out.append(_state(stream, seq))
    for stream in STREAMS:  # a tombstone for the first record of each stream, then its own checkpoint
        tomb = messages.record(stream, {"id": _record(stream, 0)["record"]["data"]["id"]},
                               emitted_at=EMITTED_AT + 999, deleted=True, updated_at=UPDATED_AT + 1)
        seq += 1
        out += [tomb, _state(stream, seq),
                messages.stream_status(stream, "complete", range_complete=TIME_RANGE)]
    seq += 1
    out.append(_state(None, seq))
    final_state = protocol_state.build({s: protocol_state.time_window(WINDOW, []) for s in STREAMS},
                                       {"events_cursor": f"evt_conf_{seq}"})
    out.append(messages.eof("succeeded", False, final_state,
                            {"elapsed_ms": 1, "record_count": 2 * (records_per_stream + 1),
                             "records_per_second": 0.0, "streams": {}}))
    return out


def sent_states(lines: list[dict]) -> list[tuple[int, dict]]:
    """(1-based input line number, state payload) of every state in the input."""
    return [(n, m["state"]) for n, m in enumerate(lines, start=1) if m["type"] == "state"]
