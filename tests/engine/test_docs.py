"""docs/engine.md (and docs/temporal.md for the Temporal commands) mention every option of every `engine`
command (so the docs cannot silently fall behind the CLI)."""
from __future__ import annotations

from pathlib import Path

from engine.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC = (DOCS / "engine.md").read_text() + (DOCS / "temporal.md").read_text()


def options_of(command) -> list[str]:
    return [opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("--")]


def test_every_cli_option_is_documented():
    commands = [main, *main.commands.values()]
    missing = [opt for c in commands for opt in options_of(c) if opt != "--help" and f"`{opt}" not in DOC]
    assert not missing, f"options missing from docs/engine.md and docs/temporal.md: {missing}"


def test_the_sweep_and_verify_commands_and_options_explain_themselves_with_an_example():
    from destination_postgres.cli import main as destination
    from source_stripe.cli import main as source

    def help_of(command, option: str | None = None) -> str:
        if option is None:
            return command.help or ""
        return next(p.help or "" for p in command.params if option in getattr(p, "opts", []))

    items = [(main.commands["verify"], None), (main.commands["verify"], "--repair"),
             (main.commands["verify"], "--format"), (main.commands["sync"], "--sweep-deletes"),
             (source.commands["confirm"], None), (source.commands["read"], "--sweep-deletes"),
             (source.commands["read"], "--verify"), (destination.commands["candidates"], None),
             (destination.commands["write"], "--verify"), (destination.commands["write"], "--repair")]
    missing = [f"{c.name} {o or ''}" for c, o in items if "Example" not in help_of(c, o)
               and "e.g." not in help_of(c, o)]
    assert not missing, missing
