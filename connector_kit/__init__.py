"""Building blocks for protocol executables written in Python (docs/architecture.md, "Layers").

`connector.py` (what a connector supplies: `Connector`, `ReadRequest`, `WriteRequest`), `cli.py` (the
click scaffolding every connector shares) and `backoff.py` (the one retry delay formula). Depends only
on `protocol`; connectors and the engine build on it, never the other way round.
"""
