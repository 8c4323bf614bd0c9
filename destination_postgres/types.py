"""JSON Schema -> PostgreSQL type table (pure).

Which top-level properties of a stream's `json_schema` get a typed column, and how a JSON value is
read into that column without ever failing:

| JSON Schema type (null ignored)          | column    | filled from a JSON ...                         |
|------------------------------------------|-----------|------------------------------------------------|
| string (any format except decimal)       | text      | string; or object with a string `id`           |
| string + object (Stripe expandable)      | text      | string; or the expanded object's `id`          |
| string with format decimal               | numeric   | number, or string like `-12.50`                |
| integer (also format unix-time)          | bigint    | integer with at most 18 digits                 |
| number, or integer + number              | numeric   | number, or string like `-12.50`                |
| boolean                                  | boolean   | true/false                                     |
| object, array, or object/array only      | (none)    | stays only in `_raw_data` (query `_raw_data->'x'`) |
| other mixes of scalars                   | text      | as for text                                    |

Unix timestamps stay bigint (Stripe's unit, and what `created[gte]` windows compare with). Numbers
are exact (`protocol.jsonio`): an integer of any size, or a `Decimal` where a float would round, is
written with all its digits into numeric columns and `_raw_data`.
A value of another JSON type than its column takes (Stripe changed a type, a float in an integer
field, a number in a string field) is stored as NULL in the typed column, with one warning per stream
and property; the whole object is always kept in `_raw_data`, so nothing is lost and the run goes on.
Typed columns follow the column's type in the database, not the catalog, so a column is never retyped.

The rule exists twice and both must agree: `converter` renders a value for COPY in Python (every
record), `read_expression` reads it in SQL from a stored `_raw_data` (tombstones merged in the
database). tests/destination_postgres/test_types.py checks them against each other.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

TEXT = "text"
BIGINT = "bigint"
NUMERIC = "numeric"
BOOLEAN = "boolean"
TYPED = (TEXT, BIGINT, NUMERIC, BOOLEAN)

_SCALARS = {"string", "integer", "number", "boolean"}


def _type_set(prop: dict) -> set[str]:
    declared = prop.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    else:
        types = set()
    for key in ("anyOf", "oneOf"):  # unions of sub-schemas: their types add up
        for sub in prop.get(key) or []:
            if isinstance(sub, dict):
                types |= _type_set(sub)
    return types - {"null"}


def column_type(prop: object) -> str | None:
    """The PostgreSQL type of the typed column for one property schema, or None (stays in _raw_data)."""
    if not isinstance(prop, dict):
        return None
    types = _type_set(prop)
    if not types & _SCALARS:
        return None  # object / array / untyped: only in _raw_data
    if types == {"string"} and prop.get("format") == "decimal":
        return NUMERIC
    if types <= {"string", "object"}:
        return TEXT
    if types == {"integer"}:
        return BIGINT
    if types <= {"integer", "number"}:
        return NUMERIC
    if types == {"boolean"}:
        return BOOLEAN
    return TEXT


def is_unix_time(prop: object) -> bool:
    """A property holding Unix seconds (JSON Schema `format: unix-time`, as Stripe's OpenAPI says): its
    bigint column is shown as timestamptz in the live views (ddl.live_view)."""
    return isinstance(prop, dict) and prop.get("format") == "unix-time" and column_type(prop) == BIGINT


def typed_properties(json_schema: object) -> list[tuple[str, str]]:
    """(property, pg type) for every top-level property that gets a typed column, in schema order."""
    props = json_schema.get("properties") if isinstance(json_schema, dict) else None
    if not isinstance(props, dict):
        return []
    out = []
    for name, prop in props.items():
        pg_type = column_type(prop)
        if pg_type is not None and isinstance(name, str) and "\x00" not in name:
            out.append((name, pg_type))
    return out


_INT_RE = "'^-?[0-9]{1,18}$'"
_DECIMAL = re.compile(r"-?[0-9]+([.][0-9]+)?")
_BIGINT_LIMIT = 10 ** 18  # 18 digits: what the SQL regex accepts, always inside bigint
NULL = b"\\N"
_DECIMAL_RE = "'^-?[0-9]+([.][0-9]+)?$'"  # no backslash: same meaning whatever standard_conforming_strings


def read_expression(pg_type: str, raw: str, key: str) -> str | None:
    """SQL reading property `key` (a SQL literal) of the jsonb expression `raw` as `pg_type`, never
    raising: NULL when the value does not fit. None for a type this destination does not fill."""
    v = f"{raw}->{key}"
    t = f"jsonb_typeof({v})"
    if pg_type == TEXT:
        return (f"CASE {t} WHEN 'string' THEN {raw}->>{key} WHEN 'object' THEN CASE WHEN "
                f"jsonb_typeof({v}->'id') = 'string' THEN {v}->>'id' END END")
    if pg_type == BIGINT:
        return f"CASE WHEN {t} = 'number' AND ({raw}->>{key}) ~ {_INT_RE} THEN ({raw}->>{key})::bigint END"
    if pg_type == NUMERIC:
        return (f"CASE {t} WHEN 'number' THEN ({v})::numeric WHEN 'string' THEN CASE WHEN ({raw}->>{key}) "
                f"~ {_DECIMAL_RE} THEN ({raw}->>{key})::numeric END END")
    if pg_type == BOOLEAN:
        return f"CASE WHEN {t} = 'boolean' THEN ({v})::boolean END"
    return None


def _text(v: Any) -> bytes | None:
    if type(v) is str:
        return copy_text(v)
    if type(v) is dict:
        inner = v.get("id")
        if type(inner) is str:
            return copy_text(inner)
    return None


def _bigint(v: Any) -> bytes | None:
    t = type(v)
    if t is int and -_BIGINT_LIMIT < v < _BIGINT_LIMIT:
        return b"%d" % v
    if t is float and 1e16 <= abs(v) < _BIGINT_LIMIT:
        # written as 1e+16 (no '.'), which jsonb reads as the integer 10000000000000000
        return b"%d" % int(v)
    if t is Decimal and v.as_tuple().exponent >= 0 and v.adjusted() < 18:
        return b"%d" % int(v)  # an integer in jsonb (1.5E+3 reads as 1500), as the SQL sees it
    return None


def _numeric(v: Any) -> bytes | None:
    t = type(v)
    if t is int:
        return b"%d" % v
    if t is float:
        return repr(v).encode()
    if t is Decimal:
        return str(v).encode()
    if t is str and _DECIMAL.fullmatch(v):
        return v.encode()
    return None


def _boolean(v: Any) -> bytes | None:
    if v is True:
        return b"t"
    if v is False:
        return b"f"
    return None


_CONVERTERS: dict[str, Callable[[Any], bytes | None]] = {TEXT: _text, BIGINT: _bigint, NUMERIC: _numeric,
                                                         BOOLEAN: _boolean}


def converter(pg_type: str) -> Callable[[Any], bytes | None]:
    """COPY text for a non-null JSON value of a column of `pg_type`, or None when it does not fit."""
    return _CONVERTERS[pg_type]


def copy_text(value: str) -> bytes:
    """A text value escaped for COPY text format (backslash, tab, newline, carriage return)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.translate(_COPY_ESCAPES)
    return value.encode("utf-8", errors="surrogatepass")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
