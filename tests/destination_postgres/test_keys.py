"""Primary keys from the catalog (docs/destination-postgres.md, "Keys"): a composite key keeps objects of
the same id apart (one table for many Connect accounts), in upserts, tombstones, hard deletes, snapshots,
candidates and verify; a table made before (keyed by `id`, by main at 87e3fca: fixtures/) is migrated
explicitly with a logged note, or refused with a clear error, never silently."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from protocol import messages
from protocol import snapshot as snap
from protocol.jsonio import dumps
from tests.destination_postgres.helpers import T0, rec, run_cli, state, write
from throwaway_postgres.cluster import _pg_bin

KEY = [["_account_id"], ["id"]]
PROPS = {"id": {"type": "string"}, "_account_id": {"type": "string"}, "email": {"type": ["string", "null"]},
         "created": {"type": "integer"}}
FIXTURE = Path(__file__).parent / "fixtures" / "single_account_schema.sql"
PLATFORM = "acct_1Platform"  # the account of the fixture's state


def catalog(primary_key=KEY, defaults: dict | None = None, streams=("customers",)) -> dict:
    entries = []
    for name in streams:
        entry = messages.catalog_stream(name, {"type": "object", "properties": PROPS},
                                        primary_key=primary_key)
        if defaults:
            entry["primary_key_defaults"] = defaults
        entries.append(entry)
    return messages.catalog(entries)


def cus(acct: str, n: int, **extra) -> dict:
    return {"id": f"cus_{n}", "_account_id": acct, "email": f"{acct}-{n}@x", "created": T0 + n, **extra}


def rows(db, schema: str, table: str = "customers") -> dict[tuple, dict]:
    with db.cursor() as cur:
        cur.execute(f'SELECT _account_id, id, email, _raw_data, _deleted_at FROM "{schema}"."{table}"')
        return {(a, i): {"email": e, "raw": r, "deleted": d} for a, i, e, r, d in cur.fetchall()}


def primary_key(db, schema: str, table: str) -> list[str]:
    with db.cursor() as cur:
        cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
                    "a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                    "ORDER BY array_position(i.indkey::int2[], a.attnum)", (f'"{schema}"."{table}"',))
        return [r[0] for r in cur.fetchall()]


def traces(run, kind: str) -> list[dict]:
    return [t[kind] for t in run.of_type("trace") if t["trace_type"] == kind]


def test_the_same_id_in_two_accounts_is_two_rows_in_every_rule(dst_config, db):
    schema = dst_config["schema"]
    both = [rec("customers", cus(a, n)) for n in (1, 2) for a in ("acct_a", "acct_b")]
    run = write(dst_config, [catalog(), *both,
                             rec("customers", {"id": "cus_2", "_account_id": "acct_a"}, T0 + 5, deleted=True),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    assert primary_key(db, schema, "customers") == ["_account_id", "id"]
    got = rows(db, schema)
    assert set(got) == {("acct_a", "cus_1"), ("acct_b", "cus_1"), ("acct_a", "cus_2"), ("acct_b", "cus_2")}
    assert got[("acct_a", "cus_2")]["deleted"] == T0 + 5 and got[("acct_b", "cus_2")]["deleted"] is None
    assert got[("acct_a", "cus_2")]["email"] == "acct_a-2@x"  # merged over its own account's row
    assert got[("acct_b", "cus_1")]["raw"] == cus("acct_b", 1)

    # a snapshot of acct_a's part: acct_b's rows are never its candidates; candidates carry the whole key
    scope = snap.range_scope("created", [(T0, T0 + 100)], {"_account_id": "acct_a"}).to_wire()
    other = snap.stream_scope({"_account_id": "acct_b"}).to_wire()
    run = write(dst_config, [catalog(), messages.snapshot("customers", snap.BEGIN, "sa", scope),
                             messages.snapshot("customers", snap.BEGIN, "sb", other),
                             rec("customers", cus("acct_b", 1), T0 + 6),
                             rec("customers", cus("acct_b", 2), T0 + 6),
                             rec("customers", cus("acct_a", 9), T0 + 6),
                             messages.snapshot("customers", snap.END, "sa"),
                             messages.snapshot("customers", snap.END, "sb"), state("customers", {"n": 2})])
    assert run.exit_code == 0, run.stderr
    [cands] = traces(run, "candidates")
    assert cands["ids"] == ["cus_1"] and cands["keys"] == [{"_account_id": "acct_a", "id": "cus_1"}]
    swept = {s["id"]: (s["seen"], s["candidate_count"]) for s in traces(run, "snapshot")}
    assert swept == {"sa": (1, 1), "sb": (2, 0)}
    listed = run_cli(["candidates", "--config", dumps(dst_config).decode()])
    assert listed.out == [{"stream": "customers", "id": "cus_1", "_account_id": "acct_a"}]
    answer = write(dst_config, [catalog(), rec("customers", {"id": "cus_1", "_account_id": "acct_a"}, T0 + 7,
                                               deleted=True), state("customers", {"n": 3})])
    assert answer.exit_code == 0
    assert run_cli(["candidates", "--config", dumps(dst_config).decode()]).out == []
    got = rows(db, schema)
    assert got[("acct_a", "cus_1")]["deleted"] == T0 + 7 and got[("acct_b", "cus_1")]["deleted"] is None

    # verify compares each account's row with its own account's version
    check = write(dst_config, [catalog(), rec("customers", cus("acct_b", 1), T0 + 8),
                               rec("customers", cus("acct_b", 2, email="changed"), T0 + 8)], "--verify")
    [report] = traces(check, "verify")
    assert (report["checked"], report["stale"]) == (2, 1)


def test_key_fields_outside_the_object_fill_their_column_but_not_raw_data(dst_config, db):
    """A record's `keys` (docs/protocol.md): source-stripe's `_account_id` is part of the key, not of the
    object Stripe returned, so `_raw_data` stays that object."""
    obj = {"id": "cus_1", "email": "e@x", "created": T0}
    keyed = [messages.record("customers", obj, emitted_at=T0 * 1000, updated_at=T0, keys={"_account_id": a})
             for a in ("acct_a", "acct_b")]
    tomb = messages.record("customers", {"id": "cus_1"}, emitted_at=T0 * 1000, updated_at=T0 + 1,
                           deleted=True, keys={"_account_id": "acct_b"})
    run = write(dst_config, [catalog(), *keyed, tomb, state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    got = rows(db, dst_config["schema"])
    assert got[("acct_a", "cus_1")] == {"email": "e@x", "raw": obj, "deleted": None}
    assert got[("acct_b", "cus_1")] == {"email": "e@x", "raw": obj, "deleted": T0 + 1}
    # a tombstone merged over the stored row (not in the batch): the key column stays
    later = messages.record("customers", {"id": "cus_1"}, emitted_at=T0 * 1000, updated_at=T0 + 2,
                            deleted=True, keys={"_account_id": "acct_a"})
    assert write(dst_config, [catalog(), later, state("customers", {"n": 2})]).exit_code == 0
    assert rows(db, dst_config["schema"])[("acct_a", "cus_1")] == \
        {"email": "e@x", "raw": obj, "deleted": T0 + 2}


def test_hard_delete_with_a_composite_key_deletes_only_that_account_s_row(dst_config, db):
    config = {**dst_config, "hard_delete": True}
    run = write(config, [catalog(), rec("customers", cus("acct_a", 1)), rec("customers", cus("acct_b", 1)),
                         state("customers", {"n": 1}),
                         rec("customers", {"id": "cus_1", "_account_id": "acct_a"}, T0 + 5, deleted=True),
                         state("customers", {"n": 2}),
                         rec("customers", cus("acct_a", 1), T0 + 1),  # an older page: not resurrected
                         state("customers", {"n": 3})])
    assert run.exit_code == 0, run.stderr
    assert set(rows(db, dst_config["schema"])) == {("acct_b", "cus_1")}


def test_a_record_without_its_key_field_is_a_stream_error(dst_config):
    run = write(dst_config, [catalog(), rec("customers", {"id": "cus_1"}), state("customers", {"n": 1})])
    [error] = run.errors()
    assert "has no string or integer '_account_id' (part of the primary key (_account_id, id))" in \
        error["message"]
    assert run.states() == []


def test_a_bad_primary_key_is_refused_with_its_reason(dst_config):
    run = write(dst_config, [catalog(primary_key=[["metadata", "x"]]), state(None, {"n": 1})])
    assert "primary_key path ['metadata', 'x'] is not a top-level property" in run.errors()[0]["message"]


def load_fixture(url: str, schema: str) -> None:
    sql = FIXTURE.read_text().replace("stripe_live", f"{schema}_live").replace("stripe.", f"{schema}.") \
        .replace("SCHEMA stripe;", f"SCHEMA {schema};")
    done = subprocess.run([_pg_bin("psql"), "-v", "ON_ERROR_STOP=1", "-q", "-d", url], input=sql.encode(),
                          capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


@pytest.fixture
def old_schema(dst_config, pg_url):
    load_fixture(pg_url, dst_config["schema"])
    return dst_config


def test_a_table_keyed_by_id_is_migrated_to_the_catalog_s_key_with_a_logged_note(old_schema, db):
    schema = old_schema["schema"]
    before = run_cli(["state", "--config", dumps(old_schema).decode()]).out
    assert primary_key(db, schema, "customers") == ["id"]
    run = write(old_schema, [catalog(defaults={"_account_id": PLATFORM}, streams=("customers", "products")),
                             rec("customers", cus("acct_other", 0)), state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    notes = [m["message"] for m in run.of_type("log") if "migrated table" in m["message"]]
    assert notes.pop(0) == (f"migrated table {schema}._sync_state: states may have a partition (a column "
                            "part, '' for the existing rows)")
    given = f"rows without a value got _account_id = '{PLATFORM}'"
    change = "primary key (id) -> (_account_id, id)"
    assert notes == [f"migrated table {schema}.customers: {change} (5 rows; {given})",
                     f"migrated table {schema}.products: {change} (1 rows; {given})"]
    assert primary_key(db, schema, "customers") == ["_account_id", "id"]
    got = rows(db, schema)
    assert len(got) == 6 and got[("acct_other", "cus_0")]["email"] == "acct_other-0@x"
    old = got[(PLATFORM, "cus_0")]
    assert old["email"] == "c0@x" and old["raw"] == {"id": "cus_0", "email": "c0@x", "created": T0}
    assert got[(PLATFORM, "cus_4")]["deleted"] is not None
    # the pending candidate follows its row; the checkpoints are untouched
    assert traces(run, "candidates")[0]["keys"] == [{"_account_id": PLATFORM, "id": "cus_3"}]
    after = run_cli(["state", "--config", dumps(old_schema).decode()]).out
    assert after[0]["streams"]["products"] == before[0]["streams"]["products"]
    # a second run has nothing to migrate
    again = write(old_schema, [catalog(defaults={"_account_id": PLATFORM}), state("customers", {"n": 2})])
    assert not [m for m in again.of_type("log") if "migrated" in m["message"]]


def test_a_migration_without_values_for_the_new_key_is_refused_and_changes_nothing(old_schema, db):
    schema = old_schema["schema"]
    run = write(old_schema, [catalog(), rec("customers", cus("acct_a", 1)), state("customers", {"n": 1})])
    messages_ = [e["message"] for e in run.errors()]
    refused = (f"table {schema}.customers is keyed by (id), the catalog asks for (_account_id, id): 5 stored "
               "rows have no _account_id and the catalog gives no primary_key_defaults")
    assert any(refused in m for m in messages_)
    assert primary_key(db, schema, "customers") == ["id"]
    assert run.states() == []
