"""Property-based fuzz of the line reader and the validator with hostile values (tests/hostile.py).

The reader never raises, gives one item per non-blank line with its number, and reads a line as a
`Line` exactly when it is a JSON object by the standard library's strict, exact reading (at most
`MAX_DEPTH` levels, no NaN, no lone surrogate), with every number of the same exact value; the fast
mode (`exact=False`) accepts the same lines. The validator never raises and answers with strings."""
from __future__ import annotations

import io
import json
import sys
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.jsonio import MAX_DEPTH, dumps
from protocol.messages import MESSAGE_TYPES
from protocol.reader import BadLine, Line, iter_lines
from protocol.validate import MessageValidator, check_envelope
from tests.hostile import exact, hostile_values, names, texts

FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _reject(name: str) -> None:
    raise ValueError(name)


def reference(raw: bytes) -> dict | None:
    """The object a line holds by the strict, exact reading, or None when it is not a JSON object."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * MAX_DEPTH))
    try:
        obj = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject)
        dumps(obj)  # a lone surrogate is not encodable: orjson's rule
    except (ValueError, RecursionError, TypeError):
        return None
    finally:
        sys.setrecursionlimit(limit)
    if not isinstance(obj, dict) or _depth(obj) > MAX_DEPTH:
        return None
    return obj


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


messages = st.builds(lambda stream, data, extra: {"type": "record",
                                                 "record": {"stream": stream, "data": data, "emitted_at": 1,
                                                            **extra}},
                     names, st.dictionaries(names, hostile_values, max_size=4),
                     st.dictionaries(texts, hostile_values, max_size=2))
message_lines = st.builds(lambda msg, pad: pad[0] + dumps(msg) + pad[1], messages,
                          st.sampled_from([(b"", b"\n"), (b" \t", b" \r\n"), (b"", b"")]))
garbage = st.one_of(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" ") + b"\n"),
                    st.builds(lambda line, cut: line[:cut] + b"\n", message_lines, st.integers(0, 200)),
                    st.sampled_from([b"[1, 2]\n", b'{"a": NaN}\n', b'{"a": "\\ud800"}\n', b'{"a": 1e999}\n',
                                     b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"\n", b"{}\n"]))


@FUZZ
@given(st.lists(st.one_of(message_lines, garbage), min_size=1, max_size=6))
def test_the_reader_reads_exactly_the_json_objects_and_never_raises(lines):
    data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    for mode in (True, False):
        items = list(iter_lines(io.BytesIO(data), exact=mode))
        wanted = [(n, raw) for n, raw in enumerate(data.split(b"\n")[:-1], 1) if raw.strip()]
        assert [item.line_no for item in items] == [n for n, _ in wanted]
        for item, (_, raw) in zip(items, wanted, strict=True):
            expected = reference(raw)
            if expected is None:
                assert isinstance(item, BadLine), (raw[:200], item)
                assert item.reason and "\n" not in item.describe()
            else:
                assert isinstance(item, Line), (raw[:200], item)
                assert item.raw.rstrip(b"\n") == raw
                if mode:  # exact numbers (the fast mode's caller forwards the raw bytes)
                    assert exact(item.message) == exact(expected)


any_message = st.builds(lambda kind, payload, extra: {"type": kind, kind: payload, **extra},
                        st.sampled_from([*MESSAGE_TYPES, "nope"]),
                        st.one_of(hostile_values, st.dictionaries(st.sampled_from(
                            ["stream", "data", "state_type", "trace_type", "level", "message", "status",
                             "streams", "error", "emitted_at", "control_type"]), hostile_values, max_size=5)),
                        st.dictionaries(texts, hostile_values, max_size=2))


@FUZZ
@given(st.one_of(any_message, hostile_values))
def test_the_validator_never_raises_and_answers_with_reasons(msg):
    reason = check_envelope(msg)
    assert reason is None or isinstance(reason, str)
    for full in (False, True):
        errors = MessageValidator(full=full).errors(msg)
        assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
        assert (not errors) == (reason is None) or full
