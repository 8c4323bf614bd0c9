"""A stream's primary key, from its catalog entry (pure: no I/O; docs/destination-postgres.md, "Keys").

The catalog's `primary_key` (a list of key paths, `[["_account_id"], ["id"]]`) names the columns whose
values identify a row: the table's PRIMARY KEY, the upsert's conflict target, and what every piece of
bookkeeping (hard-delete tombstones, snapshot seen ids, delete candidates, the verify classes) keys
rows by. Nothing here knows any particular field: a source may key by whatever top-level properties it
declares. Rules:
- no `primary_key` (or an empty one) means `[["id"]]`, what every table had before keys were read from
  the catalog; only top-level paths (one element) are supported, `id` included;
- `id` is the reserved `id` column; any other key field is a typed column of its own (its type from
  the stream's schema, `text` when the schema does not type it), NOT NULL through the primary key;
- in bookkeeping tables a row's key is one text (`key_text`): the id itself for the key `id` alone (what
  those tables held before, so they need no migration), else the key as a JSON object `{field: value}`
  (`jsonb_build_object(...)::text`, built by the database only; self-describing, so `destination-postgres
  candidates` can print the key without the catalog: `parse_key_text`);
- a key field named like a bookkeeping column other than `id` is refused (the stream is not written).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from destination_postgres.identifiers import ID, RESERVED_COLUMNS, column_name, literal, quote
from protocol.jsonio import loads

DEFAULT_FIELDS = (ID,)


@dataclass(frozen=True)
class Key:
    fields: tuple[str, ...]  # key properties of the record's data, in key order
    columns: tuple[str, ...]  # their columns (unquoted)

    @property
    def simple(self) -> bool:
        """Keyed by `id` alone (bookkeeping keys are the ids themselves)."""
        return self.fields == DEFAULT_FIELDS

    def text_sql(self, alias: str) -> str:
        """SQL of a row's key as one text (see the module docstring), for table alias `alias`."""
        if self.simple:
            return f"{alias}.{quote(ID)}"
        pairs = ", ".join(f"{literal(f)}, {alias}.{quote(c)}" for f, c in zip(self.fields, self.columns,
                                                                                 strict=True))
        return f"jsonb_build_object({pairs})::text"

    def join_sql(self, left: str, right: str) -> str:
        """`left` and `right` rows have the same key."""
        return " AND ".join(f"{left}.{quote(c)} = {right}.{quote(c)}" for c in self.columns)

    def conflict_sql(self) -> str:
        return ", ".join(quote(c) for c in self.columns)

    def values(self, data: dict) -> tuple | str:
        """The key of a record's data (each value a string or an integer), or the first field missing."""
        out = []
        for name in self.fields:
            value = data.get(name)
            if type(value) is not str and type(value) is not int:
                return name
            out.append(value)
        return tuple(out)


    def describe(self) -> str:
        return f"({', '.join(self.fields)})"


DEFAULT = Key(DEFAULT_FIELDS, DEFAULT_FIELDS)


def parse_key_text(text: str) -> dict[str, Any]:
    """{field: value} of a key text made by `Key.text_sql` (a plain id for the key `id` alone)."""
    if text.startswith("{"):
        try:
            value = loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return {ID: text}


def key_of(entry: dict) -> Key | str:
    """The key of a catalog stream entry, or why it cannot be used by this destination."""
    paths = entry.get("primary_key")
    if not paths:
        return DEFAULT
    if not isinstance(paths, list):
        return "primary_key must be a list of key paths"
    fields: list[str] = []
    for path in paths:
        if not isinstance(path, list) or len(path) != 1 or not isinstance(path[0], str) or not path[0]:
            return f"primary_key path {path!r} is not a top-level property (only those are supported)"
        if path[0] in fields:
            return f"primary_key names {path[0]!r} twice"
        fields.append(path[0])
    return from_fields(fields)


def from_fields(fields: Iterable[str]) -> Key | str:
    names, columns = tuple(fields), []
    for name in names:
        if name != ID and name in RESERVED_COLUMNS:
            return f"primary_key field {name!r} is a bookkeeping column of this destination"
        columns.append(ID if name == ID else column_name(name))
    return Key(names, tuple(c for c in columns if c is not None))
