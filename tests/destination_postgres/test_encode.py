"""destination_postgres/encode.py: records -> COPY rows, without a database."""
from destination_postgres.batch import line_json
from destination_postgres.encode import RowEncoder
from destination_postgres.types import BIGINT, TEXT, converter
from protocol.jsonio import loads


def encoder() -> RowEncoder:
    enc = RowEncoder()
    enc.converters["customers"] = [("email", converter(TEXT)), ("balance", converter(BIGINT))]
    return enc


def test_a_record_becomes_one_copy_line_and_bad_values_become_null():
    enc = encoder()
    row = enc.row("customers", {"data": {"id": "cus_1", "email": "a\tb", "balance": "x"}, "updated_at": 7}, 3,
                  lambda s, i: None)
    assert not isinstance(row, str)
    assert row.line == b'cus_1\t7\t\\N\ta\\tb\t\\N\t{"id":"cus_1","email":"a\\\\tb","balance":"x"}\n'
    assert enc.mismatched == {("customers", "balance"): (3, "str")}
    assert enc.row("customers", {"data": {"id": 5}, "emitted_at": 9000}, 4, lambda s, i: None).upd == 9


def test_a_tombstone_keeps_the_buffered_values_and_bad_records_say_why():
    enc = encoder()
    old = enc.row("customers", {"data": {"id": "cus_1", "email": "a@x", "balance": 2}, "updated_at": 5}, 1,
                  lambda s, i: None)
    tomb = enc.row("customers", {"data": {"id": "cus_1"}, "deleted": True, "updated_at": 6}, 2,
                   lambda s, i: old)
    assert not isinstance(tomb, str) and tomb.deleted
    assert loads(line_json(tomb.line)) == {"id": "cus_1", "email": "a@x", "balance": 2}
    assert enc.row("customers", {"data": [1]}, 7, lambda s, i: None) == "line 7: record data is not an object"
    no_id = "line 8: record has no 'id' (a non-empty string or an integer)"
    assert enc.row("customers", {"data": {}}, 8, lambda s, i: None) == no_id
    assert enc.row("customers", {"data": {"id": ""}, "updated_at": 1}, 8, lambda s, i: None) == no_id
    assert "neither updated_at nor emitted_at" in enc.row("customers", {"data": {"id": "c"}}, 9, lambda s,
                                                          i: None)
