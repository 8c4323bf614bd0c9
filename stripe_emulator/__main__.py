"""``python -m stripe_emulator``: the same command line as ``stripe-emulator`` (see cli.py)."""

from .cli import main

main(prog_name="python -m stripe_emulator")
