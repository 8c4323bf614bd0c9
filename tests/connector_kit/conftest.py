"""Fixtures for the connector kit tests: the tiny connector built on the kit lives in fakes/."""
from __future__ import annotations

from pathlib import Path

FAKES = Path(__file__).parent / "fakes"
