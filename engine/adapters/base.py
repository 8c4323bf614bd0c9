"""What the protocol adapters share (pure): the two translator interfaces, the line wrapper that puts a
source translator between `protocol.reader.iter_lines` and the Processor, and small helpers.

- `SourceTranslator`: a foreign source's messages -> ours. `translate(msg)` returns our messages for one
  foreign message (several, one or none) or raises `ForeignMessageError` (the line is then a bad line
  naming the connector); `finish(exit_code)` is called once the source ended: the messages its protocol
  implies at the end (e.g. Singer has no end-of-stream marker) and the exit code to judge the run by.
- `DestinationTranslator`: our data messages -> a foreign destination's, and its output back. `begin`
  (the state the run resumes from) and `finish` wrap the run, `data(msg)` translates one catalog,
  record or state message, `flush()` is called whenever the engine flushes the destination's input
  (what is due by then), `echo(msg)` turns one line the destination printed into our messages (an
  echoed state as the very payload we forwarded, logs, errors). Each translator is single-threaded;
  the caller locks when two threads share one.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from protocol.jsonio import dumps_line
from protocol.reader import BadLine, Line, excerpt_of

MAX_TEXT_CHARS = 2000  # a foreign error or log message is cut there (some carry whole HTTP responses)


class ForeignMessageError(ValueError):
    """A line that is not a valid message of the foreign protocol; the text says why."""


class SourceTranslator(Protocol):
    def translate(self, msg: dict) -> list[dict]: ...
    def finish(self, exit_code: int | None) -> tuple[list[dict], int | None]: ...


class DestinationTranslator(Protocol):
    def begin(self, state: dict) -> list[dict]: ...
    def data(self, msg: dict) -> list[dict]: ...
    def flush(self) -> list[dict]: ...
    def finish(self) -> list[dict]: ...
    def echo(self, msg: dict) -> list[dict]: ...


def as_lines(msgs: Iterable[dict], line_no: int) -> Iterator[Line]:
    """Our messages as reader `Line`s (numbered like the foreign line they came from)."""
    for msg in msgs:
        yield Line(line_no, dumps_line(msg), msg)


def translate_lines(items: Iterable[Line | BadLine], translator: SourceTranslator,
                    who: str) -> Iterator[Line | BadLine]:
    """Every foreign line translated; a bad or untranslatable line becomes a `BadLine` naming `who`."""
    for item in items:
        if isinstance(item, BadLine):
            yield BadLine(item.line_no, item.excerpt, f"{item.reason} (from {who})")
            continue
        try:
            msgs = translator.translate(item.message)
        except ForeignMessageError as exc:
            yield BadLine(item.line_no, excerpt_of(item.raw), f"{exc} (from {who})")
            continue
        yield from as_lines(msgs, item.line_no)


def connector_name(argv: list[str]) -> str:
    """A short name for a connector command: `source-faker` for `/venv/bin/source-faker read ...`, the
    module for `python -m tap_x`, the script for `python tap.py`."""
    if not argv:
        return "connector"
    name = os.path.basename(argv[0])
    if name.startswith("python") and len(argv) > 1:
        if argv[1] == "-m" and len(argv) > 2:
            return argv[2]
        return os.path.basename(argv[1])
    return name


def who(role: str, protocol: str, argv: list[str]) -> str:
    """How messages name a connector: `the source` for ours, `the airbyte source 'source-faker'` for a
    foreign one (its protocol and command)."""
    return f"the {role}" if protocol == "native" else f"the {protocol} {role} {connector_name(argv)!r}"


def obj(value: Any, key: str, what: str) -> dict:
    """`value[key]` when it is an object, else ForeignMessageError saying `what` lacks it."""
    inner = value.get(key) if isinstance(value, dict) else None
    if not isinstance(inner, dict):
        raise ForeignMessageError(f"{what} without an object {key!r}")
    return inner


def string(value: Any, key: str, what: str) -> str:
    inner = value.get(key) if isinstance(value, dict) else None
    if not isinstance(inner, str) or not inner:
        raise ForeignMessageError(f"{what} without a string {key!r}")
    return inner


def cut(text: Any, limit: int = MAX_TEXT_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + " ..."


def iso_from_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. `2017-11-20T16:45:33.000Z` (the Singer spec's example form)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(value: Any) -> int | None:
    """Epoch milliseconds of an RFC 3339 date-time (None when it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def int_ms(value: Any, default: int) -> int:
    """An epoch-milliseconds number as an int (Airbyte sends some as floats)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return default
