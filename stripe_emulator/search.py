"""A small subset of Stripe's Search Query Language for the ``/v1/*/search`` endpoints.

Supported: clauses joined by ``AND`` or by ``OR`` (not both, like Stripe), each ``field:value``
(exact), ``field~"sub"`` (substring), ``field>N`` / ``>=`` / ``<`` / ``<=`` (numbers), ``-field:value``
(negation), ``metadata['key']:'value'``, and ``field:null``. Values are quoted strings or numbers.
Pagination uses an opaque ``next_page`` token, as Stripe does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import orjson

from .errors import StripeError

_CLAUSE = re.compile(
    r"""^\s*(?P<neg>-)?(?P<field>[A-Za-z_][A-Za-z0-9_.]*(?:\[['"][^'"]+['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"""
    r"""(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<num>-?\d+(?:\.\d+)?)|(?P<null>null))\s*$"""
)

Getter = Callable[[str], Any]


def _invalid(message: str) -> StripeError:
    return StripeError(400, message, param="query")


def compile_query(query: str) -> Callable[[Getter], bool]:
    if not query or not query.strip():
        raise _invalid("The query must not be empty.")
    has_and, has_or = " AND " in query, " OR " in query
    if has_and and has_or:
        raise _invalid("Queries cannot mix AND and OR.")
    parts = query.split(" OR " if has_or else " AND ")
    tests = [_clause(p) for p in parts]
    if has_or:
        return lambda get: any(t(get) for t in tests)
    return lambda get: all(t(get) for t in tests)


def _clause(text: str) -> Callable[[Getter], bool]:
    m = _CLAUSE.match(text)
    if not m:
        raise _invalid(f"Invalid search query: could not parse {text.strip()!r}.")
    field, op, neg = m.group("field"), m.group("op"), bool(m.group("neg"))
    if m.group("null") is not None:
        value: Any = None
    elif m.group("num") is not None:
        value = float(m.group("num"))
    else:
        value = m.group("sq") if m.group("sq") is not None else m.group("dq")
    path: list[str]
    if "[" in field:
        head, _, rest = field.partition("[")
        path = [head, rest[1:-2]]
    else:
        path = field.split(".")

    def get_value(get: Getter) -> Any:
        v = get(path[0])
        for p in path[1:]:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, dict) and "id" in v:
            v = v["id"]
        return v

    def test(get: Getter) -> bool:
        v = get_value(get)
        if op == ":":
            if value is None:
                r = v is None
            elif isinstance(value, float):
                r = isinstance(v, (int, float)) and not isinstance(v, bool) and float(v) == value
            else:
                r = (str(v).lower() if isinstance(v, bool) else str(v)) == value if v is not None else False
        elif op == "~":
            r = isinstance(v, str) and value is not None and str(value).lower() in v.lower()
        else:
            if not isinstance(value, float):
                raise _invalid(f"Comparison {op} needs a number: {text.strip()!r}.")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                r = False
            else:
                r = {">": v > value, ">=": v >= value, "<": v < value, "<=": v <= value}[op]
        return not r if neg else r

    return test


def encode_page(ts: int, oid: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, oid])).decode().rstrip("=")


def decode_page(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ts, oid = orjson.loads(raw)
        return int(ts), str(oid)
    except Exception:
        raise StripeError(400, f"Invalid page: {token}", param="page") from None
