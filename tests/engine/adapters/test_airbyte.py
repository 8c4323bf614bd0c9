"""The Airbyte adapter, message type by message type: every Airbyte example is first checked against the
published Airbyte protocol schema (fixtures/airbyte_protocol.json), every translation against ours."""
from __future__ import annotations

import pytest

from engine.adapters import airbyte
from engine.adapters.base import ForeignMessageError
from engine.sync.restart import classify_error
from protocol.errors import ConnectorError
from protocol.state import apply, empty
from tests.engine.adapters.conftest import airbyte_errors, fixture_json, fixture_lines

WHO = "the airbyte source 'source-x'"
FIXTURE_FILES = ["faker-read.jsonl", "faker-read-with-state.jsonl", "faker-discover.jsonl",
                 "faker-spec.jsonl",
                 "faker-check.jsonl", "faker-bad-config.jsonl", "airbyte-stripe-bad-key.jsonl"]


def translate(*msgs: dict, streams=()) -> list[dict]:
    t = airbyte.SourceTranslator(WHO, streams)
    out = []
    for msg in msgs:
        assert airbyte_errors(msg) == [], msg
        out += t.translate(msg)
    return out


def trace(kind: str, **payload) -> dict:
    return {"type": "TRACE", "trace": {"type": kind, "emitted_at": 1700000000123.5, **payload}}


def status(stream: str, value: str) -> dict:
    return trace("STREAM_STATUS", stream_status={"stream_descriptor": {"name": stream}, "status": value})


def error(failure_type: str | None, stream: str | None = None, message: str = "boom") -> dict:
    err: dict = {"message": message, "internal_message": "detail", "stack_trace": "Traceback ..."}
    if failure_type:
        err["failure_type"] = failure_type
    if stream:
        err["stream_descriptor"] = {"name": stream}
    return trace("ERROR", error=err)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_recorded_connector_output_is_valid_airbyte_and_translates_to_valid_messages(name, ours):
    lines = fixture_lines(name)
    assert all(airbyte_errors(m) == [] for m in lines)
    assert all(airbyte.is_airbyte(m) for m in lines)
    ours(translate(*lines))


def test_record():
    msg = {"type": "RECORD", "record": {"stream": "users", "namespace": "public", "data": {"id": 1},
                                        "emitted_at": 1700000000123, "meta": {"changes": []}}}
    assert translate(msg) == [{"type": "record", "record": {"stream": "users", "data": {"id": 1},
                                                            "emitted_at": 1700000000123}}]


@pytest.mark.parametrize("bad, why", [
    ({"type": "RECORD", "record": {"stream": "users", "emitted_at": 1}}, "without an object 'data'"),
    ({"type": "RECORD", "record": {"data": {}, "emitted_at": 1}}, "without a string 'stream'"),
    ({"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_state": {}}}}, "stream_descriptor"),
    ({"type": "HELLO"}, "not an Airbyte message"),
    ({"type": "record", "record": {}}, "not an Airbyte message"),
    ({"type": "TRACE", "trace": {"type": "WEATHER", "emitted_at": 1}}, "unknown type"),
])
def test_a_message_that_breaks_the_protocol_is_refused_with_the_reason(bad, why):
    with pytest.raises(ForeignMessageError, match=why):
        airbyte.SourceTranslator(WHO).translate(bad)


def test_stream_state_keeps_the_airbyte_blob_and_goes_back_unchanged(ours):
    lines = [m for m in fixture_lines("faker-read.jsonl") if m["type"] == "STATE"]
    translated = ours(translate(*lines))
    assert [m["state"]["stream"] for m in translated] == ["products", "users", "users", "purchases",
                                                          "purchases"]
    assert translated[1]["state"] == {"state_type": "stream", "stream": "users", "data": {"airbyte": {
        "type": "STREAM", "stream": {"stream_descriptor": {"name": "users"},
                                     "stream_state": {"seed": 1, "updated_at": "2026-12-01T22:03:41+00:00",
                                                      "loop_offset": 40}}}}}
    aggregate = empty()
    for msg in translated:
        aggregate, _ = apply(aggregate, msg["state"])
    # what the real connector took as --state (fixtures/faker-state-input.json), in stream order
    expected = fixture_json("faker-state-input.json")
    assert sorted(airbyte.state_input(aggregate), key=str) == sorted(expected, key=str)


def test_global_and_legacy_states_are_our_global_state():
    glob = {"type": "STATE", "state": {"type": "GLOBAL", "global": {
        "shared_state": {"lsn": 7}, "stream_states": [{"stream_descriptor": {"name": "a"},
                                                       "stream_state": {"c": 1}}]}}}
    legacy = {"type": "STATE", "state": {"data": {"a": {"cursor": 3}}}}
    g, leg = translate(glob, legacy)
    assert g["state"] == {"state_type": "global", "data": {"airbyte": {"type": "GLOBAL",
                                                                       "global": glob["state"]["global"]}}}
    assert leg["state"] == {"state_type": "global", "data": {"airbyte": {"type": "LEGACY",
                                                                         "data": {"a": {"cursor": 3}}}}}
    assert airbyte.state_input(apply(empty(), g["state"])[0]) == [{"type": "GLOBAL",
                                                                   "global": glob["state"]["global"]}]
    # a legacy state goes back in the legacy input form: the bare object
    assert airbyte.state_input(apply(empty(), leg["state"])[0]) == {"a": {"cursor": 3}}
    assert all(airbyte_errors(s, "AirbyteStateMessage") == []
               for s in airbyte.state_input(apply(empty(), g["state"])[0]))


def test_no_state_means_no_state_argument_and_state_of_another_source_is_refused():
    assert airbyte.state_input(empty()) is None
    with pytest.raises(ConnectorError) as exc:
        airbyte.state_input({"streams": {"customers": {"accounted_range": {"gte": 0, "lt": 1}}},
                             "global": None})
    assert exc.value.code == "state_mismatch" and "customers" in exc.value.message


@pytest.mark.parametrize("level, ours_level", [("FATAL", "error"), ("ERROR", "error"), ("WARN", "warn"),
                                               ("INFO", "info"), ("DEBUG", "debug"), ("TRACE", "debug")])
def test_log_levels(level, ours_level, ours):
    [msg] = ours(translate({"type": "LOG", "log": {"level": level, "message": "hello", "stack_trace": "x"}}))
    assert msg == {"type": "log", "log": {"level": ours_level, "message": f"{WHO}: hello"}}


def test_stream_status(ours):
    out = ours(translate(status("a", "STARTED"), status("a", "RUNNING"), status("a", "COMPLETE")))
    assert [(m["trace"]["stream_status"]["stream"], m["trace"]["stream_status"]["status"]) for m in out] == [
        ("a", "started"), ("a", "complete")]
    assert out[0]["trace"]["emitted_at"] == 1700000000123


def test_incomplete_ends_the_stream_and_is_an_error_unless_the_source_reported_one():
    t = airbyte.SourceTranslator(WHO, ["a", "b"])
    out = t.translate(status("a", "STARTED")) + t.translate(status("a", "INCOMPLETE"))
    out += t.translate(status("b", "STARTED")) + t.translate(status("b", "INCOMPLETE"))
    out += t.translate(error("system_error", "b"))
    assert [m["trace"]["stream_status"]["status"] for m in out[:4]] == ["started", "complete", "started",
                                                                          "complete"]
    end, code = t.finish(0)
    assert code == 0
    assert [(m["trace"]["error"]["stream"], m["trace"]["error"]["retryable"]) for m in end] == [("a", True)]
    assert "ended INCOMPLETE" in end[0]["trace"]["error"]["message"]


@pytest.mark.parametrize("failure_type, stream, scope, retryable, code, verdict", [
    ("config_error", None, "global", False, "invalid_config", "global_permanent"),
    ("system_error", None, "transient", True, "source_failed", "transient"),
    ("transient_error", None, "transient", True, "source_failed", "transient"),
    (None, None, "transient", True, "source_failed", "transient"),
    ("config_error", "users", "stream", False, "invalid_config", "stream_permanent"),
    ("system_error", "users", "stream", True, "source_failed", "stream_retryable"),
    ("transient_error", "users", "stream", True, "source_failed", "stream_retryable"),
])
def test_errors_are_classified_by_failure_type_like_ours(failure_type, stream, scope, retryable, code,
                                                         verdict, ours):
    [msg] = ours(translate(error(failure_type, stream)))
    payload = msg["trace"]["error"]
    assert (payload["scope"], payload.get("stream"), payload["retryable"], payload["code"]) == (
        scope, stream, retryable, code)
    assert payload["message"] == f"{WHO}: boom"
    assert classify_error(payload) == verdict  # what engine sync does with it


def test_the_cdk_combined_error_after_stream_errors_is_a_warning_and_its_exit_code_does_not_decide(ours):
    lines = fixture_lines("airbyte-stripe-bad-key.jsonl")
    t = airbyte.SourceTranslator(WHO, ["charges", "customers"])
    out = ours([m for line in lines for m in t.translate(line)])
    errors = [m["trace"]["error"] for m in out
              if m["type"] == "trace" and m["trace"]["trace_type"] == "error"]
    assert [(e["scope"], e["stream"], e["code"]) for e in errors] == [("stream", "charges", "invalid_config")]
    assert any(m["type"] == "log" and "did not sync successfully" in m["log"]["message"] for m in out)
    assert t.finish(1)[1] == 0
    # without stream errors before it, the same message is a global error and exit code 1 stands
    t2 = airbyte.SourceTranslator(WHO)
    [msg] = t2.translate(lines[-1])
    assert msg["trace"]["error"]["scope"] == "global" and t2.finish(1)[1] == 1


def test_estimates(ours):
    stream_estimate = trace("ESTIMATE", estimate={"name": "users", "type": "STREAM", "row_estimate": 130,
                                                  "byte_estimate": 9})
    sync_estimate = trace("ESTIMATE", estimate={"name": "x", "type": "SYNC", "row_estimate": 5})
    assert ours(translate(stream_estimate, sync_estimate)) == [
        {"type": "trace", "trace": {"trace_type": "estimate",
                                    "estimate": {"stream": "users", "row_count": 130},
                                    "emitted_at": 1700000000123}}]


def test_analytics_and_destination_catalog_are_dropped():
    assert translate(trace("ANALYTICS", analytics={"type": "cursor-count", "value": "2"}),
                     {"type": "DESTINATION_CATALOG", "destination_catalog": {"operations": []}}) == []


def test_catalog_keeps_primary_key_cursor_and_the_airbyte_fields(ours):
    [msg] = ours(translate(*fixture_lines("faker-discover.jsonl")))
    users = next(s for s in msg["catalog"]["streams"] if s["name"] == "users")
    assert [s["name"] for s in msg["catalog"]["streams"]] == ["products", "users", "purchases"]
    assert users["primary_key"] == [["id"]] and users["cursor_field"] == ["updated_at"]
    assert users["json_schema"]["properties"]["address"]["type"] == "object"
    assert users["metadata"]["airbyte"]["supported_sync_modes"] == ["full_refresh", "incremental"]


def test_configured_catalog_is_what_the_connector_took(ours):
    [msg] = translate(*fixture_lines("faker-discover.jsonl"))
    configured = airbyte.configured_catalog(msg["catalog"]["streams"])
    assert airbyte_errors(configured, "ConfiguredAirbyteCatalog") == []
    assert configured == fixture_json("faker-configured_catalog.json")  # the probe's, which faker read
    # and it translates back to the same catalog of ours (pipe mode takes it as --catalog)
    assert airbyte.is_catalog(configured) and airbyte.to_catalog(configured) == msg["catalog"]


def test_configured_catalog_of_streams_without_cursor_or_key():
    [entry] = airbyte.configured_catalog([{"name": "t", "json_schema": {}}])["streams"]
    assert (entry["sync_mode"], entry["destination_sync_mode"]) == ("full_refresh", "append")
    assert "cursor_field" not in entry and "primary_key" not in entry


def test_spec_marks_airbyte_secrets_as_ours(ours):
    spec = {"type": "SPEC", "spec": {"connectionSpecification": {"type": "object", "properties": {
        "client_secret": {"type": "string", "airbyte_secret": True}, "start": {"type": "string"}}}}}
    [msg] = ours(translate(spec))
    props = msg["spec"]["config_schema"]["properties"]
    assert props["client_secret"]["secret"] is True and "secret" not in props["start"]
    assert msg["spec"]["connector"]["name"] == WHO
    ours(translate(*fixture_lines("faker-spec.jsonl")))


def test_connection_status(ours):
    ok, failed = ours(translate(*fixture_lines("faker-check.jsonl")))[-1], ours(translate(
        {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "FAILED", "message": "bad key"}}))[0]
    assert ok["connection_status"]["status"] == "succeeded"
    assert failed["connection_status"] == {"status": "failed", "message": f"{WHO}: bad key"}


def test_control_connector_config(ours):
    msg = {"type": "CONTROL", "control": {"type": "CONNECTOR_CONFIG", "emitted_at": 1.0,
                                          "connectorConfig": {"config": {"token": "t2"}}}}
    assert ours(translate(msg)) == [{"type": "control", "control": {"control_type": "config_update",
                                                                    "config": {"token": "t2"}}}]


def test_a_source_without_stream_status_completes_its_streams_at_exit_0_only():
    t = airbyte.SourceTranslator(WHO, ["a", "b"])
    t.translate({"type": "RECORD", "record": {"stream": "a", "data": {"id": 1}, "emitted_at": 1}})
    assert t.finish(1) == ([], 1)
    end, code = airbyte.SourceTranslator(WHO, ["a", "b"]).finish(0)
    assert code == 0 and [m["trace"]["stream_status"] for m in end] == [
        {"stream": "a", "status": "complete"}, {"stream": "b", "status": "complete"}]
    # one that reports statuses is trusted: a stream it left unfinished stays unfinished
    t = airbyte.SourceTranslator(WHO, ["a", "b"])
    t.translate(status("a", "STARTED"))
    assert t.finish(0) == ([], 0)


def test_detection():
    assert airbyte.is_airbyte({"type": "RECORD", "record": {"stream": "a", "data": {}, "emitted_at": 1}})
    assert not airbyte.is_airbyte({"type": "RECORD", "stream": "a", "record": {}})  # Singer
    assert not airbyte.is_airbyte({"type": "STATE", "value": {}})  # Singer
    assert not airbyte.is_airbyte({"type": "record", "record": {}})  # ours


# ---- ours -> an Airbyte destination ---------------------------------------------------------------------
def test_records_tombstones_and_states_for_a_destination_and_the_echo_back():
    w = airbyte.DestinationWriter("the airbyte destination 'd'")
    rec = {"type": "record", "record": {"stream": "customers", "data": {"id": "cus_1"},
                                        "emitted_at": 1700000000123,
                                        "updated_at": 1700000000}}
    tomb = {"type": "record", "record": {"stream": "customers", "data": {"id": "cus_1"}, "deleted": True,
                                         "emitted_at": 1700000001000, "updated_at": 1700000001}}
    stream_state = {"type": "state", "state": {"state_type": "stream", "stream": "customers",
                                               "data": {"c": 1},
                                               "_generation": 2}}
    global_state = {"type": "state", "state": {"state_type": "global", "data": {"e": 1}, "_generation": 2}}
    assert w.data({"type": "catalog", "catalog": {"streams": []}}) == []
    out = [m for msg in (rec, tomb, stream_state, global_state) for m in w.data(msg)]
    assert all(airbyte_errors(m) == [] for m in out)
    assert out[0] == {"type": "RECORD", "record": {"stream": "customers", "data": {"id": "cus_1"},
                                                   "emitted_at": 1700000000123}}
    assert out[1]["record"]["data"] == {"id": "cus_1", "_ab_cdc_deleted_at": "2023-11-14T22:13:21.000Z"}
    assert out[2]["state"]["stream"]["stream_descriptor"] == {"name": "customers"}
    # the destination echoes a STATE once committed (maybe with its stats): our payload comes back exactly
    echoed = [{**out[2], "state": {**out[2]["state"], "destinationStats": {"recordCount": 2.0}}}, out[3]]
    assert [m["state"] for e in echoed for m in w.echo(e)] == [stream_state["state"], global_state["state"]]
    assert w.begin(empty()) == w.flush() == w.finish() == []


def test_a_destination_s_logs_and_errors_come_back_as_ours_and_foreign_states_are_ignored(ours):
    w = airbyte.DestinationWriter("the airbyte destination 'd'")
    [log] = ours(w.echo({"type": "LOG", "log": {"level": "WARN", "message": "slow"}}))
    [err] = ours(w.echo(error("config_error", message="no such table")))
    assert log["log"] == {"level": "warn", "message": "the airbyte destination 'd': slow"}
    assert (err["trace"]["error"]["scope"], err["trace"]["error"]["code"]) == ("global", "invalid_config")
    assert "did not send" in w.echo({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "x"}, "stream_state": {"other": 1}}}})[0]["log"]["message"]
    assert w.echo({"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": 1}}) == []
