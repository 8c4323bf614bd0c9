"""docs/source-stripe.md documents every config field of specs/connectors/source-stripe.json, and the
stream counts it states match the registry."""
from __future__ import annotations

import re
from collections import Counter

from protocol.config import connector_config_schema
from source_stripe.streams import default_streams
from tests.source_stripe.conftest import REPO

DOC = (REPO / "docs" / "source-stripe.md").read_text(encoding="utf-8")


def test_every_config_field_is_in_the_table():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC, re.MULTILINE))
    assert documented == set(connector_config_schema("source-stripe")["properties"])


def test_stream_counts_match_the_registry():
    modes = Counter(s.mode for s in default_streams())
    assert f"{len(default_streams())} default streams" in DOC
    assert f"**time** ({modes['time']} default streams" in DOC
    assert f"**cursor** ({modes['cursor']} default streams" in DOC
