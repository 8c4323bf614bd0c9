"""Command forms per protocol, auto-detection, and pipe mode with foreign input and output (the recorded
output of real connectors, no install needed)."""
from __future__ import annotations

import json
import subprocess
import sys

from engine.adapters import protocols
from tests.engine.adapters.conftest import FIXTURES, fixture_lines
from tests.engine.adapters.test_singer import DISCOVERY_EXAMPLE, SPEC_EXAMPLE
from tests.engine.conftest import ROOT, child_env


def test_command_forms():
    native, ab, si = (protocols.source_protocol(n) for n in ("native", "airbyte", "singer"))
    assert native.read_argv(["s"], "C", None, "S") == ["s", "read", "--config", "C", "--state", "S"]
    assert native.read_argv(["s"], "C", "K", "S") == ["s", "read", "--config", "C", "--state", "S",
                                                      "--catalog", "K"]
    assert ab.read_argv(["s"], "C", "K", None) == ["s", "read", "--config", "C", "--catalog", "K"]
    assert ab.read_argv(["s"], "C", "K", "S") == ["s", "read", "--config", "C", "--catalog", "K",
                                                  "--state", "S"]
    assert si.read_argv(["t"], "C", "K", "S") == ["t", "--config", "C", "--catalog", "K", "--state", "S"]
    assert protocols.source_protocol("singer", "--properties").read_argv(["t"], "C", "K", None) == [
        "t", "--config", "C", "--properties", "K"]
    assert ab.discover_argv(["s"], "C") == ["s", "discover", "--config", "C"]
    assert si.discover_argv(["t"], "C") == ["t", "--config", "C", "--discover"]
    dn, da, ds = (protocols.destination_protocol(n) for n in ("native", "airbyte", "singer"))
    assert dn.write_argv(["d"], "C", None) == ["d", "write", "--config", "C"]
    assert da.write_argv(["d"], "C", "K") == ["d", "write", "--config", "C", "--catalog", "K"]
    assert ds.write_argv(["d"], "C", None) == ["d", "--config", "C"]
    assert (dn.needs_catalog, da.needs_catalog, ds.needs_catalog) == (False, True, False)
    assert not native.foreign and ab.foreign and si.foreign and native.translator("x", []) is None


def test_discover_output_of_each_protocol():
    faker = (FIXTURES / "faker-discover.jsonl").read_bytes()
    catalog, _ = protocols.source_protocol("airbyte").discovered(b'{"type":"LOG","log":{"level":"INFO",'
                                                                 b'"message":"x"}}\n' + faker, "w")
    assert [s["name"] for s in catalog["streams"]] == ["products", "users", "purchases"]
    pretty = json.dumps(DISCOVERY_EXAMPLE, indent=2).encode()  # taps print one, often indented, document
    catalog, _ = protocols.source_protocol("singer").discovered(pretty, "w")
    assert [s["name"] for s in catalog["streams"]] == ["users"]
    assert protocols.source_protocol("singer").discovered(b"oops", "w") == (None, [])
    ours = b'{"type":"catalog","catalog":{"streams":[{"name":"a","json_schema":{}}]}}\n'
    assert protocols.SourceProtocol().discovered(ours, "w")[0] == {"streams": [{"name": "a",
                                                                                 "json_schema": {}}]}


def test_detection_and_catalog_shapes():
    assert protocols.detect(fixture_lines("faker-read.jsonl")[0]) == "airbyte"
    assert protocols.detect(json.loads(SPEC_EXAMPLE.splitlines()[0])) == "singer"
    assert protocols.detect({"type": "catalog", "catalog": {"streams": []}}) == "native"
    configured = json.loads((FIXTURES / "faker-configured_catalog.json").read_text())
    assert protocols.native_catalog(configured)[1] == "airbyte"
    assert protocols.native_catalog(DISCOVERY_EXAMPLE)[1] == "singer"
    ours = {"streams": [{"name": "a", "json_schema": {}}]}
    assert protocols.native_catalog(ours) == (ours, None)


def pipe(stdin: bytes, *args: str) -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "engine", "--progress", "none", *args], input=stdin,
                          capture_output=True, timeout=60, cwd=ROOT, env=child_env())
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr.decode()


def test_pipe_mode_detects_an_airbyte_source_and_takes_its_configured_catalog():
    code, out, err = pipe((FIXTURES / "faker-read.jsonl").read_bytes(),
                          "--catalog", str(FIXTURES / "faker-configured_catalog.json"))
    assert code == 0, err
    assert out[0]["type"] == "catalog" and [s["name"] for s in out[0]["catalog"]["streams"]] == [
        "products", "users", "purchases"]
    records = [m["record"] for m in out if m["type"] == "record"]
    assert [(r["stream"], r["data"]["id"]) for r in records] == [
        ("products", 1), ("products", 2), ("users", 1), ("users", 2), ("purchases", 1), ("purchases", 2)]
    eof = out[-1]["eof"]
    assert eof["status"] == "succeeded"
    assert set(eof["state"]["streams"]) == {"products", "users", "purchases"}
    assert eof["state"]["streams"]["users"]["airbyte"]["stream"]["stream_state"]["loop_offset"] == 100
    assert {n: s["status"] for n, s in eof["progress"]["streams"].items()} == {
        "products": "complete", "users": "complete", "purchases": "complete"}


def test_pipe_mode_singer_tap_with_its_catalog_and_without_one(tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": [
        {"tap_stream_id": name, "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
         "key_properties": ["id"]} for name in ("users", "locations")]}))
    code, out, err = pipe(SPEC_EXAMPLE.encode(), "--catalog", str(catalog))
    assert code == 0, err
    assert [m["record"]["data"]["name"] for m in out if m["type"] == "record"] == ["Chris", "Mike",
                                                                                    "Philadelphia"]
    assert out[-1]["eof"]["state"]["global"] == {"singer": {"users": 2, "locations": 1}}
    # explicitly Singer without --catalog: a usage error; auto-detected: a clear failed run
    code, _, err = pipe(SPEC_EXAMPLE.encode(), "--source-protocol", "singer")
    assert code == 2 and "--source-protocol singer needs --catalog" in err
    code, out, err = pipe(SPEC_EXAMPLE.encode())
    assert code == 1 and "before any catalog message" in err


def test_pipe_mode_bad_line_of_a_foreign_source_names_it():
    lines = (FIXTURES / "faker-read.jsonl").read_bytes().splitlines(keepends=True)
    broken = b"".join(lines[:8] + [b'{"type":"RECORD","record":{"stream":"users"}}\n'] + lines[8:])
    code, out, err = pipe(broken, "--catalog", str(FIXTURES / "faker-configured_catalog.json"))
    assert code == 1 and out[-1]["eof"]["status"] == "failed"
    assert "line 9: RECORD without an object 'data' (from the airbyte source)" in err


def test_pipe_mode_into_a_singer_target_writes_only_singer_messages():
    source = b"".join(json.dumps(m).encode() + b"\n" for m in [
        {"type": "catalog", "catalog": {"streams": [{"name": "customers", "json_schema": {"type": "object"},
                                                     "primary_key": [["id"]]}]}},
        {"type": "trace", "trace": {"trace_type": "stream_status", "emitted_at": 1,
                                    "stream_status": {"stream": "customers", "status": "started"}}},
        {"type": "record", "record": {"stream": "customers", "data": {"id": "cus_1"}, "emitted_at": 1000}},
        {"type": "state", "state": {"state_type": "stream", "stream": "customers", "data": {"n": 1}}},
        {"type": "trace", "trace": {"trace_type": "stream_status", "emitted_at": 2,
                                    "stream_status": {"stream": "customers", "status": "complete"}}}])
    code, out, err = pipe(source, "--destination-protocol", "singer",
                          "--state", '{"streams": {"old": {"n": 0}}, "global": null}')
    assert code == 0, err
    assert [m["type"] for m in out] == ["STATE", "SCHEMA", "RECORD", "STATE"]
    assert out[0]["value"]["bookmarks"] == {"old": {"n": 0}}
    assert out[-1]["value"] == {"bookmarks": {"old": {"n": 0}, "customers": {"n": 1}}, "global": None,
                                "stripe_sync": {"seq": 1}}
