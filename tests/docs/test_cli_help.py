"""The README's promise "every executable answers --help, every option with an example" holds: every
option of every command of the four executables has help text with an example, and each executable
answers --version."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest

from destination_postgres.cli import main as destination_main
from engine.cli import main as engine_main
from source_stripe.cli import main as source_main
from stripe_emulator.cli import main as emulator_main

EXECUTABLES = {"engine": engine_main, "source-stripe": source_main, "destination-postgres": destination_main,
               "stripe-emulator": emulator_main}
BUILT_IN = {"help", "version"}


def commands(name: str, command: click.Command):
    yield name, command
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            yield from commands(f"{name} {sub_name}", sub)


def all_options():
    for exe, main in EXECUTABLES.items():
        for name, command in commands(exe, main):
            for param in command.params:
                if isinstance(param, click.Option) and param.name not in BUILT_IN:
                    yield name, param


@pytest.mark.parametrize("where,option", [(w, o) for w, o in all_options()],
                         ids=[f"{w} {o.opts[-1]}" for w, o in all_options()])
def test_every_option_has_help_and_an_example(where, option):
    text = option.help or ""
    assert text.strip(), f"{where} {option.opts[-1]} has no help text"
    assert "Example:" in text or "e.g." in text, f"{where} {option.opts[-1]} has no example: {text!r}"


def test_every_command_has_an_example():
    for exe, main in EXECUTABLES.items():
        for name, command in commands(exe, main):
            text = (command.help or "") + (command.epilog or "")
            assert "Example" in text, f"{name} has no example in its help"


@pytest.mark.parametrize("module", ["engine", "source_stripe", "destination_postgres", "stripe_emulator"])
def test_every_executable_answers_version(module):
    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and "version 0.1.0" in out.stdout, out.stderr
