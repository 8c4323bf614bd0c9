"""JSON Schema -> Postgres type table."""
from decimal import Decimal

import pytest

from destination_postgres import types


@pytest.mark.parametrize("prop, expected", [
    ({"type": ["string"]}, "text"),
    ({"type": ["string", "null"]}, "text"),
    ({"type": ["string", "object", "null"]}, "text"),
    ({"type": ["integer"], "format": "unix-time"}, "bigint"),
    ({"type": ["integer", "null"]}, "bigint"),
    ({"type": "number"}, "numeric"),
    ({"type": ["integer", "number"]}, "numeric"),
    ({"type": ["string", "null"], "format": "decimal"}, "numeric"),
    ({"type": ["boolean", "null"]}, "boolean"),
    ({"type": ["object", "null"]}, None),
    ({"type": ["array"]}, None),
    ({}, None),
    ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "bigint"),
    ({"type": ["integer", "string"]}, "text"),
    ("not a schema", None),
])
def test_column_type(prop, expected):
    assert types.column_type(prop) == expected


def test_typed_properties_keep_schema_order_and_skip_nested():
    schema = {"properties": {"id": {"type": "string"}, "meta": {"type": "object"}, "n": {"type": "integer"}}}
    assert types.typed_properties(schema) == [("id", "text"), ("n", "bigint")]
    assert types.typed_properties({"type": "object"}) == []


def test_read_expressions_never_cast_without_a_type_check():
    for pg_type in types.TYPED:
        sql = types.read_expression(pg_type, "s.raw", "E'k'")
        assert "jsonb_typeof(s.raw->E'k')" in sql
    assert types.read_expression("jsonb", "s.raw", "E'k'") is None


VALUES = [None, "abc", "", "tab\there", "12.50", "-3", "1e5", "x1", 7, -7, 10**18 - 1, 10**18, -(10**18), 1.5,
          1e16, -1.2345678901234568e+16, 1e18, 5e-05, 1e-7, -0.25, 2.0, True, False, {"id": "card_1"},
          {"id": 5}, {"object": "card"}, [], ["a"], {},
          # exact numbers (protocol.jsonio): big integers, and Decimals where a float would round
          123456789012345678901234567890, -(2 ** 64), Decimal("1E+400"), Decimal("-1E-400"),
          Decimal("1.0000000000000000000001"), Decimal("4.9E-324"), Decimal("12345678901234567E+1"),
          Decimal("1.5E+3"), Decimal("150E-1"), Decimal("1.2345678901234567E+18")]


def test_python_converters_agree_with_sql_read_expressions(pg_url):
    """Rows are converted in Python (and COPYed), tombstones merged in SQL: both give the same values."""
    import io

    import psycopg2

    from destination_postgres.identifiers import literal
    from protocol.jsonio import dumps

    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            for pg_type in types.TYPED:
                convert = types.converter(pg_type)
                cur.execute(f"CREATE TEMPORARY TABLE conv_{pg_type} (i int, v {pg_type})")
                converted = [None if v is None else convert(v) for v in VALUES]
                lines = b"".join(b"%d\t%b\n" % (i, types.NULL if c is None else c)
                                 for i, c in enumerate(converted))
                cur.copy_expert(f"COPY conv_{pg_type} FROM STDIN", io.BytesIO(lines))
                cur.execute(f"SELECT v::text FROM conv_{pg_type} ORDER BY i")
                from_python = [r[0] for r in cur.fetchall()]
                from_sql = []
                for value in VALUES:
                    raw = literal(dumps({"k": value}).decode()) + "::jsonb"
                    cur.execute(f"SELECT ({types.read_expression(pg_type, raw, literal('k'))})::text")
                    from_sql.append(cur.fetchone()[0])
                pairs = list(zip(VALUES, from_python, from_sql, strict=True))
                assert from_python == from_sql, (pg_type, [x for x in pairs if x[1] != x[2]])
    finally:
        conn.close()
