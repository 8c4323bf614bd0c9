"""Decode a query string the way Stripe reads form-encoded parameters: brackets nest.

    email=a@x                 {"email": "a@x"}
    created[gte]=5            {"created": {"gte": "5"}}
    expand[]=a&expand[]=b     {"expand": ["a", "b"]}
    ids[0]=a&ids[1]=b         {"ids": ["a", "b"]}
    lines[0][amount]=5        {"lines": [{"amount": "5"}]}

Values stay strings; ``validation.check_params`` types them against the endpoint's schema. A repeated
scalar keeps its last value. A key without a closing bracket is a plain name. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class _Indexed(dict):  # type: ignore[type-arg]
    """An array being built: position -> element; ``[]`` appends."""


def key_parts(key: str) -> list[str]:
    """``"a[b][]"`` -> ``["a", "b", ""]``; a malformed key is one name."""
    base, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [base]
    while rest:
        inner, closing, rest = rest.partition("]")
        if not closing or (rest and not rest.startswith("[")):
            return [key]
        parts.append(inner)
        rest = rest[1:]
    return parts


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key_parts(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            child_is_array = not last and (parts[i + 1] == "" or parts[i + 1].isdigit())
            if isinstance(node, _Indexed):
                slot: Any = len(node) if part == "" else int(part) if part.isdigit() else part
            else:
                slot = part
            if last:
                node[slot] = value
                break
            child = node.get(slot)
            wanted = _Indexed if child_is_array else dict
            if not isinstance(child, dict) or isinstance(child, _Indexed) != (wanted is _Indexed):
                child = node[slot] = wanted()
            node = child
    return _finish(root)


def _finish(node: Any) -> Any:
    if isinstance(node, _Indexed):
        return [_finish(node[k]) for k in sorted(node, key=lambda k: (not isinstance(k, int), k))]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node
