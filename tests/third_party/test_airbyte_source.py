"""An Airbyte source from PyPI, `airbyte-source-faker` 7.2.1 (streams products, users, purchases), through
`engine sync --source-protocol airbyte` into destination-postgres: the rows equal what the source
emitted, the primary keys are the source's, the confirmed state is Airbyte's own and resumes (the second
run reads nothing new), progress shows each stream. Then its bad line, crash and non-zero exit."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from engine.adapters import airbyte
from tests.engine.conftest import child_env
from tests.third_party.conftest import (
    bin_dir, destination_state, engine_sync, primary_key, table_ids, wrapper)
from tests.third_party.connectors import FAKER, TARGET_JSONL

STREAMS = ["products", "users", "purchases"]
# always_updated false: a stream whose state has updated_at emits nothing more (source_faker/streams.py)
CONFIG = {"count": 100, "seed": 1, "always_updated": False, "records_per_slice": 40, "parallelism": 1}
FAULTY = Path(__file__).resolve().parent / "faulty_source.py"


@pytest.fixture(scope="module")
def faker() -> Path:
    return bin_dir(FAKER) / "source-faker"


def emitted_ids(faker: Path, tmp_path: Path, config: dict) -> dict[str, list[str]]:
    """What the connector itself emits on a fresh read: record ids per stream (the ground truth)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    discover = subprocess.run([str(faker), "discover", "--config", "config.json"], capture_output=True,
                              check=True, cwd=tmp_path, timeout=120)
    catalog = next(airbyte.to_catalog(m["catalog"]) for m in map(json.loads, discover.stdout.splitlines())
                   if m["type"] == "CATALOG")
    (tmp_path / "cc.json").write_text(json.dumps(airbyte.configured_catalog(catalog["streams"])))
    read = subprocess.run([str(faker), "read", "--config", "config.json", "--catalog", "cc.json"],
                          capture_output=True, check=True, cwd=tmp_path, timeout=120)
    ids = defaultdict(list)
    for m in map(json.loads, read.stdout.splitlines()):
        if m["type"] == "RECORD":
            ids[m["record"]["stream"]].append(str(m["record"]["data"]["id"]))
    return dict(ids)


def faker_sync(faker: Path, tmp_path: Path, pg_url: str, schema: str, *extra: str, config=CONFIG):
    return engine_sync(tmp_path, "--source", str(faker), "--source-protocol", "airbyte",
                       "--source-config", json.dumps(config),
                       "--destination", f"{sys.executable} -m destination_postgres",
                       "--destination-config", json.dumps({"url": pg_url, "schema": schema}), *extra)


def test_faker_into_postgres_resumes_from_its_own_state(faker, tmp_path, pg_url, pg_schema):
    emitted = emitted_ids(faker, tmp_path, CONFIG)
    assert {s: len(ids) for s, ids in emitted.items()} == {"products": 100, "users": 100, "purchases": 100}

    first = faker_sync(faker, tmp_path, pg_url, pg_schema)
    assert first.code == 0, first.stderr
    assert first.eof["status"] == "succeeded" and not first.eof["has_more"]
    for stream in STREAMS:
        assert table_ids(pg_url, pg_schema, stream) == sorted(set(emitted[stream])), stream
        assert primary_key(pg_url, pg_schema, stream) == ["id"]  # source_defined_primary_key [["id"]]
        assert first.streams[stream]["record_count"] == len(emitted[stream])
        assert first.streams[stream]["status"] == "complete"
        assert first.streams[stream]["estimate"] > 0  # from its ESTIMATE traces
        assert (stream, "started") in first.statuses() and (stream, "complete") in first.statuses()
    # progress traces showed every stream while it ran
    assert all(set(p["streams"]) == set(STREAMS) for p in first.progress())
    # the confirmed state is the connector's own, kept by destination-postgres in _sync_state
    state = destination_state(pg_url, pg_schema)
    assert state == first.eof["state"] and state["global"] is None
    for stream in STREAMS:
        blob = state["streams"][stream]["airbyte"]
        assert blob["type"] == "STREAM" and blob["stream"]["stream_descriptor"] == {"name": stream}
        assert blob["stream"]["stream_state"]["updated_at"]

    second = faker_sync(faker, tmp_path, pg_url, pg_schema)
    assert second.code == 0, second.stderr
    assert {s: second.streams[s]["record_count"] for s in STREAMS} == {s: 0 for s in STREAMS}
    assert second.eof["state"] == state  # it got its state back and confirmed the same again
    assert all(len(table_ids(pg_url, pg_schema, s)) == 100 for s in STREAMS)


# One state per stream, at its end (records_per_slice above the stream sizes): a fault inside users
# leaves products confirmed and users unconfirmed (faker resumes a stream only from its end state).
ONE_STATE_PER_STREAM = {**CONFIG, "records_per_slice": 1000}


@pytest.mark.parametrize("fault, words", [
    ("badline", "bad line from the source: line"),
    ("crash", "was killed by"),
    ("exit", "exited with code 3"),
])
def test_a_failing_airbyte_source_is_named_and_nothing_past_the_confirmed_state_is_committed(
        fault, words, faker, tmp_path, pg_url, pg_schema):
    log = tmp_path / "passed.jsonl"
    faulty = wrapper(tmp_path / "bin" / "source-faker", [sys.executable, str(FAULTY), fault, "150", str(log),
                                                          str(faker)])
    failed = faker_sync(faulty, tmp_path, pg_url, pg_schema, "--max-restarts", "0",
                        config=ONE_STATE_PER_STREAM)
    assert failed.code == 1 and failed.eof["status"] == "failed", failed.stderr
    final = failed.errors()[-1]
    assert words in final["message"] and "source-faker" in final["message"], final
    assert "the airbyte source 'source-faker'" in final["message"]
    assert f"engine: error [{final['code']}]" in failed.stderr
    # confirmed = committed = products only; every record before that state is in its table
    state = destination_state(pg_url, pg_schema)
    assert state == failed.eof["state"] and sorted(state["streams"]) == ["products"]
    passed = [json.loads(line) for line in log.read_text().splitlines()]
    state_at = next(i for i, m in enumerate(passed) if m["type"] == "STATE")
    before = {str(m["record"]["data"]["id"]) for m in passed[:state_at] if m["type"] == "RECORD"}
    assert len(before) == 100 and before <= set(table_ids(pg_url, pg_schema, "products"))
    if fault != "crash":
        return  # the resume after a failure is the same for each; once is enough
    # the next run (the connector as it is) resumes from there and completes everything
    again = faker_sync(faker, tmp_path, pg_url, pg_schema, config=ONE_STATE_PER_STREAM)
    assert again.code == 0, again.stderr
    assert again.streams["products"]["record_count"] == 0 and again.streams["users"]["record_count"] == 100
    assert all(len(table_ids(pg_url, pg_schema, s)) == 100 for s in STREAMS)


def test_a_bad_config_is_a_permanent_global_error_naming_the_connector(faker, tmp_path, pg_url, pg_schema):
    result = faker_sync(faker, tmp_path, pg_url, pg_schema, config={"count": "abc"})
    assert result.code == 1 and result.eof["status"] == "failed"
    assert "cannot list the source's streams" in result.stderr and "source-faker" in result.stderr
    assert result.errors()[-1]["code"] == "invalid_config"
    assert "'abc' is not of type 'integer'" in result.stderr


def test_engine_check_with_foreign_connectors(faker, tmp_path):
    target = bin_dir(TARGET_JSONL) / "target-jsonl"

    good = subprocess.run([sys.executable, "-m", "engine", "check", "--source", str(faker),
                           "--source-protocol", "airbyte", "--source-config", json.dumps(CONFIG),
                           "--destination", str(target), "--destination-protocol", "singer",
                           "--destination-config", "{}"],
                          capture_output=True, cwd=tmp_path, env=child_env(), timeout=120)
    assert good.returncode == 0, good.stderr
    assert "source: OK - the airbyte source 'source-faker': SUCCEEDED" in good.stderr.decode()
    assert "not checked (Singer targets have no check command)" in good.stderr.decode()
