"""Hypothesis strategies for hostile JSON (the fuzz tests of the reader, the validator and the row
encoding): NUL and other control characters, backslashes and quotes, odd unicode (line separators,
astral characters, combining marks, RTL marks), long names, integers far beyond 64 bits, decimals
beyond double precision or range (`1E+400`, `4.9E-324`), floats down to subnormals and -0.0, and
nesting up to the parser's limit.

`exact(value)` normalizes a parsed document so that two parses can be compared number by number
(a float as the decimal its shortest form means, an integer as itself, a Decimal as its value).
"""
from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from protocol.jsonio import MAX_DEPTH

HOSTILE_CHARS = ["\x00", "\\", '"', "\t", "\n", "\r", "\x1f", "\x7f", "\u2028", "\u2029", "\ufeff", "\ufffd",
                 "\u202e", "\u0301", "\U0001f600", "\U0010ffff", "é", "/", "%", "@"]
HOSTILE_STRINGS = ["Null\x00Byte", "\\u0000", "a\\\x00", "", " ", "\x00" * 5, "12345678901234567890"]
chars = st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(HOSTILE_CHARS))
texts = st.one_of(st.text(chars, max_size=40), st.sampled_from(HOSTILE_STRINGS))
names = st.one_of(texts, st.text(min_size=64, max_size=300))  # and names longer than an identifier
big_ints = st.one_of(st.integers(), st.integers(min_value=-(10 ** 60), max_value=10 ** 60),
                     st.sampled_from([2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -(2 ** 63) - 1]))
decimals = st.builds(lambda digits, exponent: Decimal(digits).scaleb(exponent),
                     st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                     st.integers(min_value=-450, max_value=450))
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), big_ints, decimals, floats, texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(names, inner, max_size=5)),
                      max_leaves=30)


def nest(value: Any, depth: int, pattern: int) -> Any:
    """`value` inside `depth` levels: objects (pattern 0), lists (1) or both in turn (2)."""
    for level in range(depth):
        value = [value] if pattern == 1 or (pattern == 2 and level % 2) else {"x": value}
    return value


deep = st.builds(nest, scalars, st.integers(min_value=200, max_value=MAX_DEPTH - 4), st.integers(0, 2))
hostile_values = st.one_of(values, values, values, deep)  # one in four nested 200 to 1,020 levels


def exact(value: Any) -> Any:
    """A comparable form of a parsed document: every number as its exact decimal value."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * MAX_DEPTH))
    try:
        return _exact(value)
    finally:
        sys.setrecursionlimit(limit)


def _exact(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return ("n", Decimal(repr(value)))
    if isinstance(value, (int, Decimal)):
        return ("n", Decimal(value))
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return [_exact(v) for v in value]
