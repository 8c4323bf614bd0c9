"""`destination-postgres write` against a real PostgreSQL: versions, tombstones, schema changes, errors."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from protocol.jsonio import dumps
from tests.destination_postgres.helpers import T0, catalog, rec, run_cli, state, table, write

PROPS = {"id": {"type": "string"}, "email": {"type": ["string", "null"]}, "balance": {"type": "integer"},
         "created": {"type": "integer", "format": "unix-time"}, "metadata": {"type": "object"},
         "default_source": {"type": ["string", "object", "null"]}}


def cus(n: int, **extra) -> dict:
    return {"id": f"cus_{n}", "email": f"c{n}@example.com", "balance": n, "created": T0 + n, "metadata": {},
            **extra}


def test_replay_twice_gives_identical_tables_and_newest_versions(dst_config, db):
    items = [catalog(customers=PROPS),
             rec("customers", cus(1, email="new@example.com"), T0 + 10),
             rec("customers", cus(1, email="old@example.com"), T0 + 5),  # older, arrives later
             rec("customers", cus(2, metadata={"k": "tab\there \\ and \"quotes\" é"}), T0),
             state("customers", {"n": 1}),
             rec("customers", cus(2, email="tie-later@example.com"), T0),  # tie: the later message wins
             rec("customers", cus(3), T0 + 1),
             rec("customers", cus(3, email="stale@example.com"), T0),
             state("customers", {"n": 2})]
    first = write(dst_config, items)
    assert first.exit_code == 0, first.stderr
    rows = table(db, dst_config["schema"], "customers")
    assert {r["id"]: r["email"] for r in rows} == {
        "cus_1": "new@example.com", "cus_2": "tie-later@example.com", "cus_3": "c3@example.com"}
    second = write(dst_config, items)
    assert second.exit_code == 0, second.stderr
    again = table(db, dst_config["schema"], "customers")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "_synced_at"} for r in rs]  # noqa: E731
    assert strip(again) == strip(rows)
    # rows without a same-second rival are not even rewritten (cus_2 has one inside the input itself)
    assert [r["_synced_at"] for r in again if r["id"] != "cus_2"] == \
        [r["_synced_at"] for r in rows if r["id"] != "cus_2"]
    # every version in its own commit ends the same way
    one_by_one = write({**dst_config, "schema": dst_config["schema"] + "_b", "batch_size": 1}, items)
    try:
        assert one_by_one.exit_code == 0, one_by_one.stderr
        assert strip(table(db, dst_config["schema"] + "_b", "customers")) == strip(rows)
    finally:
        db.cursor().execute(f'DROP SCHEMA IF EXISTS "{dst_config["schema"]}_b" CASCADE')


def test_unchanged_rows_are_not_rewritten_and_counted(dst_config, db):
    schema = dst_config["schema"]
    first = write(dst_config, [catalog(customers=PROPS), *(rec("customers", cus(n)) for n in range(4)),
                               state("customers", {"n": 1})])
    assert first.states()[0]["destination_stats"]["inserted"] == 4
    before = {r["id"]: r for r in table(db, schema, "customers")}
    second = write(dst_config, [catalog(customers=PROPS),
                                *(rec("customers", cus(n), T0 + 50) for n in range(3)),  # the same objects
                                rec("customers", cus(3, email="changed@example.com"), T0 + 50),
                                rec("customers", {"id": "cus_0"}, T0 + 60, deleted=True),
                                rec("customers", cus(2), T0 - 5),  # older: not applied either
                                state("customers", {"n": 2})])
    assert second.states()[0]["destination_stats"] == {"inserted": 0, "updated": 1, "deleted": 1,
                                                       "unchanged": 2}
    after = {r["id"]: r for r in table(db, schema, "customers")}
    for cid in ("cus_1", "cus_2"):  # _synced_at means "last changed"; the stored version stays
        assert after[cid]["_synced_at"] == before[cid]["_synced_at"]
        assert after[cid]["_updated_at"] == T0
    assert after["cus_3"]["_synced_at"] > before["cus_3"]["_synced_at"]
    assert after["cus_3"]["_updated_at"] == T0 + 50
    assert after["cus_0"]["_deleted_at"] == T0 + 60
    third = write(dst_config, [catalog(customers=PROPS), rec("customers", {"id": "cus_0"}, T0 + 70,
                                                             deleted=True), state("customers", {"n": 3})])
    assert third.states()[0]["destination_stats"] == {"inserted": 0, "updated": 0, "deleted": 0,
                                                      "unchanged": 1}
    assert {r["id"]: r for r in table(db, schema, "customers")}["cus_0"]["_deleted_at"] == T0 + 60


def test_typed_columns_and_values_that_do_not_fit(dst_config, db):
    items = [catalog(customers=PROPS),
             rec("customers", cus(1, balance="12", default_source={"id": "card_1", "object": "card"})),
             rec("customers", cus(2, balance=1.5, created=None, default_source="card_2"))]
    run = write(dst_config, items)
    assert run.exit_code == 0
    [warning] = run.of_type("log")
    assert warning["data"] == {"stream": "customers", "property": "balance", "line": 2}
    rows = table(db, dst_config["schema"], "customers")
    assert [(r["balance"], r["created"], r["default_source"]) for r in rows] == \
        [(None, T0 + 1, "card_1"), (None, None, "card_2")]
    assert rows[0]["_raw_data"]["balance"] == "12" and rows[1]["_raw_data"]["balance"] == 1.5


def test_echo_keeps_every_key_and_counts_rows(dst_config):
    echo = {"type": "state", "state": {"state_type": "stream", "stream": "customers", "data": {"x": 1},
                                       "_generation": 7, "_engine": {"k": [1]}}}
    items = [catalog(customers=PROPS), rec("customers", cus(1)), rec("customers", cus(2)), echo,
             rec("customers", cus(1), T0 + 1), rec("customers", {"id": "cus_2"}, T0 + 1, deleted=True),
             state(None, {"events_cursor": "evt_1"})]
    run = write(dst_config, items)
    assert run.exit_code == 0, run.stderr
    first, second = run.states()
    assert first == {**echo["state"], "destination_stats": {"inserted": 2, "updated": 0, "deleted": 0,
                                                             "unchanged": 0}}
    # cus_1 came again unchanged (a newer version with the same content): not rewritten, counted so
    assert second["destination_stats"] == {"inserted": 0, "updated": 0, "deleted": 1, "unchanged": 1}
    state_cmd = run_cli(["state", "--config", dumps(dst_config).decode()])
    assert state_cmd.exit_code == 0
    assert state_cmd.out == [{"streams": {"customers": {"x": 1}}, "global": {"events_cursor": "evt_1"}}]


def test_state_command_without_anything_written(dst_config):
    run = run_cli(["state", "--config", dumps(dst_config).decode()])
    assert run.exit_code == 0 and run.out == [{"streams": {}, "global": None}]


def test_tombstone_is_not_undone_by_an_older_or_same_second_version(dst_config, db):
    items = [catalog(customers=PROPS), rec("customers", cus(1), T0), state("customers", 1),
             rec("customers", {"id": "cus_1", "deleted": True}, T0 + 5, deleted=True), state("customers", 2),
             rec("customers", cus(1, email="late@example.com"), T0 + 4), state("customers", 3),
             rec("customers", cus(1, email="same-second@example.com"), T0 + 5), state("customers", 4)]
    assert write(dst_config, items).exit_code == 0
    [row] = table(db, dst_config["schema"], "customers")
    assert row["_deleted_at"] == T0 + 5 and row["email"] == "c1@example.com"  # last known values kept
    assert row["_raw_data"] == {**cus(1), "deleted": True}


def test_hard_delete_is_not_resurrected_by_a_late_page(dst_config, db):
    config = {**dst_config, "hard_delete": True}
    items = [catalog(customers=PROPS), rec("customers", cus(1)), rec("customers", cus(2)),
             state("customers", 1),
             rec("customers", {"id": "cus_1"}, T0 + 5, deleted=True), state("customers", 2),
             rec("customers", cus(1), T0 + 3), rec("customers", cus(3), T0 + 3), state("customers", 3)]
    run = write(config, items)
    assert run.exit_code == 0, run.stderr
    assert [r["id"] for r in table(db, config["schema"], "customers")] == ["cus_2", "cus_3"]
    assert run.states()[1]["destination_stats"]["deleted"] == 1
    assert write(config, items).exit_code == 0  # a replay changes nothing
    assert [r["id"] for r in table(db, config["schema"], "customers")] == ["cus_2", "cus_3"]


def test_schema_evolution_adds_columns_and_never_retypes(dst_config, db):
    assert write(dst_config, [catalog(customers=PROPS), rec("customers", cus(1))]).exit_code == 0
    evolved = {**PROPS, "balance": {"type": "string"}, "phone": {"type": ["string", "null"]},
               "paid": {"type": "boolean"}}
    run = write(dst_config, [catalog(customers=evolved), rec("customers", cus(2, phone="+1", paid=True))])
    assert run.exit_code == 0, run.stderr
    with db.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = 'customers' ORDER BY ordinal_position", (dst_config["schema"],))
        columns = dict(cur.fetchall())
    assert columns["balance"] == "bigint" and columns["phone"] == "text" and columns["paid"] == "boolean"
    rows = table(db, dst_config["schema"], "customers")
    assert [(r["phone"], r["paid"], r["balance"]) for r in rows] == [(None, None, 1), ("+1", True, 2)]


def test_hostile_names_make_odd_tables_and_nothing_else(dst_config, db):
    schema = dst_config["schema"]
    hostile = 'x"; drop table y; --'
    percent = "a%s%(b)s'"
    with db.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".y (v int)')
    props = {'col"; drop table y; --': {"type": "string"}, "x" * 80: {"type": "integer"}}
    items = [catalog(**{hostile: props, percent: props}),
             rec(hostile, {"id": "1'); drop table y; --", 'col"; drop table y; --': "v", "x" * 80: 5}),
             rec(percent, {"id": "%s"}), state(hostile, "s1"), state(percent, "s2")]
    run = write(dst_config, items)
    assert run.exit_code == 0, run.stderr
    with db.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        assert sorted(r[0] for r in cur.fetchall()) == sorted(["y", "_sync_state", hostile, percent,
                                                               "_sync_snapshots", "_sync_snapshot_seen",
                                                               "_sync_candidates"])
        cur.execute(f'SELECT id, "col""; drop table y; --" FROM "{schema}"."x""; drop table y; --"')
        assert cur.fetchall() == [("1'); drop table y; --", "v")]
    assert len(run.states()) == 2


def test_row_that_cannot_be_written_freezes_only_its_stream(dst_config, db):
    items = [catalog(customers=PROPS, charges={"id": {"type": "string"}}),
             rec("customers", cus(1)), state("customers", "before"),
             # beyond PostgreSQL's numeric (131,072 digits): refused by the database, for this row only
             rec("customers", cus(2, metadata={"n": Decimal("1e200000")})), rec("customers", cus(3)),
             rec("charges", {"id": "ch_1"}), state("customers", "after"), state("charges", "ok"),
             state(None, {"events_cursor": "evt_9"})]
    run = write(dst_config, items)
    assert run.exit_code == 0, run.stderr
    [err] = run.errors()
    assert err["scope"] == "stream" and err["stream"] == "customers" and "'cus_2' (line 4)" in err["message"]
    assert [s.get("stream") for s in run.states()] == ["customers", "charges"]
    assert run.states()[0]["data"] == "before"
    assert [r["id"] for r in table(db, dst_config["schema"], "customers")] == ["cus_1", "cus_3"]
    state_now = run_cli(["state", "--config", dumps(dst_config).decode()]).out[0]
    assert state_now == {"streams": {"customers": "before", "charges": "ok"}, "global": None}


def test_records_of_unknown_streams_and_without_id(dst_config, db):
    items = [catalog(customers=PROPS), rec("nope", {"id": "x"}), rec("customers", {"email": "no id"}),
             rec("customers", cus(1)), state("nope", 1), state("customers", 2)]
    run = write(dst_config, items)
    assert run.exit_code == 0
    messages = [e["message"] for e in run.errors()]
    assert "line 2" in messages[0] and "not in the catalog" in messages[0]
    assert "line 3" in messages[1] and "record has no 'id'" in messages[1]
    assert run.states() == []
    assert [r["id"] for r in table(db, dst_config["schema"], "customers")] == ["cus_1"]


def test_bad_line_commits_what_came_before_then_stops(dst_config, db):
    items = [catalog(customers=PROPS), rec("customers", cus(1)), state("customers", 1),
             b'{"type": "record", "record": {oops\n', rec("customers", cus(2)), state("customers", 2)]
    run = write(dst_config, items)
    assert run.exit_code == 1
    assert [s["data"] for s in run.states()] == [1]
    [err] = run.errors()
    assert err["scope"] == "global" and err["code"] == "bad_message" and err["message"].startswith("line 4:")
    assert "Traceback" not in run.stderr
    assert [r["id"] for r in table(db, dst_config["schema"], "customers")] == ["cus_1"]


def test_catalog_option_and_ignored_messages(dst_config, db):
    cat = dumps(catalog(customers=PROPS)).decode()
    items = [{"type": "log", "log": {"level": "info", "message": "hi"}}, {"type": "future_thing"},
             {"type": "eof", "eof": {"status": "succeeded"}}, rec("customers", cus(1)), state("customers", 1)]
    run = write(dst_config, items, "--catalog", cat)
    assert run.exit_code == 0, run.stderr
    [warning] = run.of_type("log")
    assert warning["message"] == "line 2: unknown message type 'future_thing' ignored"
    assert len(table(db, dst_config["schema"], "customers")) == 1


def test_second_writer_of_a_schema_gets_a_clear_error(dst_config, pg_url):
    from destination_postgres.writer import LOCK_CLASS, schema_lock_key

    holder = psycopg2.connect(pg_url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s), pg_backend_pid()",
                        (LOCK_CLASS, schema_lock_key(dst_config["schema"])))
            pid = cur.fetchone()[1]
        run = write({**dst_config, "lock_wait_seconds": 0.5}, [catalog(customers=PROPS)])
    finally:
        holder.close()
    assert run.exit_code == 1
    [err] = run.errors()
    assert err["code"] == "conflict" and err["retryable"] is True
    assert "being written by another destination-postgres" in err["message"] and str(pid) in err["message"]
    assert write(dst_config, [catalog(customers=PROPS)]).exit_code == 0  # released with its session


def test_check_and_unreachable_server_never_show_the_password(dst_config):
    ok = run_cli(["check", "--config", dumps(dst_config).decode()])
    assert ok.exit_code == 0 and ok.out[0]["connection_status"]["status"] == "succeeded"
    bad = {**dst_config, "url": "postgresql://admin:Sup3rSecretPw@127.0.0.1:1/db", "retries": 0}
    for args in (["check"], ["write"], ["state"]):
        run = run_cli([*args, "--config", dumps(bad).decode()], b"")
        assert run.exit_code == 1
        text = dumps(run.out).decode() + run.stderr
        assert "Sup3rSecretPw" not in text and "127.0.0.1:1/db" in text, text


def test_a_user_without_privileges_gets_a_clear_error(dst_config, db, pg_url):
    role = f"{dst_config['schema']}_ro"
    with db.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Limited-Pw-123'")
    try:
        parts = urlsplit(pg_url)
        url = urlunsplit(parts._replace(netloc=f"{role}:Limited-Pw-123@{parts.hostname}:{parts.port}"))
        limited = {**dst_config, "url": url}
        check = run_cli(["check", "--config", dumps(limited).decode()])
        assert check.exit_code == 1
        status = check.out[0]["connection_status"]
        assert status["status"] == "failed" and status["error"]["code"] == "permission_denied"
        assert "needs CREATE on the database" in status["message"]
        run = write(limited, [catalog(customers=PROPS)])
        assert run.exit_code == 1
        [err] = run.errors()
        assert err["code"] == "permission_denied" and "Limited-Pw-123" not in dumps(run.out).decode()
    finally:
        with db.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")
