"""protocol/snapshot.py: scopes round-trip through the wire form, and anything not understood is Unknown
(a reader then ignores the snapshot, which is always safe)."""
from __future__ import annotations

from protocol import messages
from protocol import snapshot as snap
from protocol.validate import MessageValidator


def test_scopes_round_trip_and_validate():
    for scope in (snap.range_scope("created", [(10, 20), (0, 5), (5, 8)]), snap.stream_scope(),
                  snap.parent_scope("invoices", "in_1"), snap.parent_scope("invoices", "in_1", "invoice")
                  ):
        assert snap.scope_from_wire(scope.to_wire()) == scope
        msg = messages.snapshot("invoices", snap.BEGIN, "invoices@1.x", scope.to_wire())
        assert MessageValidator(full=True).errors(msg) == []
    assert snap.range_scope("created", [(10, 20), (0, 5), (5, 8)]).ranges == ((0, 8), (10, 20))


def test_unknown_or_broken_scopes_are_unknown_never_an_exception():
    for wire in (None, {}, {"kind": "galaxy"}, {"kind": "range", "field": "created"},
                 {"kind": "range", "field": "created", "ranges": [{"gte": "a", "lt": 3}]},
                 {"kind": "parent", "parent": {"stream": "invoices"}}):
        assert isinstance(snap.scope_from_wire(wire), snap.Unknown), wire


def test_destination_traces_validate():
    validator = MessageValidator(full=True)
    assert validator.errors(messages.candidates("invoices", ["in_1"], "s1")) == []
    assert validator.errors(messages.snapshot("invoices", snap.SWEPT, "s1", seen=3, candidate_count=1)) == []
    report = messages.verify_report("customers", "verify", 10, 1, 2, 3, {"missing": ["cus_1"]})
    assert validator.errors(report) == []
