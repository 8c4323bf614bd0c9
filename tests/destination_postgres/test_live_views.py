"""The live views (`<schema>_live`, docs/destination-postgres.md): the rows not deleted, Unix-seconds
columns as timestamptz, the tables unchanged; a later catalog adds columns to the view too; a view that
cannot be made is a warning, never a failed write; `live_views: false` makes none."""
from __future__ import annotations

from datetime import UTC, datetime

from destination_postgres import ddl
from tests.destination_postgres.helpers import T0, catalog, rec, state, write

PROPS = {"id": {"type": "string"}, "email": {"type": ["string", "null"]},
         "created": {"type": "integer", "format": "unix-time"}, "balance": {"type": "integer"}}


def columns(db, schema: str, relation: str) -> dict[str, str]:
    with db.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position", (schema, relation))
        return dict(cur.fetchall())


def test_live_view_has_live_rows_with_real_timestamps_and_follows_new_columns(dst_config, db):
    schema = dst_config["schema"]
    first = {"id": "cus_1", "email": "a@x", "created": T0, "balance": 3}
    run = write(dst_config, [catalog(customers=PROPS), rec("customers", first, T0 + 5),
                             rec("customers", {"id": "cus_2", "email": "b@x", "created": T0 + 1}),
                             rec("customers", {"id": "cus_2"}, T0 + 9, deleted=True),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    assert columns(db, schema, "customers")["created"] == "bigint"  # the table keeps its types
    stamp = "timestamp with time zone"
    assert columns(db, f"{schema}_live", "customers") == {
        "id": "text", "email": "text", "created": stamp, "balance": "bigint", "_raw_data": "jsonb",
        "_updated_at": stamp, "_synced_at": stamp}
    with db.cursor() as cur:
        cur.execute(f'SELECT id, created, _updated_at FROM "{schema}_live".customers')
        assert cur.fetchall() == [("cus_1", datetime.fromtimestamp(T0, UTC),
                                   datetime.fromtimestamp(T0 + 5, UTC))]
    # a later catalog with a new property (and without the unix-time format): the view gains the column and
    # keeps `created` a timestamp
    wider = {**PROPS, "created": {"type": "integer"}, "phone": {"type": "string"}}
    again = write(dst_config, [catalog(customers=wider),
                               rec("customers", {"id": "cus_3", "phone": "1"}, T0 + 20)])
    assert again.exit_code == 0, again.stderr
    assert list(columns(db, f"{schema}_live", "customers"))[-1] == "phone"
    assert columns(db, f"{schema}_live", "customers")["created"] == stamp


def test_a_view_that_cannot_be_made_is_a_warning_and_live_views_false_makes_none(dst_config, db):
    schema = dst_config["schema"]
    with db.cursor() as cur:  # someone else's table where the view would go
        cur.execute(f'CREATE SCHEMA "{schema}_live"; CREATE TABLE "{schema}_live".customers (x int)')
    run = write(dst_config, [catalog(customers=PROPS, charges={"id": {"type": "string"}}),
                             rec("customers", {"id": "cus_1"}), rec("charges", {"id": "ch_1"}),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0 and run.states(), run.stderr
    [warning] = [m for m in run.of_type("log") if "live view" in m["message"]]
    assert f"live view {schema}_live.customers not updated" in warning["message"]
    assert "live_views" in warning["message"]
    assert "id" in columns(db, f"{schema}_live", "charges")
    off = {**dst_config, "schema": schema + "_off", "live_views": False}
    try:
        assert write(off, [catalog(customers=PROPS), rec("customers", {"id": "cus_1"})]).exit_code == 0
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema + "_off_live",))
            assert cur.fetchone()[0] == 0
    finally:
        db.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}_off" CASCADE')


def test_live_view_sql():
    table = {"id": "text", "created": "bigint", "n": "bigint", "_raw_data": "jsonb", "_updated_at": "bigint",
             "_synced_at": "timestamp with time zone", "_deleted_at": "bigint"}
    sql = ddl.live_view("s", "s_live", "t", table, {"created", "id"})
    assert sql == ('CREATE OR REPLACE VIEW "s_live"."t" AS SELECT t."id", '
                   'to_timestamp(t."created") AS "created", t."n", t."_raw_data", '
                   'to_timestamp(t."_updated_at") AS "_updated_at", t."_synced_at" '
                   'FROM "s"."t" t WHERE t."_deleted_at" IS NULL')
