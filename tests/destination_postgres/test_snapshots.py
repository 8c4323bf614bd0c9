"""Snapshots, delete candidates, `candidates`, `write --verify` / `--repair` against a real PostgreSQL."""
from __future__ import annotations

from protocol import messages
from protocol import snapshot as snap
from protocol.jsonio import dumps
from tests.destination_postgres.helpers import T0, catalog, rec, run_cli, state, table, write

PROPS = {"id": {"type": "string"}, "name": {"type": ["string", "null"]},
         "created": {"type": "integer", "format": "unix-time"}}
SCOPE = snap.range_scope("created", [(T0, T0 + 100)]).to_wire()


def cus(n: int, **extra) -> dict:
    return {"id": f"cus_{n}", "name": f"n{n}", "created": T0 + n, **extra}


def begin(snapshot_id: str, scope: dict = SCOPE, stream: str = "customers") -> dict:
    return messages.snapshot(stream, snap.BEGIN, snapshot_id, scope)


def end(snapshot_id: str, stream: str = "customers") -> dict:
    return messages.snapshot(stream, snap.END, snapshot_id)


def traces(run, kind: str) -> list[dict]:
    return [t[kind] for t in run.of_type("trace") if t["trace_type"] == kind]


def candidate_ids(run, snapshot_id: str | None = None) -> list[str]:
    return [i for t in traces(run, "candidates") for i in t["ids"]
            if snapshot_id is None or t.get("snapshot_id") == snapshot_id]


def seed(dst_config) -> None:
    first = write(dst_config, [catalog(customers=PROPS), *(rec("customers", cus(n)) for n in range(1, 7)),
                               rec("customers", cus(7, created=T0 + 500)),  # outside the scope
                               rec("customers", {"id": "cus_6"}, T0 + 1, deleted=True),  # already gone
                               state("customers", {"n": 0})])
    assert first.exit_code == 0, first.stderr


def test_live_rows_a_snapshot_did_not_see_become_candidates_until_a_record_answers(dst_config, db):
    seed(dst_config)
    run = write(dst_config, [catalog(customers=PROPS), begin("s1"), rec("customers", cus(1), T0 + 10),
                             rec("customers", cus(2, name="renamed"), T0 + 10),
                             rec("customers", {"id": "cus_4"}, T0 + 10, deleted=True),
                             state("customers", {"n": 1}), end("s1"), state("customers", {"n": 2})])
    assert run.exit_code == 0, run.stderr
    assert candidate_ids(run) == ["cus_3", "cus_5"]  # not cus_7 (outside), not cus_6 (a tombstone)
    [swept] = traces(run, "snapshot")
    assert swept == {"stream": "customers", "phase": "swept", "id": "s1", "seen": 3, "candidate_count": 2}
    rows = {r["id"]: r for r in table(db, dst_config["schema"], "customers")}
    assert rows["cus_3"]["_deleted_at"] is None  # a candidate is never tombstoned by the destination
    listed = run_cli(["candidates", "--config", dumps(dst_config).decode()])
    assert listed.exit_code == 0 and listed.out == [{"stream": "customers", "id": "cus_3"},
                                                    {"stream": "customers", "id": "cus_5"}]
    again = write(dst_config, [catalog(customers=PROPS), end("s1")])  # pending at the start; a replayed end
    assert candidate_ids(again) == ["cus_3", "cus_5", "cus_3", "cus_5"]
    assert traces(again, "snapshot")[0]["candidate_count"] == 2
    answered = write(dst_config, [catalog(customers=PROPS), rec("customers", {"id": "cus_3"}, T0 + 20,
                                                                  deleted=True),
                                  rec("customers", cus(5), T0 + 20)])  # gone, and still there
    assert answered.exit_code == 0
    assert run_cli(["candidates", "--config", dumps(dst_config).decode()]).out == []
    rows = {r["id"]: r for r in table(db, dst_config["schema"], "customers")}
    assert rows["cus_3"]["_deleted_at"] == T0 + 20 and rows["cus_5"]["_deleted_at"] is None


def test_a_snapshot_resumes_across_writes_and_ignores_what_it_cannot_evaluate(dst_config):
    seed(dst_config)
    first = write(dst_config, [catalog(customers=PROPS), begin("s2"), rec("customers", cus(1), T0 + 10),
                               state("customers", {"n": 1})])  # the input ends: a crash
    assert first.exit_code == 0 and not traces(first, "snapshot")
    rest = write(dst_config, [catalog(customers=PROPS), begin("s2"),
                              *(rec("customers", cus(n), T0 + 10) for n in (2, 3, 4)), end("s2")])
    assert candidate_ids(rest) == ["cus_5"]  # cus_1 was seen by the first write
    whole = write(dst_config, [catalog(customers=PROPS), begin("s3", snap.stream_scope().to_wire()),
                               *(rec("customers", cus(n), T0 + 30) for n in (1, 2, 3, 4, 5)), end("s3")])
    assert candidate_ids(whole) == ["cus_5", "cus_7"]  # cus_5: pending at the start (then answered)
    assert candidate_ids(whole, "s3") == ["cus_7"]
    parent = write(dst_config, [catalog(customers=PROPS), begin("s4", snap.parent_scope("x", "y").to_wire()),
                                end("s4"), begin("s5", {"kind": "galaxy"}), end("s5")])
    assert [t["phase"] for t in traces(parent, "snapshot")] == ["ignored", "ignored"]
    assert candidate_ids(parent) == ["cus_7"]  # only the pending one, reported again


def test_verify_classifies_and_writes_nothing_and_repair_fixes(dst_config, db):
    seed(dst_config)
    schema = dst_config["schema"]
    with db.cursor() as cur:
        cur.execute(f'DELETE FROM "{schema}"."customers" WHERE id = \'cus_1\'')
        cur.execute(f'UPDATE "{schema}"."customers" SET _raw_data = _raw_data || \'{{"name": "x"}}\' '
                    "WHERE id = 'cus_2'")
    listing = [catalog(customers=PROPS), begin("v1"), *(rec("customers", cus(n), T0 + 50) for n in (1, 2, 3)),
               state("customers", {"must": "not be stored"}), end("v1")]
    before = table(db, schema, "customers")
    run = write(dst_config, listing, "--verify")
    assert run.exit_code == 0, run.stderr
    assert candidate_ids(run) == ["cus_4", "cus_5"] and not run.states()
    confirm = [rec("customers", {"id": "cus_4"}, T0 + 60, deleted=True), rec("customers", cus(5), T0 + 60)]
    run = write(dst_config, listing + confirm, "--verify")
    [report] = traces(run, "verify")
    assert report == {"stream": "customers", "mode": "verify", "checked": 5, "missing": 1, "stale": 1,
                      "extra": 1, "examples": {"missing": ["cus_1"], "stale": ["cus_2"], "extra": ["cus_4"]}}
    assert table(db, schema, "customers") == before
    repair = write(dst_config, listing + confirm, "--repair")
    assert traces(repair, "verify")[0]["mode"] == "repair" and not repair.states()
    after = write(dst_config, listing + confirm, "--verify")
    assert traces(after, "verify")[0] | {"examples": None} == {
        "stream": "customers", "mode": "verify", "checked": 5, "missing": 0, "stale": 0, "extra": 0,
        "examples": None}
    state_cmd = run_cli(["state", "--config", dumps(dst_config).decode()])
    assert state_cmd.out[0]["streams"] == {"customers": {"n": 0}}  # states never written by either mode


LINE = {"id": {"type": "string"}, "invoice": {"type": ["string"]}, "amount": {"type": ["integer"]}}


def line_catalog() -> dict:
    return messages.catalog([messages.catalog_stream(
        "invoice_line_items", {"type": "object", "properties": LINE},
        metadata={"parent": {"stream": "invoices", "field": "invoice"}})])


def parent_snapshot(invoice: str, lines: list[str], as_of: int) -> list[dict]:
    sid = f"invoice_line_items:{invoice}@{as_of}"
    return [messages.snapshot("invoice_line_items", snap.BEGIN, sid,
                              snap.parent_scope("invoices", invoice, "invoice").to_wire()),
            *(rec("invoice_line_items", {"id": i, "invoice": invoice, "amount": 1}, as_of) for i in lines),
            messages.snapshot("invoice_line_items", snap.END, sid, as_of=as_of)]


def test_a_parent_snapshot_tombstones_that_parents_children_it_did_not_receive(dst_config, db):
    schema = dst_config["schema"]
    first = write(dst_config, [line_catalog(), *parent_snapshot("in_1", ["il_1", "il_2", "il_3"], T0),
                               *parent_snapshot("in_2", ["il_4"], T0), state("invoices", {"n": 1})])
    assert first.exit_code == 0, first.stderr
    assert [(t["id"], t["seen"], t["deleted"]) for t in traces(first, "snapshot")] == [
        (f"invoice_line_items:in_1@{T0}", 3, 0), (f"invoice_line_items:in_2@{T0}", 1, 0)]
    newer = rec("invoice_line_items", {"id": "il_9", "invoice": "in_1", "amount": 2}, T0 + 50)  # an event's
    # in_1 again at T0 + 10, without il_2 and il_3, interleaved with in_2's markers (which it ignores)
    again = parent_snapshot("in_1", ["il_1"], T0 + 10)
    second = write(dst_config, [line_catalog(), newer, again[0], *parent_snapshot("in_2", ["il_4"], T0 + 10),
                                *again[1:], state("invoices", {"n": 2})])
    assert second.exit_code == 0, second.stderr
    rows = {r["id"]: r for r in table(db, schema, "invoice_line_items")}
    assert {i for i, r in rows.items() if r["_deleted_at"] is not None} == {"il_2", "il_3"}
    assert rows["il_2"]["_deleted_at"] == rows["il_2"]["_updated_at"] == T0 + 10
    assert rows["il_9"]["_deleted_at"] is None  # newer than the snapshot's as_of: kept
    assert [t["deleted"] for t in traces(second, "snapshot")] == [0, 2]
    empty = write(dst_config, [line_catalog(), *parent_snapshot("in_2", [], T0 + 20)])  # in_2 deleted
    assert empty.exit_code == 0 and traces(empty, "snapshot")[0]["deleted"] == 1
    with db.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                    (schema, "invoice_line_items"))
        assert any("(invoice)" in r[0] for r in cur.fetchall())
    verify = write(dst_config, [line_catalog(), *parent_snapshot("in_1", [], T0 + 30)], "--verify")
    assert [t["phase"] for t in traces(verify, "snapshot")] == ["ignored"]
