"""Conformance kit: checks that any executable, in any language, speaks the stripe-sync protocol.

    python -m protocol.conformance source [--config C] [--catalog K] [--state S] [--timeout 60] -- CMD...
    python -m protocol.conformance destination [--config C] [--records 6] [--timeout 60] -- CMD...

It runs `CMD spec`, a usage-error probe (`CMD check --config <missing file>`), and with `--config`:
`CMD check`, then for a source `CMD discover` and `CMD read`, for a destination `CMD write` fed with a
generated input. Every stdout line is validated against specs/protocol (full schema) and checked against
the ordering rules (`checks.py`); secrets of the config (fields marked
`"secret": true` in the spec's config_schema) must never appear on stdout or stderr. It prints one line
per check (PASS/FAIL/SKIP, with the line number and an excerpt of the first offending line) and exits 0
when nothing failed, 1 otherwise. `check_source`/`check_destination` return the `Report` for tests.
A `discover` that fails as an unknown command (exit 2, no stdout) is reported as SKIP "not supported":
`read` emits the same catalog first, so discover is optional. docs/conformance.md has the details.
"""
from __future__ import annotations

from protocol.conformance.report import Report
from protocol.conformance.session import Options, check_destination, check_source

__all__ = ["Options", "Report", "check_destination", "check_source"]
