"""specs/protocol: every schema is valid draft 2020-12, every example validates, unknown keys are
accepted everywhere, the constructors of protocol/messages.py produce valid messages, and the fast
envelope check catches each structural problem."""
from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from protocol import messages
from protocol.validate import MessageValidator, check_envelope, iter_errors, load_protocol_schemas

SCHEMAS = load_protocol_schemas()
MESSAGE_SCHEMAS = [name for name in SCHEMAS if name in messages.MESSAGE_TYPES]
EXAMPLES = [(name, i, ex) for name, schema in SCHEMAS.items() for i,
            ex in enumerate(schema.get("examples", []))]
MAP_KEYS = {"streams", "properties"}  # objects whose keys are names, not fields


def test_one_schema_per_message_type_plus_envelope():
    assert set(messages.MESSAGE_TYPES) <= set(SCHEMAS)
    assert "envelope" in SCHEMAS


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_valid_draft_2020_12_with_id(name):
    Draft202012Validator.check_schema(SCHEMAS[name])
    assert SCHEMAS[name]["$id"].endswith(f"/{name}.json")
    if name != "common":
        assert SCHEMAS[name].get("examples"), f"{name}.json has no example"


@pytest.mark.parametrize("name,index,example", EXAMPLES, ids=[f"{n}-{i}" for n, i, _ in EXAMPLES])
def test_every_example_validates(name, index, example):
    assert list(iter_errors(example, name)) == []
    if name in MESSAGE_SCHEMAS:
        assert check_envelope(example) is None
        assert MessageValidator(full=True).errors(example) == []
        assert list(iter_errors(example, "envelope")) == []


def with_unknown_keys(obj):
    """A copy with an extra unknown key in every object (map-like objects get it in their values)."""
    if isinstance(obj, list):
        return [with_unknown_keys(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        if key in MAP_KEYS and isinstance(value, dict):
            out[key] = {k: with_unknown_keys(v) for k, v in value.items()}
        else:
            out[key] = with_unknown_keys(value)
    out["x_future_field"] = {"nested": [1, "two"]}
    return out


@pytest.mark.parametrize("name,index,example", [e for e in EXAMPLES if e[0] in MESSAGE_SCHEMAS],
                         ids=[f"{n}-{i}" for n, i, _ in EXAMPLES if n in MESSAGE_SCHEMAS])
def test_unknown_keys_at_every_level_validate(name, index, example):
    extended = with_unknown_keys(example)
    assert extended["x_future_field"] and extended[name]["x_future_field"]
    assert MessageValidator(full=True).errors(extended) == []


def test_engine_reserved_keys_and_destination_stats_are_accepted():
    msg = messages.stream_state("customers", {"remaining": []}, _generation=3,
                                destination_stats={"inserted": 1, "updated": 2, "deleted": 0})
    assert MessageValidator(full=True).errors(msg) == []
    msg["state"]["destination_stats"]["inserted"] = "one"
    assert any("destination_stats.inserted" in e for e in MessageValidator(full=True).errors(msg))


CONSTRUCTED = {
    "spec": messages.spec("x", "1.0", {"type": "object"}, {"type": "object"}),
    "connection_status": messages.connection_status("failed", "no",
                                                    messages.error_payload("global", "auth_failed", "no")),
    "catalog": messages.catalog([messages.catalog_stream("customers", {"type": "object"},
                                                         supports_time_range=True)]),
    "record": messages.record("customers", {"id": "cus_1"}, updated_at=1, deleted=True),
    "stream_state": messages.stream_state("customers",
                                          {"accounted_range": {"gte": 0, "lt": 1}, "remaining": []}),
    "global_state": messages.global_state({"events_cursor": None,
                                           "account": {"id": "acct_1", "livemode": False}}),
    "log": messages.log("warn", "careful", {"n": 1}),
    "stream_status": messages.stream_status("customers", "started", time_range=messages.time_range(0, 10),
                                            request_count=4),
    "stream_status_skipped": messages.stream_status("issuing_cards", "skipped", reason="not enabled"),
    "error": messages.error("stream", "permission_denied", "no", stream="issuing_cards", http_status=403,
                            request_id="req_1"),
    "estimate": messages.estimate("customers", 10),
    "progress": messages.progress({"elapsed_ms": 1, "record_count": 0, "records_per_second": 0.0,
                                   "streams": {}}),
    "control": messages.config_update({"api_key": "sk_test_x"}),
    "eof": messages.eof("partial", True, {"streams": {}, "global": None},
                        {"elapsed_ms": 1, "record_count": 0, "records_per_second": 0.0, "streams": {}}),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTED))
def test_constructors_produce_valid_messages(name):
    assert MessageValidator(full=True).errors(CONSTRUCTED[name]) == []


def test_full_validation_names_the_path_of_the_problem():
    msg = messages.record("customers", {"id": "x"})
    msg["record"]["emitted_at"] = "yesterday"
    assert MessageValidator(full=True).errors(msg) == ["record.emitted_at: 'yesterday' is not "
                                                       "of type 'integer'"]
    assert MessageValidator(full=False).errors(msg) == []  # envelope level only
    bad = messages.stream_status("customers", "finished")
    assert any("trace.stream_status.status" in e for e in iter_errors(bad))


def _broken(path, value):
    msg = copy.deepcopy(CONSTRUCTED[path[0]])
    node = msg
    for part in path[1:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return msg


@pytest.mark.parametrize("msg,reason", [
    ([1, 2], "not a JSON object"),
    ({"record": {}}, "missing string field 'type'"),
    ({"type": 7}, "missing string field 'type'"),
    ({"type": "recrod", "recrod": {}}, "unknown message type 'recrod'"),
    ({"type": "record"}, "lacks its payload object under key 'record'"),
    ({"type": "record", "record": []}, "lacks its payload object"),
    (_broken(("record", "record", "stream"), KeyError), "record.stream is missing"),
    (_broken(("record", "record", "stream"), 5), "record.stream is missing or not a str"),
    (_broken(("record", "record", "data"), "x"), "record.data is missing or not a dict"),
    (_broken(("stream_state", "state", "state_type"), KeyError), "state.state_type"),
    (_broken(("stream_state", "state", "stream"), KeyError), "state.stream is missing for a stream state"),
    (_broken(("log", "log", "level"), KeyError), "log.level"),
    (_broken(("log", "log", "message"), None), "log.message"),
    (_broken(("stream_status", "trace", "trace_type"), KeyError), "trace.trace_type"),
    (_broken(("catalog", "catalog", "streams"), {}), "catalog.streams is missing or not a list"),
    (_broken(("connection_status", "connection_status", "status"), KeyError), "connection_status.status"),
    (_broken(("control", "control", "control_type"), KeyError), "control.control_type"),
    (_broken(("eof", "eof", "status"), KeyError), "eof.status"),
])
def test_check_envelope_names_each_structural_problem(msg, reason):
    found = check_envelope(msg)
    assert found is not None and reason in found
    assert MessageValidator(full=True).errors(msg) == [found]


def test_check_envelope_accepts_a_global_state_without_stream():
    assert check_envelope(CONSTRUCTED["global_state"]) is None
