"""Property-based fuzz of the destination's row encoding with hostile values (tests/hostile.py).

`RowEncoder.row` never raises: a record becomes a row or a reason. A row is one COPY line of valid
UTF-8 without a NUL byte, with a field per column, and its JSON reads back as the record's data with
every NUL replaced by U+FFFD and every number exact. Written to a real PostgreSQL (fewer examples),
`_raw_data` holds exactly that."""
from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_postgres.batch import line_json
from destination_postgres.encode import RowEncoder
from destination_postgres.types import TYPED, converter
from protocol import messages
from protocol.jsonio import loads
from tests.destination_postgres.helpers import T0, catalog, state, write
from tests.hostile import big_ints, exact, hostile_values, names, texts

TYPED_PROPS = {"s": TYPED[0], "i": TYPED[1], "n": TYPED[2], "b": TYPED[3]}  # text, bigint, numeric, boolean
PG_TYPES = {"text": ["string", "null"], "bigint": ["integer", "null"], "numeric": ["number", "null"],
            "boolean": ["boolean", "null"]}
ids = st.one_of(texts, big_ints, st.none(), st.just(""))
records = st.builds(lambda rid, typed, rest: {"id": rid, **typed, **rest}, ids,
                    st.fixed_dictionaries({}, optional={k: hostile_values for k in TYPED_PROPS}),
                    st.dictionaries(names, hostile_values, max_size=4))


def without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def expected_data(data: dict):
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        return exact(without_nul(data))
    finally:
        sys.setrecursionlimit(limit)


def encoder() -> RowEncoder:
    enc = RowEncoder()
    enc.converters["s"] = [(key, converter(pg_type)) for key, pg_type in TYPED_PROPS.items()]
    return enc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(records, st.booleans())
def test_any_record_becomes_a_clean_copy_line_or_a_reason(data, deleted):
    rec = {"data": data, "updated_at": T0, "deleted": deleted}
    row = encoder().row("s", rec, 7, lambda stream, rid: None)
    if isinstance(row, str):
        assert row.startswith("line 7: ") and ("'id'" in row)
        return
    line = row.line
    assert b"\x00" not in line and line.endswith(b"\n") and line.count(b"\n") == 1
    line.decode("utf-8")  # valid UTF-8, no lone surrogate
    assert line.count(b"\t") == 3 + len(TYPED_PROPS)  # id, _updated_at, _deleted_at, typed..., _raw_data
    assert row.id and "\x00" not in row.id
    assert expected_data(loads(line_json(line))) == expected_data(data)


CATALOG = catalog(s={"id": {"type": "string"}, **{k: {"type": PG_TYPES[t]} for k, t in TYPED_PROPS.items()}})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(records, min_size=1, max_size=5))
def test_hostile_records_are_stored_exactly_and_never_block_the_stream(dst_config, db, batch):
    tag = uuid.uuid4().hex[:8]
    items, expected = [CATALOG], {}
    for n, data in enumerate(batch):
        data = {**data, "id": f"{tag}-{n}"}
        items.append(messages.record("s", data, emitted_at=T0 * 1000, updated_at=T0))
        expected[f"{tag}-{n}"] = data
    items.append(state("s", {"tag": tag}))
    run = write(dst_config, items)
    assert run.exit_code == 0, run.stderr
    assert run.errors() == [] and [s["data"] for s in run.states()] == [{"tag": tag}]
    with db.cursor() as cur:
        cur.execute(f'SELECT id, _raw_data::text FROM "{dst_config["schema"]}".s WHERE id LIKE %s',
                    (f"{tag}-%",))
        stored = dict(cur.fetchall())
    assert set(stored) == set(expected)
    for rid, text in stored.items():
        assert expected_data(loads(text)) == expected_data(expected[rid])
