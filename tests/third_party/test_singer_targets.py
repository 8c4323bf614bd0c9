"""Our source-stripe against the emulator into Singer targets from PyPI, `target-jsonl` 0.1.4 and
`target-duckdb` 0.8.0, through `engine sync --destination-protocol singer`: every object present, a state
confirmed only once the target printed it, deletes as the Singer convention (`_sdc_deleted_at`), and
the next run resuming from the confirmed state."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.third_party.conftest import bin_dir, engine_sync, wrapper
from tests.third_party.connectors import TARGET_DUCKDB, TARGET_JSONL

STREAMS = ["customers", "products", "charges"]


def stripe_sync(emulator, tmp_path: Path, target: Path, config: dict, *extra: str):
    return engine_sync(tmp_path, "--source", f"{sys.executable} -m source_stripe",
                       "--source-config", json.dumps({"api_key": emulator.api_key, "base_url": emulator.url,
                                                      "max_requests_per_second": 1000}),
                       "--streams", ",".join(STREAMS), "--destination", str(target),
                       "--destination-protocol", "singer", "--destination-config", json.dumps(config), *extra)


def live_ids(emulator, stream: str) -> set[str]:
    return {o["id"] for o in emulator.dump(stream)["objects"]}


def printed_by_target(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def tee(tmp_path: Path, target: Path) -> tuple[Path, Path]:
    """The target with its stdout (the state values it prints) copied to a file."""
    out = tmp_path / "target-stdout.jsonl"
    script = tmp_path / "bin" / target.name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/bin/bash\nset -o pipefail\n{target} \"$@\" | tee -a {out}\n")
    script.chmod(0o755)
    return script, out


def test_source_stripe_into_target_jsonl(emulator, tmp_path):
    target, printed = tee(tmp_path, bin_dir(TARGET_JSONL) / "target-jsonl")
    out_dir = tmp_path / "out"
    config = {"destination_path": str(out_dir), "do_timestamp_file": False}
    first = stripe_sync(emulator, tmp_path, target, config)
    assert first.code == 0, first.stderr
    assert first.eof["status"] == "succeeded"
    for stream in STREAMS:
        rows = [json.loads(line) for line in (out_dir / f"{stream}.jsonl").read_text().splitlines()]
        assert {r["id"] for r in rows} == live_ids(emulator, stream) and len(rows) == len(live_ids(emulator,
                                                                                                   stream))
    # target-jsonl prints one state, at the end of its input: nothing was confirmed before it did
    [value] = printed_by_target(printed)
    assert all(p.get("confirmed_state_count", 0) == 0 for p in first.progress())
    assert first.eof["progress"]["confirmed_state_count"] > 0
    confirmed = json.loads((tmp_path / "state.json").read_text())
    assert confirmed == first.eof["state"]
    assert confirmed == {"streams": value["bookmarks"], "global": value["global"]}
    assert set(confirmed["streams"]) == set(STREAMS) and confirmed["global"]["account"]["id"]

    # a delete and an update, then the next run resumes from the confirmed state: only the changes come
    customer = sorted(live_ids(emulator, "customers"))[0]
    product = sorted(live_ids(emulator, "products"))[0]
    emulator.delete("customers", customer)
    emulator.update("products", product, name="Renamed")
    second = stripe_sync(emulator, tmp_path, target, config)
    assert second.code == 0, second.stderr
    assert second.eof["progress"]["record_count"] == 2
    appended = {s: [json.loads(line) for line in (out_dir / f"{s}.jsonl").read_text().splitlines()]
                for s in ("customers", "products")}
    assert appended["customers"][-1]["id"] == customer and appended["customers"][-1]["_sdc_deleted_at"]
    assert appended["products"][-1]["id"] == product and appended["products"][-1]["name"] == "Renamed"
    assert "_sdc_deleted_at" not in appended["products"][-1]


def duckdb_rows(target_bin: Path, db: Path, stream: str) -> dict[str, dict]:
    """{id: row} of a target-duckdb table, read with the duckdb of the target's own virtualenv."""
    script = ("import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
              f"cur = c.execute('select * from stripe.{stream}'); names = [d[0] for d in cur.description]; "
              "print(json.dumps([dict(zip(names, r)) for r in cur.fetchall()], default=str))")
    out = subprocess.run([str(target_bin / "python"), "-c", script, str(db)], capture_output=True, check=True)
    return {r["id"]: r for r in json.loads(out.stdout)}


@pytest.mark.parametrize("batch", [7, 100_000])
def test_source_stripe_into_target_duckdb(batch, emulator, tmp_path):
    target_bin = bin_dir(TARGET_DUCKDB)
    target, printed = tee(tmp_path, target_bin / "target-duckdb")
    db = tmp_path / "target.duckdb"
    config = {"path": str(db), "default_target_schema": "stripe", "flush_all_streams": True,
              "hard_delete": True, "batch_size_rows": batch}
    first = stripe_sync(emulator, tmp_path, target, config)
    assert first.code == 0, first.stderr
    for stream in STREAMS:
        rows = duckdb_rows(target_bin, db, stream)
        assert set(rows) == live_ids(emulator, stream), stream
    # what is confirmed is what the target printed: the last value it printed, nothing later
    values = printed_by_target(printed)
    assert values
    assert first.eof["state"] == {"streams": values[-1]["bookmarks"], "global": values[-1]["global"]}
    if batch == 7:  # it printed states after its batch flushes, while the run went on
        assert len({v["stripe_sync"]["seq"] for v in values}) > 1

    customer = sorted(live_ids(emulator, "customers"))[0]
    emulator.delete("customers", customer)
    second = stripe_sync(emulator, tmp_path, target, config)
    assert second.code == 0, second.stderr
    assert customer not in duckdb_rows(target_bin, db, "customers")  # hard_delete acts on _sdc_deleted_at
    assert set(duckdb_rows(target_bin, db, "customers")) == live_ids(emulator, "customers")


def test_a_target_that_prints_no_state_confirms_nothing(emulator, tmp_path):
    silent = wrapper(tmp_path / "bin" / "target-silent", ["sh", "-c", "cat > /dev/null", "target-silent"])
    result = stripe_sync(emulator, tmp_path, silent, {})
    assert result.code == 0, result.stderr
    assert "'target-silent' exited 0 without printing its last" in result.stderr
    assert result.eof["state"] == {"streams": {}, "global": None}
    assert result.eof["progress"]["confirmed_state_count"] == 0
    assert not (tmp_path / "state.json").exists()


def test_a_target_that_fails_is_named_and_confirms_nothing(emulator, tmp_path):
    # target-duckdb without its required schema setting exits 1 ("Invalid configuration")
    result = stripe_sync(emulator, tmp_path, bin_dir(TARGET_DUCKDB) / "target-duckdb",
                         {"path": str(tmp_path / "x.duckdb")})
    assert result.code == 1 and result.eof["status"] == "failed"
    final = result.errors()[-1]
    assert "the singer destination 'target-duckdb' exited with code 1" in final["message"], final
    assert "Confirmed state covers: none" in final["message"]
    assert result.eof["state"] == {"streams": {}, "global": None}
