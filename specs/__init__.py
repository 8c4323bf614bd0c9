"""The JSON Schemas of stripe-sync, shipped as package data.

`specs/protocol/` holds one schema per wire message (docs/protocol.md), `specs/stripe/` the generated
stream schemas, `specs/connectors/` the connectors' config schemas. This module only locates them.
"""
from __future__ import annotations

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent
PROTOCOL_DIR = SPECS_DIR / "protocol"
STRIPE_DIR = SPECS_DIR / "stripe"
CONNECTORS_DIR = SPECS_DIR / "connectors"
