"""Fixtures for the protocol tests: how to run the installed executables and the fake connectors."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKES = Path(__file__).parent / "fakes"


def installed_command(name: str) -> list[str]:
    """argv for an installed console script (`source-stripe`, ...), or `python -m` when not installed."""
    path = Path(sys.executable).parent / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name.replace("-", "_")]


@pytest.fixture
def installed():
    return installed_command
