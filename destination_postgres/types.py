"""JSON Schema -> PostgreSQL type table (pure).

Which top-level properties of a stream's `json_schema` get a typed column, and how a JSON value is
read into that column without ever failing:

| JSON Schema type (null ignored)          | column    | value read from `_raw_data`                    |
|------------------------------------------|-----------|------------------------------------------------|
| string (any format except decimal)       | text      | strings as is; numbers/booleans as their text  |
| string + object (Stripe expandable)      | text      | the string, or the expanded object's `id`      |
| string with format decimal               | numeric   | a number or a numeric-looking string           |
| integer (also format unix-time)          | bigint    | an integral JSON number within bigint range    |
| number, or integer + number              | numeric   | any JSON number                                |
| boolean                                  | boolean   | true/false                                     |
| object, array, or object/array only      | (none)    | stays only in `_raw_data` (query `_raw_data->'x'`) |
| other mixes of scalars                   | text      | as for text                                    |

Unix timestamps stay bigint (Stripe's unit, and what `created[gte]` windows compare with).
A value that does not fit its column (Stripe changed a type, a float in an integer field, an object
where a string was declared) is stored as NULL in the typed column; the whole object is always kept
in `_raw_data`, so nothing is lost and the run goes on. Typed columns are derived from the column's
type in the database, not from the catalog, so an existing column is never retyped.
"""
from __future__ import annotations

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
_DECIMAL_RE = "'^-?[0-9]+([.][0-9]+)?$'"  # no backslash: same meaning whatever standard_conforming_strings


def read_expression(pg_type: str, raw: str, key: str) -> str | None:
    """SQL reading property `key` (a SQL literal) of the jsonb expression `raw` as `pg_type`, never
    raising: NULL when the value does not fit. None for a type this destination does not fill."""
    v = f"{raw}->{key}"
    t = f"jsonb_typeof({v})"
    if pg_type == TEXT:
        return f"CASE {t} WHEN 'object' THEN {v}->>'id' WHEN 'array' THEN NULL ELSE {raw}->>{key} END"
    if pg_type == BIGINT:
        return f"CASE WHEN {t} = 'number' AND ({raw}->>{key}) ~ {_INT_RE} THEN ({raw}->>{key})::bigint END"
    if pg_type == NUMERIC:
        return (f"CASE {t} WHEN 'number' THEN ({v})::numeric WHEN 'string' THEN CASE WHEN ({raw}->>{key}) "
                f"~ {_DECIMAL_RE} THEN ({raw}->>{key})::numeric END END")
    if pg_type == BOOLEAN:
        return f"CASE WHEN {t} = 'boolean' THEN ({v})::boolean END"
    return None
