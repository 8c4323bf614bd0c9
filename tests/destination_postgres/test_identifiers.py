"""Identifier rules: quoting, the 63-byte limit with a stable hash, reserved names, literals."""
from hypothesis import given, strategies as st

from destination_postgres import identifiers as ids


def test_short_names_are_kept_and_quoted():
    assert ids.table_name("customers") == "customers"
    assert ids.quote("customers") == '"customers"'
    assert ids.quote('x"; drop table y; --') == '"x""; drop table y; --"'
    assert ids.qualified("stripe", "a b") == '"stripe"."a b"'


def test_long_names_are_shortened_stably_and_distinctly():
    a, b = "x" * 70 + "a", "x" * 70 + "b"
    assert ids.shorten(a) == ids.shorten(a)
    assert ids.shorten(a) != ids.shorten(b)
    assert len(ids.shorten(a).encode()) == 63
    multibyte = "é" * 40  # 80 bytes: the cut must not split a character
    assert len(ids.shorten(multibyte).encode()) <= 63
    ids.shorten(multibyte).encode().decode("utf-8")


def test_reserved_and_invalid_names():
    assert ids.table_name("_sync_state") != "_sync_state"
    assert ids.table_name("_sync_state").startswith("_sync_state_")
    assert "\x00" not in ids.table_name("a\x00b")
    assert ids.column_name("id") is None and ids.column_name("_raw_data") is None
    assert ids.column_name("email") == "email"


def test_literal_escapes_quotes_and_backslashes():
    assert ids.literal("it's") == "E'it''s'"
    assert ids.literal("a\\b") == "E'a\\\\b'"


@given(st.text(min_size=1))
def test_any_name_gives_a_valid_identifier(name):
    out = ids.table_name(name)
    assert "\x00" not in out and 0 < len(out.encode("utf-8", "surrogatepass")) <= 63
    assert out == ids.table_name(name)
