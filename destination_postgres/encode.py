"""Records -> rows of COPY text (pure: no I/O, no database).

`RowEncoder.row(stream, record, line_no, buffered)` turns a record into the `batch.Row` a stage table
takes: the id (a non-empty string, or an integer id as text), `_updated_at` (the record's `updated_at`,
else `emitted_at` in seconds), the key (its fields from the record's `keys` first, then from the object:
a key field outside the object, like `_account_id`, fills its column but is not part of `_raw_data`), the
tombstone flag, one COPY text value per typed column (`types.converter` of the column's database type)
and the whole object as JSON. It says why when a record cannot be written (no object, no id, no time).
A tombstone keeps the last known values under its own keys: the version buffered for that id
(`buffered`) is merged under it, as the upsert does with the stored row.

PostgreSQL text and jsonb cannot hold the character U+0000: every NUL in a string of the object (a value,
a key, the id) becomes U+FFFD (the replacement character) and the record is stored; the first such field
per stream and path (list positions written `[]`; at most `NUL_FIELDS_PER_STREAM` paths per stream) is
remembered in `nul_replaced` for the loader's one warning naming stream, id and field.

A value that does not fit its column becomes NULL there (it stays in the JSON); the first such value
per stream and property is remembered in `mismatched` for the loader's one warning.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from destination_postgres.batch import Row, copy_line, line_json, supersedes
from destination_postgres.keys import DEFAULT, Key
from destination_postgres.types import NULL, copy_text
from protocol.jsonio import dumps, loads

Converter = Callable[[Any], bytes | None]
NUL, REPLACEMENT = "\x00", "\ufffd"
NUL_FIELDS_PER_STREAM = 10


def replace_nul(value: Any) -> tuple[Any, list[str]]:
    """`value` with every NUL in its strings (keys too) replaced by U+FFFD, and the paths where one was
    (`a.b`, `lines[].name`; a key that held one is named as replaced). Iterative: any depth."""
    root: list[Any] = [value]
    paths: list[str] = []
    stack: list[tuple[Any, Any, Any, str]] = [(root, 0, value, "")]
    while stack:
        parent, slot, node, path = stack.pop()
        if isinstance(node, str):
            if NUL in node:
                parent[slot] = node.replace(NUL, REPLACEMENT)
                paths.append(path or "(value)")
        elif isinstance(node, dict):
            copy: dict = {}
            for key, child in node.items():
                if isinstance(key, str) and NUL in key:
                    key = key.replace(NUL, REPLACEMENT)
                    paths.append(f"{path}.{key}".lstrip(".") + " (its name)")
                copy[key] = child
                stack.append((copy, key, child, f"{path}.{key}".lstrip(".")))
            parent[slot] = copy
        elif isinstance(node, list):
            items = list(node)
            parent[slot] = items
            stack.extend((items, i, child, f"{path}[]") for i, child in enumerate(items))
    return root[0], sorted(set(paths))


class RowEncoder:
    def __init__(self) -> None:
        self.converters: dict[str, list[tuple[str, Converter]]] = {}  # stream -> (property, converter)
        self.mismatched: dict[tuple[str, str], tuple[int, str]] = {}  # (stream, property) -> (line, type)
        self.nul_replaced: dict[tuple[str, str], tuple[int, str]] = {}  # (stream, path) -> (line, id)
        self.keys: dict[str, Key] = {}  # stream -> its primary key (DEFAULT: `id`)

    def row(self, stream: str, rec: dict, line_no: int,
            buffered: Callable[[str, tuple], Row | None]) -> Row | str:
        """The row for a record of a writable stream, or why it cannot be written."""
        data = rec.get("data")
        if not isinstance(data, dict):
            return f"line {line_no}: record data is not an object"
        encoded = dumps(data)
        json_bytes: bytes | None = encoded
        nul_paths: list[str] = []
        if b"\\u0000" in encoded:  # maybe a NUL (or a backslash before u0000)
            data, nul_paths = replace_nul(data)
            if nul_paths:
                json_bytes = None
        rid = data.get("id")
        if type(rid) is not str or not rid:
            if type(rid) is not int:
                return f"line {line_no}: record has no 'id' (a non-empty string or an integer)"
            rid = str(rid)
        upd = rec.get("updated_at")
        if type(upd) is not int:
            emitted = rec.get("emitted_at")
            if type(emitted) is not int:
                return f"line {line_no}: record {rid!r} has neither updated_at nor emitted_at"
            upd = emitted // 1000
        primary = self.keys.get(stream, DEFAULT)
        outside = rec.get("keys")  # key fields that are not properties of the object (docs/protocol.md)
        fields_of = {**data, **outside} if isinstance(outside, dict) and outside else data
        if primary.simple:
            row_key: tuple = (rid,)
        else:
            found = primary.values(fields_of)
            if isinstance(found, str):
                return (f"line {line_no}: record {rid!r} has no string or integer {found!r} (part of the "
                        f"primary key {primary.describe()})")
            row_key = found
        self._note_nul(stream, nul_paths, line_no, rid)
        deleted = rec.get("deleted") is True
        if deleted:  # a tombstone keeps the last known values under its own keys (as the upsert does)
            old = buffered(stream, row_key)
            if old is not None and supersedes(upd, True, old.upd, old.deleted):
                data, json_bytes = {**loads(line_json(old.line)), **data}, None
                fields_of = {**data, **outside} if isinstance(outside, dict) and outside else data
        fields = []
        for key, convert in self.converters[stream]:
            value = fields_of.get(key)
            if value is None:
                fields.append(NULL)
                continue
            text = convert(value)
            if text is None:
                if (stream, key) not in self.mismatched:
                    self.mismatched[(stream, key)] = (line_no, type(value).__name__)
                text = NULL
            fields.append(text)
        line = copy_line(copy_text(rid), upd, deleted, b"\t".join(fields),
                         dumps(data) if json_bytes is None else json_bytes)
        return Row(rid, row_key, upd, deleted, line, line_no, line_no)

    def _note_nul(self, stream: str, paths: list[str], line_no: int, rid: str) -> None:
        for path in paths:
            if (stream, path) in self.nul_replaced:
                continue
            if sum(1 for s, _ in self.nul_replaced if s == stream) >= NUL_FIELDS_PER_STREAM:
                return
            self.nul_replaced[(stream, path)] = (line_no, rid)
