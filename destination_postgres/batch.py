"""Rows buffered since the last commit (pure: no I/O).

A `Batch` holds, per stream, at most one row per key (the stream's primary key, `keys.py`): the newest
version seen since the last commit
(`supersedes`, the same rule the upsert's guard applies in the database). Each row is kept already
encoded as one line of COPY text format, so a flush is a single `join`, and a failed transaction can be
replayed after a reconnect: a `Unit` keeps the rows until they are committed. `full()` says when
the configured row or byte limit is reached, which bounds memory whatever the input size.

Version rule: a version replaces another when its `updated_at` is greater; on a tie the later message
wins, except that a live version never replaces a tombstone of the same second. A tombstone that
replaces a version carries that version's keys under its own (the loader merges them before `add`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from destination_postgres.types import NULL


def supersedes(new_upd: int, new_deleted: bool, old_upd: int, old_deleted: bool) -> bool:
    """True when a version (new) that arrived after another (old) should replace it."""
    if new_upd != old_upd:
        return new_upd > old_upd
    return new_deleted or not old_deleted


def copy_line(id_text: bytes, upd: int, deleted: bool, typed: bytes, json_bytes: bytes) -> bytes:
    """One COPY text line for a stage table: id, _updated_at, _deleted_at, the typed columns (already
    COPY text joined by tabs, or empty), _raw_data.

    `json_bytes` is compact JSON as written by protocol.jsonio: control characters are already escaped
    there, so only its backslashes need doubling for COPY, and it never holds a tab.
    """
    if b"\\" in json_bytes:
        json_bytes = json_bytes.replace(b"\\", b"\\\\")
    deleted_at = b"%d" % upd if deleted else NULL
    if typed:
        return b"%b\t%d\t%b\t%b\t%b\n" % (id_text, upd, deleted_at, typed, json_bytes)
    return b"%b\t%d\t%b\t%b\n" % (id_text, upd, deleted_at, json_bytes)


def line_json(line: bytes) -> bytes:
    """The JSON of the object in a COPY line made by `copy_line` (its backslashes undoubled)."""
    raw = line[line.rindex(b"\t") + 1:-1]
    return raw.replace(b"\\\\", b"\\") if b"\\" in raw else raw


@dataclass(slots=True)
class Row:
    id: str
    key: tuple  # the values of the stream's primary key (`(id,)` for the key `id`)
    upd: int
    deleted: bool
    line: bytes  # COPY text line
    line_no: int  # input line of this version
    first_line_no: int  # earliest input line of any version of this id collapsed into this row


@dataclass
class Batch:
    max_rows: int
    max_bytes: int
    streams: dict[str, dict[tuple, Row]] = field(default_factory=dict)
    rows: int = 0
    bytes: int = 0

    def add(self, stream: str, row: Row) -> None:
        """Buffer a version, collapsing it with a buffered version of the same key."""
        by_id = self.streams.get(stream)
        if by_id is None:
            by_id = self.streams[stream] = {}
        old = by_id.get(row.key)
        if old is None:
            by_id[row.key] = row
            self.rows += 1
            self.bytes += len(row.line)
            return
        if supersedes(row.upd, row.deleted, old.upd, old.deleted):
            row.first_line_no = old.first_line_no
            by_id[row.key] = row
            self.bytes += len(row.line) - len(old.line)

    def get(self, stream: str, key: tuple) -> Row | None:
        by_id = self.streams.get(stream)
        return None if by_id is None else by_id.get(key)

    def full(self) -> bool:
        return self.rows >= self.max_rows or self.bytes >= self.max_bytes

    def empty(self) -> bool:
        return self.rows == 0

    def clear(self) -> None:
        self.streams.clear()
        self.rows = self.bytes = 0
