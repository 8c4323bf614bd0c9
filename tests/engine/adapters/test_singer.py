"""The Singer adapter, message type by message type, on the examples of the Singer specification
(github.com/singer-io/getting-started: docs/SPEC.md "Example", docs/DISCOVERY_MODE.md "Example") and on
tap-stripe's recorded output; every translation is checked against our protocol."""
from __future__ import annotations

import json

import pytest

from engine.adapters import singer
from engine.adapters.base import ForeignMessageError
from protocol.errors import ConnectorError
from protocol.state import apply, empty
from tests.engine.adapters.conftest import fixture_lines

WHO = "the singer source 'tap-x'"

# docs/SPEC.md, "Example" (verbatim)
SPEC_EXAMPLE = """\
{"type": "SCHEMA", "stream": "users", "key_properties": ["id"], "schema": {"required": ["id"], "type": "object", "properties": {"id": {"type": "integer"}}}}
{"type": "RECORD", "stream": "users", "record": {"id": 1, "name": "Chris"}}
{"type": "RECORD", "stream": "users", "record": {"id": 2, "name": "Mike"}}
{"type": "SCHEMA", "stream": "locations", "key_properties": ["id"], "schema": {"required": ["id"], "type": "object", "properties": {"id": {"type": "integer"}}}}
{"type": "RECORD", "stream": "locations", "record": {"id": 1, "name": "Philadelphia"}}
{"type": "STATE", "value": {"users": 2, "locations": 1}}
"""  # noqa: E501
# docs/SPEC.md, "RECORD Message" example
RECORD_EXAMPLE = {"type": "RECORD", "stream": "users", "time_extracted": "2017-11-20T16:45:33.000Z",
                  "record": {"id": 0, "name": "Chris"}}
# docs/DISCOVERY_MODE.md, the catalog "Example" with metadata (its trailing commas removed)
DISCOVERY_EXAMPLE = {"streams": [{
    "tap_stream_id": "users", "stream": "users",
    "schema": {"type": ["null", "object"], "additionalProperties": False, "properties": {
        "id": {"type": ["null", "string"]}, "name": {"type": ["null", "string"]},
        "date_modified": {"type": ["null", "string"], "format": "date-time"}}},
    "metadata": [
        {"metadata": {"inclusion": "available", "table-key-properties": ["id"], "selected-by-default": True,
                      "valid-replication-keys": ["date_modified"], "schema-name": "users"}, "breadcrumb": []},
        {"metadata": {"inclusion": "automatic"}, "breadcrumb": ["properties", "id"]},
        {"metadata": {"inclusion": "available", "selected-by-default": True},
         "breadcrumb": ["properties", "name"]},
        {"metadata": {"inclusion": "automatic"}, "breadcrumb": ["properties", "date_modified"]}]}]}


def spec_lines() -> list[dict]:
    return [json.loads(line) for line in SPEC_EXAMPLE.splitlines()]


def kinds(msgs: list[dict]) -> list[tuple]:
    out = []
    for m in msgs:
        if m["type"] == "trace":
            status = m["trace"]["stream_status"]
            out.append(("status", status["stream"], status["status"]))
        elif m["type"] == "record":
            out.append(("record", m["record"]["stream"], m["record"]["data"]["id"]))
        else:
            out.append((m["type"],))
    return out


def test_the_spec_example(ours):
    t = singer.SourceTranslator(WHO, ["users", "locations"])
    out = ours([m for line in spec_lines() for m in t.translate(line)])
    assert kinds(out) == [("status", "users", "started"), ("record", "users", 1), ("record", "users", 2),
                          ("status", "locations", "started"), ("record", "locations", 1), ("state",)]
    assert out[-1]["state"] == {"state_type": "global", "data": {"singer": {"users": 2, "locations": 1}}}
    end, code = t.finish(0)
    assert code == 0 and kinds(ours(end)) == [("status", "users", "complete"),
                                              ("status", "locations", "complete")]


def test_record_time_extracted_is_its_emitted_at(ours):
    [started, record] = ours(singer.SourceTranslator(WHO).translate(RECORD_EXAMPLE))
    assert started["trace"]["stream_status"] == {"stream": "users", "status": "started"}
    assert record["record"] == {"stream": "users", "data": {"id": 0, "name": "Chris"},
                                "emitted_at": 1511196333000}


def test_types_are_case_insensitive():
    out = singer.SourceTranslator(WHO).translate({"type": "record", "stream": "a", "record": {"id": 1}})
    assert kinds(out) == [("status", "a", "started"), ("record", "a", 1)]


def test_activate_version_is_a_log(ours):
    [msg] = ours(singer.SourceTranslator(WHO).translate({"type": "ACTIVATE_VERSION", "stream": "users",
                                                         "version": 1700000000}))
    assert msg["log"]["level"] == "info" and "version 1700000000" in msg["log"]["message"]


@pytest.mark.parametrize("bad, why", [
    ({"type": "RECORD", "stream": "a"}, "without an object 'record'"),
    ({"type": "RECORD", "record": {}}, "without a string 'stream'"),
    ({"type": "SCHEMA", "stream": "a"}, "without an object 'schema'"),
    ({"type": "STATE"}, "without a 'value'"),
    ({"type": "BATCH", "stream": "a"}, "not a Singer message"),
])
def test_a_message_that_breaks_the_spec_is_refused_with_the_reason(bad, why):
    with pytest.raises(ForeignMessageError, match=why):
        singer.SourceTranslator(WHO).translate(bad)


def test_streams_are_complete_only_when_the_tap_exits_0():
    t = singer.SourceTranslator(WHO, ["a", "b"])
    t.translate({"type": "SCHEMA", "stream": "a", "schema": {}, "key_properties": []})
    assert t.finish(1) == ([], 1)
    assert kinds(t.finish(0)[0]) == [("status", "a", "complete"), ("status", "b", "complete")]
    # streams not known in advance (pipe mode without a catalog): those the tap announced
    t = singer.SourceTranslator(WHO)
    t.translate({"type": "SCHEMA", "stream": "z", "schema": {}, "key_properties": []})
    assert kinds(t.finish(0)[0]) == [("status", "z", "complete")]


def test_the_discovery_example_as_our_catalog_and_back_with_everything_selected(ours):
    assert singer.is_catalog(DISCOVERY_EXAMPLE)
    catalog = singer.to_catalog(DISCOVERY_EXAMPLE)
    ours([{"type": "catalog", "catalog": catalog}])
    [stream] = catalog["streams"]
    assert (stream["name"], stream["primary_key"], stream["cursor_field"]) == ("users", [["id"]],
                                                                             ["date_modified"])
    [entry] = singer.tap_catalog(catalog["streams"])["streams"]
    assert entry["tap_stream_id"] == "users" and entry["schema"] == DISCOVERY_EXAMPLE["streams"][0]["schema"]
    assert all(m["metadata"]["selected"] is True for m in entry["metadata"])
    assert entry["metadata"][0]["metadata"]["table-key-properties"] == ["id"]  # the tap's metadata is kept
    assert DISCOVERY_EXAMPLE["streams"][0]["metadata"][0]["metadata"].get("selected") is None  # not mutated


def test_tap_catalog_for_a_stream_without_singer_metadata():
    [entry] = singer.tap_catalog([{"name": "t", "json_schema": {"type": "object"}, "primary_key": [["id"]]}])[
        "streams"]
    assert entry == {"tap_stream_id": "t", "stream": "t", "schema": {"type": "object"},
                     "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                     "key_properties": ["id"]}


def test_unsupported_fields_stay_unselected():
    entry = {"tap_stream_id": "t", "schema": {}, "metadata": [
        {"breadcrumb": ["properties", "x"], "metadata": {"inclusion": "unsupported"}}]}
    [out] = singer.tap_catalog(singer.to_catalog({"streams": [entry]})["streams"])["streams"]
    assert [m["metadata"].get("selected") for m in out["metadata"]] == [True, None]


def test_state_goes_back_as_the_tap_wrote_it():
    value = {"bookmarks": {"charges": {"created": 1796163645}}}
    aggregate, _ = apply(empty(), singer.state_payload(value))
    assert singer.state_input(aggregate) == value
    assert singer.state_input(empty()) is None
    for foreign in ({"streams": {"c": {}}, "global": None}, {"streams": {}, "global": {"events_cursor": 1}}):
        with pytest.raises(ConnectorError) as exc:
            singer.state_input(foreign)
        assert exc.value.code == "state_mismatch"


def test_tap_stripe_runs(ours):
    for name, records in (("tap-stripe-run1.jsonl", 3), ("tap-stripe-run2.jsonl", 0)):
        lines = fixture_lines(name)
        assert all(singer.is_singer(m) for m in lines)
        t = singer.SourceTranslator(WHO, ["customers", "products", "charges"])
        out = ours([m for line in lines for m in t.translate(line)] + t.finish(0)[0])
        assert sum(m["type"] == "record" for m in out) == records
        last = [m for m in out if m["type"] == "state"][-1]["state"]["data"]["singer"]
        assert last == [m for m in lines if m["type"] == "STATE"][-1]["value"]


# ---- ours -> a Singer target ----------------------------------------------------------------------------
CATALOG = {"type": "catalog", "catalog": {"streams": [
    {"name": "customers", "primary_key": [["id"]], "cursor_field": ["created"], "json_schema": {
        "type": "object", "required": ["id"], "properties": {
            "id": {"type": ["string"]}, "created": {"type": ["integer"]},
            "test_clock": {"type": ["string", "object", "null"], "description": "expandable"}}}}]}}


def record(i: int, deleted: bool = False) -> dict:
    rec = {"stream": "customers", "data": {"id": f"cus_{i}", "created": 1700000000 + i},
           "emitted_at": 1700000000000 + i, "updated_at": 1700000000 + i}
    return {"type": "record", "record": {**rec, "deleted": True} if deleted else rec}


def state(n: int) -> dict:
    return {"type": "state", "state": {"state_type": "stream", "stream": "customers", "data": {"n": n},
                                       "_generation": 1}}


def seqs(msgs: list[dict]) -> list:
    return [m["value"]["stripe_sync"]["seq"] if m["type"] == "STATE" else m["type"] for m in msgs]


def test_schema_before_the_first_record_with_key_properties_and_the_delete_column():
    w = singer.TargetWriter("the singer destination 't'")
    assert w.data(CATALOG) == []
    out = w.data(record(1)) + w.data(record(2))
    assert seqs(out) == [0, "SCHEMA", "RECORD", "RECORD"]
    schema = out[1]
    assert (schema["stream"], schema["key_properties"], schema["bookmark_properties"]) == (
        "customers", ["id"], ["created"])
    props = schema["schema"]["properties"]
    assert props["_sdc_deleted_at"] == {"type": ["null", "string"], "format": "date-time"}
    # a scalar-or-object field becomes anyOf with the scalar first (SQL targets type it as text)
    assert props["test_clock"] == {"anyOf": [{"type": "string", "description": "expandable"},
                                             {"type": "object"}, {"type": "null"}]}
    assert props["id"] == {"type": ["string"]}
    assert out[2] == {"type": "RECORD", "stream": "customers",
                      "record": {"id": "cus_1", "created": 1700000001},
                      "time_extracted": "2023-11-14T22:13:20.001Z"}


def test_a_tombstone_keeps_its_data_and_gets_sdc_deleted_at():
    w = singer.TargetWriter("t")
    w.data(CATALOG)
    [*_, rec] = w.data(record(5, deleted=True))
    assert rec["record"] == {"id": "cus_5", "created": 1700000005,
                             "_sdc_deleted_at": "2023-11-14T22:13:25.000Z"}


def test_states_are_written_when_they_can_be_confirmed_and_one_echo_confirms_all_before_it():
    w = singer.TargetWriter("t")
    w.begin({"streams": {"charges": {"n": 0}}, "global": None})
    w.data(CATALOG)
    assert w.data(state(1)) == [] and w.flush() == []  # nothing written yet: no record to cover
    out = w.data(record(1))  # the first STATE goes before the first record: it covers none of them
    assert seqs(out) == [1, "SCHEMA", "RECORD"]
    assert out[0]["value"]["bookmarks"] == {"charges": {"n": 0}, "customers": {"n": 1}}
    assert w.data(state(2)) == [] and seqs(w.flush()) == [2]  # a state after records: written at the flush
    assert w.flush() == []
    w.data(state(3))
    w.data(state(4))
    assert w.flush() == []  # states with no record between them wait
    assert seqs(w.data(record(2))) == [4, "RECORD"]
    assert seqs(w.finish()) == [4]  # records went out after the last STATE: a target that prints only a
    # STATE no RECORD followed (target-jsonl) confirms the run by this one
    assert [m["state"]["data"] for m in w.echo({"bookmarks": {}, "stripe_sync": {"seq": 2}})] == [
        {"n": 1}, {"n": 2}]
    assert w.echo({"bookmarks": {}, "stripe_sync": {"seq": 2}}) == []  # printed again: nothing new
    assert w.echo({"bookmarks": {}}) == [] and w.echo({"stripe_sync": {"seq": "x"}}) == []
    confirmed = w.echo({"type": "STATE", "value": {"stripe_sync": {"seq": 4}}})
    assert [m["state"] for m in confirmed] == [state(3)["state"], state(4)["state"]]


def test_a_run_without_records_writes_one_state_at_its_end():
    w = singer.TargetWriter("t")
    w.begin(empty())
    for n in range(1, 4):
        w.data(state(n))
        assert w.flush() == []
    assert seqs(w.finish()) == [3]
    assert singer.TargetWriter("t").finish() == [{"type": "STATE", "value": {
        "bookmarks": {}, "global": None, "stripe_sync": {"seq": 0}}}]


def test_detection():
    assert all(singer.is_singer(m) for m in spec_lines())
    assert not singer.is_singer({"type": "RECORD", "record": {"stream": "a", "data": {}}})  # Airbyte
    assert not singer.is_singer({"type": "STATE", "state": {}})  # Airbyte
