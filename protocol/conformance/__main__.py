"""`python -m protocol.conformance`: see protocol/conformance/__init__.py."""
from protocol.conformance.cli import main

main()
