"""docs/engine.md mentions every option of `engine`, `engine sync` and `engine check` (so the docs
cannot silently fall behind the CLI)."""
from __future__ import annotations

from pathlib import Path

from engine.cli import main

DOC = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()


def options_of(command) -> list[str]:
    return [opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("--")]


def test_every_cli_option_is_documented():
    commands = [main, *main.commands.values()]
    missing = [opt for c in commands for opt in options_of(c) if opt != "--help" and f"`{opt}" not in DOC]
    assert not missing, f"options missing from docs/engine.md: {missing}"
