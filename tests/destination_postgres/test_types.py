"""JSON Schema -> Postgres type table."""
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
