"""JSON encoding for the whole project: the one module that imports orjson.

Wire rules (docs/protocol.md, "Framing"): UTF-8 JSON, one message per line, `\\n`-terminated. `dumps`/`loads`
work on bytes; `MessageWriter` writes lines to a binary stream, flushing after every message when the
stream is a pipe or a terminal (a downstream process must see a checkpoint as soon as it exists) and
buffering otherwise (files), where throughput matters more.

Numbers keep their exact value (docs/protocol.md, "Numbers"). orjson reads integers beyond 64 bits and
decimals beyond double precision as rounded floats, and refuses `1e400`; so `loads` sends a document
that may hold such a number (`may_round`: a cheap byte scan for a number of 16 characters or more, or
a negative exponent of three digits) to the exact parser (the standard library's: integers as `int` of
any size, a decimal as `float` when its shortest form means the same number, else as `Decimal`), and
so does any document orjson refuses. So a value is a `Decimal` only where a float would have been wrong.
`loads_fast` is orjson alone (it may round, and refuses `1e400`): the line reader's hot path for callers
that read an envelope and forward the raw bytes (the engine's records); it retries a refused line with
`loads`, so no valid line is bad.
`dumps` writes `Decimal` and integers of any size as their exact digits, and nesting deeper than
orjson writes (254 levels) with its own iterative encoder, in the same compact format. Both parsers
accept nesting up to `MAX_DEPTH` levels and nothing orjson would refuse otherwise (NaN, lone surrogates).
"""
from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any, BinaryIO

import orjson

JSONDecodeError = orjson.JSONDecodeError
MAX_DEPTH = 1024  # nesting levels either parser accepts (orjson's own limit)
_OPTS = orjson.OPT_NON_STR_KEYS
_RUN = b"0" * 16  # 16 characters of a number in a row: one orjson may round
_NUMBER_CHARS = bytes(ord("0") if chr(c) in "0123456789.-+" else ord(" ") for c in range(256))
_BEFORE_NUMBER = frozenset(b":,[ \t\r\n")  # what may precede a number (a string's digits follow letters)


def may_round(data: bytes) -> bool:
    """True when `data` may hold a number orjson cannot keep exactly: 16 or more characters of a number
    in a row after what may precede a number (so `"ch_0000000000000001"` is not one), or an exponent
    like `e-308` (underflow). Strings that look so (`"x 1234567890123456"`) only cost the exact parser."""
    runs = data.translate(_NUMBER_CHARS)
    i = runs.find(_RUN)
    while i >= 0:
        start = runs.rfind(b" ", 0, i) + 1  # where the run begins
        if start == 0 or data[start - 1] in _BEFORE_NUMBER:
            return True
        end = runs.find(b" ", i)
        i = runs.find(_RUN, end) if end >= 0 else -1
    i = data.find(b"-")
    while i > 0:
        if data[i - 1] in b"eE" and data[i + 1:i + 4].isdigit():
            return True
        i = data.find(b"-", i + 1)
    return False


def loads(data: bytes | str) -> Any:
    """Parse JSON with every number exact; raises `JSONDecodeError` (a ValueError) on bad JSON, invalid
    UTF-8 or nesting deeper than `MAX_DEPTH`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if may_round(raw):
        return _loads_exact(raw)
    try:
        return orjson.loads(raw)
    except JSONDecodeError as exc:
        return _exact_or_raise(raw, exc)


loads_fast: Callable[[bytes | str], Any] = orjson.loads  # see the module docstring


def _exact_or_raise(raw: bytes, error: JSONDecodeError) -> Any:
    """The exact parse of a document orjson refused; when the exact parser refuses it too, orjson's error
    (the exact parser's when orjson only refused a number)."""
    try:
        return _loads_exact(raw)
    except JSONDecodeError as exact:
        raise (exact if "number" in str(error) else error) from None


class ExactDecodeError(JSONDecodeError):
    """A document the exact parser refuses (its message only: it knows no position)."""

    def __init__(self, msg: str):
        super().__init__(msg, "", 0)

    def __str__(self) -> str:
        return self.msg


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _exact_float(text: str) -> float | Decimal:
    """A float when it means the number written (its shortest form has the same value: `0.1`, `1.10`),
    else the exact `Decimal` (`1e400`, `1.0000000000000000000001`, `4.9e-324`)."""
    value = float(text)
    if math.isfinite(value) and Decimal(repr(value)) == Decimal(text):
        return value
    return Decimal(text)


def _exact_int(text: str) -> int | Decimal:
    return int(text) if len(text) < 4000 else Decimal(text)  # int() refuses more than 4,300 digits


_TOO_DEEP = f"depth limit exceeded (more than {MAX_DEPTH} levels)"
_RECURSION_NEEDED = MAX_DEPTH + 1500  # the standard parser recurses once per level


def _loads_exact(raw: bytes) -> Any:
    """The standard library's parser with exact numbers, as strict as orjson. It needs a recursion limit
    above `MAX_DEPTH`: the process's is raised once (never lowered, so threads cannot race on it)."""
    if sys.getrecursionlimit() < _RECURSION_NEEDED:
        sys.setrecursionlimit(_RECURSION_NEEDED)
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, parse_float=_exact_float, parse_int=_exact_int,
                         parse_constant=_reject_constant)
    except RecursionError:
        raise ExactDecodeError(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ExactDecodeError(str(exc)) from None
    problem = _walk_problem(obj)
    if problem:
        raise ExactDecodeError(problem)
    return obj


def _walk_problem(obj: Any) -> str | None:
    """Why a parsed document breaks orjson's rules (too deep, a lone surrogate), or None."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return "lone surrogate in a string"
            continue
        if isinstance(node, dict):
            children: Any = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


def dumps(obj: Any) -> bytes:
    """Serialize to compact JSON bytes (no trailing newline)."""
    try:
        return orjson.dumps(obj, option=_OPTS)
    except orjson.JSONEncodeError:
        return _dumps_exact(obj)


def dumps_line(obj: Any) -> bytes:
    """Serialize to one wire line: compact JSON plus `\\n`."""
    try:
        return orjson.dumps(obj, option=_OPTS | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return _dumps_exact(obj) + b"\n"


def dumps_pretty(obj: Any) -> str:
    """Human-readable, key-sorted JSON text (for files people read and diff); a document orjson cannot
    write (exact numbers, deep nesting) is written compact, keys sorted."""
    try:
        return orjson.dumps(obj, option=_OPTS | orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    except orjson.JSONEncodeError:
        return _dumps_exact(obj, sort_keys=True).decode() + "\n"


def _key(key: Any) -> bytes:
    if isinstance(key, str):
        return orjson.dumps(key)
    return orjson.dumps({key: None}, option=_OPTS)[1:-6]  # orjson's text for a non-string key


_MAX_WRITE_DEPTH = 64 * MAX_DEPTH  # a cycle, not data: refused like orjson refuses it


def _dumps_exact(obj: Any, sort_keys: bool = False) -> bytes:
    """Compact JSON like orjson's, iterative (any depth), with `Decimal` and big integers exact."""
    out: list[bytes] = []
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is bytes:  # punctuation pushed below
            out.append(node)
        elif isinstance(node, (dict, list, tuple)):
            if depth >= _MAX_WRITE_DEPTH:
                raise orjson.JSONEncodeError("Recursion limit reached")
            if isinstance(node, dict):
                items = sorted(node.items(), key=lambda kv: _key(kv[0])) if sort_keys else list(node.items())
                out.append(b"{")
                stack.append((b"}", depth))
                for i in range(len(items) - 1, -1, -1):
                    stack.append((items[i][1], depth + 1))
                    stack.append(((b"," if i else b"") + _key(items[i][0]) + b":", depth))
            else:
                out.append(b"[")
                stack.append((b"]", depth))
                for i in range(len(node) - 1, -1, -1):
                    stack.append((node[i], depth + 1))
                    if i:
                        stack.append((b",", depth))
        elif isinstance(node, Decimal):
            if not node.is_finite():
                raise orjson.JSONEncodeError(f"{node} is not a JSON number")
            out.append(str(node).encode())
        elif isinstance(node, int) and not isinstance(node, bool):
            out.append(str(Decimal(node)).encode())  # str(int) refuses more than 4,300 digits
        else:
            out.append(orjson.dumps(node, option=_OPTS))
    return b"".join(out)


def _is_interactive_stream(stream: BinaryIO) -> bool:
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class MessageWriter:
    """Writes protocol messages as JSON lines to a binary stream.

    `flush_each` defaults to True for pipes, sockets and terminals and False for regular files.
    A `redact` callable, when given, is applied to every log/trace/connection_status/control/eof message
    before it is written (records are data and pass untouched; eof repeats error messages in its progress).
    With a `lock` (a `threading.Lock`), lines written from several threads never interleave (a
    connector's worker may write a `log` while the main thread writes records).
    """

    def __init__(self, stream: BinaryIO | None = None, flush_each: bool | None = None,
                 redact: Callable[[dict], dict] | None = None, lock: AbstractContextManager | None = None):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.flush_each = _is_interactive_stream(self.stream) if flush_each is None else flush_each
        self.redact = redact
        self._lock = lock if lock is not None else nullcontext()

    def write(self, message: dict) -> None:
        if self.redact is not None and message.get("type") in ("log", "trace", "connection_status",
                                                               "control", "eof"):
            message = self.redact(message)
        self.write_raw(dumps_line(message))

    def write_raw(self, line: bytes) -> None:
        """Write an already serialized line (must end with `\\n`); used to forward without re-encoding."""
        with self._lock:
            self.stream.write(line)
            if self.flush_each:
                self.stream.flush()

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass
