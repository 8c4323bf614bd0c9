"""Hostile values against a real PostgreSQL: a NUL character, nesting the parser allows, numbers beyond
64 bits or double precision, an empty id. None of them may block a stream: each record is stored (or
refused alone, with a stream error) and the checkpoints around it are committed and echoed."""
from __future__ import annotations

from decimal import Decimal

from protocol.jsonio import dumps_line
from tests.destination_postgres.helpers import T0, catalog, rec, state, table, write

PROPS = {"id": {"type": "string"}, "name": {"type": ["string", "null"]}, "balance": {"type": "integer"},
         "amount": {"type": "number"}, "metadata": {"type": "object"}}


def raw_data(db, schema: str, stream: str = "customers") -> dict[str, str]:
    """id -> `_raw_data` as the text PostgreSQL holds (exact numbers, not re-parsed)."""
    with db.cursor() as cur:
        cur.execute(f'SELECT id, _raw_data::text FROM "{schema}"."{stream}" ORDER BY id')
        return dict(cur.fetchall())


def test_a_nul_character_is_replaced_warned_once_per_field_and_never_blocks_the_stream(dst_config, db):
    items = [catalog(customers=PROPS),
             rec("customers", {"id": "cus_1", "name": "Null\u0000Byte", "metadata": {"k\u0000": "v\u0000"}}),
             rec("customers", {"id": "cus_0", "name": "same batch\u0000"}),  # the warning names the first
             state("customers", {"n": 1}),
             rec("customers", {"id": "cus_2", "name": "again\u0000"}),
             rec("customers", {"id": "cus_\u00003", "name": "ok", "metadata": {"note": "a\\u0000b"}}),
             state("customers", {"n": 2})]
    run = write(dst_config, items)
    assert run.exit_code == 0, run.stderr
    assert [s["data"] for s in run.states()] == [{"n": 1}, {"n": 2}]  # both checkpoints committed
    assert run.errors() == []
    warnings = [w for w in run.of_type("log") if "NUL" in w["message"]]
    assert sorted(w["data"]["field"] for w in warnings) == ["id", "metadata.k\ufffd",
                                                            "metadata.k\ufffd (its name)", "name"]
    name_warning = next(w for w in warnings if w["data"]["field"] == "name")
    assert name_warning["data"] == {"stream": "customers", "id": "cus_1", "field": "name", "line": 2}
    assert "stream 'customers': record 'cus_1' (line 2)" in name_warning["message"]
    rows = {r["id"]: r for r in table(db, dst_config["schema"], "customers")}
    assert set(rows) == {"cus_0", "cus_1", "cus_2", "cus_\ufffd3"}
    assert rows["cus_1"]["name"] == "Null\ufffdByte" == rows["cus_1"]["_raw_data"]["name"]
    assert rows["cus_1"]["_raw_data"]["metadata"] == {"k\ufffd": "v\ufffd"}
    assert rows["cus_\ufffd3"]["_raw_data"]["metadata"] == {"note": "a\\u0000b"}  # text, not a NUL: kept


def test_nesting_up_to_the_parsers_limit_is_stored(dst_config, db):
    def nested(depth: int) -> dict:
        value: object = "leaf"
        for _ in range(depth):
            value = {"x": value}
        return value  # type: ignore[return-value]

    deep = {"id": "cus_deep", "metadata": nested(1021)}  # + the envelope's 3 levels: 1,024 in the line
    line = dumps_line(rec("customers", deep))
    assert line.count(b"{") == 1024
    run = write(dst_config, [catalog(customers=PROPS), rec("customers", {"id": "cus_0"}), line,
                             rec("customers", {"id": "cus_300", "metadata": nested(300)}),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    assert run.errors() == [] and [s["data"] for s in run.states()] == [{"n": 1}]
    stored = raw_data(db, dst_config["schema"])
    assert set(stored) == {"cus_0", "cus_300", "cus_deep"}
    assert stored["cus_deep"].count("{") == 1022 and stored["cus_deep"].endswith('"leaf"' + "}" * 1022)
    # one level more than the parser takes: everything before it is committed, the error names the line
    too_deep = dumps_line(rec("customers", {"id": "cus_too_deep", "metadata": nested(1022)}))
    run = write(dst_config, [catalog(customers=PROPS), rec("customers", {"id": "cus_before"}),
                             state("customers", {"n": 2}), too_deep, state("customers", {"n": 3})])
    assert run.exit_code == 1 and [s["data"] for s in run.states()] == [{"n": 2}]
    [error] = run.errors()
    assert (error["scope"], error["code"]) == ("global", "bad_message") and "line 4" in error["message"]
    assert "depth" in error["message"] and "cus_before" in raw_data(db, dst_config["schema"]), error


def test_numbers_are_stored_exactly_in_raw_data_and_numeric_columns(dst_config, db):
    line = (b'{"type":"record","record":{"stream":"customers","emitted_at":%d,"updated_at":%d,"data":'
            b'{"id":"cus_1","balance":123456789012345678901234567890,"amount":1.0000000000000000000001,'
            b'"metadata":{"huge":1e400,"tiny":1e-400,"sub":4.9e-324,"ok":0.25}}}}\n' % (T0 * 1000, T0))
    run = write(dst_config, [catalog(customers=PROPS), line,
                             rec("customers", {"id": "cus_2", "amount": Decimal("1e400")}),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    assert [s["data"] for s in run.states()] == [{"n": 1}]
    with db.cursor() as cur:
        cur.execute("SELECT id, balance, amount::text, _raw_data->>'balance', "
                    "_raw_data->'metadata'->>'huge', "
                    "_raw_data->'metadata'->>'tiny', _raw_data->'metadata'->>'sub', "
                    "_raw_data->'metadata'->>'ok' "
                    f"FROM \"{dst_config['schema']}\".customers ORDER BY 1")
        first, second = cur.fetchall()
    assert first == ("cus_1", None, "1.0000000000000000000001", "123456789012345678901234567890",
                     "1" + "0" * 400, "0." + "0" * 399 + "1", "0." + "0" * 323 + "49", "0.25")
    assert second[2] == "1" + "0" * 400
    [warning] = [w for w in run.of_type("log") if "does not fit" in w["message"]]
    assert warning["data"]["property"] == "balance"  # beyond bigint: NULL there, exact in _raw_data


def test_an_empty_string_id_is_refused_like_a_missing_one(dst_config, db):
    run = write(dst_config, [catalog(customers=PROPS), rec("customers", {"id": "cus_1"}),
                             state("customers", {"n": 1}), rec("customers", {"id": ""}),
                             state("customers", {"n": 2})])
    assert [r["id"] for r in table(db, dst_config["schema"], "customers")] == ["cus_1"]
    [error] = run.errors()
    assert error["scope"] == "stream" and error["stream"] == "customers"
    assert "line 4: record has no 'id'" in error["message"]
    assert [s["data"] for s in run.states()] == [{"n": 1}]  # the checkpoint after it waits for a rerun


def test_a_live_version_and_its_tombstone_in_one_batch_keep_the_last_known_values(dst_config, db):
    run = write(dst_config, [catalog(customers=PROPS),
                             rec("customers", {"id": "cus_1", "name": "Jenny", "balance": 5}, T0),
                             rec("customers", {"id": "cus_1", "deleted": True}, T0 + 1, deleted=True),
                             state("customers", {"n": 1})])
    assert run.exit_code == 0, run.stderr
    [row] = table(db, dst_config["schema"], "customers")
    assert row["_deleted_at"] == T0 + 1
    assert (row["name"], row["balance"]) == ("Jenny", 5)
    assert row["_raw_data"] == {"id": "cus_1", "name": "Jenny", "balance": 5, "deleted": True}
