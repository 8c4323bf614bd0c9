"""The in-memory batch: newest version per id, COPY encoding, limits."""
from hypothesis import given, strategies as st

from destination_postgres.batch import Batch, Row, copy_line, line_json, supersedes
from destination_postgres.types import copy_text


def row(rid, upd, deleted=False, line_no=1, payload=b"{}"):
    line = copy_line(copy_text(rid), upd, deleted, b"", payload)
    return Row(rid, (rid,), upd, deleted, line, line_no, line_no)


def test_supersedes_rule():
    assert supersedes(2, False, 1, False) and not supersedes(1, False, 2, False)
    assert supersedes(1, False, 1, False)  # tie: the later message wins
    assert supersedes(1, True, 1, False)
    assert not supersedes(1, False, 1, True)  # a tombstone is not undone in the same second
    assert supersedes(2, False, 1, True)


def test_copy_encoding_escapes_what_copy_interprets():
    assert copy_text("a\tb\nc\\d\re") == b"a\\tb\\nc\\\\d\\re"
    line = copy_line(b"cus_1", 5, True, b"t\t\\N", b'{"a":"x\\ny"}')
    assert line == b'cus_1\t5\t5\tt\t\\N\t{"a":"x\\\\ny"}\n'
    assert line_json(line) == b'{"a":"x\\ny"}'
    live = copy_line(b"cus_1", 5, False, b"", b"{}")
    assert live == b"cus_1\t5\t\\N\t{}\n" and line_json(live) == b"{}"


def test_batch_keeps_newest_and_counts():
    b = Batch(max_rows=3, max_bytes=10_000)
    b.add("s", row("a", 5, line_no=1))
    b.add("s", row("a", 3, line_no=2))  # older: dropped
    assert b.get("s", ("a",)).line_no == 1 and b.rows == 1
    b.add("s", row("a", 7, line_no=3))
    assert b.get("s", ("a",)).line_no == 3 and b.get("s", ("a",)).first_line_no == 1
    b.add("s", row("b", 1)), b.add("t", row("a", 1))
    assert b.full() and b.rows == 3
    assert b.bytes == sum(len(r.line) for rows in b.streams.values() for r in rows.values())
    b.clear()
    assert b.empty() and b.bytes == 0


versions = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3), st.booleans()), max_size=30)


@given(versions, st.integers(1, 30))
def test_batch_split_anywhere_gives_the_same_winner(seq, cut):
    """Collapsing in one batch or in two (the second applied on top) picks the same version."""
    def apply(store, part):
        for i, (rid, upd, dele) in part:
            old = store.get(rid)
            if old is None or supersedes(upd, dele, old[1], old[2]):
                store[rid] = (i, upd, dele)
    numbered = list(enumerate(seq))
    whole, split = {}, {}
    apply(whole, numbered)
    apply(split, numbered[:cut])
    apply(split, numbered[cut:])
    assert whole == split
    b = Batch(1000, 10**9)
    for i, (rid, upd, dele) in numbered:
        b.add("s", row(rid, upd, dele, line_no=i))
    assert {key[0]: (r.line_no, r.upd, r.deleted) for key, r in b.streams.get("s", {}).items()} == whole
