"""SQL builders, checked as strings (no connection)."""
from destination_postgres import keys
from destination_postgres.keys import DEFAULT
from destination_postgres import ddl
from destination_postgres.ddl import Column

SCHEMA = {"properties": {"id": {"type": "string"}, "email": {"type": ["string", "null"]},
                         "amount": {"type": "integer"}, "metadata": {"type": "object"},
                         "_raw_data": {"type": "string"}, "paid": {"type": "boolean"}}}


def test_plan_columns_skips_reserved_and_nested():
    email, amount, paid = Column("email", "text", "email"), Column("amount", "bigint", "amount"), \
        Column("paid", "boolean", "paid")
    assert ddl.plan_columns(SCHEMA) == [email, amount, paid]


def test_schema_evolution_only_adds():
    wanted = ddl.plan_columns(SCHEMA)
    existing = {"id": "text", "email": "text", "amount": "text", "old": "bigint", "_raw_data": "jsonb",
                "_updated_at": "bigint", "_synced_at": "timestamp with time zone", "_deleted_at": "bigint"}
    assert ddl.columns_to_add(wanted, existing) == [Column("paid", "boolean", "paid")]
    # `amount` keeps its existing type (text); `old`, gone from the schema, is still filled
    assert ddl.filled_columns(wanted, existing) == [
        Column("email", "text", "email"), Column("amount", "text", "amount"), Column("old", "bigint", "old")]
    assert ddl.missing_reserved(existing) == []
    assert ddl.missing_reserved({"id": "text"}) == ["_raw_data", "_updated_at", "_synced_at", "_deleted_at"]
    assert ddl.alter_table("s", "t", []) is None
    assert ddl.alter_table("s", "t", [Column("paid", "boolean", "paid")]) == \
        'ALTER TABLE "s"."t" ADD COLUMN IF NOT EXISTS "paid" boolean'
    assert "DROP" not in ddl.alter_table("s", "t", wanted).upper()


def test_create_table_quotes_hostile_names():
    sql = ddl.create_table("stripe", 'x"; drop table y; --', [Column('a"b', "text", 'a"b')], DEFAULT)
    assert sql.startswith('CREATE TABLE IF NOT EXISTS "stripe"."x""; drop table y; --" '
                          '("id" text NOT NULL, "a""b" text, "_raw_data" jsonb NOT NULL')
    assert sql.endswith('PRIMARY KEY ("id"))')
    composite = ddl.create_table("s", "t", [Column("_account_id", "text", "_account_id")],
                                 keys.from_fields(["_account_id", "id"]))
    assert composite.endswith('PRIMARY KEY ("_account_id", "id"))')


def test_upsert_guard_and_tombstone_merge():
    sql = ddl.upsert("s", "charges", "_sync_stage_0", [Column("amount", "bigint", "amount")], DEFAULT)
    assert 'INSERT INTO "s"."charges" AS t ("id", "amount", "_raw_data"' in sql
    assert 'SELECT s."id", s."amount", s."_raw_data", s."_updated_at", now(), s."_deleted_at" FROM ' \
           'pg_temp."_sync_stage_0" s ON CONFLICT' in sql
    assert 'ON CONFLICT ("id") DO UPDATE' in sql
    assert 'WHERE (t."_updated_at" < excluded."_updated_at" OR (t."_updated_at" = excluded."_updated_at" ' \
           'AND t."_deleted_at" IS NULL' in sql
    assert '(t."_raw_data" || excluded."_raw_data")' in sql
    assert "_sync_deleted" not in sql
    hard = ddl.upsert("s", "charges", "_sync_stage_0", [], DEFAULT, stream="it's")
    assert 's."_deleted_at" IS NULL AND NOT EXISTS' in hard and "d.stream = E'it''s'" in hard


def test_hard_delete_remembers_tombstones():
    sql = ddl.hard_delete("s", "charges", "_sync_stage_0", "charges", DEFAULT)
    assert 'INSERT INTO "s"."_sync_deleted" AS d' in sql and 'DELETE FROM "s"."charges" t' in sql
    assert 't."_updated_at" <= tomb.upd' in sql


def test_stage_matches_the_copy_line_layout():
    columns = [Column("amount", "bigint", "amount"), Column("paid", "boolean", "paid")]
    assert ddl.create_stage("_sync_stage_1", columns) == (
        'CREATE TEMPORARY TABLE IF NOT EXISTS "_sync_stage_1" ("id" text NOT NULL, '
        '"_updated_at" bigint NOT NULL, "_deleted_at" bigint, "amount" bigint, "paid" boolean, '
        '"_raw_data" jsonb NOT NULL)')
    assert ddl.copy_stage("_sync_stage_1", columns) == (
        'COPY pg_temp."_sync_stage_1" ("id", "_updated_at", "_deleted_at", "amount", "paid", "_raw_data") '
        'FROM STDIN')


def test_state_row_is_written_with_literals():
    sql = ddl.save_state("s", "stream", "cus'%s", "acct_1", '{"a": "b"}')
    assert "(E'stream', E'cus''%s', E'acct_1', E'{\"a\": \"b\"}'::jsonb, now())" in sql
